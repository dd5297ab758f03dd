// The fleet path end to end: the kiosk in headless Chromium (fake camera: the astronaut comes
// and goes) sends its records through the real ingest service (glance-ingest) into a real
// ClickHouse 18.16 server, both started here. ClickHouse is stopped in the middle of sending
// and the kiosk reloaded meanwhile; at the end ClickHouse's totals equal the kiosk's own report
// exactly: nothing lost, nothing counted twice. And the dashboard reads the network through the
// service: two screens' totals, equal to the sum of their own reports.
// Needs pkg/ built, ffmpeg, clickhouse-server, and the ingest service built (GLANCE_INGEST_BIN,
// set by scripts/dev test; default target/release/glance-ingest).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { startServer, launch, launchPersistent, collectErrors } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ASTRONAUT = join(ROOT, "tests", "fixtures", "astronaut.jpg");
const INGEST = process.env.GLANCE_INGEST_BIN ?? join(ROOT, "target", "release", "glance-ingest");
const SCREEN = "kiosk-test-1";
const TOKEN = "a-test-token-for-kiosk-test-1";
const GLANCE = process.env.GLANCE_BIN ?? join(ROOT, "target", "release", "glance");
/** Two more screens, measured by the CLI, and a dashboard's reader token. */
const MALL_SCREENS = [["mall-west", "a-test-token-for-mall-west"], ["mall-east", "a-test-token-for-mall-east"]];
const READER = "a-test-token-for-the-dashboard";
/** Two kiosks of one group (the tag "north"), and the marketing team's editor token. */
const GROUP_SCREENS = [["north-1", "a-test-token-for-north-1"], ["north-2", "a-test-token-for-north-2"]];
const EDITOR = "a-test-token-for-the-rules-editor";
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

let work;
let server;
let clickhouse; // { dir, port }
let ingest; // { url, process }

/**
 * The astronaut for 3 s of every 5 at 5 fps, for `seconds`: one visit every 5 s (the kiosk's
 * fake camera loops the 5 s clip).
 */
function makeClip(path, seconds = 5) {
  execFileSync("ffmpeg", [
    "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "color=c=gray:s=640x480:r=5",
    "-loop", "1", "-i", ASTRONAUT,
    "-filter_complex", "[1]scale=420:420[p];[0][p]overlay=x=110:y=30:enable='lt(mod(t,5),3)'",
    "-t", String(seconds), "-pix_fmt", "yuv420p", path,
  ]);
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts (or starts again, same data and port) the ClickHouse server of fleet/clickhouse/start. */
function startClickHouse(dir, port) {
  const out = execFileSync(join(ROOT, "fleet", "clickhouse", "start"), [dir], {
    env: { ...process.env, ...(port ? { HTTP_PORT: String(port) } : {}) },
  });
  return Number(String(out).trim());
}

function stopClickHouse(dir) {
  const pid = Number(execFileSync("cat", [join(dir, "pid")]).toString().trim());
  process.kill(pid);
  // Wait until it is gone, so a restart can take the port (it lets open connections finish).
  for (let i = 0; i < 1200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    execFileSync("sleep", ["0.05"]);
  }
  throw new Error("clickhouse-server did not stop within 60 s");
}

async function query(sql) {
  const response = await fetch(`http://127.0.0.1:${clickhouse.port}/?output_format_json_quote_64bit_integers=0`, {
    method: "POST",
    body: `${sql} FORMAT JSONEachRow`,
  });
  const text = await response.text();
  assert.ok(response.ok, `${sql}: ${text}`);
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "glance-fleet-test-"));
  server = await startServer();
  const dir = join(work, "clickhouse");
  clickhouse = { dir, port: startClickHouse(dir) };
  const port = await freePort();
  const config = join(work, "ingest.toml");
  writeFileSync(config, [
    `listen = "127.0.0.1:${port}"`,
    `cors_origins = ["${server.url}"]`,
    "[clickhouse]",
    `url = "http://127.0.0.1:${clickhouse.port}/"`,
    'user = "glance_ingest"',
    'password = "ingest-dev-password"',
    "timeout_ms = 3000",
    'reader_password = "reader-dev-password"',
    "[[screens]]",
    `id = "${SCREEN}"`,
    `token_sha256 = "${sha256(TOKEN)}"`,
    ...MALL_SCREENS.flatMap(([id, token]) => ["[[screens]]", `id = "${id}"`, `token_sha256 = "${sha256(token)}"`, `venue = "Mall ${id.split("-")[1]}"`, 'tags = ["mall"]']),
    ...GROUP_SCREENS.flatMap(([id, token]) => ["[[screens]]", `id = "${id}"`, `token_sha256 = "${sha256(token)}"`, 'tags = ["north"]']),
    "[[readers]]",
    'name = "dashboard test"',
    `token_sha256 = "${sha256(READER)}"`,
    "[[editors]]",
    'name = "marketing"',
    `token_sha256 = "${sha256(EDITOR)}"`,
    "",
  ].join("\n"));
  const child = spawn(INGEST, ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (d) => { log += d; });
  ingest = { url: `http://127.0.0.1:${port}/v1/records`, process: child, log: () => log };
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`glance-ingest did not start: ${log}`);
});

after(async () => {
  ingest?.process.kill();
  if (clickhouse) {
    try { stopClickHouse(clickhouse.dir); } catch { /* already stopped */ }
  }
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Short ads, so plays end (and become final) every few seconds. */
const FAST_RULES = {
  version: 1,
  timeZone: "UTC",
  minOnScreenS: 1,
  ads: [
    { id: "coffee", media: "/ads/coffee.svg", kind: "image", durationS: 1.5 },
    { id: "brand-b", media: "/ads/brand-b.svg", kind: "image", durationS: 1.5 },
    { id: "hello-viewer", media: "/ads/hello-viewer.svg", kind: "image", durationS: 2 },
  ],
  defaultLoop: ["coffee", "brand-b"],
  rules: [
    { id: "greet", priority: 20, when: { present: { op: "gte", value: 1 } }, play: { ad: "hello-viewer" }, cooldownS: 4 },
  ],
};

const status = (page) => page.evaluate(() => window.glanceKiosk.status);

function until(page, predicate, timeout = 120_000) {
  return page.waitForFunction(`(() => { const s = window.glanceKiosk?.status; return Boolean(s && (${predicate})(s)); })()`, null, { timeout, polling: 200 });
}

async function waitFor(what, check, timeoutMs = 120_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test("the kiosk's records reach ClickHouse through an outage and a reload, nothing lost, nothing twice", { timeout: 480_000 }, async (t) => {
  const camera = join(work, "come-and-go.y4m");
  makeClip(camera);
  const context = await launchPersistent({ camera, permissions: ["camera"], userDataDir: mkdtempSync(join(work, "profile-")) });
  try {
    // Only the kiosk's own server and the ingest service (records, rules) are reached.
    const foreign = [];
    const service = new URL(ingest.url).origin;
    await context.route((url) => !url.href.startsWith(server.url) && url.origin !== service, (route) => {
      foreign.push(route.request().url());
      return route.abort();
    });
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/tests/blank.html`);
    await page.evaluate(async ({ rules, fleet }) => {
      const { KEYS, save } = await import("/lib/store.js");
      await save(KEYS.rules, rules);
      await save(KEYS.kioskConfig, { screen: {}, fleet, savedAtMs: Date.now() });
    }, { rules: FAST_RULES, fleet: { endpoint: ingest.url, screenId: SCREEN, token: TOKEN } });
    await page.goto(`${server.url}/kiosk/`);
    await until(page, (s) => s.engine.ready && s.counters.frames > 0 && s.fleet !== null);

    // Records flow: a heartbeat at once, proof of play as ads end and their viewers leave.
    const stored = async (kind) => (await query(`SELECT count() AS n FROM glance.records WHERE kind = '${kind}'`))[0].n;
    await waitFor("the first plays in ClickHouse", async () => (await stored("play")) >= 2);

    // ClickHouse goes down: the service answers 503, the kiosk keeps its records and retries.
    stopClickHouse(clickhouse.dir);
    const failed = (await status(page)).fleet.failures;
    await until(page, `(s) => s.fleet.failures > ${failed} && s.fleet.depth > 0`, 60_000);
    // The kiosk is reloaded during the outage: its outbox and totals survive it.
    const asked = await page.evaluate(() => Date.now());
    await until(page, `(s) => s.lastSavedAtMs > ${asked}`, 30_000);
    await page.reload();
    await until(page, (s) => s.engine.ready && s.restoredFromMs !== null && s.counters.frames > 5);
    await until(page, (s) => s.fleet.failures > 0 && s.fleet.depth > 0, 60_000);
    t.diagnostic(`after the reload, during the outage: ${JSON.stringify((await status(page)).fleet)}`);
    clickhouse.port = startClickHouse(clickhouse.dir, clickhouse.port);

    // A few more visits, then the end of the day: analysis stops, every visit ends, the last
    // records go out.
    const frames = (await status(page)).counters.frames;
    await until(page, `(s) => s.counters.frames > ${frames + 40}`);
    const outbox = await page.evaluate(() => window.glanceKiosk.flushRecords(90_000));
    assert.equal(outbox.depth, 0, JSON.stringify(outbox));
    assert.equal(outbox.refused, 0);

    const report = await page.evaluate(() => window.glanceKiosk.report({ k: 1, includePlays: true, granularity: "minute" }));
    const totals = report.totals;
    const [minutes] = await query(
      "SELECT count() AS records, sum(impressions) AS impressions, sum(watchers) AS watchers, sum(attention_ms) AS attention_ms, sum(dwell_ms) AS dwell_ms " +
      "FROM glance.records FINAL WHERE kind = 'audienceMinute'");
    assert.ok(totals.impressions.value >= 3, `visits counted: ${totals.impressions.value}`);
    assert.equal(minutes.impressions, totals.impressions.value);
    assert.equal(minutes.watchers, totals.watchers.value ?? 0);
    assert.ok(Math.abs(minutes.attention_ms / 1000 - (totals.attentionTotalS ?? 0)) < 1e-6, `attention ${minutes.attention_ms} ms, report ${totals.attentionTotalS} s`);
    assert.ok(Math.abs(minutes.dwell_ms / 1000 - (totals.dwellTotalS ?? 0)) < 1e-6);
    // Band x gender, unknown included, through the roll-up.
    const cells = await query("SELECT age_band, gender, sum(present) AS present FROM glance.audience_cells_daily GROUP BY age_band, gender");
    const reported = totals.byBandGender.filter((c) => (c.present.value ?? 0) > 0);
    assert.ok(reported.length >= 1);
    for (const c of reported) {
      const row = cells.find((r) => r.age_band === (c.ageBand ?? "unknown") && r.gender === (c.gender ?? "unknown"));
      assert.equal(row?.present, c.present.value, `${c.ageBand} ${c.gender}: ${JSON.stringify(cells)}`);
    }
    assert.equal(cells.reduce((n, r) => n + r.present, 0), totals.impressions.value);
    // Every final play once, with its audience.
    const finalPlays = report.plays.filter((p) => p.final);
    const plays = await query("SELECT play_id, ad_id, impressions, watchers, completed FROM glance.records FINAL WHERE kind = 'play' ORDER BY play_id");
    assert.ok(finalPlays.length >= 4, `${finalPlays.length} final plays`);
    assert.deepEqual(plays.map((p) => p.play_id).sort(), finalPlays.map((p) => p.playId).sort());
    for (const p of finalPlays) {
      const row = plays.find((r) => r.play_id === p.playId);
      assert.equal(row.ad_id, p.adId);
      assert.equal(row.impressions, p.impressions.value ?? 0, p.playId);
      assert.equal(row.watchers, p.watchers.value ?? 0, p.playId);
      assert.equal(Boolean(row.completed), p.completed);
    }
    const [rolled] = await query("SELECT sum(plays) AS plays FROM glance.plays_daily");
    assert.equal(rolled.plays, finalPlays.length);
    // Nothing stored twice, and heartbeats came.
    const [all] = await query("SELECT count() AS n FROM glance.records");
    const [once] = await query("SELECT count() AS n FROM glance.records FINAL");
    assert.equal(all.n, once.n);
    assert.ok((await stored("heartbeat")) >= 1);
    t.diagnostic(`kiosk report = ClickHouse: ${totals.impressions.value} visits, ${totals.watchers.value ?? 0} watchers, ${finalPlays.length} final plays, ${minutes.records} minute records, ${await stored("heartbeat")} heartbeats; ${all.n} records stored once each`);
    assert.deepEqual(foreign, [], "only the kiosk's server and the ingest service were reached");
    assert.deepEqual(errors.filter((e) => !/Failed to load resource|net::ERR/.test(e)), []);
  } finally {
    await context.close();
  }
});

test("the dashboard reads a network through the ingest service: two screens' totals are the sum of their own reports", { timeout: 300_000 }, async () => {
  const clip = join(work, "six-visits.y4m");
  makeClip(clip, 30);
  // Each screen measured by the CLI from the clip, its records pushed; timed to end a minute
  // ago, so every record is in the dashboard's last hour.
  const own = MALL_SCREENS.map(([screen, token]) => {
    const startMs = String(Date.now() - 90_000);
    const out = execFileSync(GLANCE, ["audience", clip, "--push", ingest.url, "--screen", screen, "--token", token, "--start-ms", startMs], { maxBuffer: 1 << 26 });
    return JSON.parse(String(out).trim().split("\n").at(-1)).report;
  });
  const people = own.map((r) => r.totals.impressions.value);
  assert.ok(people.every((n) => n >= 5), `each screen counted at least k = 5 people: ${people}`);

  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/dashboard/`);
    await page.waitForFunction(() => document.documentElement.dataset.ready);
    const base = ingest.url.replace("/v1/records", "");
    // A screen's token cannot read: the page says why.
    await page.click("#fleet-panel summary");
    await page.fill("#fleet-url", base);
    await page.fill("#fleet-token", MALL_SCREENS[0][1]);
    await page.click("#fleet-connect button[type=submit]");
    await page.waitForFunction(() => !document.querySelector("#error").hidden);
    assert.match(await page.textContent("#error"), /screen's token can send records, not read reports/);

    await page.fill("#fleet-token", READER);
    await page.click("#fleet-connect button[type=submit]");
    await page.waitForFunction(() => /network/.test(document.querySelector("#source").textContent) && !document.querySelector("#report").hidden);
    // The two mall screens, by their tag, over the last hour.
    await page.selectOption("#period", "hour");
    await page.selectOption("#fleet-tag", "mall");
    await page.waitForFunction(() => /2 screens mall-west, mall-east/.test(document.querySelector("#source").textContent));
    const shown = await page.evaluate(() => ({
      impressions: document.querySelector('.tile[data-metric="impressions"] .value').textContent,
      source: document.querySelector("#source").textContent,
      health: [...document.querySelectorAll("#health-table tbody tr")].map((tr) => [...tr.cells].map((c) => c.textContent)),
    }));
    assert.equal(Number(shown.impressions.replace(/\D/g, "")), people[0] + people[1], JSON.stringify(shown));
    assert.deepEqual(shown.health.map((r) => r[0]), [SCREEN, ...MALL_SCREENS.map(([id]) => id), ...GROUP_SCREENS.map(([id]) => id)]);
    const west = shown.health[1];
    assert.deepEqual([west[1], west[2], west[4]], ["Mall west", "mall", "live"], "venue, tags and the CLI's heartbeat");
    // Only the refused read (403) may have left an error in the console.
    assert.deepEqual(errors.filter((e) => !/403/.test(e)), []);
  } finally {
    await browser.close();
  }
});

/** What the group's kiosks are sent: two ads their own rules do not have, in a short loop. */
const GROUP_RULES = {
  version: 1,
  timeZone: "UTC",
  minOnScreenS: 1,
  ads: [
    { id: "brand-a", media: "/ads/brand-a.svg", kind: "image", durationS: 1.5 },
    { id: "menu-salad", media: "/ads/menu-salad.svg", kind: "image", durationS: 1.5 },
  ],
  defaultLoop: ["brand-a", "menu-salad"],
  rules: [],
};
const GROUP_ADS = new Set(GROUP_RULES.ads.map((a) => a.id));

test("rules published for a group reach both of its kiosks and change what they play; one they cannot play changes nothing and is reported", { timeout: 420_000 }, async (t) => {
  const base = ingest.url.replace("/v1/records", "");
  const contexts = [];
  try {
    // Two kiosks of the group, playing their own rules (coffee and brand-b), polling every second.
    const kiosks = [];
    for (const [screenId, token] of GROUP_SCREENS) {
      const context = await launchPersistent({ userDataDir: mkdtempSync(join(work, "profile-")) });
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(`${server.url}/tests/blank.html`);
      await page.evaluate(async ({ rules, fleet }) => {
        const { KEYS, save } = await import("/lib/store.js");
        await save(KEYS.rules, rules);
        await save(KEYS.kioskConfig, { screen: {}, fleet, savedAtMs: Date.now() });
      }, { rules: FAST_RULES, fleet: { endpoint: ingest.url, screenId, token, rulesPollS: 1 } });
      await page.goto(`${server.url}/kiosk/`);
      await until(page, (s) => s.engine.ready && s.rules.source === "editor" && s.currentAd !== null);
      kiosks.push({ context, page });
    }

    // The editor publishes to the tag.
    const editorContext = await launchPersistent({ userDataDir: mkdtempSync(join(work, "profile-")) });
    contexts.push(editorContext);
    const editor = await editorContext.newPage();
    await editor.goto(`${server.url}/editor/`);
    await editor.waitForSelector("body[data-ready=true]");
    await editor.locator("#raw").fill(`${JSON.stringify(GROUP_RULES, null, 2)}\n`);
    await editor.fill("#publish-url", base);
    await editor.fill("#publish-token", EDITOR);
    await editor.fill("#publish-target", "tag:north");
    await editor.click("#publish-button");
    await editor.waitForFunction(() => /^Published/.test(document.querySelector("#publish-status").textContent), null, { timeout: 30_000 });
    const said = await editor.textContent("#publish-status");
    assert.match(said, /to tag:north: north-1, north-2\./);
    const etag = said.match(/Published ("[0-9a-f]+")/)[1];

    // Both kiosks take it and play by it.
    for (const { page } of kiosks) {
      await until(page, `(s) => s.rules.source === "fleet" && s.rules.etag === ${JSON.stringify(etag)} && s.rules.problem === null`, 60_000);
      // What the kiosk plays changed: its latest plays are the group's ads only.
      await until(page, (s) => s.plays.length >= 3 && s.plays.slice(-3).every((p) => p.adId === "brand-a" || p.adId === "menu-salad"), 60_000);
    }

    // A document the service accepts but the kiosks cannot play (its creative is missing).
    const missing = { ...GROUP_RULES, ads: [...GROUP_RULES.ads, { ...GROUP_RULES.ads[0], id: "ghost", media: "/ads/ghost-missing.svg" }], defaultLoop: ["ghost", "brand-a"] };
    const response = await fetch(`${base}/v1/fleet/rules?target=tag:north`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${EDITOR}`, "Content-Type": "application/json" },
      body: JSON.stringify(missing),
    });
    assert.equal(response.status, 200, await response.clone().text());
    const refusedEtag = (await response.json()).etag;
    for (const { page } of kiosks) {
      await until(page, (s) => /ghost-missing\.svg answered 404/.test(s.rules.problem ?? ""), 60_000);
      const s = await status(page);
      assert.equal(s.rules.etag, etag, "still the last good rules");
      assert.ok(s.rules.problem.includes(refusedEtag), s.rules.problem);
      const started = s.counters.adsStarted;
      await until(page, `(s) => s.counters.adsStarted >= ${started + 2}`, 60_000);
      assert.ok((await status(page)).plays.slice(-3).every((p) => GROUP_ADS.has(p.adId)), "nothing changed");
    }
    // ...and their heartbeats say why (a heartbeat is kept once a minute: the next one).
    const health = await waitFor("the refusal in both screens' health", async () => {
      const listed = await (await fetch(`${base}/v1/fleet/screens`, { headers: { Authorization: `Bearer ${READER}` } })).json();
      const group = listed.screens.filter((s) => GROUP_SCREENS.some(([id]) => id === s.id));
      return group.every((s) => /ghost-missing\.svg/.test(s.health?.rules?.problem ?? "")) ? group : null;
    }, 180_000);
    for (const screen of health) assert.equal(screen.health.rules.etag, etag);
    t.diagnostic(`reported: ${health[0].health.rules.problem}`);

    // Offline, a kiosk starts again on the rules it was sent.
    const [{ context, page }] = kiosks;
    await context.route((url) => url.href.startsWith(base), (route) => route.abort());
    await page.reload();
    await until(page, `(s) => s.rules.source === "fleet" && s.rules.etag === ${JSON.stringify(etag)} && ["brand-a", "menu-salad"].includes(s.currentAd?.adId)`, 60_000);
  } finally {
    for (const context of contexts) await context.close();
  }
});
