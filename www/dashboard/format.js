// @ts-check
// The dashboard's text, without the DOM. A people count is `{ value, suppressed }`; a
// suppressed one has `value: null` and shows as "<k", never as digits.

/**
 * @typedef {{ value: number | null, suppressed: boolean }} Count a people count from the report
 * @typedef {{ ageBand?: string | null, gender?: string | null }} Cell a band/gender cell
 */

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const secondsFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** @param {number} n a whole number, in the viewer's locale */
export const numberText = (n) => numberFormat.format(n);
/** @param {number} s seconds, to a tenth, without the unit */
export const secondsNumberText = (s) => secondsFormat.format(s);
/** @param {number} ratio a ratio as a percentage */
export const percentText = (ratio) => percentFormat.format(ratio);
/** @param {number | Date} ms a moment (epoch milliseconds), with date and time */
export const dateTimeText = (ms) => dateTimeFormat.format(ms);

/**
 * The report's k (counts of fewer than k people are suppressed).
 * @param {any} report
 * @returns {number}
 */
export const kOf = (report) => report.kAnonymity.k;

/**
 * A count as text: "<k" when suppressed.
 * @param {Count} count
 * @param {number} k
 */
export function countText(count, k) {
  return count.suppressed ? `<${k}` : numberFormat.format(/** @type {number} */ (count.value));
}

/**
 * Seconds as "12.3 s", "4 min 05 s" or "2 h 03 min".
 * @param {number} seconds
 */
export function durationText(seconds) {
  if (seconds < 60) return `${secondsFormat.format(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * A derived value (ratio, time) that the report leaves `null` either because its group was
 * suppressed or because there is nothing to divide by.
 * @param {number | null | undefined} value
 * @param {boolean} withheld
 * @param {(value: number) => string} format
 */
export function derivedText(value, withheld, format) {
  if (value != null) return format(value);
  return withheld ? 'suppressed' : '—';
}

/**
 * The explanation of a suppressed figure (a tooltip).
 * @param {number} k
 */
export function suppressedTitle(k) {
  return `Suppressed: fewer than ${k} people, or hidden so that such a count cannot be worked out from the others`;
}

/**
 * A dwell or attention bucket's label: "0-5s" -> "0–5 s", "60s+" -> "60 s or more", "0-1m" -> "0–1 m".
 * @param {string} label
 */
export function bucketLabel(label) {
  return label.replace(/^(\d+)([sm])\+$/, '$1 $2 or more').replace(/^(\d+)-(\d+)([sm])$/, '$1–$2 $3');
}

/**
 * "25–34, female"; null is the unknown category: not confident enough, or a child's gender.
 * @param {Cell} cell
 */
export function cellName(cell) {
  const band = cell.ageBand == null ? 'age unknown' : cell.ageBand.replace('-', '–');
  const gender = cell.gender ?? 'gender unknown';
  return `${band}, ${gender}`;
}

/**
 * Orders band/gender cells by the report's age bands, then female, male, unknown.
 * @param {{ ageBands: string[] }} report
 * @returns {(a: Cell, b: Cell) => number}
 */
export function cellOrder(report) {
  /** @param {string | null | undefined} band */
  const bandIndex = (band) => (band == null ? report.ageBands.length : report.ageBands.indexOf(band));
  /** @type {Record<string, number>} */
  const genderIndex = { female: 0, male: 1 };
  return (a, b) => bandIndex(a.ageBand) - bandIndex(b.ageBand) || (genderIndex[a.gender ?? ''] ?? 2) - (genderIndex[b.gender ?? ''] ?? 2);
}

/**
 * One colour per band (hue) and gender (lightness); grey when the band is unknown.
 * @param {{ ageBands: string[] }} report
 * @param {Cell} cell
 */
export function cellColor(report, cell) {
  const lightness = /** @type {Record<string, number>} */ ({ female: 42, male: 62 })[cell.gender ?? ''] ?? 78;
  if (cell.ageBand == null) return `hsl(215 8% ${lightness}%)`;
  const n = Math.max(report.ageBands.length, 1);
  const hue = Math.round((report.ageBands.indexOf(cell.ageBand) * 300) / n + 190) % 360;
  return `hsl(${hue} 62% ${lightness}%)`;
}

const timeFormats = {
  minute: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }),
  hour: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }),
  // Days are the kiosk's days: shown in its own offset, whatever the viewer's time zone.
  day: new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }),
};

/**
 * A time bucket's label. Days are the kiosk's days, shown in its offset from UTC.
 * @param {number} startMs
 * @param {string} granularity "minute", "hour" or "day"
 * @param {number} utcOffsetMinutes the kiosk's offset (0 when unknown)
 */
export function bucketTime(startMs, granularity, utcOffsetMinutes) {
  if (granularity === 'day') return timeFormats.day.format(startMs + utcOffsetMinutes * 60_000);
  return timeFormats[/** @type {'minute' | 'hour'} */ (granularity)].format(startMs);
}

/**
 * An offset's size as hours: 60 -> "1", 330 -> "5:30".
 * @param {number} minutes
 */
export function offsetText(minutes) {
  return `${Math.floor(minutes / 60)}${minutes % 60 ? `:${String(minutes % 60).padStart(2, '0')}` : ''}`;
}

/**
 * What the times on the page are in: the kiosk's days, or the viewer's zone.
 * @param {string} granularity
 * @param {number} utcOffsetMinutes
 * @param {string} zone the viewer's time zone
 */
export function timeZoneText(granularity, utcOffsetMinutes, zone) {
  return granularity === 'day'
    ? `(days as the kiosk counts them, UTC${utcOffsetMinutes >= 0 ? '+' : '−'}${offsetText(Math.abs(utcOffsetMinutes))})`
    : `(times in ${zone})`;
}

/**
 * The k-anonymity note over the report.
 * @param {number} k
 * @param {number} n cells suppressed
 * @returns {[string, string]}
 */
export function privacyText(k, n) {
  return [
    `k-anonymity: counts of fewer than k = ${k} people are never shown. `,
    n === 0
      ? 'No cell had to be suppressed in this report.'
      : `${n} ${n === 1 ? 'cell was' : 'cells were'} suppressed in this report; they show as “<${k}” (or “suppressed” for ratios and times that would reveal them), here and in the downloads.`,
  ];
}

/**
 * The report's notes, as shown: an empty period says so first; epoch milliseconds become dates.
 * @param {any} report
 * @returns {string[]}
 */
export function reportNotes(report) {
  const notes = [...(report.notes ?? [])];
  if (report.totals.impressions.value === 0 && !report.plays.length) {
    notes.unshift('No one was recorded in this period. Choose a longer period, or “All”, to see earlier figures.');
  }
  return notes.map(readableNote);
}

/**
 * An engine note with its times (epoch milliseconds) as dates.
 * @param {string} text
 */
export function readableNote(text) {
  return text.replace(/\b(\d{12,14}) ms\b/g, (_, ms) => dateTimeFormat.format(Number(ms)));
}

/**
 * How a play ended: "completed", "interrupted", "playing", "(counting)" while its figures may change.
 * @param {any} play
 */
export function playOutcome(play) {
  const outcome = play.endMs == null ? 'playing' : play.completed === false ? 'interrupted' : 'completed';
  return play.final ? outcome : `${outcome} (counting)`;
}

/**
 * A play's length: "20 s", or "—" while it plays.
 * @param {any} play
 */
export function playLengthText(play) {
  return play.endMs == null ? '—' : durationText((play.endMs - play.startMs) / 1000);
}

/**
 * The plays table's count: "(12)", or which of them it shows.
 * @param {number} count
 * @param {number} shown the most the table lists
 */
export function playsCountText(count, shown) {
  return count > shown ? `(the latest ${shown} of ${count}; the exports have them all)` : `(${count})`;
}

/**
 * "20250314-0905": the report's time (local) in export file names.
 * @param {any} report
 * @param {number} [nowMs] used when the report has no `generatedAtMs`
 */
export function fileStamp(report, nowMs = Date.now()) {
  const t = new Date(report.generatedAtMs ?? nowMs);
  /** @param {number} n */
  const pad = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}${pad(t.getMonth() + 1)}${pad(t.getDate())}-${pad(t.getHours())}${pad(t.getMinutes())}`;
}
