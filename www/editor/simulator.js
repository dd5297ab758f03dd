// @ts-check
// The rules editor's simulator, without the DOM: rows of people (a sketch of who stands in
// front of the screen) -> timeline steps for the engine's `simulateRules` -> text for its plays.

/**
 * @typedef {object} SketchRow one row of the sketch: a group of people
 * @property {string} start local time "HH:MM:SS"
 * @property {number} durationS
 * @property {number} present
 * @property {number} watchers
 * @property {number} lookingNow
 * @property {string[]} bands age bands (empty: any)
 * @property {string} gender "mixed", "female", "male" or "unknown"
 * @property {number | null} distanceM
 * @property {number | null} attentionS
 *
 * @typedef {{ t: string, audience: any }} Step a timeline step for `simulateRules`
 */

/** The sketch's fields, by name, and what each is (for labels). */
export const ROW_FIELDS = {
  start: 'start time',
  durationS: 'duration in seconds',
  present: 'people present',
  watchers: 'watchers',
  lookingNow: 'people looking now',
  gender: 'gender',
  distanceM: 'nearest distance in metres',
  attentionS: 'attention in seconds',
};

/**
 * "HH:MM:SS" (or "HH:MM") -> seconds since midnight.
 * @param {unknown} hms
 */
export const toSeconds = (hms) => {
  const [h = 0, m = 0, s = 0] = String(hms).split(':').map(Number);
  return h * 3600 + m * 60 + s;
};

/**
 * Local wall-clock text "YYYY-MM-DDTHH:MM:SS" (the engine reads it in the rules' zone).
 * @param {string} date "YYYY-MM-DD"
 * @param {number} seconds since that day's midnight
 */
export function localTime(date, seconds) {
  const [y, mo, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, mo - 1, d) + seconds * 1000).toISOString().slice(0, 19);
}

/**
 * The local day of `now` as "YYYY-MM-DD" (for a date input).
 * @param {Date} now
 */
export function localDate(now) {
  return new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

/**
 * A row from its fields' texts: empty numbers are 0 (counts, duration) or null (the optional ones).
 * @param {(name: string) => string} field the text of the field called `name`
 * @param {string[]} bands the age bands picked
 * @returns {SketchRow}
 */
export function rowFromFields(field, bands) {
  /** @param {string} name */
  const number = (name) => {
    const raw = field(name).trim();
    return raw === '' ? null : Number(raw);
  };
  return {
    start: field('start'),
    durationS: number('durationS') ?? 0,
    present: number('present') ?? 0,
    watchers: number('watchers') ?? 0,
    lookingNow: number('lookingNow') ?? 0,
    bands,
    gender: field('gender'),
    distanceM: number('distanceM'),
    attentionS: number('attentionS'),
  };
}

/**
 * Where a new row starts: when the previous one ends, or at 16:00.
 * @param {SketchRow | null} previous
 */
export function nextStart(previous) {
  return previous ? new Date((toSeconds(previous.start) + previous.durationS) * 1000).toISOString().slice(11, 19) : '16:00:00';
}

/**
 * What is wrong with a sketch, or null when it can be simulated.
 * @param {string} date
 * @param {SketchRow[]} rows
 * @returns {string | null}
 */
export function sketchProblem(date, rows) {
  return !date ? 'Pick a day.'
    : !rows.length ? 'Add at least one row.'
      : rows.some((r) => !r.start) ? 'Every row needs a start time.'
        : rows.some((r) => !(r.durationS > 0)) ? 'Every row needs a duration of at least 1 s.'
          : rows.some((r) => [r.present, r.watchers, r.lookingNow].some((n) => !Number.isInteger(n) || n < 0)) ? 'Head counts are whole numbers, 0 or more.'
            : null;
}

/**
 * A row's people, one by one: the first `watchers` of them watch; bands and genders alternate.
 * @param {SketchRow} row
 * @returns {{ ageBand: string | null, gender: string | null, watcher: boolean }[]}
 */
export function peopleOf(row) {
  const count = Math.max(row.present, row.watchers);
  const bands = row.bands.length ? row.bands : [null];
  const people = [];
  for (let i = 0; i < count; i++) {
    const gender = row.gender === 'mixed' ? (i % 2 ? 'male' : 'female') : row.gender === 'unknown' ? null : row.gender;
    people.push({ ageBand: bands[i % bands.length], gender, watcher: i < row.watchers });
  }
  return people;
}

/**
 * The compact audience (src/rules/simulate.rs CompactAudience) of the rows active together.
 * @param {SketchRow[]} rows
 * @returns {any}
 */
export function audienceOf(rows) {
  if (!rows.length) return {};
  const cells = new Map();
  for (const row of rows) {
    for (const person of peopleOf(row)) {
      const key = `${person.ageBand}|${person.gender}`;
      const cell = cells.get(key) ?? { ageBand: person.ageBand, gender: person.gender, present: 0, watchers: 0 };
      cell.present += 1;
      cell.watchers += person.watcher ? 1 : 0;
      cells.set(key, cell);
    }
  }
  /** @type {any} */
  const audience = {
    present: rows.reduce((sum, r) => sum + Math.max(r.present, r.watchers), 0),
    watchers: rows.reduce((sum, r) => sum + r.watchers, 0),
    lookingNow: rows.reduce((sum, r) => sum + r.lookingNow, 0),
    groupSize: Math.max(...rows.map((r) => Math.max(r.present, r.watchers))),
    byBandGender: [...cells.values()].map((c) => {
      /** @type {any} */
      const cell = { present: c.present, watchers: c.watchers };
      if (c.ageBand) cell.ageBand = c.ageBand;
      if (c.gender) cell.gender = c.gender;
      return cell;
    }),
  };
  const attention = rows.map((r) => r.attentionS).filter((v) => v !== null);
  if (attention.length) audience.attentionS = Math.max(...attention);
  const distance = rows.map((r) => r.distanceM).filter((v) => v !== null);
  if (distance.length) audience.distanceM = Math.min(...distance);
  return audience;
}

/**
 * Timeline steps for glance.simulateRules: a step at every moment a group arrives or leaves,
 * with everybody there at that moment; the last departure ends the simulation.
 * @param {string} date "YYYY-MM-DD"
 * @param {SketchRow[]} rows
 * @returns {Step[]}
 */
export function buildSteps(date, rows) {
  const spans = rows.map((row) => ({ row, from: toSeconds(row.start), to: toSeconds(row.start) + row.durationS }));
  const moments = [...new Set(spans.flatMap((s) => [s.from, s.to]))].sort((a, b) => a - b);
  return moments.map((t) => ({
    t: localTime(date, t),
    audience: audienceOf(spans.filter((s) => s.from <= t && t < s.to).map((s) => s.row)),
  }));
}

/**
 * Each step but the last with how long it lasts (in seconds, as the audience timeline's weight).
 * @param {Step[]} steps
 * @returns {{ step: Step, ms: number }[]}
 */
export function stepSpans(steps) {
  return steps.slice(0, -1).map((step, i) => ({ step, ms: toSeconds(steps[i + 1].t.slice(11)) - toSeconds(step.t.slice(11)) }));
}

/**
 * "3 present, 2 watching, 1 looking now", or "nobody".
 * @param {any} audience
 */
export function describeAudience(audience) {
  if (!audience.present) return 'nobody';
  const parts = [`${audience.present} present`];
  if (audience.watchers) parts.push(`${audience.watchers} watching`);
  if (audience.lookingNow) parts.push(`${audience.lookingNow} looking now`);
  return parts.join(', ');
}

/** @param {string[]} bands */
export function bandSummary(bands) {
  return bands.length ? bands.join(', ') : 'any band';
}

/** @type {Record<string, string>} */
export const OPERATORS = { eq: '=', neq: '≠', lt: '<', lte: '≤', gt: '>', gte: '≥', between: 'between', in: 'in' };

/**
 * Milliseconds as seconds: "20 s", "2.5 s".
 * @param {number} ms
 */
export const seconds = (ms) => `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;

/**
 * A stable hue (0–359) for an ad id, to colour its plays.
 * @param {string} text
 */
export function hue(text) {
  let h = 0;
  for (const c of text) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

/**
 * What decided a play: "rule “x” (priority 3)" or "default loop, position 2".
 * @param {any} decision
 */
export function sourceText(decision) {
  const source = decision.source ?? {};
  if (source.type === 'rule') return `rule “${source.ruleId}” (priority ${source.priority})`;
  if (source.type === 'defaultLoop') return `default loop, position ${Number(source.position) + 1}`;
  return source.type ?? '';
}

/**
 * One checked condition of a decision's reason: "✓ watchers: 3 ≥ 2".
 * @param {any} c
 */
export function conditionText(c) {
  const op = c.op ? ` ${OPERATORS[c.op] ?? c.op}` : ' in';
  const expected = typeof c.expected === 'string' ? c.expected : JSON.stringify(c.expected);
  return `${c.held ? '✓' : '✗'} ${c.condition}: ${JSON.stringify(c.actual)}${op} ${expected}`;
}

/**
 * A rule that matched but did not play, and why.
 * @param {any} s
 */
export function skippedText(s) {
  return `${s.ruleId} (priority ${s.priority}): ${s.message ?? s.reason?.kind ?? ''}`;
}

/**
 * What a play interrupted.
 * @param {any} interrupts
 */
export function interruptText(interrupts) {
  return `Interrupted ${interrupts.adId ?? 'the ad on screen'}${interrupts.onScreenMs !== undefined ? ` after ${seconds(interrupts.onScreenMs)}` : ''}.`;
}

/**
 * How long a play was on screen and how it ended.
 * @param {any} play
 */
export function onScreenText(play) {
  return seconds(play.onScreenMs) + (play.completed ? '' : play.interruptedBy ? `, interrupted by “${play.interruptedBy}”` : ', cut short');
}

/**
 * "3 plays in 40 s, 1 interruption."
 * @param {any} report what `simulateRules` returned
 */
export function simulationSummary(report) {
  const plays = report.plays ?? [];
  const total = plays.reduce((/** @type {number} */ sum, /** @type {any} */ p) => sum + p.onScreenMs, 0) || 1;
  const s = report.summary ?? {};
  const interrupts = s.interrupts ? `, ${s.interrupts} interruption${s.interrupts === 1 ? '' : 's'}` : '';
  return `${plays.length} play${plays.length === 1 ? '' : 's'} in ${s.simulatedS ?? total / 1000} s${interrupts}.`;
}

/**
 * Why a simulation failed, from what `simulateRules` threw.
 * @param {any} error
 */
export function simulationError(error) {
  const issues = error?.issues?.map((/** @type {any} */ i) => `${i.path}: ${i.message}`).join('; ');
  return `Simulation failed: ${issues || error?.message || error}`;
}
