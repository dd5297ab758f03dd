// @ts-check
// Glance audience dashboard. It reads the kiosk's saved aggregates from IndexedDB (or a file
// from another screen), asks the engine for a k-anonymous report and draws it; or it reads a
// network's report from the fleet's ingest service (fleet.js), which makes it the same way. Every number
// on the page and in the exports comes from that report: suppressed counts have no value to
// show, so they appear as "<k" and never as digits.
// This module is the view (the DOM, Chart.js and the engine); what can be tested without them
// lives in format.js (text), charts-data.js (the charts' data) and source.js (files, periods).
import init, * as glance from '/pkg/glance.js';
import { KEYS, load } from '/lib/store.js';
import { downloadText } from '/lib/download.js';
import { describeError, element } from '/lib/dom.js';
import {
  countText, dateTimeText, derivedText, durationText, fileStamp, kOf, numberText, percentText, playLengthText, playOutcome,
  playsCountText, privacyText, reportNotes, secondsNumberText, suppressedTitle, timeZoneText, cellColor, cellName, cellOrder,
} from './format.js';
import { adCharts, timeCharts } from './charts-data.js';
import { SUGGESTED, anchorOf, hasData, parseFile, reportOptions, sourceDescription, stateAudience } from './source.js';
import { choicesOf, endpoint, healthRows, readFleet, reportQuery } from './fleet.js';

const REFRESH_MS = 10_000;
/** Plays listed in the table (the exports have them all). */
const MAX_PLAYS_SHOWN = 500;

/** @typedef {import('/pkg/glance.js').AudienceReport} AudienceReport */
/** @typedef {import('/pkg/glance.js').PeopleCount} PeopleCount */
/** @typedef {import('chart.js').Chart} Chart */
/**
 * A Chart.js dataset with what charts-data.js adds: each value's text, and which were withheld.
 * @typedef {import('chart.js').ChartDataset & { glanceSuppressed?: boolean[], glanceMark?: string, glanceText?: string[] }} GlanceDataset
 */
/** @typedef {{ labels: string[], datasets: GlanceDataset[] }} ChartData */
/** A table cell: text, or a node (`num`: a right-aligned number). @typedef {string | { node: Node, num?: boolean }} TableCell */

/** The page's element for `selector` (there is one: the page's own markup). */
const $ = (/** @type {string} */ selector) => element(selector);
const ui = {
  period: element('#period', HTMLSelectElement),
  granularity: element('#granularity', HTMLSelectElement),
  csv: element('#export-csv', HTMLButtonElement),
  json: element('#export-json', HTMLButtonElement),
  file: element('#open-file', HTMLInputElement),
  useDevice: $('#use-device'),
  source: $('#source'),
  error: $('#error'),
  privacy: $('#privacy'),
  notes: $('#notes'),
  empty: $('#empty'),
  emptyText: $('#empty-text'),
  report: $('#report'),
  fleetConnect: element('#fleet-connect', HTMLFormElement),
  fleetUrl: element('#fleet-url', HTMLInputElement),
  fleetToken: element('#fleet-token', HTMLInputElement),
  fleetFilters: $('#fleet-filters'),
  fleetVenue: element('#fleet-venue', HTMLSelectElement),
  fleetTag: element('#fleet-tag', HTMLSelectElement),
  fleetScreens: element('#fleet-screens', HTMLSelectElement),
  health: $('#health'),
};

/** Where the figures come from (see source.js). @type {import('./source.js').Source} */
let source = { kind: 'device', state: null, savedAtMs: null };
/** @type {{ report: AudienceReport | null, json: string }} */
let current = { report: null, json: '' };
/** @type {Map<string, Chart>} */
const charts = new Map();

// ---------------------------------------------------------------------------------------------
// Counts on the page. A people count is `{ value, suppressed }`; a suppressed one has `value: null`.

/**
 * An element for a count; suppressed ones are marked and explained.
 * @param {PeopleCount} count
 * @param {number} k
 */
function countNode(count, k) {
  const node = document.createElement('span');
  node.textContent = countText(count, k);
  if (count.suppressed) markSuppressed(node, k);
  return node;
}

/** @param {HTMLElement} node @param {number} k */
function markSuppressed(node, k) {
  node.classList.add('suppressed');
  node.title = suppressedTitle(k);
}

/** Offset of the kiosk's days from UTC, from a saved state (0 when unknown). */
let utcOffsetMinutes = 0;

// ---------------------------------------------------------------------------------------------
// Charts (Chart.js, loaded as a classic script).

/**
 * A suppressed value has no bar; without a mark it would read as zero. This plugin writes the
 * dataset's mark ("<k", or "suppressed" for withheld times) at the foot of each such slot.
 */
/** @type {import('chart.js').Plugin} */
const suppressedMarks = {
  id: 'glanceSuppressed',
  afterDatasetsDraw(chart) {
    const { ctx, chartArea, scales } = chart;
    /** @type {number[]} */
    const drawn = [];
    ctx.save();
    ctx.font = `italic 600 11px ${window.Chart.defaults.font.family}`;
    ctx.fillStyle = '#6b4fa0';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    /** @type {GlanceDataset[]} */ (chart.data.datasets).forEach((dataset, di) => {
      const mark = dataset.glanceMark ?? '';
      if (!dataset.glanceSuppressed || !chart.isDatasetVisible(di)) return;
      const meta = chart.getDatasetMeta(di);
      dataset.glanceSuppressed.forEach((hidden, i) => {
        if (!hidden) return;
        const width = ctx.measureText(mark).width + 4;
        const slot = Number.isFinite(meta.data[i]?.x) ? meta.data[i].x : scales.x.getPixelForValue(i);
        const x = Math.min(Math.max(slot, chartArea.left + width / 2), chartArea.right - width / 2);
        // Stacked datasets share a slot, and narrow slots cannot hold every mark.
        if (drawn.some((d) => Math.abs(d - x) < width)) return;
        drawn.push(x);
        // In a stack the shown parts take the foot of the slot: the mark goes on top of them.
        let y = chartArea.bottom - 2;
        if (/** @type {{ stacked?: boolean } | undefined} */ (chart.options.scales?.x)?.stacked) {
          chart.data.datasets.forEach((d, j) => {
            const bar = chart.getDatasetMeta(j).data[i];
            if (d.data[i] && chart.isDatasetVisible(j) && Number.isFinite(bar?.y)) y = Math.min(y, bar.y - 2);
          });
        }
        ctx.fillText(mark, x, y);
      });
    });
    ctx.restore();
  },
};

/**
 * Draws or updates a chart, keeping the datasets the user hid via the legend hidden.
 * @param {import('./charts-data.js').ChartSpec} spec
 */
function drawChart({ name, type, data, options }) {
  const figure = $(`figure[data-chart="${name}"]`);
  let chart = charts.get(name);
  if (chart) {
    const shown = chart;
    const hidden = new Set(shown.data.datasets.filter((_, i) => !shown.isDatasetVisible(i)).map((d) => d.label));
    for (const d of data.datasets) if (hidden.has(d.label)) d.hidden = true;
    chart.data = data;
    chart.options = options;
    chart.update('none');
  } else {
    chart = /** @type {Chart} */ (new window.Chart(element('canvas', HTMLCanvasElement, figure), { type, data, options, plugins: [suppressedMarks] }));
    charts.set(name, chart);
  }
  dataTable(figure, data);
}

/**
 * The chart's numbers as a table under it (for screen readers and exact reading).
 * @param {HTMLElement} figure
 * @param {ChartData} data
 */
function dataTable(figure, data) {
  let details = figure.querySelector('details');
  if (!details) {
    details = document.createElement('details');
    details.className = 'data-table';
    details.innerHTML = '<summary>Data table</summary><div class="table-wrap"><table></table></div>';
    figure.append(details);
  }
  const table = element('table', HTMLTableElement, details);
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.scope = 'col';
  head.append(corner);
  for (const d of data.datasets) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = d.label ?? '';
    head.append(th);
  }
  const body = table.createTBody();
  data.labels.forEach((label, i) => {
    const row = body.insertRow();
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = label;
    row.append(th);
    for (const d of data.datasets) {
      const cell = row.insertCell();
      cell.className = 'num';
      cell.textContent = d.glanceText?.[i] ?? String(d.data[i] ?? '');
      if (d.glanceSuppressed?.[i]) cell.classList.add('suppressed');
    }
  });
}

/** @param {import('./charts-data.js').ChartSpec[]} specs */
function drawCharts(specs) {
  for (const spec of specs) drawChart(spec);
}

// ---------------------------------------------------------------------------------------------
// Tiles and tables.

/** @param {AudienceReport} report */
function drawTiles(report) {
  const k = kOf(report);
  const t = report.totals;
  const set = (/** @type {string} */ metric, /** @type {Node} */ content) => {
    const dd = $(`.tile[data-metric="${metric}"] .value`);
    dd.replaceChildren(content);
  };
  const text = (/** @type {string} */ s, /** @type {boolean} */ withheld) => {
    const span = document.createElement('span');
    span.textContent = s;
    if (withheld && s === 'suppressed') markSuppressed(span, k);
    return span;
  };
  const peopleHidden = t.impressions.suppressed;
  const eitherHidden = peopleHidden || t.watchers.suppressed;
  set('impressions', countNode(t.impressions, k));
  set('watchers', countNode(t.watchers, k));
  set('conversionRatio', text(derivedText(t.conversionRatio, eitherHidden, percentText), eitherHidden));
  set('attractionRatio', text(derivedText(t.attractionRatio, peopleHidden, percentText), peopleHidden));
  set('dwellMeanS', text(derivedText(t.dwellMeanS, peopleHidden, durationText), peopleHidden));
  set('attentionMeanPerWatcherS', text(derivedText(t.attentionMeanPerWatcherS, eitherHidden, durationText), eitherHidden));
  set('attentionTotalS', text(derivedText(t.attentionTotalS, peopleHidden, durationText), peopleHidden));
  for (const node of document.querySelectorAll('.min-glance')) node.textContent = `${secondsNumberText(report.minGlanceS)} s`;
}

/**
 * The band/gender split of a play or ad as a list: "25–34, female: 6 / <5".
 * @param {import('/pkg/glance.js').BandGenderReport[]} cells
 * @param {AudienceReport} report
 */
function splitNode(cells, report) {
  const k = kOf(report);
  const list = document.createElement('ul');
  list.className = 'split';
  for (const c of [...cells].sort(cellOrder(report))) {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = 'swatch';
    swatch.style.background = cellColor(report, c);
    swatch.setAttribute('aria-hidden', 'true');
    item.append(swatch, `${cellName(c)}: `, countNode(c.present, k), ' / ', countNode(c.watchers, k));
    list.append(item);
  }
  if (!cells.length) list.append(Object.assign(document.createElement('li'), { textContent: '—' }));
  return list;
}

/**
 * @param {HTMLTableSectionElement} tbody
 * @param {TableCell[]} cells
 */
function row(tbody, cells) {
  const tr = tbody.insertRow();
  for (const c of cells) {
    const td = tr.insertCell();
    if (typeof c === 'object') {
      td.append(c.node);
      if (c.num) td.className = 'num';
    } else {
      td.textContent = c;
    }
  }
  return tr;
}

const num = (/** @type {Node} */ node) => ({ node, num: true });
const numText = (/** @type {string} */ text) => ({ node: document.createTextNode(text), num: true });


/** The audience columns shared by the per-ad and per-play tables: OTS, watchers, conversion,
 * attention and the band/gender split, each withheld as the report withholds it.
 * @param {import('/pkg/glance.js').AdReport | import('/pkg/glance.js').PlayReport} x
 * @param {number} k
 * @param {AudienceReport} report
 * @returns {TableCell[]}
 */
function audienceCells(x, k, report) {
  const withheld = x.impressions.suppressed || x.watchers.suppressed;
  return [
    num(countNode(x.impressions, k)),
    num(countNode(x.watchers, k)),
    numText(derivedText(x.conversionRatio, withheld, percentText)),
    numText(derivedText(x.attentionS, x.impressions.suppressed, durationText)),
    { node: splitNode(x.byBandGender, report) },
  ];
}
/** @param {AudienceReport} report */
function drawTables(report) {
  const k = kOf(report);
  const adsBody = element('#ads-table tbody', HTMLTableSectionElement);
  adsBody.replaceChildren();
  for (const a of report.ads) {
    const tr = row(adsBody, [
      a.adId,
      numText(numberText(a.plays)),
      numText(numberText(a.completedPlays)),
      numText(durationText(a.playedS)),
      ...audienceCells(a, k, report),
    ]);
    tr.dataset.ad = a.adId;
  }
  if (!report.ads.length) emptyRow(adsBody, 9, 'No ad was played in this period.');

  const playsBody = element('#plays-table tbody', HTMLTableSectionElement);
  playsBody.replaceChildren();
  const plays = [...report.plays].sort((a, b) => b.startMs - a.startMs);
  for (const p of plays.slice(0, MAX_PLAYS_SHOWN)) {
    const tr = row(playsBody, [
      p.playId,
      p.adId,
      dateTimeText(p.startMs),
      numText(playLengthText(p)),
      playOutcome(p),
      ...audienceCells(p, k, report),
    ]);
    tr.dataset.play = p.playId;
  }
  if (!plays.length) emptyRow(playsBody, 10, 'No play started in this period.');
  $('#plays-count').textContent = playsCountText(plays.length, MAX_PLAYS_SHOWN);
}

/**
 * @param {HTMLTableSectionElement} tbody
 * @param {number} span
 * @param {string} text
 */
function emptyRow(tbody, span, text) {
  const td = tbody.insertRow().insertCell();
  td.colSpan = span;
  td.className = 'none';
  td.textContent = text;
}

/** @param {AudienceReport} report */
function drawDefinitions(report) {
  const dl = $('#definitions');
  dl.replaceChildren();
  for (const [term, text] of Object.entries(report.definitions ?? {})) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = text ?? '';
    dl.append(dt, dd);
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

/** When the periods end: now for the live kiosk, the save time for a file. */
function anchorMs() {
  return anchorOf(source, Date.now());
}

/**
 * @param {number} anchor
 * @returns {AudienceReport}
 */
function buildReport(anchor) {
  if (source.report) return source.report;
  const state = source.state ?? '';
  return glance.reportFromState(state, reportOptions(state, ui.period.value, ui.granularity.value, anchor));
}

/** @param {AudienceReport | null} report */
function describeSource(report) {
  ui.source.textContent = sourceDescription(source, report, ui.period.value, Date.now());
}

/** @param {string} message */
function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

const EMPTY_TEXT = ui.emptyText.textContent ?? '';

/** @param {boolean} empty */
function setEmpty(empty, text = EMPTY_TEXT) {
  ui.empty.hidden = !empty;
  ui.emptyText.textContent = text;
  ui.report.hidden = empty;
  ui.privacy.hidden = empty;
  ui.notes.hidden = true;
  ui.csv.disabled = empty;
  ui.json.disabled = empty;
}

/** Rebuilds the report and redraws what changed. */
function render() {
  if (!source.state && !source.report) {
    current = { report: null, json: '' };
    describeSource(null);
    setEmpty(true);
    return;
  }
  const anchor = anchorMs();
  let report;
  try {
    if (source.state) {
      const { parsed } = stateAudience(source.state);
      utcOffsetMinutes = parsed.utcOffsetMinutes ?? 0;
      if (!hasData(parsed)) {
        current = { report: null, json: '' };
        describeSource(null);
        setEmpty(true);
        return;
      }
    } else {
      utcOffsetMinutes = 0;
    }
    report = buildReport(anchor);
  } catch (e) {
    current = { report: null, json: '' };
    describeSource(null);
    setEmpty(true, 'These figures cannot be shown.');
    showError(`The saved data cannot be read: ${describeError(e).message}`);
    return;
  }
  showError('');
  describeSource(report);
  const json = JSON.stringify(report);
  if (json === current.json) return;
  current = { report, json };
  setEmpty(false);

  const k = kOf(report);
  ui.privacy.replaceChildren(...privacyText(k, report.kAnonymity.suppressedCells));
  ui.privacy.hidden = false;
  const notes = reportNotes(report);
  ui.notes.replaceChildren(...notes.map((text) => Object.assign(document.createElement('li'), { textContent: text })));
  ui.notes.hidden = notes.length === 0;

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $('#time-zone').textContent = timeZoneText(report.granularity, utcOffsetMinutes, zone);
  drawTiles(report);
  drawCharts(timeCharts(report, source.report ? null : anchor, utcOffsetMinutes));
  drawCharts(adCharts(report));
  drawTables(report);
  drawDefinitions(report);
}

// ---------------------------------------------------------------------------------------------
// Sources.

async function loadDevice() {
  let record;
  try {
    record = await load(KEYS.audienceState);
  } catch (e) {
    showError(`This device’s saved data cannot be opened: ${describeError(e).message}`);
    return;
  }
  if (source.kind !== 'device') return;
  const state = typeof record?.state === 'string' ? record.state : null;
  source = { kind: 'device', state, savedAtMs: record?.savedAtMs ?? null };
  render();
}

/** @param {File} file */
async function openFile(file) {
  showError('');
  try {
    const next = parseFile(file.name, await file.text());
    source = next;
  } catch (e) {
    showError(describeError(e).message);
    return;
  }
  current = { report: null, json: '' };
  ui.useDevice.hidden = false;
  const fixed = Boolean(source.report);
  ui.period.disabled = fixed;
  ui.granularity.disabled = fixed;
  render();
}

function useDevice() {
  showError('');
  source = { kind: 'device', state: null, savedAtMs: null };
  ui.health.hidden = true;
  ui.fleetFilters.hidden = true;
  current = { report: null, json: '' };
  ui.useDevice.hidden = true;
  ui.period.disabled = false;
  ui.granularity.disabled = false;
  ui.file.value = '';
  loadDevice();
}

// ---------------------------------------------------------------------------------------------
// A network's screens, through the ingest service's read endpoints.

/**
 * `select`'s options: the first (everything) kept, then one per value.
 * @param {HTMLSelectElement} select
 * @param {string[]} values
 * @param {(value: string) => string} [label]
 */
function fillOptions(select, values, label = (v) => v) {
  const keep = select.multiple ? [] : [select.options[0]];
  select.replaceChildren(...keep, ...values.map((v) => new Option(label(v), v)));
}

/** @param {Parameters<typeof healthRows>[0]} screens */
function drawHealth(screens) {
  const tbody = element('tbody', HTMLTableSectionElement, ui.health);
  tbody.replaceChildren();
  for (const cells of healthRows(screens)) row(tbody, cells);
  ui.health.hidden = false;
}

/** @param {SubmitEvent} event */
async function connectFleet(event) {
  event.preventDefault();
  showError('');
  const url = ui.fleetUrl.value.trim();
  const token = ui.fleetToken.value;
  let listed;
  try {
    listed = await readFleet(endpoint(url, '/v1/fleet/screens'), token);
  } catch (e) {
    showError(`The network cannot be read: ${describeError(e).message}`);
    return;
  }
  /** @type {import('./fleet.js').FleetScreen[]} */
  const screens = listed.screens;
  const { venues, tags } = choicesOf(screens);
  fillOptions(ui.fleetVenue, venues);
  fillOptions(ui.fleetTag, tags);
  fillOptions(ui.fleetScreens, screens.map((s) => s.id), (id) => {
    const venue = screens.find((s) => s.id === id)?.venue;
    return venue ? `${id} (${venue})` : id;
  });
  ui.fleetFilters.hidden = false;
  source = { kind: 'fleet', url, token, screens, report: null, screenIds: [] };
  current = { report: null, json: '' };
  ui.useDevice.hidden = false;
  ui.period.disabled = false;
  ui.granularity.disabled = false;
  drawHealth(screens);
  await loadFleet();
}

/** The latest report asked for: an answer to an older question is dropped. */
let fleetQuestion = 0;

/** Asks the service for the chosen screens' report and draws it. */
async function loadFleet() {
  if (source.kind !== 'fleet') return;
  const asked = source;
  const question = ++fleetQuestion;
  const query = reportQuery({
    period: ui.period.value,
    granularity: ui.granularity.value,
    venue: ui.fleetVenue.value,
    tag: ui.fleetTag.value,
    screens: [...ui.fleetScreens.selectedOptions].map((o) => o.value),
  }, Date.now());
  let body;
  try {
    body = await readFleet(endpoint(asked.url, `/v1/fleet/report?${query}`), asked.token);
  } catch (e) {
    if (question === fleetQuestion) showError(`The network's report cannot be read: ${describeError(e).message}`);
    return;
  }
  if (source.kind !== 'fleet' || question !== fleetQuestion) return;
  source = { ...asked, report: body.report, screenIds: body.screens };
  render();
}

// ---------------------------------------------------------------------------------------------
// Exports: the report as the engine wrote it (JSON) and the engine's k-anonymous CSV.

function exportCsv() {
  const { report } = current;
  if (!report) return;
  try {
    downloadText(`glance-report-${fileStamp(report)}.csv`, glance.reportToCsv(report), 'text/csv;charset=utf-8');
  } catch (e) {
    showError(`The CSV could not be made: ${describeError(e).message}`);
  }
}

function exportJson() {
  const { report } = current;
  if (!report) return;
  downloadText(`glance-report-${fileStamp(report)}.json`, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  await init({ backend: 'cpu' }); // only the plain functions: the small module
  if (typeof glance.reportFromState !== 'function' || typeof glance.reportToCsv !== 'function') {
    throw new Error('this Glance package has no reportFromState/reportToCsv; rebuild it with scripts/build-web');
  }
  if (!window.Chart) throw new Error('Chart.js did not load (/node_modules/chart.js)');
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = '#3b4350';

  // A network's report comes from the service, anything else is made here.
  const refresh = () => (source.kind === 'fleet' ? loadFleet() : render());
  ui.period.addEventListener('change', () => {
    ui.granularity.value = SUGGESTED[/** @type {keyof SUGGESTED} */ (ui.period.value)];
    refresh();
  });
  ui.granularity.addEventListener('change', refresh);
  ui.fleetConnect.addEventListener('submit', connectFleet);
  for (const filter of [ui.fleetVenue, ui.fleetTag, ui.fleetScreens]) filter.addEventListener('change', loadFleet);
  $('#fleet-filters').addEventListener('submit', (e) => e.preventDefault());
  ui.csv.addEventListener('click', exportCsv);
  ui.json.addEventListener('click', exportJson);
  ui.file.addEventListener('change', () => {
    const file = ui.file.files?.[0];
    if (file) openFile(file);
  });
  ui.useDevice.addEventListener('click', useDevice);
  $('#controls').addEventListener('submit', (e) => e.preventDefault());

  await loadDevice();
  // The kiosk saves as it goes; polling is the only signal across tabs of the same origin.
  setInterval(() => {
    if (source.kind === 'device' && !document.hidden) loadDevice();
    if (source.kind === 'fleet' && !document.hidden) loadFleet();
  }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (source.kind === 'device' && !document.hidden) loadDevice();
  });
  document.documentElement.dataset.ready = 'true';
}

main().catch((e) => {
  showError(`The dashboard could not start: ${describeError(e).message}`);
  ui.source.textContent = '';
  document.documentElement.dataset.ready = 'error';
});
