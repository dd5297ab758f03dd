// The audience dashboard in headless Chromium, on a state saved by a real run of the engine
// (tests/fixtures/audience-state.json; see fixtures/README.md): its tiles, charts, tables and
// downloads must be the engine's k-anonymous report, with every suppressed count shown as "<k"
// and never as a number, and nothing may be requested from outside the local server.
// Needs pkg/ built with reportFromState/reportToCsv.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launch, guardNetwork, collectErrors } from "./browser.mjs";

const FIXTURE = fileURLToPath(new URL("fixtures/audience-state.json", import.meta.url));
const STATE = readFileSync(FIXTURE, "utf8");
const SAVED_AT = JSON.parse(STATE).savedAtMs;
// Ten minutes after the kiosk's last save: "last 24 hours" covers the whole recorded morning.
const NOW = SAVED_AT + 10 * 60_000;
const DAY = 86_400_000;
const SHOTS = fileURLToPath(new URL("../../target/screenshots/", import.meta.url));

let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** Puts a saved state where the kiosk keeps it (IndexedDB through www/lib/store.js). */
function storeState(page, state = STATE, savedAtMs = SAVED_AT) {
  return page.evaluate(async ({ state, savedAtMs }) => {
    const store = await import("/lib/store.js");
    await store.save(store.KEYS.audienceState, { state, savedAtMs });
  }, { state, savedAtMs });
}

/** A fresh browser context (empty IndexedDB) at a fixed time, optionally with the kiosk's state. */
async function openDashboard({ stored = true, now = NOW } = {}) {
  const context = await browser.newContext({ locale: "en-GB", timezoneId: "UTC", viewport: { width: 1280, height: 900 } });
  const net = await guardNetwork(context, server.url);
  const page = await context.newPage();
  const errors = collectErrors(page);
  // Date is fixed; timers still run, so the 10 s refresh is real.
  await page.clock.setFixedTime(now);
  if (stored) {
    await page.goto(`${server.url}/tests/blank.html`);
    await storeState(page);
  }
  await page.goto(`${server.url}/dashboard/`);
  await page.waitForFunction(() => document.documentElement.dataset.ready);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.ready), "true", await page.locator("#error").textContent());
  return { context, page, errors, net };
}

async function close({ context, errors, net }) {
  assert.deepEqual(errors, []);
  assert.deepEqual(net.foreign, [], "nothing is requested from outside the local server");
  for (const url of net.all) assert.ok(/^(blob|data):/.test(url) || url.startsWith(`${server.url}/`), url);
  await context.close();
}

/** The engine's own report and CSV for `options`, computed in the page independently of it. */
function engineReport(page, options, state = STATE) {
  return page.evaluate(async ({ state, options }) => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const report = glance.reportFromState(state, options);
    return { report, csv: glance.reportToCsv(report) };
  }, { state, options });
}

// What the page must show for a report value (en-GB).
const countText = (c, k) => (c.suppressed ? `<${k}` : String(c.value));
const chartValue = (c) => (c.suppressed ? null : c.value);
const percent = (v) => new Intl.NumberFormat("en-GB", { style: "percent", maximumFractionDigits: 1 }).format(v);
function duration(seconds) {
  if (seconds < 60) return `${new Intl.NumberFormat("en-GB", { maximumFractionDigits: 1 }).format(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}
const derived = (v, withheld, format) => (v != null ? format(v) : withheld ? "suppressed" : "—");

async function assertTiles(page, report) {
  const k = report.kAnonymity.k;
  const t = report.totals;
  const shown = await page.$$eval(".tile", (tiles) => Object.fromEntries(tiles.map((t) => [t.dataset.metric, t.querySelector(".value").textContent])));
  const people = t.impressions.suppressed;
  const either = people || t.watchers.suppressed;
  assert.deepEqual(shown, {
    impressions: countText(t.impressions, k),
    watchers: countText(t.watchers, k),
    conversionRatio: derived(t.conversionRatio, either, percent),
    attractionRatio: derived(t.attractionRatio, people, percent),
    dwellMeanS: derived(t.dwellMeanS, people, duration),
    attentionMeanPerWatcherS: derived(t.attentionMeanPerWatcherS, either, duration),
    attentionTotalS: derived(t.attentionTotalS, people, duration),
  });
}

/** Every chart's labels and datasets, read from the Chart.js instances. */
function readCharts(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll("figure[data-chart]")].map((figure) => {
    const chart = window.Chart.getChart(figure.querySelector("canvas"));
    return [figure.dataset.chart, chart && {
      type: chart.config.type,
      labels: chart.data.labels,
      starts: chart.data.glanceStarts,
      datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data, text: d.glanceText, cell: d.glanceCell ?? null })),
      table: [...figure.querySelectorAll("details.data-table tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent)),
    }];
  })));
}

const sameCell = (a, b) => a.ageBand === b.ageBand && a.gender === b.gender;
const round1 = (v) => (v == null ? null : Math.round(v * 10) / 10);

function assertCharts(charts, report) {
  const k = report.kAnonymity.k;
  for (const name of ["audience", "attention", "bands", "dwell", "ads", "adBands"]) {
    assert.ok(charts[name], `chart ${name} exists`);
    assert.equal(charts[name].type, "bar");
  }
  // Time series: every bucket of the report has its slot; the slots between are empty (0).
  const { starts } = charts.audience;
  for (const s of report.series) assert.ok(starts.includes(s.startMs), `bucket ${s.startMs} is drawn`);
  const entryAt = (start) => report.series.find((s) => s.startMs === start)?.metrics;
  const expectSeries = (pick) => starts.map((start) => (entryAt(start) ? pick(entryAt(start)) : 0));
  assert.deepEqual(charts.audience.datasets.map((d) => d.data), [
    expectSeries((m) => chartValue(m.impressions)),
    expectSeries((m) => chartValue(m.watchers)),
  ]);
  assert.deepEqual(charts.audience.datasets[0].text, starts.map((start) => (entryAt(start) ? countText(entryAt(start).impressions, k) : "0")));
  assert.deepEqual(charts.attention.datasets.map((d) => d.data), [
    expectSeries((m) => round1(m.attentionTotalS)),
    expectSeries((m) => round1(m.dwellTotalS)),
  ]);
  const bandCells = new Map();
  for (const m of [report.totals, ...report.series.map((s) => s.metrics)]) for (const c of m.byBandGender) bandCells.set(`${c.ageBand}|${c.gender}`, c);
  assert.equal(charts.bands.datasets.length, bandCells.size);
  for (const d of charts.bands.datasets) {
    assert.deepEqual(d.data, expectSeries((m) => {
      const c = m.byBandGender.find((x) => sameCell(x, d.cell));
      return c ? chartValue(c.present) : 0;
    }), d.label);
  }
  // Distributions of the totals.
  assert.deepEqual(charts.dwell.datasets.map((d) => d.data), [
    report.totals.dwellBuckets.map((b) => chartValue(b.count)),
    report.totals.attentionBuckets.map((b) => chartValue(b.count)),
  ]);
  assert.equal(charts.dwell.labels.length, 5);
  // Per ad.
  assert.deepEqual(charts.ads.labels, report.ads.map((a) => a.adId));
  assert.deepEqual(charts.ads.datasets.map((d) => d.data), [
    report.ads.map((a) => chartValue(a.impressions)),
    report.ads.map((a) => chartValue(a.watchers)),
    report.ads.map((a) => round1(a.attentionS)),
  ]);
  for (const d of charts.adBands.datasets) {
    assert.deepEqual(d.data, report.ads.map((a) => {
      const c = a.byBandGender.find((x) => sameCell(x, d.cell));
      return c ? chartValue(c.present) : 0;
    }), d.label);
  }
  // The data tables under the charts spell suppressed counts as "<k", like the tooltips.
  for (const chart of Object.values(charts)) {
    chart.datasets.forEach((d, j) => d.data.forEach((v, i) => {
      if (v === null) assert.match(chart.table[i][j + 1], new RegExp(`^(<${k}|suppressed)$`));
    }));
  }
}

async function assertTables(page, report) {
  const k = report.kAnonymity.k;
  const read = (selector) => page.$$eval(`${selector} tbody tr`, (rows) => rows.map((tr) => ({
    id: tr.dataset.play ?? tr.dataset.ad,
    cells: [...tr.cells].map((td) => td.textContent.trim()),
    split: [...tr.querySelectorAll(".split li")].map((li) => li.textContent.trim()),
  })));
  const split = (cells) => (cells.length ? cells.map((c) => `${countText(c.present, k)} / ${countText(c.watchers, k)}`) : ["—"]);
  const plays = [...report.plays].sort((a, b) => b.startMs - a.startMs);
  const rows = await read("#plays-table");
  assert.deepEqual(rows.map((r) => r.id), plays.map((p) => p.playId), "every recorded play is listed, newest first");
  plays.forEach((p, i) => {
    const { cells } = rows[i];
    assert.equal(cells[1], p.adId);
    assert.equal(cells[5], countText(p.impressions, k), `${p.playId} OTS`);
    assert.equal(cells[6], countText(p.watchers, k), `${p.playId} watchers`);
    assert.equal(cells[7], derived(p.conversionRatio, p.impressions.suppressed || p.watchers.suppressed, percent));
    assert.equal(cells[8], derived(p.attentionS, p.impressions.suppressed, duration));
    assert.deepEqual(rows[i].split.map((s) => s.replace(/^.*: /, "")).sort(), split(p.byBandGender).sort());
  });
  const ads = await read("#ads-table");
  assert.deepEqual(ads.map((r) => r.id), report.ads.map((a) => a.adId));
  report.ads.forEach((a, i) => {
    const { cells } = ads[i];
    assert.deepEqual(cells.slice(1, 3), [String(a.plays), String(a.completedPlays)]);
    assert.equal(cells[4], countText(a.impressions, k));
    assert.equal(cells[5], countText(a.watchers, k));
  });
}

/** No element marked suppressed holds a number; the page says how many cells were suppressed. */
async function assertSuppression(page, report) {
  const k = report.kAnonymity.k;
  const marked = await page.$$eval(".suppressed", (nodes) => nodes.map((n) => n.textContent.trim()));
  assert.ok(marked.length > 0, "the fixture has suppressed cells on the page");
  for (const text of marked) assert.ok([`<${k}`, "suppressed"].includes(text), `suppressed cell shows "${text}"`);
  const privacy = await page.locator("#privacy").textContent();
  assert.match(privacy, new RegExp(`k = ${k}\\b`));
  assert.match(privacy, new RegExp(`\\b${report.kAnonymity.suppressedCells} cells were suppressed`));
}

/** Clicks a download button and returns the file's name and text. */
async function download(page, selector) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  return { name: file.suggestedFilename(), text: readFileSync(await file.path(), "utf8") };
}

/** Minimal RFC 4180 reader (the definitions hold quoted commas). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(field); field = ""; } else if (ch === "\n") { row.push(field); rows.push(row); row = []; field = ""; } else if (ch !== "\r") field += ch;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

test("with nothing recorded the page says so, and shows the kiosk's figures once they are saved", async () => {
  const session = await openDashboard({ stored: false });
  const { page } = session;
  assert.equal(await page.locator("#empty").isVisible(), true);
  assert.match(await page.locator("#empty").textContent(), /Nothing recorded yet/);
  assert.equal(await page.locator("#report").isVisible(), false);
  assert.equal(await page.locator("#export-csv").isDisabled(), true);
  assert.equal(await page.locator("#export-json").isDisabled(), true);
  await page.screenshot({ path: join(SHOTS, "dashboard-empty.png"), fullPage: true });

  // The kiosk saves (another tab in real life); the 10 s refresh picks it up, without a reload.
  await page.evaluate(() => { window.sameDocument = true; });
  await storeState(page);
  await page.locator("#report").waitFor({ state: "visible", timeout: 20_000 });
  assert.equal(await page.evaluate(() => window.sameDocument), true);
  assert.equal(await page.locator("#empty").isVisible(), false);
  const { report } = await engineReport(page, { report: { fromMs: NOW - DAY, granularity: "hour" } });
  await assertTiles(page, report);
  await close(session);
});

test("tiles, charts and proof-of-play tables are the engine's report; suppressed cells are never numbers", async () => {
  const session = await openDashboard();
  const { page } = session;
  // The page's default: the last 24 hours by hour.
  assert.equal(await page.locator("#period").inputValue(), "day");
  assert.equal(await page.locator("#granularity").inputValue(), "hour");
  const { report } = await engineReport(page, { report: { fromMs: NOW - DAY, granularity: "hour" } });
  // The fixture is not vacuous: people, watchers, plays, and cells both shown and suppressed.
  assert.ok(report.totals.impressions.value >= report.kAnonymity.k);
  assert.ok(report.totals.watchers.value > 0);
  assert.equal(report.plays.length, 10);
  assert.ok(report.kAnonymity.suppressedCells > 0);
  assert.ok(report.plays.some((p) => p.impressions.suppressed) && report.plays.some((p) => !p.impressions.suppressed));

  await assertTiles(page, report);
  const charts = await readCharts(page);
  assertCharts(charts, report);
  // From the hour the period starts in (the engine rounds down) to the hour of "now".
  assert.equal(charts.audience.starts.length, 25);
  assert.equal(charts.audience.starts[0], Math.floor((NOW - DAY) / 3_600_000) * 3_600_000);
  await assertTables(page, report);
  await assertSuppression(page, report);
  assert.match(await page.locator("#source").textContent(), /kiosk data, saved 24 Nov 2025, 10:30:20/);
  await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
  await close(session);
});

test("CSV and JSON downloads equal the engine's reportToCsv and report", async () => {
  const session = await openDashboard();
  const { page } = session;
  const { report, csv } = await engineReport(page, { report: { fromMs: NOW - DAY, granularity: "hour" } });
  const json = await download(page, "#export-json");
  assert.match(json.name, /^glance-report-\d{8}-\d{4}\.json$/);
  assert.deepEqual(JSON.parse(json.text), report);
  const csvFile = await download(page, "#export-csv");
  assert.match(csvFile.name, /^glance-report-\d{8}-\d{4}\.csv$/);
  assert.equal(csvFile.text, csv);
  // And that CSV is k-anonymous: suppressed rows carry no value; shown counts are 0 or ≥ k.
  const [header, ...rows] = parseCsv(csvFile.text);
  const col = (name) => header.indexOf(name);
  const hidden = rows.filter((r) => r[col("suppressed")] === "true");
  assert.ok(hidden.length > 0);
  for (const r of hidden) assert.equal(r[col("value")], "", r.join(","));
  for (const r of rows.filter((r) => r[col("suppressed")] === "false")) {
    const n = Number(r[col("value")]);
    assert.ok(n === 0 || n >= report.kAnonymity.k, r.join(","));
  }
  await close(session);
});

test("period and granularity ask the engine for the matching report", async () => {
  const session = await openDashboard();
  const { page } = session;
  await page.selectOption("#period", "all");
  assert.equal(await page.locator("#granularity").inputValue(), "day", "a period suggests its granularity");
  let { report } = await engineReport(page, { report: { granularity: "day" } });
  await assertTiles(page, report);
  assertCharts(await readCharts(page), report);

  await page.selectOption("#granularity", "minute");
  ({ report } = await engineReport(page, { report: { granularity: "minute" } }));
  await assertTiles(page, report);
  const charts = await readCharts(page);
  assertCharts(charts, report);
  const first = report.series[0].startMs;
  const last = report.series.at(-1).startMs;
  assert.deepEqual(charts.audience.starts, Array.from({ length: (last - first) / 60_000 + 1 }, (_, i) => first + i * 60_000));
  await assertTables(page, report);
  await assertSuppression(page, report);
  await page.screenshot({ path: join(SHOTS, "dashboard-minutes.png"), fullPage: true });

  await page.selectOption("#period", "hour");
  ({ report } = await engineReport(page, { report: { fromMs: NOW - 3_600_000, granularity: "minute" } }));
  await assertTiles(page, report);
  await close(session);
});

test("a saved state or a report from another screen opens from a file", async () => {
  // A month later on another machine with nothing of its own: periods end at the file's save.
  const session = await openDashboard({ stored: false, now: SAVED_AT + 30 * DAY });
  const { page } = session;
  await page.setInputFiles("#open-file", FIXTURE);
  await page.locator("#report").waitFor({ state: "visible" });
  assert.match(await page.locator("#source").textContent(), /File “audience-state\.json” \(a saved state\)/);
  assert.equal(await page.locator("#use-device").isVisible(), true);
  const { report } = await engineReport(page, { report: { fromMs: SAVED_AT - DAY, granularity: "hour" } });
  await assertTiles(page, report);
  await assertTables(page, report);

  // A week of that file, downloaded as JSON and opened again: shown as it is, its period fixed.
  await page.selectOption("#period", "week");
  const { report: weekly, csv: weeklyCsv } = await engineReport(page, { report: { fromMs: SAVED_AT - 7 * DAY, granularity: "day" } });
  const saved = await download(page, "#export-json");
  assert.deepEqual(JSON.parse(saved.text), weekly);
  const reportFile = join(mkdtempSync(join(tmpdir(), "glance-dashboard-")), "report.json");
  writeFileSync(reportFile, saved.text);
  await page.setInputFiles("#open-file", reportFile);
  await page.waitForFunction(() => /\(a report\)/.test(document.querySelector("#source").textContent));
  assert.equal(await page.locator("#period").isDisabled(), true);
  assert.equal(await page.locator("#granularity").isDisabled(), true);
  await assertTiles(page, weekly);
  assertCharts(await readCharts(page), weekly);
  await assertTables(page, weekly);
  assert.equal((await download(page, "#export-csv")).text, weeklyCsv);
  await page.screenshot({ path: join(SHOTS, "dashboard-report-file.png"), fullPage: true });

  // Anything else is refused with a message, and the figures stay.
  await page.setInputFiles("#open-file", { name: "notes.json", mimeType: "application/json", buffer: Buffer.from('{"hello":1}') });
  await page.locator("#error").waitFor({ state: "visible" });
  assert.match(await page.locator("#error").textContent(), /neither a saved Glance audience state nor a Glance report/);
  await assertTiles(page, weekly);

  // Back to this machine's own (empty) store.
  await page.click("#use-device");
  await page.locator("#empty").waitFor({ state: "visible" });
  assert.equal(await page.locator("#period").isDisabled(), false);
  await close(session);
});
