// Glance audience dashboard. It reads the kiosk's saved aggregates from IndexedDB (or a file
// from another screen), asks the engine for a k-anonymous report and draws it. Every number
// on the page and in the exports comes from that report: suppressed counts have no value to
// show, so they appear as "<k" and never as digits.
import init, * as glance from '/pkg/glance.js';
import { KEYS, load } from '/lib/store.js';

const REFRESH_MS = 10_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PERIODS = { hour: HOUR, day: DAY, week: 7 * DAY, all: null };
const PERIOD_TEXT = { hour: 'the last hour', day: 'the last 24 hours', week: 'the last 7 days', all: 'everything recorded' };
/** The granularity that fits a period, set when the period changes (the user may override it). */
const SUGGESTED = { hour: 'minute', day: 'hour', week: 'day', all: 'day' };
const UNIT = { minute: 60_000, hour: HOUR, day: DAY };
/** Longest series drawn with empty buckets filled in; longer ones show recorded buckets only. */
const MAX_FILLED = 2000;
/** Plays listed in the table (the exports have them all). */
const MAX_PLAYS_SHOWN = 500;

const $ = (selector) => document.querySelector(selector);
const ui = {
  period: $('#period'),
  granularity: $('#granularity'),
  csv: $('#export-csv'),
  json: $('#export-json'),
  file: $('#open-file'),
  useDevice: $('#use-device'),
  source: $('#source'),
  error: $('#error'),
  privacy: $('#privacy'),
  notes: $('#notes'),
  empty: $('#empty'),
  emptyText: $('#empty-text'),
  report: $('#report'),
};

/**
 * Where the figures come from. `device`: IndexedDB, polled. `file`: a state (`state` set) or a
 * finished report (`report` set) opened by the user; `anchorMs` ends its periods.
 */
let source = { kind: 'device', state: null, savedAtMs: null };
let current = { report: null, json: '' };
const charts = new Map();

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const secondsFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// ---------------------------------------------------------------------------------------------
// Formatting. A people count is `{ value, suppressed }`; a suppressed one has `value: null`.

const kOf = (report) => report.kAnonymity.k;

/** A count as text: "<k" when suppressed. */
function countText(count, k) {
  return count.suppressed ? `<${k}` : numberFormat.format(count.value);
}

/** Seconds as "12.3 s", "4 min 05 s" or "2 h 03 min". */
function durationText(seconds) {
  if (seconds < 60) return `${secondsFormat.format(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * A derived value (ratio, time) that the report leaves `null` either because its group was
 * suppressed or because there is nothing to divide by.
 */
function derivedText(value, withheld, format) {
  if (value != null) return format(value);
  return withheld ? 'suppressed' : '—';
}

/** An element for a count; suppressed ones are marked and explained. */
function countNode(count, k) {
  const node = document.createElement('span');
  node.textContent = countText(count, k);
  if (count.suppressed) markSuppressed(node, k);
  return node;
}

function markSuppressed(node, k) {
  node.classList.add('suppressed');
  node.title = `Suppressed: fewer than ${k} people, or hidden so that such a count cannot be worked out from the others`;
}

function bucketLabel(label) {
  // "0-5s" -> "0–5 s", "60s+" -> "60 s or more", "0-1m" -> "0–1 m".
  return label.replace(/^(\d+)([sm])\+$/, '$1 $2 or more').replace(/^(\d+)-(\d+)([sm])$/, '$1–$2 $3');
}

function cellName(cell) {
  // null is the unknown category: not confident enough, or a child's gender.
  const band = cell.ageBand == null ? 'age unknown' : cell.ageBand.replace('-', '–');
  const gender = cell.gender ?? 'gender unknown';
  return `${band}, ${gender}`;
}

/** Orders band/gender cells by the report's age bands, then female, male, unknown. */
function cellOrder(report) {
  const bandIndex = (band) => (band == null ? report.ageBands.length : report.ageBands.indexOf(band));
  const genderIndex = { female: 0, male: 1 };
  return (a, b) => bandIndex(a.ageBand) - bandIndex(b.ageBand) || (genderIndex[a.gender] ?? 2) - (genderIndex[b.gender] ?? 2);
}

/** One colour per band (hue) and gender (lightness); grey when the band is unknown. */
function cellColor(report, cell) {
  const lightness = { female: 42, male: 62 }[cell.gender] ?? 78;
  if (cell.ageBand == null) return `hsl(215 8% ${lightness}%)`;
  const n = Math.max(report.ageBands.length, 1);
  const hue = Math.round((report.ageBands.indexOf(cell.ageBand) * 300) / n + 190) % 360;
  return `hsl(${hue} 62% ${lightness}%)`;
}

// ---------------------------------------------------------------------------------------------
// Time buckets.

/** Offset of the kiosk's days from UTC, from a saved state (0 when unknown). */
let utcOffsetMinutes = 0;

const timeFormats = {
  minute: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }),
  hour: new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }),
  // Days are the kiosk's days: shown in its own offset, whatever the viewer's time zone.
  day: new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' }),
};

function bucketTime(startMs, granularity) {
  if (granularity === 'day') return timeFormats.day.format(startMs + utcOffsetMinutes * 60_000);
  return timeFormats[granularity].format(startMs);
}

/**
 * The report's series lists only buckets where someone was seen. For a readable time axis the
 * gaps between them (and up to the period's ends) are filled with empty buckets, which are
 * true zeros: within the retention of a granularity, a missing bucket had no visit.
 */
function timeline(report, nowMs) {
  const series = report.series;
  if (series.length === 0) return [];
  const unit = UNIT[report.granularity];
  const first = series[0].startMs;
  const last = series[series.length - 1].startMs;
  // Grid points are first + n·unit: the engine's bucket boundaries, time-zone offset included.
  let from = first;
  // The engine rounds `fromMs` down to a bucket boundary: so does this.
  if (report.fromMs != null && report.fromMs < first) from = first - Math.ceil((first - report.fromMs) / unit) * unit;
  let to = last;
  const end = report.toMs ?? nowMs;
  if (report.fromMs != null && end != null && end > last) to = last + Math.floor((end - 1 - last) / unit) * unit;
  const byStart = new Map(series.map((entry) => [entry.startMs, entry]));
  if ((to - from) / unit + 1 > MAX_FILLED) return series;
  const filled = [];
  for (let t = from; t <= to; t += unit) filled.push(byStart.get(t) ?? { startMs: t, endMs: t + unit, metrics: null });
  return filled;
}

// ---------------------------------------------------------------------------------------------
// Charts (Chart.js, loaded as a classic script).

/**
 * A suppressed value has no bar; without a mark it would read as zero. This plugin writes the
 * dataset's mark ("<k", or "suppressed" for withheld times) at the foot of each such slot.
 */
const suppressedMarks = {
  id: 'glanceSuppressed',
  afterDatasetsDraw(chart) {
    const { ctx, chartArea, scales } = chart;
    const drawn = [];
    ctx.save();
    ctx.font = `italic 600 11px ${window.Chart.defaults.font.family}`;
    ctx.fillStyle = '#6b4fa0';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'bottom';
    chart.data.datasets.forEach((dataset, di) => {
      if (!dataset.glanceSuppressed || !chart.isDatasetVisible(di)) return;
      const meta = chart.getDatasetMeta(di);
      dataset.glanceSuppressed.forEach((hidden, i) => {
        if (!hidden) return;
        const width = ctx.measureText(dataset.glanceMark).width + 4;
        const slot = Number.isFinite(meta.data[i]?.x) ? meta.data[i].x : scales.x.getPixelForValue(i);
        const x = Math.min(Math.max(slot, chartArea.left + width / 2), chartArea.right - width / 2);
        // Stacked datasets share a slot, and narrow slots cannot hold every mark.
        if (drawn.some((d) => Math.abs(d - x) < width)) return;
        drawn.push(x);
        // In a stack the shown parts take the foot of the slot: the mark goes on top of them.
        let y = chartArea.bottom - 2;
        if (chart.options.scales.x?.stacked) {
          chart.data.datasets.forEach((d, j) => {
            const bar = chart.getDatasetMeta(j).data[i];
            if (d.data[i] && chart.isDatasetVisible(j) && Number.isFinite(bar?.y)) y = Math.min(y, bar.y - 2);
          });
        }
        ctx.fillText(dataset.glanceMark, x, y);
      });
    });
    ctx.restore();
  },
};

function baseOptions(report, { stacked = false, y1 = null, yTitle = 'people' } = {}) {
  const k = kOf(report);
  const scales = {
    x: { stacked, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
    y: { stacked, beginAtZero: true, title: { display: true, text: yTitle }, ticks: { precision: 0 } },
  };
  if (y1) scales.y1 = { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: y1 } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    // Refreshes every 10 s would re-run animations; the figures are read, not watched.
    animation: false,
    interaction: { mode: 'index', intersect: false },
    scales,
    plugins: {
      legend: { position: 'bottom', labels: { boxWidth: 12 } },
      tooltip: {
        callbacks: {
          label: (item) => `${item.dataset.label}: ${item.dataset.glanceText?.[item.dataIndex] ?? item.formattedValue}`,
          // A suppressed value has no bar to hover: name it under the others.
          footer: (items) => {
            if (!items.length) return '';
            const i = items[0].dataIndex;
            const hidden = items[0].chart.data.datasets.filter((d) => d.glanceSuppressed?.[i]).map((d) => d.label);
            return hidden.length ? `Fewer than ${k} (suppressed): ${hidden.join(', ')}` : '';
          },
        },
      },
    },
  };
}

/**
 * A dataset of people counts: suppressed counts become `null` (no bar), with their text kept
 * for the tooltip and the data table.
 */
function countDataset(label, counts, k, extra = {}) {
  return {
    label,
    data: counts.map((c) => (c == null ? 0 : c.suppressed ? null : c.value)),
    glanceText: counts.map((c) => (c == null ? '0' : countText(c, k))),
    glanceSuppressed: counts.map((c) => Boolean(c?.suppressed)),
    glanceMark: `<${k}`,
    ...extra,
  };
}

/** A dataset of seconds, `null` where the report withholds them. */
function secondsDataset(label, values, withheld, extra = {}) {
  return {
    label,
    data: values.map((v) => (v == null ? null : Math.round(v * 10) / 10)),
    glanceText: values.map((v, i) => derivedText(v, withheld[i], durationText)),
    glanceSuppressed: values.map((v, i) => v == null && withheld[i]),
    glanceMark: 'suppressed',
    ...extra,
  };
}

/** Draws or updates a chart, keeping the datasets the user hid via the legend hidden. */
function drawChart(name, type, data, options) {
  const figure = document.querySelector(`figure[data-chart="${name}"]`);
  let chart = charts.get(name);
  if (chart) {
    const hidden = new Set(chart.data.datasets.filter((_, i) => !chart.isDatasetVisible(i)).map((d) => d.label));
    for (const d of data.datasets) if (hidden.has(d.label)) d.hidden = true;
    chart.data = data;
    chart.options = options;
    chart.update('none');
  } else {
    chart = new window.Chart(figure.querySelector('canvas'), { type, data, options, plugins: [suppressedMarks] });
    charts.set(name, chart);
  }
  dataTable(figure, data);
}

/** The chart's numbers as a table under it (for screen readers and exact reading). */
function dataTable(figure, data) {
  let details = figure.querySelector('details');
  if (!details) {
    details = document.createElement('details');
    details.className = 'data-table';
    details.innerHTML = '<summary>Data table</summary><div class="table-wrap"><table></table></div>';
    figure.append(details);
  }
  const table = details.querySelector('table');
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  const corner = document.createElement('th');
  corner.scope = 'col';
  head.append(corner);
  for (const d of data.datasets) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = d.label;
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

function drawTimeCharts(report, nowMs) {
  const k = kOf(report);
  const buckets = timeline(report, nowMs);
  const labels = buckets.map((b) => bucketTime(b.startMs, report.granularity));
  const m = buckets.map((b) => b.metrics);
  const zero = { value: 0, suppressed: false };
  // Each slot's bucket start rides along with its text label, so the figures can be checked
  // against the report's series.
  const starts = buckets.map((b) => b.startMs);
  drawChart('audience', 'bar', {
    labels,
    glanceStarts: starts,
    datasets: [
      countDataset('Opportunities to see', m.map((x) => x?.impressions ?? zero), k, { backgroundColor: '#1f5fbf' }),
      countDataset('Watchers', m.map((x) => x?.watchers ?? zero), k, { backgroundColor: '#e08a1e' }),
    ],
  }, baseOptions(report));
  drawChart('attention', 'bar', {
    labels,
    glanceStarts: starts,
    datasets: [
      secondsDataset('Attention time', m.map((x) => (x ? x.attentionTotalS : 0)), m.map((x) => Boolean(x?.impressions.suppressed)), { backgroundColor: '#2f8f5b' }),
      secondsDataset('Dwell time', m.map((x) => (x ? x.dwellTotalS : 0)), m.map((x) => Boolean(x?.impressions.suppressed)), { backgroundColor: '#9db8d9' }),
    ],
  }, baseOptions(report, { yTitle: 'seconds' }));

  // One dataset per (band, gender) cell seen anywhere in the period.
  const cells = new Map();
  for (const x of [report.totals, ...m]) for (const c of x?.byBandGender ?? []) cells.set(cellName(c), c);
  const ordered = [...cells.values()].sort(cellOrder(report));
  drawChart('bands', 'bar', {
    labels,
    glanceStarts: starts,
    datasets: ordered.map((cell) => countDataset(
      cellName(cell),
      m.map((x) => (x?.byBandGender.find((c) => c.ageBand === cell.ageBand && c.gender === cell.gender)?.present) ?? zero),
      k,
      { backgroundColor: cellColor(report, cell), glanceCell: { ageBand: cell.ageBand, gender: cell.gender } },
    )),
  }, baseOptions(report, { stacked: true }));

  const t = report.totals;
  drawChart('dwell', 'bar', {
    labels: t.dwellBuckets.map((b) => bucketLabel(b.label)),
    datasets: [
      countDataset('People by dwell time', t.dwellBuckets.map((b) => b.count), k, { backgroundColor: '#1f5fbf' }),
      countDataset('Watchers by attention time', t.attentionBuckets.map((b) => b.count), k, { backgroundColor: '#2f8f5b' }),
    ],
  }, baseOptions(report));
}

function drawAdCharts(report) {
  const k = kOf(report);
  const ads = report.ads;
  const labels = ads.map((a) => a.adId);
  drawChart('ads', 'bar', {
    labels,
    datasets: [
      countDataset('Opportunities to see', ads.map((a) => a.impressions), k, { backgroundColor: '#1f5fbf', yAxisID: 'y' }),
      countDataset('Watchers', ads.map((a) => a.watchers), k, { backgroundColor: '#e08a1e', yAxisID: 'y' }),
      secondsDataset('Attention (s)', ads.map((a) => a.attentionS), ads.map((a) => a.impressions.suppressed), { backgroundColor: '#2f8f5b', yAxisID: 'y1' }),
    ],
  }, baseOptions(report, { y1: 'seconds' }));
  const cells = new Map();
  for (const a of ads) for (const c of a.byBandGender) cells.set(cellName(c), c);
  const ordered = [...cells.values()].sort(cellOrder(report));
  drawChart('adBands', 'bar', {
    labels,
    datasets: ordered.map((cell) => countDataset(
      cellName(cell),
      ads.map((a) => a.byBandGender.find((c) => c.ageBand === cell.ageBand && c.gender === cell.gender)?.present ?? { value: 0, suppressed: false }),
      k,
      { backgroundColor: cellColor(report, cell), glanceCell: { ageBand: cell.ageBand, gender: cell.gender } },
    )),
  }, baseOptions(report, { stacked: true }));
}

// ---------------------------------------------------------------------------------------------
// Tiles and tables.

function drawTiles(report) {
  const k = kOf(report);
  const t = report.totals;
  const set = (metric, content) => {
    const dd = document.querySelector(`.tile[data-metric="${metric}"] .value`);
    dd.replaceChildren(content);
  };
  const text = (s, withheld) => {
    const span = document.createElement('span');
    span.textContent = s;
    if (withheld && s === 'suppressed') markSuppressed(span, k);
    return span;
  };
  const peopleHidden = t.impressions.suppressed;
  const eitherHidden = peopleHidden || t.watchers.suppressed;
  set('impressions', countNode(t.impressions, k));
  set('watchers', countNode(t.watchers, k));
  set('conversionRatio', text(derivedText(t.conversionRatio, eitherHidden, percentFormat.format), eitherHidden));
  set('attractionRatio', text(derivedText(t.attractionRatio, peopleHidden, percentFormat.format), peopleHidden));
  set('dwellMeanS', text(derivedText(t.dwellMeanS, peopleHidden, durationText), peopleHidden));
  set('attentionMeanPerWatcherS', text(derivedText(t.attentionMeanPerWatcherS, eitherHidden, durationText), eitherHidden));
  set('attentionTotalS', text(derivedText(t.attentionTotalS, peopleHidden, durationText), peopleHidden));
  for (const node of document.querySelectorAll('.min-glance')) node.textContent = `${secondsFormat.format(report.minGlanceS)} s`;
}

/** The band/gender split of a play or ad as a list: "25–34, female: 6 / <5". */
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

function row(tbody, cells) {
  const tr = tbody.insertRow();
  for (const c of cells) {
    const td = tr.insertCell();
    if (c && typeof c === 'object' && 'node' in c) {
      td.append(c.node);
      if (c.num) td.className = 'num';
    } else {
      td.textContent = c;
    }
  }
  return tr;
}

const num = (node) => ({ node, num: true });
const numText = (text) => ({ node: document.createTextNode(text), num: true });


/** The audience columns shared by the per-ad and per-play tables: OTS, watchers, conversion,
 * attention and the band/gender split, each withheld as the report withholds it. */
function audienceCells(x, k, report) {
  const withheld = x.impressions.suppressed || x.watchers.suppressed;
  return [
    num(countNode(x.impressions, k)),
    num(countNode(x.watchers, k)),
    numText(derivedText(x.conversionRatio, withheld, percentFormat.format)),
    numText(derivedText(x.attentionS, x.impressions.suppressed, durationText)),
    { node: splitNode(x.byBandGender, report) },
  ];
}
function drawTables(report) {
  const k = kOf(report);
  const adsBody = $('#ads-table tbody');
  adsBody.replaceChildren();
  for (const a of report.ads) {
    const tr = row(adsBody, [
      a.adId,
      numText(numberFormat.format(a.plays)),
      numText(numberFormat.format(a.completedPlays)),
      numText(durationText(a.playedS)),
      ...audienceCells(a, k, report),
    ]);
    tr.dataset.ad = a.adId;
  }
  if (!report.ads.length) emptyRow(adsBody, 9, 'No ad was played in this period.');

  const playsBody = $('#plays-table tbody');
  playsBody.replaceChildren();
  const plays = [...report.plays].sort((a, b) => b.startMs - a.startMs);
  for (const p of plays.slice(0, MAX_PLAYS_SHOWN)) {
    const outcome = p.endMs == null ? 'playing' : p.completed === false ? 'interrupted' : 'completed';
    const tr = row(playsBody, [
      p.playId,
      p.adId,
      dateTimeFormat.format(p.startMs),
      numText(p.endMs == null ? '—' : durationText((p.endMs - p.startMs) / 1000)),
      p.final ? outcome : `${outcome} (counting)`,
      ...audienceCells(p, k, report),
    ]);
    tr.dataset.play = p.playId;
  }
  if (!plays.length) emptyRow(playsBody, 10, 'No play started in this period.');
  $('#plays-count').textContent = plays.length > MAX_PLAYS_SHOWN
    ? `(the latest ${MAX_PLAYS_SHOWN} of ${plays.length}; the exports have them all)`
    : `(${plays.length})`;
}

function emptyRow(tbody, span, text) {
  const td = tbody.insertRow().insertCell();
  td.colSpan = span;
  td.className = 'none';
  td.textContent = text;
}

function drawDefinitions(report) {
  const dl = $('#definitions');
  dl.replaceChildren();
  for (const [term, text] of Object.entries(report.definitions ?? {})) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = text;
    dl.append(dt, dd);
  }
}

// ---------------------------------------------------------------------------------------------
// The report.

/**
 * The audience configuration the state was recorded with, as far as the report needs it: the
 * engine restores a state only under the same age bands and day offset.
 */
function audienceOf(stateText) {
  // Parsed once per state text: the page re-reads the same state every 10 s.
  if (audienceOf.text === stateText) return audienceOf.value;
  const s = JSON.parse(stateText);
  // Labels "0-12", "13-17", …, "65+" give back the bands' lower bounds.
  const ageBands = (s.ageBands ?? []).map((label) => Number.parseInt(label, 10));
  audienceOf.value = {
    parsed: s,
    audience: {
      ...(ageBands.length && ageBands.every(Number.isFinite) ? { ageBands } : {}),
      ...(Number.isInteger(s.utcOffsetMinutes) ? { utcOffsetMinutes: s.utcOffsetMinutes } : {}),
    },
  };
  audienceOf.text = stateText;
  return audienceOf.value;
}

function hasData(state) {
  return ['minutes', 'hours', 'days', 'plays'].some((key) => Array.isArray(state[key]) && state[key].length > 0);
}

/** When the periods end: now for the live kiosk, the save time for a file. */
function anchorMs() {
  return source.kind === 'device' ? Date.now() : (source.anchorMs ?? Date.now());
}

function buildReport(anchor) {
  if (source.report) return source.report;
  const span = PERIODS[ui.period.value];
  const report = { granularity: ui.granularity.value };
  if (span != null) report.fromMs = anchor - span;
  return glance.reportFromState(source.state, { audience: audienceOf(source.state).audience, report });
}

function describeSource(report) {
  const parts = [];
  if (source.kind === 'device') {
    parts.push(source.savedAtMs != null
      ? `This device’s kiosk data, saved ${dateTimeFormat.format(source.savedAtMs)}.`
      : 'This device’s kiosk data.');
  } else {
    parts.push(`File “${source.name}”${source.report ? ' (a report)' : ' (a saved state)'}.`);
  }
  if (report) {
    if (source.report) {
      const from = report.fromMs != null ? dateTimeFormat.format(report.fromMs) : 'the start';
      const to = report.toMs != null ? dateTimeFormat.format(report.toMs) : dateTimeFormat.format(report.generatedAtMs ?? Date.now());
      parts.push(`It covers ${from} to ${to}, by ${report.granularity}; its period cannot be changed here.`);
    } else {
      const until = source.kind === 'device' ? 'now' : dateTimeFormat.format(anchorMs());
      parts.push(`Showing ${PERIOD_TEXT[ui.period.value]} up to ${until}, by ${report.granularity}.`);
    }
    if (report.generatedAtMs != null) parts.push(`Latest data: ${dateTimeFormat.format(report.generatedAtMs)}.`);
  }
  if (source.kind === 'device') parts.push('Updates every 10 seconds.');
  ui.source.textContent = parts.join(' ');
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
}

const EMPTY_TEXT = ui.emptyText.textContent;

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
      const { parsed } = audienceOf(source.state);
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
    showError(`The saved data cannot be read: ${e.message ?? e}`);
    return;
  }
  showError('');
  describeSource(report);
  const json = JSON.stringify(report);
  if (json === current.json) return;
  current = { report, json };
  setEmpty(false);

  const k = kOf(report);
  const n = report.kAnonymity.suppressedCells;
  ui.privacy.replaceChildren(
    `k-anonymity: counts of fewer than k = ${k} people are never shown. `,
    n === 0
      ? 'No cell had to be suppressed in this report.'
      : `${n} ${n === 1 ? 'cell was' : 'cells were'} suppressed in this report; they show as “<${k}” (or “suppressed” for ratios and times that would reveal them), here and in the downloads.`,
  );
  ui.privacy.hidden = false;
  const notes = [...(report.notes ?? [])];
  if (report.totals.impressions.value === 0 && !report.plays.length) {
    notes.unshift('No one was recorded in this period. Choose a longer period, or “All”, to see earlier figures.');
  }
  // The engine's notes give times as epoch milliseconds.
  const readable = (text) => text.replace(/\b(\d{12,14}) ms\b/g, (_, ms) => dateTimeFormat.format(Number(ms)));
  ui.notes.replaceChildren(...notes.map((text) => Object.assign(document.createElement('li'), { textContent: readable(text) })));
  ui.notes.hidden = notes.length === 0;

  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $('#time-zone').textContent = report.granularity === 'day'
    ? `(days as the kiosk counts them, UTC${utcOffsetMinutes >= 0 ? '+' : '−'}${offsetText(Math.abs(utcOffsetMinutes))})`
    : `(times in ${zone})`;
  drawTiles(report);
  drawTimeCharts(report, source.report ? null : anchor);
  drawAdCharts(report);
  drawTables(report);
  drawDefinitions(report);
}

function offsetText(minutes) {
  return `${Math.floor(minutes / 60)}${minutes % 60 ? `:${String(minutes % 60).padStart(2, '0')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Sources.

async function loadDevice() {
  let record;
  try {
    record = await load(KEYS.audienceState);
  } catch (e) {
    showError(`This device’s saved data cannot be opened: ${e.message ?? e}`);
    return;
  }
  if (source.kind !== 'device') return;
  const state = typeof record?.state === 'string' ? record.state : null;
  source = { kind: 'device', state, savedAtMs: record?.savedAtMs ?? null };
  render();
}

/**
 * Reads an opened file: a saved state (what `saveState()` returned), the kiosk's stored record
 * `{ state, savedAtMs }`, or a report (a JSON download from this page).
 */
function parseFile(name, text) {
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

async function openFile(file) {
  showError('');
  try {
    const next = parseFile(file.name, await file.text());
    source = next;
  } catch (e) {
    showError(e.message);
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
  current = { report: null, json: '' };
  ui.useDevice.hidden = true;
  ui.period.disabled = false;
  ui.granularity.disabled = false;
  ui.file.value = '';
  loadDevice();
}

// ---------------------------------------------------------------------------------------------
// Exports: the report as the engine wrote it (JSON) and the engine's k-anonymous CSV.

function fileStamp(report) {
  const t = new Date(report.generatedAtMs ?? Date.now());
  const pad = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}${pad(t.getMonth() + 1)}${pad(t.getDate())}-${pad(t.getHours())}${pad(t.getMinutes())}`;
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: some browsers read the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function exportCsv() {
  const { report } = current;
  if (!report) return;
  try {
    download(`glance-report-${fileStamp(report)}.csv`, glance.reportToCsv(report), 'text/csv;charset=utf-8');
  } catch (e) {
    showError(`The CSV could not be made: ${e.message ?? e}`);
  }
}

function exportJson() {
  const { report } = current;
  if (!report) return;
  download(`glance-report-${fileStamp(report)}.json`, `${JSON.stringify(report, null, 2)}\n`, 'application/json');
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

  ui.period.addEventListener('change', () => {
    ui.granularity.value = SUGGESTED[ui.period.value];
    render();
  });
  ui.granularity.addEventListener('change', render);
  ui.csv.addEventListener('click', exportCsv);
  ui.json.addEventListener('click', exportJson);
  ui.file.addEventListener('change', () => {
    if (ui.file.files[0]) openFile(ui.file.files[0]);
  });
  ui.useDevice.addEventListener('click', useDevice);
  $('#controls').addEventListener('submit', (e) => e.preventDefault());

  await loadDevice();
  // The kiosk saves as it goes; polling is the only signal across tabs of the same origin.
  setInterval(() => {
    if (source.kind === 'device' && !document.hidden) loadDevice();
  }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (source.kind === 'device' && !document.hidden) loadDevice();
  });
  document.documentElement.dataset.ready = 'true';
}

main().catch((e) => {
  showError(`The dashboard could not start: ${e.message ?? e}`);
  ui.source.textContent = '';
  document.documentElement.dataset.ready = 'error';
});
