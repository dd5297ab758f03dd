// @ts-check
// Where the dashboard's figures come from, without the DOM: the periods it offers, the saved
// state or report a file holds, and what the engine needs to make a report from a state.
import { dateTimeText } from './format.js';

/** @typedef {import('/pkg/glance.js').AudienceReport} AudienceReport */
/**
 * This device's kiosk data in IndexedDB, polled: a saved state's JSON text, and when it was saved.
 * @typedef {{ kind: 'device', state: string | null, savedAtMs: number | null, report?: undefined }} DeviceSource
 */
/**
 * A file the user opened: a saved state (`state`) or a finished report (`report`); `anchorMs`
 * ends its periods.
 * @typedef {{ kind: 'file', name: string, state?: string, report?: AudienceReport, anchorMs: number | null }} FileSource
 */
/**
 * A network's report (`report`) from its ingest service (`url`, a reader's `token`), for the
 * screens `screenIds`; `screens` as the service lists them.
 * @typedef {{ kind: 'fleet', url: string, token: string, screens: import('./fleet.js').FleetScreen[], report: AudienceReport | null,
 *   screenIds: string[], state?: undefined }} FleetSource
 */
/** Where the figures come from. @typedef {DeviceSource | FileSource | FleetSource} Source */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The periods offered, by their lengths (null: everything). */
export const PERIODS = { hour: HOUR, day: DAY, week: 7 * DAY, all: null };
export const PERIOD_TEXT = { hour: 'the last hour', day: 'the last 24 hours', week: 'the last 7 days', all: 'everything recorded' };
/** The granularity that fits a period, set when the period changes (the user may override it). */
export const SUGGESTED = { hour: 'minute', day: 'hour', week: 'day', all: 'day' };

/** @type {{ text: string | null, value: any }} */
const lastAudience = { text: null, value: null };

/**
 * The audience configuration the state was recorded with, as far as the report needs it: the
 * engine restores a state only under the same age bands and day offset. Parsed once per state
 * text (the page re-reads the same state every 10 s).
 * @param {string} stateText a saved state
 * @returns {{ parsed: any, audience: { ageBands?: number[], utcOffsetMinutes?: number } }}
 */
export function stateAudience(stateText) {
  if (lastAudience.text === stateText) return lastAudience.value;
  const s = JSON.parse(stateText);
  // Labels "0-12", "13-17", …, "65+" give back the bands' lower bounds.
  const ageBands = (s.ageBands ?? []).map((/** @type {string} */ label) => Number.parseInt(label, 10));
  lastAudience.value = {
    parsed: s,
    audience: {
      ...(ageBands.length && ageBands.every(Number.isFinite) ? { ageBands } : {}),
      ...(Number.isInteger(s.utcOffsetMinutes) ? { utcOffsetMinutes: s.utcOffsetMinutes } : {}),
    },
  };
  lastAudience.text = stateText;
  return lastAudience.value;
}

/**
 * Whether a (parsed) state recorded anything.
 * @param {any} state
 */
export function hasData(state) {
  return ['minutes', 'hours', 'days', 'plays'].some((key) => Array.isArray(state[key]) && state[key].length > 0);
}

/**
 * The options for the engine's `reportFromState`.
 * @param {string} stateText
 * @param {string} period a key of PERIODS
 * @param {string} granularity "minute", "hour" or "day"
 * @param {number} anchorMs when the period ends
 */
export function reportOptions(stateText, period, granularity, anchorMs) {
  const span = PERIODS[/** @type {keyof PERIODS} */ (period)];
  /** @type {{ granularity: 'minute' | 'hour' | 'day', fromMs?: number }} */
  const report = { granularity: /** @type {'minute' | 'hour' | 'day'} */ (granularity) };
  if (span != null) report.fromMs = anchorMs - span;
  return { audience: stateAudience(stateText).audience, report };
}

/**
 * Reads an opened file: a saved state (what `saveState()` returned), the kiosk's stored record
 * `{ state, savedAtMs }`, or a report (a JSON download from this page).
 * @param {string} name
 * @param {string} text
 * @returns {FileSource}
 */
export function parseFile(name, text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`“${name}” is not JSON.`);
  }
  if (value && typeof value === 'object') {
    if (value.totals && value.kAnonymity) {
      return { kind: 'file', name, report: value, anchorMs: value.toMs ?? value.generatedAtMs ?? null };
    }
    if (typeof value.state === 'string') {
      const inner = JSON.parse(value.state);
      return { kind: 'file', name, state: value.state, anchorMs: inner.savedAtMs ?? value.savedAtMs ?? null };
    }
    if ('schemaVersion' in value && ['minutes', 'hours', 'days', 'plays'].some((key) => key in value)) {
      return { kind: 'file', name, state: text, anchorMs: value.savedAtMs ?? null };
    }
  }
  throw new Error(`“${name}” is neither a saved Glance audience state nor a Glance report.`);
}

/**
 * When the periods end: now for the live kiosk, the save time for a file.
 * @param {Source} source
 * @param {number} nowMs
 */
export function anchorOf(source, nowMs) {
  return source.kind === 'file' ? (source.anchorMs ?? nowMs) : nowMs;
}

/**
 * The line saying where the figures come from and what they cover.
 * @param {Source} source
 * @param {any} report the report shown, or null
 * @param {string} period a key of PERIOD_TEXT
 * @param {number} nowMs
 */
export function sourceDescription(source, report, period, nowMs) {
  const parts = [];
  if (source.kind === 'fleet') {
    const ids = source.screenIds ?? [];
    parts.push(`The network’s ${ids.length === 1 ? 'screen' : `${ids.length} screens`} ${ids.join(', ')}, from its ingest service.`);
    if (report) parts.push(`Showing ${PERIOD_TEXT[/** @type {keyof PERIOD_TEXT} */ (period)]} up to now, by ${report.granularity}.`);
    return parts.join(' ');
  }
  if (source.kind === 'device') {
    parts.push(source.savedAtMs != null
      ? `This device’s kiosk data, saved ${dateTimeText(source.savedAtMs)}.`
      : 'This device’s kiosk data.');
  } else {
    parts.push(`File “${source.name}”${source.report ? ' (a report)' : ' (a saved state)'}.`);
  }
  if (report) {
    if (source.report) {
      const from = report.fromMs != null ? dateTimeText(report.fromMs) : 'the start';
      const to = report.toMs != null ? dateTimeText(report.toMs) : dateTimeText(report.generatedAtMs ?? nowMs);
      parts.push(`It covers ${from} to ${to}, by ${report.granularity}; its period cannot be changed here.`);
    } else {
      const until = source.kind === 'device' ? 'now' : dateTimeText(anchorOf(source, nowMs));
      parts.push(`Showing ${PERIOD_TEXT[/** @type {keyof PERIOD_TEXT} */ (period)]} up to ${until}, by ${report.granularity}.`);
    }
    if (report.generatedAtMs != null) parts.push(`Latest data: ${dateTimeText(report.generatedAtMs)}.`);
  }
  if (source.kind === 'device') parts.push('Updates every 10 seconds.');
  return parts.join(' ');
}
