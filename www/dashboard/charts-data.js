// @ts-check
// The dashboard's charts as data, without the DOM or Chart.js: Chart.js configurations (data and
// options) built from a k-anonymous report. A suppressed count has no bar (`null`); its text
// ("<k") rides along in `glanceText`, and `glanceSuppressed` marks it for the chart's plugin,
// the tooltip and the data table.
import { bucketLabel, bucketTime, cellColor, cellName, cellOrder, countText, derivedText, durationText, kOf } from './format.js';

/**
 * @typedef {import('./format.js').Count} Count
 * @typedef {{ name: string, type: string, data: any, options: any }} ChartSpec a chart to draw
 */

const HOUR = 3_600_000;
/** A granularity's bucket length in milliseconds. */
export const UNIT = { minute: 60_000, hour: HOUR, day: 24 * HOUR };
/** Longest series drawn with empty buckets filled in; longer ones show recorded buckets only. */
export const MAX_FILLED = 2000;

/**
 * The report's series lists only buckets where someone was seen. For a readable time axis the
 * gaps between them (and up to the period's ends) are filled with empty buckets, which are
 * true zeros: within the retention of a granularity, a missing bucket had no visit.
 * @param {any} report
 * @param {number | null} nowMs where an open period ends (null for a finished report)
 * @returns {{ startMs: number, endMs: number, metrics: any }[]}
 */
export function timeline(report, nowMs) {
  const series = report.series;
  if (series.length === 0) return [];
  const unit = UNIT[/** @type {keyof UNIT} */ (report.granularity)];
  const first = series[0].startMs;
  const last = series[series.length - 1].startMs;
  // Grid points are first + n·unit: the engine's bucket boundaries, time-zone offset included.
  let from = first;
  // The engine rounds `fromMs` down to a bucket boundary: so does this.
  if (report.fromMs != null && report.fromMs < first) from = first - Math.ceil((first - report.fromMs) / unit) * unit;
  let to = last;
  const end = report.toMs ?? nowMs;
  if (report.fromMs != null && end != null && end > last) to = last + Math.floor((end - 1 - last) / unit) * unit;
  const byStart = new Map(series.map((/** @type {any} */ entry) => [entry.startMs, entry]));
  if ((to - from) / unit + 1 > MAX_FILLED) return series;
  const filled = [];
  for (let t = from; t <= to; t += unit) filled.push(byStart.get(t) ?? { startMs: t, endMs: t + unit, metrics: null });
  return filled;
}

/**
 * Chart.js options for the report's charts.
 * @param {any} report
 * @param {{ stacked?: boolean, y1?: string | null, yTitle?: string }} [how]
 */
export function baseOptions(report, { stacked = false, y1 = null, yTitle = 'people' } = {}) {
  const k = kOf(report);
  /** @type {any} */
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
          label: (/** @type {any} */ item) => `${item.dataset.label}: ${item.dataset.glanceText?.[item.dataIndex] ?? item.formattedValue}`,
          // A suppressed value has no bar to hover: name it under the others.
          footer: (/** @type {any[]} */ items) => {
            if (!items.length) return '';
            const i = items[0].dataIndex;
            const hidden = items[0].chart.data.datasets.filter((/** @type {any} */ d) => d.glanceSuppressed?.[i]).map((/** @type {any} */ d) => d.label);
            return hidden.length ? `Fewer than ${k} (suppressed): ${hidden.join(', ')}` : '';
          },
        },
      },
    },
  };
}

/**
 * A dataset of people counts: suppressed counts become `null` (no bar), with their text kept
 * for the tooltip and the data table. A missing count (`null`) is a zero.
 * @param {string} label
 * @param {(Count | null | undefined)[]} counts
 * @param {number} k
 * @param {object} [extra] more dataset settings (colour, axis)
 */
export function countDataset(label, counts, k, extra = {}) {
  return {
    label,
    data: counts.map((c) => (c == null ? 0 : c.suppressed ? null : c.value)),
    glanceText: counts.map((c) => (c == null ? '0' : countText(c, k))),
    glanceSuppressed: counts.map((c) => Boolean(c?.suppressed)),
    glanceMark: `<${k}`,
    ...extra,
  };
}

/**
 * A dataset of seconds, `null` where the report withholds them.
 * @param {string} label
 * @param {(number | null | undefined)[]} values
 * @param {boolean[]} withheld whether each missing value was withheld (or just undefined)
 * @param {object} [extra]
 */
export function secondsDataset(label, values, withheld, extra = {}) {
  return {
    label,
    data: values.map((v) => (v == null ? null : Math.round(v * 10) / 10)),
    glanceText: values.map((v, i) => derivedText(v, withheld[i], durationText)),
    glanceSuppressed: values.map((v, i) => v == null && withheld[i]),
    glanceMark: 'suppressed',
    ...extra,
  };
}

/**
 * Every band/gender cell found in `lists`, in the report's order.
 * @param {any} report
 * @param {(any[] | undefined)[]} lists `byBandGender` lists
 */
function cellsIn(report, lists) {
  const cells = new Map();
  for (const list of lists) for (const c of list ?? []) cells.set(cellName(c), c);
  return [...cells.values()].sort(cellOrder(report));
}

/**
 * The charts over time (audience, attention, bands) and the dwell/attention histogram.
 * @param {any} report
 * @param {number | null} nowMs where an open period ends
 * @param {number} utcOffsetMinutes the kiosk's offset from UTC (for days)
 * @returns {ChartSpec[]}
 */
export function timeCharts(report, nowMs, utcOffsetMinutes) {
  const k = kOf(report);
  const buckets = timeline(report, nowMs);
  const labels = buckets.map((b) => bucketTime(b.startMs, report.granularity, utcOffsetMinutes));
  const m = buckets.map((b) => b.metrics);
  const zero = { value: 0, suppressed: false };
  // Each slot's bucket start rides along with its text label, so the figures can be checked
  // against the report's series.
  const starts = buckets.map((b) => b.startMs);
  /** @type {ChartSpec[]} */
  const out = [];
  out.push({
    name: 'audience',
    type: 'bar',
    data: {
      labels,
      glanceStarts: starts,
      datasets: [
        countDataset('Opportunities to see', m.map((x) => x?.impressions ?? zero), k, { backgroundColor: '#1f5fbf' }),
        countDataset('Watchers', m.map((x) => x?.watchers ?? zero), k, { backgroundColor: '#e08a1e' }),
      ],
    },
    options: baseOptions(report),
  });
  out.push({
    name: 'attention',
    type: 'bar',
    data: {
      labels,
      glanceStarts: starts,
      datasets: [
        secondsDataset('Attention time', m.map((x) => (x ? x.attentionTotalS : 0)), m.map((x) => Boolean(x?.impressions.suppressed)), { backgroundColor: '#2f8f5b' }),
        secondsDataset('Dwell time', m.map((x) => (x ? x.dwellTotalS : 0)), m.map((x) => Boolean(x?.impressions.suppressed)), { backgroundColor: '#9db8d9' }),
      ],
    },
    options: baseOptions(report, { yTitle: 'seconds' }),
  });

  // One dataset per (band, gender) cell seen anywhere in the period.
  const ordered = cellsIn(report, [report.totals, ...m].map((x) => x?.byBandGender));
  out.push({
    name: 'bands',
    type: 'bar',
    data: {
      labels,
      glanceStarts: starts,
      datasets: ordered.map((cell) => countDataset(
        cellName(cell),
        m.map((x) => (x?.byBandGender.find((/** @type {any} */ c) => c.ageBand === cell.ageBand && c.gender === cell.gender)?.present) ?? zero),
        k,
        { backgroundColor: cellColor(report, cell), glanceCell: { ageBand: cell.ageBand, gender: cell.gender } },
      )),
    },
    options: baseOptions(report, { stacked: true }),
  });

  const t = report.totals;
  out.push({
    name: 'dwell',
    type: 'bar',
    data: {
      labels: t.dwellBuckets.map((/** @type {any} */ b) => bucketLabel(b.label)),
      datasets: [
        countDataset('People by dwell time', t.dwellBuckets.map((/** @type {any} */ b) => b.count), k, { backgroundColor: '#1f5fbf' }),
        countDataset('Watchers by attention time', t.attentionBuckets.map((/** @type {any} */ b) => b.count), k, { backgroundColor: '#2f8f5b' }),
      ],
    },
    options: baseOptions(report),
  });
  return out;
}

/**
 * The per-ad charts: audience and attention by ad, and the band/gender split by ad.
 * @param {any} report
 * @returns {ChartSpec[]}
 */
export function adCharts(report) {
  const k = kOf(report);
  const ads = report.ads;
  const labels = ads.map((/** @type {any} */ a) => a.adId);
  const ordered = cellsIn(report, ads.map((/** @type {any} */ a) => a.byBandGender));
  return [
    {
      name: 'ads',
      type: 'bar',
      data: {
        labels,
        datasets: [
          countDataset('Opportunities to see', ads.map((/** @type {any} */ a) => a.impressions), k, { backgroundColor: '#1f5fbf', yAxisID: 'y' }),
          countDataset('Watchers', ads.map((/** @type {any} */ a) => a.watchers), k, { backgroundColor: '#e08a1e', yAxisID: 'y' }),
          secondsDataset('Attention (s)', ads.map((/** @type {any} */ a) => a.attentionS), ads.map((/** @type {any} */ a) => a.impressions.suppressed), { backgroundColor: '#2f8f5b', yAxisID: 'y1' }),
        ],
      },
      options: baseOptions(report, { y1: 'seconds' }),
    },
    {
      name: 'adBands',
      type: 'bar',
      data: {
        labels,
        datasets: ordered.map((cell) => countDataset(
          cellName(cell),
          ads.map((/** @type {any} */ a) => a.byBandGender.find((/** @type {any} */ c) => c.ageBand === cell.ageBand && c.gender === cell.gender)?.present ?? { value: 0, suppressed: false }),
          k,
          { backgroundColor: cellColor(report, cell), glanceCell: { ageBand: cell.ageBand, gender: cell.gender } },
        )),
      },
      options: baseOptions(report, { stacked: true }),
    },
  ];
}
