// Unit tests of the dashboard's pure modules (no browser, no engine): formatting with suppressed
// counts, the charts' data from a report, and reading a state or report file.
// Run: node --test tests/dashboard.unit.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  bucketLabel, bucketTime, cellColor, cellName, cellOrder, countText, dateTimeText, derivedText, durationText, fileStamp,
  kOf, numberText, offsetText, percentText, playLengthText, playOutcome, playsCountText, privacyText, readableNote,
  reportNotes, suppressedTitle, timeZoneText,
} from "../dashboard/format.js";
import { MAX_FILLED, UNIT, adCharts, baseOptions, countDataset, secondsDataset, timeCharts, timeline } from "../dashboard/charts-data.js";
import { PERIODS, SUGGESTED, anchorOf, hasData, parseFile, reportOptions, sourceDescription, stateAudience } from "../dashboard/source.js";
import { sameOriginMediaUrl } from "../lib/media.js";
import { choicesOf, endpoint, healthRows, reportQuery } from "../dashboard/fleet.js";

const STATE = readFileSync(new URL("fixtures/audience-state.json", import.meta.url), "utf8");
const MIN = 60_000;
const HOUR = 60 * MIN;
const shown = (value) => ({ value, suppressed: false });
const hidden = { value: null, suppressed: true };

/** A small report in the engine's shape: k = 5, two bands, one minute bucket suppressed. */
function sampleReport(over = {}) {
  const t0 = Date.UTC(2025, 2, 14, 16, 0);
  const metrics = (impressions, watchers, cells = []) => ({
    impressions, watchers, attentionTotalS: impressions.suppressed ? null : 12.34, dwellTotalS: impressions.suppressed ? null : 40, byBandGender: cells,
  });
  return {
    granularity: "minute",
    fromMs: t0 - 2 * MIN + 1,
    toMs: t0 + 4 * MIN,
    generatedAtMs: t0 + 4 * MIN,
    kAnonymity: { k: 5, suppressedCells: 1 },
    ageBands: ["18-24", "25-34"],
    totals: {
      impressions: shown(14), watchers: shown(6),
      byBandGender: [{ ageBand: "25-34", gender: "female", present: shown(8), watchers: shown(6) }, { ageBand: "18-24", gender: null, present: hidden, watchers: hidden }],
      dwellBuckets: [{ label: "0-5s", count: shown(9) }, { label: "60s+", count: hidden }],
      attentionBuckets: [{ label: "0-5s", count: shown(6) }, { label: "60s+", count: shown(0) }],
    },
    series: [
      { startMs: t0, endMs: t0 + MIN, metrics: metrics(shown(10), shown(6), [{ ageBand: "25-34", gender: "female", present: shown(8), watchers: shown(6) }]) },
      { startMs: t0 + 2 * MIN, endMs: t0 + 3 * MIN, metrics: metrics(hidden, hidden) },
    ],
    ads: [
      { adId: "coffee", impressions: shown(7), watchers: hidden, attentionS: 3.25, byBandGender: [{ ageBand: "25-34", gender: "female", present: shown(7), watchers: hidden }] },
      { adId: "toys", impressions: hidden, watchers: hidden, attentionS: null, byBandGender: [] },
    ],
    plays: [],
    notes: [],
    ...over,
  };
}

test("counts: digits when shown, <k when suppressed", () => {
  assert.equal(countText(shown(12), 5), "12");
  assert.equal(countText(shown(1234), 5), new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 }).format(1234));
  assert.equal(countText(hidden, 5), "<5");
  assert.equal(countText({ value: 3, suppressed: true }, 10), "<10", "a suppressed count never shows digits");
  assert.equal(kOf(sampleReport()), 5);
  assert.equal(numberText(42), "42");
  assert.match(suppressedTitle(5), /^Suppressed: fewer than 5 people/);
});

test("durations, ratios and withheld values", () => {
  assert.equal(durationText(0), "0 s");
  assert.equal(durationText(12.34), "12.3 s");
  assert.equal(durationText(59.94), "59.9 s");
  assert.equal(durationText(60), "1 min 00 s");
  assert.equal(durationText(245), "4 min 05 s");
  assert.equal(durationText(7380), "2 h 03 min");
  assert.equal(derivedText(0.25, false, percentText), percentText(0.25));
  assert.equal(percentText(0.25), new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 }).format(0.25));
  assert.equal(derivedText(null, true, percentText), "suppressed");
  assert.equal(derivedText(null, false, percentText), "—");
  assert.equal(derivedText(undefined, false, durationText), "—");
  assert.equal(derivedText(0, true, durationText), "0 s", "a zero is a value, not a withheld one");
});

test("labels: buckets, cells, offsets, time zones", () => {
  assert.equal(bucketLabel("0-5s"), "0–5 s");
  assert.equal(bucketLabel("60s+"), "60 s or more");
  assert.equal(bucketLabel("0-1m"), "0–1 m");
  assert.equal(bucketLabel("other"), "other");
  assert.equal(cellName({ ageBand: "25-34", gender: "female" }), "25–34, female");
  assert.equal(cellName({ ageBand: null, gender: null }), "age unknown, gender unknown");
  assert.equal(offsetText(60), "1");
  assert.equal(offsetText(330), "5:30");
  assert.equal(offsetText(0), "0");
  assert.equal(timeZoneText("day", 60, "Europe/Paris"), "(days as the kiosk counts them, UTC+1)");
  assert.equal(timeZoneText("day", -210, "x"), "(days as the kiosk counts them, UTC−3:30)");
  assert.equal(timeZoneText("hour", 60, "Europe/Paris"), "(times in Europe/Paris)");
});

test("cells are ordered by band, then female, male, unknown; coloured by band and gender", () => {
  const report = { ageBands: ["18-24", "25-34"] };
  const cells = [
    { ageBand: null, gender: "female" }, { ageBand: "25-34", gender: null }, { ageBand: "25-34", gender: "female" },
    { ageBand: "18-24", gender: "male" }, { ageBand: "18-24", gender: "female" },
  ];
  assert.deepEqual([...cells].sort(cellOrder(report)).map(cellName),
    ["18–24, female", "18–24, male", "25–34, female", "25–34, gender unknown", "age unknown, female"]);
  assert.equal(cellColor(report, { ageBand: "18-24", gender: "female" }), "hsl(190 62% 42%)");
  assert.equal(cellColor(report, { ageBand: "25-34", gender: "male" }), "hsl(340 62% 62%)");
  assert.equal(cellColor(report, { ageBand: "25-34", gender: null }), "hsl(340 62% 78%)");
  assert.equal(cellColor(report, { ageBand: null, gender: "male" }), "hsl(215 8% 62%)");
});

test("bucket times: days in the kiosk's offset, other buckets in the viewer's zone", () => {
  const day = Date.UTC(2025, 2, 14);
  const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  assert.equal(bucketTime(day, "day", 0), dayFormat.format(day));
  // A kiosk at UTC+1 starts its 14 March at 23:00 UTC on the 13th.
  assert.equal(bucketTime(day - HOUR, "day", 60), dayFormat.format(day));
  const minuteFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  assert.equal(bucketTime(day + 5 * MIN, "minute", 60), minuteFormat.format(day + 5 * MIN));
});

test("plays, notes, privacy text and file stamps", () => {
  assert.equal(playOutcome({ endMs: 5, completed: true, final: true }), "completed");
  assert.equal(playOutcome({ endMs: 5, completed: false, final: true }), "interrupted");
  assert.equal(playOutcome({ endMs: null, final: false }), "playing (counting)");
  assert.equal(playLengthText({ startMs: 0, endMs: 20_000 }), "20 s");
  assert.equal(playLengthText({ startMs: 0, endMs: null }), "—");
  assert.equal(playsCountText(12, 500), "(12)");
  assert.equal(playsCountText(501, 500), "(the latest 500 of 501; the exports have them all)");
  assert.deepEqual(privacyText(5, 0), ["k-anonymity: counts of fewer than k = 5 people are never shown. ", "No cell had to be suppressed in this report."]);
  assert.match(privacyText(5, 1)[1], /^1 cell was suppressed in this report; they show as “<5”/);
  assert.match(privacyText(5, 3)[1], /^3 cells were suppressed/);
  const ms = Date.UTC(2025, 2, 14, 16, 0);
  assert.equal(readableNote(`Data before ${ms} ms was dropped.`), `Data before ${dateTimeText(ms)} was dropped.`);
  assert.equal(readableNote("Took 250 ms."), "Took 250 ms.", "only epoch times are dates");
  const empty = sampleReport({ totals: { ...sampleReport().totals, impressions: shown(0) }, notes: ["a note"] });
  assert.deepEqual(reportNotes(empty), ["No one was recorded in this period. Choose a longer period, or “All”, to see earlier figures.", "a note"]);
  assert.deepEqual(reportNotes(sampleReport()), []);
  assert.equal(fileStamp({ generatedAtMs: new Date(2025, 2, 4, 9, 5).getTime() }), "20250304-0905");
  assert.equal(fileStamp({}, new Date(2026, 11, 31, 23, 59).getTime()), "20261231-2359");
});

test("timeline fills the gaps between recorded buckets with true zeros", () => {
  const report = sampleReport();
  const t0 = report.series[0].startMs;
  const buckets = timeline(report, null);
  // fromMs (t0 - 2 min + 1 ms) rounds down to a bucket boundary; toMs ends after t0 + 3 min.
  assert.deepEqual(buckets.map((b) => (b.startMs - t0) / MIN), [-2, -1, 0, 1, 2, 3]);
  assert.equal(buckets[0].metrics, null);
  assert.equal(buckets[3].metrics, null);
  assert.equal(buckets[3].endMs, t0 + 2 * MIN);
  assert.equal(buckets[2], report.series[0]);
  assert.equal(buckets[4], report.series[1]);
  // An open period ends now.
  const open = sampleReport({ toMs: null });
  assert.equal(timeline(open, t0 + 10 * MIN).length, 12);
  assert.equal(timeline(open, null).length, 5);
  assert.deepEqual(timeline(sampleReport({ series: [] }), null), []);
  // Too long to fill: the recorded buckets only.
  const long = sampleReport({ fromMs: t0 - (MAX_FILLED + 5) * MIN });
  assert.equal(timeline(long, null), long.series);
  assert.deepEqual(UNIT, { minute: MIN, hour: HOUR, day: 24 * HOUR });
});

test("datasets: suppressed counts have no bar but keep their text", () => {
  const d = countDataset("Watchers", [shown(3), hidden, null, shown(0)], 5, { backgroundColor: "#fff" });
  assert.deepEqual(d, {
    label: "Watchers", data: [3, null, 0, 0], glanceText: ["3", "<5", "0", "0"], glanceSuppressed: [false, true, false, false],
    glanceMark: "<5", backgroundColor: "#fff",
  });
  const s = secondsDataset("Attention", [12.345, null, null, 0], [false, true, false, true]);
  assert.deepEqual(s.data, [12.3, null, null, 0]);
  assert.deepEqual(s.glanceText, ["12.3 s", "suppressed", "—", "0 s"]);
  assert.deepEqual(s.glanceSuppressed, [false, true, false, false]);
  assert.equal(s.glanceMark, "suppressed");
});

test("chart options: stacked axes, a second axis, tooltips naming what is suppressed", () => {
  const report = sampleReport();
  const plain = baseOptions(report);
  assert.equal(plain.scales.y.title.text, "people");
  assert.equal(plain.scales.x.stacked, false);
  assert.equal(plain.scales.y1, undefined);
  assert.equal(plain.animation, false);
  const both = baseOptions(report, { stacked: true, y1: "seconds", yTitle: "s" });
  assert.equal(both.scales.y.stacked, true);
  assert.equal(both.scales.y1.title.text, "seconds");
  const dataset = countDataset("Watchers", [shown(3), hidden], 5);
  const { label, footer } = plain.plugins.tooltip.callbacks;
  assert.equal(label({ dataset, dataIndex: 1, formattedValue: "" }), "Watchers: <5");
  const chart = { data: { datasets: [dataset, countDataset("OTS", [shown(9), shown(7)], 5)] } };
  assert.equal(footer([{ dataIndex: 1, chart }]), "Fewer than 5 (suppressed): Watchers");
  assert.equal(footer([{ dataIndex: 0, chart }]), "");
  assert.equal(footer([]), "");
});

test("timeCharts: audience, attention, bands and dwell from the report", () => {
  const report = sampleReport();
  const t0 = report.series[0].startMs;
  const charts = timeCharts(report, null, 0);
  assert.deepEqual(charts.map((c) => [c.name, c.type]), [["audience", "bar"], ["attention", "bar"], ["bands", "bar"], ["dwell", "bar"]]);
  const [audience, attention, bands, dwell] = charts;
  assert.deepEqual(audience.data.glanceStarts, [-2, -1, 0, 1, 2, 3].map((n) => t0 + n * MIN));
  assert.equal(audience.data.labels.length, 6);
  assert.deepEqual(audience.data.datasets.map((d) => d.label), ["Opportunities to see", "Watchers"]);
  assert.deepEqual(audience.data.datasets[0].data, [0, 0, 10, 0, null, 0]);
  assert.deepEqual(audience.data.datasets[0].glanceText, ["0", "0", "10", "0", "<5", "0"]);
  assert.deepEqual(attention.data.datasets[0].data, [0, 0, 12.3, 0, null, 0]);
  assert.deepEqual(attention.data.datasets[0].glanceText, ["0 s", "0 s", "12.3 s", "0 s", "suppressed", "0 s"]);
  assert.deepEqual(attention.data.datasets[1].data, [0, 0, 40, 0, null, 0]);
  assert.equal(attention.options.scales.y.title.text, "seconds");
  // One dataset per cell seen in the totals or any bucket, in band order.
  assert.deepEqual(bands.data.datasets.map((d) => d.label), ["18–24, gender unknown", "25–34, female"]);
  assert.deepEqual(bands.data.datasets[1].data, [0, 0, 8, 0, 0, 0]);
  assert.deepEqual(bands.data.datasets[1].glanceCell, { ageBand: "25-34", gender: "female" });
  assert.equal(bands.data.datasets[1].backgroundColor, "hsl(340 62% 42%)");
  assert.equal(bands.options.scales.x.stacked, true);
  assert.deepEqual(dwell.data.labels, ["0–5 s", "60 s or more"]);
  assert.deepEqual(dwell.data.datasets[0].glanceText, ["9", "<5"]);
  assert.deepEqual(dwell.data.datasets[1].data, [6, 0]);
});

test("adCharts: figures per ad, attention on its own axis", () => {
  const [ads, adBands] = adCharts(sampleReport());
  assert.equal(ads.name, "ads");
  assert.deepEqual(ads.data.labels, ["coffee", "toys"]);
  assert.deepEqual(ads.data.datasets.map((d) => [d.label, d.yAxisID]), [["Opportunities to see", "y"], ["Watchers", "y"], ["Attention (s)", "y1"]]);
  assert.deepEqual(ads.data.datasets[0].glanceText, ["7", "<5"]);
  assert.deepEqual(ads.data.datasets[1].data, [null, null]);
  assert.deepEqual(ads.data.datasets[2].glanceText, ["3.3 s", "suppressed"]);
  assert.equal(ads.options.scales.y1.title.text, "seconds");
  assert.equal(adBands.name, "adBands");
  assert.deepEqual(adBands.data.datasets.map((d) => [d.label, d.data]), [["25–34, female", [7, 0]]]);
});

test("a saved state: its audience configuration, its data, the report's options", () => {
  const { parsed, audience } = stateAudience(STATE);
  assert.deepEqual(audience, { ageBands: [0, 13, 18, 25, 35, 45, 55, 65], utcOffsetMinutes: 0 });
  assert.equal(stateAudience(STATE).parsed, parsed, "the same text is parsed once");
  assert.equal(hasData(parsed), true);
  assert.equal(hasData({ minutes: [], plays: [] }), false);
  assert.deepEqual(stateAudience('{"ageBands":["young","old"],"utcOffsetMinutes":1.5}').audience, {});
  const anchor = 1_763_980_220_000;
  assert.deepEqual(reportOptions(STATE, "day", "hour", anchor), { audience, report: { granularity: "hour", fromMs: anchor - 24 * HOUR } });
  assert.deepEqual(reportOptions(STATE, "all", "day", anchor).report, { granularity: "day" });
  assert.equal(PERIODS.week, 7 * 24 * HOUR);
  assert.equal(SUGGESTED.hour, "minute");
});

test("parseFile tells a state, a stored record and a report apart", () => {
  const state = parseFile("state.json", STATE);
  assert.deepEqual(state, { kind: "file", name: "state.json", state: STATE, anchorMs: 1763980220000 });
  const record = parseFile("record.json", JSON.stringify({ state: STATE, savedAtMs: 5 }));
  assert.equal(record.state, STATE);
  assert.equal(record.anchorMs, 1763980220000, "the state's own save time wins");
  const report = sampleReport();
  const opened = parseFile("report.json", JSON.stringify(report));
  assert.equal(opened.kind, "file");
  assert.deepEqual(opened.report, report);
  assert.equal(opened.anchorMs, report.toMs);
  assert.equal(parseFile("r.json", JSON.stringify({ ...report, toMs: null })).anchorMs, report.generatedAtMs);
  assert.throws(() => parseFile("x.txt", "not json"), { message: "“x.txt” is not JSON." });
  assert.throws(() => parseFile("y.json", '{"hello":1}'), { message: "“y.json” is neither a saved Glance audience state nor a Glance report." });
  assert.throws(() => parseFile("z.json", "[1]"), /neither/);
});

test("where the figures come from", () => {
  const now = Date.UTC(2025, 2, 14, 17, 0);
  assert.equal(anchorOf({ kind: "device" }, now), now);
  assert.equal(anchorOf({ kind: "file", anchorMs: 5 }, now), 5);
  assert.equal(anchorOf({ kind: "file", anchorMs: null }, now), now);
  assert.equal(sourceDescription({ kind: "device", savedAtMs: null }, null, "day", now), "This device’s kiosk data. Updates every 10 seconds.");
  const report = { granularity: "hour", generatedAtMs: now };
  assert.equal(sourceDescription({ kind: "device", savedAtMs: now }, report, "day", now),
    `This device’s kiosk data, saved ${dateTimeText(now)}. Showing the last 24 hours up to now, by hour. Latest data: ${dateTimeText(now)}. Updates every 10 seconds.`);
  assert.equal(sourceDescription({ kind: "file", name: "s.json", state: "{}", anchorMs: now }, { granularity: "day" }, "week", now),
    `File “s.json” (a saved state). Showing the last 7 days up to ${dateTimeText(now)}, by day.`);
  assert.equal(sourceDescription({ kind: "file", name: "r.json", report: {} }, { granularity: "minute", fromMs: null, toMs: now }, "day", now),
    `File “r.json” (a report). It covers the start to ${dateTimeText(now)}, by minute; its period cannot be changed here.`);
});

test("media URLs: only the page's own origin", () => {
  const base = "http://localhost:8080/editor/";
  assert.equal(sameOriginMediaUrl("/ads/coffee.svg", base), "http://localhost:8080/ads/coffee.svg");
  assert.equal(sameOriginMediaUrl("../ads/a.webm", base), "http://localhost:8080/ads/a.webm");
  assert.equal(sameOriginMediaUrl("https://cdn.example/a.svg", base), null);
  assert.equal(sameOriginMediaUrl("http://localhost:9090/a.svg", base), null, "another port is another origin");
  assert.equal(sameOriginMediaUrl("http://[broken", base), null);
  assert.equal(sameOriginMediaUrl("/a.svg"), null, "no page, no origin");
});

test("a network's report is asked for the chosen period, granularity and screens; minutes are asked as hours", () => {
  const now = 1_796_119_200_000;
  const ask = (choice) => Object.fromEntries(new URLSearchParams(reportQuery(choice, now)));
  assert.deepEqual(ask({ period: "day", granularity: "hour" }), { fromMs: String(now - 24 * HOUR), toMs: String(now), granularity: "hour" });
  assert.deepEqual(ask({ period: "hour", granularity: "minute", tag: "mall", venue: "Mall west", screens: ["a", "b"] }),
    { fromMs: String(now - HOUR), toMs: String(now), granularity: "hour", tag: "mall", venue: "Mall west", screens: "a,b" });
  // "All" is the last year the service answers (at most 367 days).
  assert.equal(ask({ period: "all", granularity: "day" }).fromMs, String(now - 366 * 24 * HOUR));
  assert.equal(endpoint("https://ingest.example/", "/v1/fleet/screens"), "https://ingest.example/v1/fleet/screens");
  assert.equal(endpoint("https://ingest.example", "/v1/fleet/screens"), "https://ingest.example/v1/fleet/screens");
});

test("the screens' venues and tags are offered once each, and each screen's health is one row of text", () => {
  const screens = [
    { id: "w", venue: "Mall west", tags: ["mall", "entrance"], health: { lastSeenMs: 1_796_119_200_000, camera: "live", analysedFps: 7.25, backend: "cpu", outboxDepth: 2, recordsDropped: 7 } },
    { id: "e", venue: "Mall east", tags: ["mall"], health: null },
    { id: "x", venue: "", tags: [], health: null },
  ];
  assert.deepEqual(choicesOf(screens), { venues: ["Mall east", "Mall west"], tags: ["entrance", "mall"] });
  const rows = healthRows(screens);
  assert.deepEqual(rows[0], ["w", "Mall west", "mall, entrance", dateTimeText(1_796_119_200_000), "live", "7.3", "cpu", "2", "7"]);
  assert.deepEqual(rows[1].slice(0, 4), ["e", "Mall east", "mall", "not in the last 7 days"]);
  assert.equal(rows.length, 3);
});
