// @ts-check
// The dashboard on a network of screens: what it asks the ingest service (its read endpoints,
// docs/fleet.md) and the screen-health rows, without the DOM. The service makes the report
// (k-anonymous, as a kiosk's); the page only chooses screens and a period.
import { dateTimeText } from './format.js';
import { PERIODS } from './source.js';

/**
 * A screen as `GET /v1/fleet/screens` lists it; `health` from its last heartbeat (null when none
 * in the last 7 days).
 * @typedef {{ id: string, venue: string, tags: string[], health: any }} FleetScreen
 */

/** The longest period the service answers (a year and a day); "All" asks for the last year. */
const YEAR_MS = 366 * 24 * 3_600_000;

/**
 * The query string of `GET /v1/fleet/report` for the page's choices.
 * @param {{ period: string, granularity: string, venue?: string, tag?: string, screens?: string[] }} choice
 * @param {number} nowMs
 */
export function reportQuery(choice, nowMs) {
  const span = PERIODS[/** @type {keyof PERIODS} */ (choice.period)] ?? YEAR_MS;
  const params = new URLSearchParams({
    fromMs: String(Math.floor(nowMs - span)),
    toMs: String(Math.ceil(nowMs)),
    // Minutes are not rolled up in the store.
    granularity: choice.granularity === 'day' ? 'day' : 'hour',
  });
  if (choice.venue) params.set('venue', choice.venue);
  if (choice.tag) params.set('tag', choice.tag);
  if (choice.screens?.length) params.set('screens', choice.screens.join(','));
  return params.toString();
}

/**
 * The service's endpoint `path` under `base` (with or without a trailing slash).
 * @param {string} base
 * @param {string} path
 */
export function endpoint(base, path) {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/**
 * Venues and tags of the listed screens, sorted, each once.
 * @param {{ venue: string, tags: string[] }[]} screens
 */
export function choicesOf(screens) {
  const venues = [...new Set(screens.map((s) => s.venue).filter(Boolean))].sort();
  const tags = [...new Set(screens.flatMap((s) => s.tags))].sort();
  return { venues, tags };
}

/**
 * The health table's rows: one per screen, as text.
 * @param {FleetScreen[]} screens
 */
export function healthRows(screens) {
  return screens.map((s) => {
    const h = s.health;
    if (!h) return [s.id, s.venue, s.tags.join(', '), 'not in the last 7 days', '', '', '', '', ''];
    return [
      s.id, s.venue, s.tags.join(', '), dateTimeText(h.lastSeenMs), h.camera, h.analysedFps.toFixed(1), h.backend,
      String(h.outboxDepth), String(h.recordsDropped),
    ];
  });
}

/**
 * Reads one of the service's endpoints with the reader's token; its JSON, or an Error saying why.
 * @param {string} url
 * @param {string} token
 * @returns {Promise<any>} the endpoint's JSON (docs/fleet.md)
 */
export async function readFleet(url, token) {
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
  } catch (e) {
    throw new Error(`the ingest service cannot be reached (${/** @type {Error} */ (e).message})`, { cause: e });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message ?? `the ingest service answered ${response.status}`);
  return body;
}
