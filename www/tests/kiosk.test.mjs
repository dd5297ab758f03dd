// The kiosk in headless Chromium with a fake camera playing the astronaut picture: it sees the
// face and plays the ad the rules choose, stops the camera the moment its privacy notice cannot
// be read, keeps the loop going without a camera, keeps its totals over a reload, stores no
// pixels, talks only to its own server and starts again offline from its service worker.
// Needs pkg/ built with the `banner` option (DisclosureHiddenError), and ffmpeg.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { startServer, launch, launchPersistent, guardNetwork, collectErrors } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCREENSHOTS = join(ROOT, "target", "screenshots");
const ASTRONAUT = join(ROOT, "tests", "fixtures", "astronaut.jpg");
const FRAME_TIMEOUT = 90_000; // engine start and first frames on a shared 2-core CPU

let work;
let still; // the astronaut, large and frontal, for ever
let comeAndGo; // the astronaut for 3 s, then nobody for 2 s, looping: visits that end
let demoClip; // a .webm of the astronaut, for the ?video= demo source
let server;
let browser;

/** Makes a .y4m the fake camera plays: the picture over a grey 640x480 frame at 5 fps. */
function makeClip(path, { seconds, faceUntilS = null }) {
  const enable = faceUntilS === null ? "" : `:enable='lt(t,${faceUntilS})'`;
  execFileSync("ffmpeg", [
    "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", "color=c=gray:s=640x480:r=5",
    "-loop", "1", "-i", ASTRONAUT,
    "-filter_complex", `[1]scale=420:420[p];[0][p]overlay=x=110:y=30${enable}`,
    "-t", String(seconds), "-pix_fmt", "yuv420p", path,
  ]);
}

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), "glance-kiosk-test-"));
  still = join(work, "still.y4m");
  comeAndGo = join(work, "come-and-go.y4m");
  makeClip(still, { seconds: 1 });
  makeClip(comeAndGo, { seconds: 5, faceUntilS: 3 });
  demoClip = join(work, "sample.webm");
  execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-i", still, "-c:v", "libvpx", "-b:v", "500k", demoClip]);
  server = await startServer();
  browser = await launch({ camera: still });
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Short ads and a loop that config.json does not have, stored as the editor would store them. */
const FAST_RULES = {
  version: 1,
  timeZone: "UTC",
  minOnScreenS: 1,
  ads: [
    { id: "coffee", media: "/ads/coffee.svg", kind: "image", durationS: 1.5 },
    { id: "mall-events", media: "/ads/mall-events.webm", kind: "video", durationS: 4 },
    { id: "brand-b", media: "/ads/brand-b.svg", kind: "image", durationS: 1.5 },
    { id: "hello-viewer", media: "/ads/hello-viewer.svg", kind: "image", durationS: 2 },
  ],
  defaultLoop: ["coffee", "mall-events", "brand-b"],
  rules: [
    { id: "greet", priority: 20, when: { present: { op: "gte", value: 1 } }, play: { ad: "hello-viewer" }, cooldownS: 4 },
  ],
};

/** Stores `rules` under KEYS.rules from a page of the same origin (as the editor does). */
async function storeRules(page, rules) {
  await page.goto(`${server.url}/tests/blank.html`);
  await page.evaluate(async (doc) => {
    const { KEYS, save } = await import("/lib/store.js");
    await save(KEYS.rules, doc);
  }, rules);
}

/** A fresh browser profile inside the test's temporary folder (removed with it). */
const profile = () => mkdtempSync(join(work, "profile-"));

const status = (page) => page.evaluate(() => window.glanceKiosk.status);

/** Waits until `predicate(status)` (a function source) holds in the page. */
function until(page, predicate, timeout = FRAME_TIMEOUT) {
  return page.waitForFunction(`(() => { const s = window.glanceKiosk?.status; return Boolean(s && (${predicate})(s)); })()`, null, { timeout, polling: 100 });
}

/** The ad the stage shows now (the newest slide fading in or shown). */
const adOnScreen = (page) => page.evaluate(() => document.querySelector("#stage .slide.shown:last-child")?.dataset.adId ?? null);

/** Records every camera stream the page gets, without changing what it gets. */
function watchStreams(context) {
  return context.addInitScript(() => {
    const media = navigator.mediaDevices;
    if (!media) return;
    const original = media.getUserMedia.bind(media);
    window.__streams = [];
    media.getUserMedia = async (constraints) => {
      const stream = await original(constraints);
      window.__streams.push(stream);
      return stream;
    };
  });
}

const liveTracks = (page) => page.evaluate(() => window.__streams.flatMap((s) => s.getTracks()).filter((t) => t.readyState === "live").length);

test("the kiosk sees the face and switches to the ad its rules choose, and reports the play", { timeout: 240_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const net = await guardNetwork(context, server.url);
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${server.url}/kiosk/`);
  assert.equal(await page.title(), "Glance kiosk");
  // The notice is there before any frame is analysed.
  await page.waitForSelector("glance-disclosure", { state: "attached" });
  await until(page, (s) => s.engine.ready && s.counters.frames > 0);
  await until(page, (s) => s.audience && s.audience.present >= 1);
  await page.waitForFunction(() => document.querySelector("#stage .slide.shown:last-child")?.dataset.adId === "hello-viewer", null, { timeout: FRAME_TIMEOUT });
  // The play is reported once the engine (in its worker) has taken it.
  await until(page, (s) => s.currentAd?.adId === "hello-viewer" && s.currentAd.reported);
  const s = await status(page);
  assert.equal(s.rules.source, "config");
  assert.equal(s.currentAd.adId, "hello-viewer");
  assert.equal(s.currentAd.why, "rule greet-viewer");
  assert.equal(s.currentAd.reported, true);
  const report = await page.evaluate(() => window.glanceKiosk.report({ k: 1, includePlays: true }));
  const play = report.plays.find((p) => p.playId === s.currentAd.playId);
  assert.ok(play, `the engine knows the play: ${JSON.stringify(report.plays.map((p) => p.adId))}`);
  assert.equal(play.adId, "hello-viewer");
  // The creative is the rule's, from this server.
  const src = await page.locator('#stage .slide.shown:last-child img').getAttribute("src");
  assert.match(src, /\/ads\/hello-viewer\.svg$/);
  await page.waitForTimeout(800); // the cross-fade ends
  await page.screenshot({ path: join(SCREENSHOTS, "kiosk.png") });

  // Installer mode: the camera picture with the face box, age band, gender, gaze and "looking".
  await page.keyboard.press("i");
  await page.waitForSelector("#installer:not([hidden])");
  const drawn = (await status(page)).counters.frames;
  await until(page, `(s) => s.counters.frames >= ${drawn + 3}`);
  const installer = await page.evaluate(() => ({
    engine: document.getElementById("s-engine").textContent,
    backend: document.getElementById("s-backend").textContent,
    fps: document.getElementById("s-fps").textContent,
    overlay: [document.getElementById("overlay").width, document.getElementById("overlay").height],
  }));
  assert.equal(installer.engine, "running");
  assert.match(installer.backend, /^(cpu|webgpu)/);
  assert.match(installer.fps, /frames\/s/);
  assert.deepEqual(installer.overlay, [640, 480], "the overlay matches the camera frame");
  // The overlay has something drawn on it (the box around the face is not transparent).
  const painted = await page.evaluate(() => {
    const c = document.getElementById("overlay");
    const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
    return n;
  });
  assert.ok(painted > 1000, `overlay pixels drawn: ${painted}`);
  // The installer never covers the notice.
  const overlap = await page.evaluate(() => {
    const a = document.getElementById("installer").getBoundingClientRect();
    const b = document.querySelector("glance-disclosure").getBoundingClientRect();
    return Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  });
  assert.equal(overlap, 0);
  await page.screenshot({ path: join(SCREENSHOTS, "kiosk-installer.png") });

  // The live check walks through the corners. The astronaut looks into the camera, just above
  // the screen: Glance says "looking" at every corner and the "away" step cannot pass.
  await page.click("#check-start");
  await page.waitForFunction(() => document.querySelector('#corners li[data-corner="away"]').classList.contains("current"), null, { timeout: 60_000 });
  const corners = await page.locator("#corners li[data-result]").evaluateAll((lis) => lis.map((li) => [li.dataset.corner, li.dataset.result]));
  assert.deepEqual(corners, [["top-left", "pass"], ["top-right", "pass"], ["bottom-right", "pass"], ["bottom-left", "pass"]]);
  assert.equal(await page.locator("#looking").textContent(), "Glance says: looking");
  await page.click("#check-skip");
  assert.match(await page.locator("#check-result").textContent(), /^4 of 4 corners counted as looking, and looking away was not confirmed/);
  assert.deepEqual(net.foreign, [], "nothing left localhost");
  assert.deepEqual(errors, []);
  await context.close();
});

test("hiding the notice in any way stops the analysis within one frame and switches the camera off", { timeout: 300_000 }, async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const net = await guardNetwork(context, server.url);
  await watchStreams(context);
  const page = await context.newPage();
  await page.goto(`${server.url}/kiosk/`);
  const ways = {
    "display: none": {
      hide: () => document.querySelector("glance-disclosure").style.setProperty("display", "none", "important"),
      show: () => document.querySelector("glance-disclosure").style.removeProperty("display"),
    },
    "visibility: hidden": {
      hide: () => document.querySelector("glance-disclosure").style.setProperty("visibility", "hidden", "important"),
      show: () => document.querySelector("glance-disclosure").style.removeProperty("visibility"),
    },
    "opacity: 0": {
      hide: () => document.querySelector("glance-disclosure").style.setProperty("opacity", "0", "important"),
      show: () => document.querySelector("glance-disclosure").style.removeProperty("opacity"),
    },
    "an element covering it": {
      hide: () => {
        const cover = document.createElement("div");
        cover.id = "test-cover";
        cover.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:#000";
        document.body.append(cover);
      },
      show: () => document.getElementById("test-cover").remove(),
    },
    "removal from the DOM": {
      hide: () => { window.__banner = document.querySelector("glance-disclosure"); window.__banner.remove(); },
      show: () => document.body.append(window.__banner),
    },
  };
  for (const [way, { hide, show }] of Object.entries(ways)) {
    // Analysing, with the camera on.
    const before = (await status(page)).counters.frames;
    await until(page, `(s) => s.analysing && s.camera.state === "on" && s.counters.frames >= ${before + 2}`);
    assert.ok((await liveTracks(page)) > 0, `${way}: the camera is on before`);
    const atHide = (await status(page)).counters;
    await page.evaluate(hide);
    await until(page, (s) => s.camera.state === "paused", 10_000);
    const paused = await status(page);
    assert.ok(paused.counters.frames - atHide.frames <= 1, `${way}: ${paused.counters.frames - atHide.frames} frames analysed after hiding`);
    // The engine refused the next frame, or (no frame on its way for half a second) told the
    // kiosk first with `disclosurechange`: either way no frame was analysed past the hiding.
    const refused = paused.counters.hiddenRejections - atHide.hiddenRejections;
    assert.ok(refused <= 1, `${way}: ${refused} frames refused`);
    assert.equal(paused.analysing, false);
    assert.equal(paused.disclosure.visible, false, way);
    assert.equal(await liveTracks(page), 0, `${way}: every camera track is stopped`);
    assert.equal(await page.evaluate(() => document.getElementById("camera").srcObject), null);
    // Nothing is analysed while it stays hidden, and the ads keep playing.
    await page.waitForTimeout(1500);
    const still = await status(page);
    assert.equal(still.counters.frames, paused.counters.frames, `${way}: no analysis while hidden`);
    assert.ok(await adOnScreen(page), "an ad is on screen");
    // Visible again: the camera comes back by itself.
    await page.evaluate(show);
    await until(page, `(s) => s.camera.state === "on" && s.counters.frames > ${still.counters.frames}`, 30_000);
    assert.ok((await liveTracks(page)) > 0, `${way}: the camera is back`);
  }
  // The camera going away (unplugged: its track ends) is survived too: it is opened again.
  const streams = await page.evaluate(() => window.__streams.length);
  const atLoss = (await status(page)).counters.frames;
  await page.evaluate(() => {
    for (const track of window.__streams.flatMap((s) => s.getTracks())) {
      if (track.readyState !== "live") continue;
      track.stop();
      track.dispatchEvent(new Event("ended")); // what the browser fires when a device disappears
    }
  });
  await until(page, `(s) => s.camera.state === "on" && s.counters.frames > ${atLoss + 1}`, 30_000);
  assert.ok((await page.evaluate(() => window.__streams.length)) > streams, "a new camera stream");
  assert.deepEqual(net.foreign, []);
  await context.close();
});

test("without camera permission the default loop keeps playing and the kiosk says so discreetly", { timeout: 180_000 }, async () => {
  // No --use-fake-ui-for-media-stream and no permission granted: getUserMedia is denied.
  const context = await launchPersistent({ camera: still, permissions: [], userDataDir: profile() });
  try {
    const net = await guardNetwork(context, server.url);
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 720 });
    await storeRules(page, FAST_RULES);
    await page.goto(`${server.url}/kiosk/`);
    await until(page, (s) => s.engine.ready && s.camera.state === "retrying");
    const s = await status(page);
    assert.equal(s.camera.detail, "camera access denied");
    assert.equal(s.rules.source, "editor", "the editor's rules win over config.json's");
    assert.equal(s.counters.frames, 0);
    // The loop plays in order (brand-b first, as the engine carries on with coffee, then the
    // video), and each play is reported.
    await until(page, (s) => s.plays.length >= 4, 60_000);
    const later = await status(page);
    const order = later.plays.map((p) => p.adId);
    const loop = FAST_RULES.defaultLoop;
    assert.equal(order[0], "brand-b", `the stored loop plays: ${order}`);
    for (let i = 1; i < order.length; i++) {
      assert.equal(order[i], loop[(loop.indexOf(order[i - 1]) + 1) % loop.length], `loop order: ${order}`);
    }
    assert.ok(later.plays.filter((p) => p.endedAtMs).every((p) => p.completed === true), "loop ads play to the end");
    assert.ok(later.plays.slice(1).every((p) => p.reported), "the engine was told of every play");
    assert.ok(later.camera.retries >= 1, "it keeps retrying");
    const shown = await page.locator("#status").textContent();
    assert.match(shown, /^Camera access denied – retrying in \d+ s$/);
    assert.equal(await page.locator("#status").isVisible(), true);
    await page.waitForFunction(() => document.querySelectorAll("#stage .slide").length === 1); // between fades
    await page.screenshot({ path: join(SCREENSHOTS, "kiosk-no-camera.png") });
    assert.deepEqual(net.foreign, []);
  } finally {
    await context.close();
  }
});

test("a reload keeps the aggregates", { timeout: 240_000 }, async () => {
  const context = await launchPersistent({ camera: comeAndGo, permissions: ["camera"], userDataDir: profile() });
  try {
    const net = await guardNetwork(context, server.url);
    const page = await context.newPage();
    await storeRules(page, FAST_RULES);
    await page.goto(`${server.url}/kiosk/`);
    const totals = () => page.evaluate(async () => {
      const r = await window.glanceKiosk.report({ k: 1, includePlays: true });
      return {
        impressions: r.totals.impressions.value ?? 0,
        dwell: r.totals.dwellTotalS ?? 0,
        plays: r.plays.length,
        adPlays: r.ads.reduce((n, a) => n + a.plays, 0),
      };
    });
    // Visits end when the face leaves: wait for one, and for a few plays.
    // (The report is a promise, which waitForFunction would take for a truthy value: poll here.)
    const seen = () => page.evaluate(async () => {
      const r = await (window.glanceKiosk?.report({ k: 1 }) ?? null);
      return Boolean(r && (r.totals.impressions.value ?? 0) >= 1 && r.ads.reduce((n, a) => n + a.plays, 0) >= 2);
    });
    for (const until = Date.now() + 120_000; !(await seen()); await sleep(250)) {
      assert.ok(Date.now() < until, "a visit and two plays within 120 s");
    }
    const before = await totals();
    // What the kiosk has saved since covers at least these totals (they only grow). A write in
    // the page's last moments is not guaranteed, so the kiosk saves whenever a visit or a play
    // ends, and every 10 s.
    const asked = await page.evaluate(() => Date.now());
    await until(page, `(s) => s.lastSavedAtMs > ${asked}`, 30_000);
    await page.reload();
    await until(page, (s) => s.engine.ready && s.restoredFromMs !== null);
    const after = await totals();
    assert.ok(after.impressions >= before.impressions, `impressions ${after.impressions} >= ${before.impressions}`);
    assert.ok(after.dwell >= before.dwell - 1e-6, `dwell ${after.dwell} >= ${before.dwell}`);
    assert.ok(after.plays >= before.plays, `plays ${after.plays} >= ${before.plays}`);
    assert.ok(after.adPlays >= before.adPlays, `ad plays ${after.adPlays} >= ${before.adPlays}`);
    assert.equal((await status(page)).restoreError, null);
    assert.deepEqual(net.foreign, []);
  } finally {
    await context.close();
  }
});

test("nothing leaves localhost and no frame or crop reaches any storage", { timeout: 240_000 }, async () => {
  const context = await launchPersistent({ camera: still, permissions: ["camera"], userDataDir: profile() });
  try {
    const net = await guardNetwork(context, server.url);
    const page = await context.newPage();
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${server.url}/kiosk/?installer=1`);
    await until(page, (s) => s.engine.ready && s.counters.frames >= 3 && s.lastSavedAtMs !== null);
    // Save a camera placement too, so every key the kiosk writes is there.
    await page.fill('input[name="tiltDeg"]', "5");
    await page.click('#calibration button[type="submit"]');
    await page.waitForFunction(() => /^Saved/.test(document.getElementById("calibration-result").textContent), null, { timeout: 60_000 });
    await until(page, (s) => s.engine.ready && !s.engine.recreating && s.counters.frames >= 6);
    const stored = await page.evaluate(async () => {
      const out = { databases: [], caches: [], local: localStorage.length, session: sessionStorage.length };
      for (const { name } of await indexedDB.databases()) {
        const db = await new Promise((resolve, reject) => {
          const r = indexedDB.open(name);
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
        const stores = {};
        for (const storeName of db.objectStoreNames) {
          const tx = db.transaction(storeName, "readonly");
          const store = tx.objectStore(storeName);
          const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()].map((r) => new Promise((resolve) => { r.onsuccess = () => resolve(r.result); })));
          stores[storeName] = keys.map((k, i) => [k, values[i]]);
        }
        db.close();
        out.databases.push({ name, stores });
      }
      for (const name of await caches.keys()) {
        const cache = await caches.open(name);
        for (const request of await cache.keys()) {
          const response = await cache.match(request);
          out.caches.push({ cache: name, url: request.url, type: response.headers.get("content-type") });
        }
      }
      return out;
    });
    assert.equal(stored.local, 0, "no localStorage");
    assert.equal(stored.session, 0, "no sessionStorage");
    assert.deepEqual(stored.databases.map((d) => d.name), ["glance"]);
    const kv = stored.databases[0].stores.kv;
    // The fleet outbox exists and is empty: no fleet is configured here.
    assert.deepEqual(stored.databases[0].stores, { kv, outbox: [] });
    const keys = kv.map(([k]) => k).sort();
    assert.deepEqual(keys, ["audienceState", "kioskConfig"], "only the known keys");
    const record = Object.fromEntries(kv);
    assert.equal(typeof record.audienceState.state, "string");
    assert.deepEqual(record.kioskConfig.screen.cameraTiltDeg, 5);
    // No pixels: no long base64 or binary-looking strings, no long number arrays, no typed arrays.
    const state = JSON.parse(record.audienceState.state);
    const problems = [];
    const walk = (value, path) => {
      if (typeof value === "string") {
        if (value.length > 256 && /^[A-Za-z0-9+/=\s]+$/.test(value)) problems.push(`${path}: base64-like string of ${value.length}`);
        if (/^data:/.test(value)) problems.push(`${path}: data URL`);
      } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
        problems.push(`${path}: binary data`);
      } else if (Array.isArray(value)) {
        if (value.length > 512 && value.every((v) => typeof v === "number")) problems.push(`${path}: ${value.length} numbers`);
        value.forEach((v, i) => walk(v, `${path}[${i}]`));
      } else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
      }
    };
    walk(state, "$state");
    walk(record, "$record");
    assert.deepEqual(problems, []);
    assert.ok(record.audienceState.state.length < 200_000, `state is ${record.audienceState.state.length} chars`);
    // The Cache API holds the kiosk's own files and the engine's models, nothing else.
    assert.ok(stored.caches.length > 0);
    const own = new RegExp(`^${server.url.replace(/[.]/g, "\\.")}/(kiosk/([a-z-]+\\.(js|css|json))?|lib/(store|media|dom)\\.js|pkg/[\\w./-]+|ads/[\\w-]+\\.(svg|webm)|node_modules/[\\w@./-]+)$`);
    for (const entry of stored.caches) {
      assert.match(entry.url, own, `cached: ${entry.url}`);
      assert.doesNotMatch(entry.type ?? "", /^image\/(png|jpeg|webp|bmp)|octet-stream.*frame/, entry.url);
    }
    assert.deepEqual(net.foreign, [], "nothing left localhost");
    for (const url of net.all) assert.ok(url.startsWith(server.url), url);
  } finally {
    await context.close();
  }
});

test("offline: after the first visit the kiosk starts from its service worker", { timeout: 240_000 }, async () => {
  const own = await startServer();
  const context = await launchPersistent({ camera: still, permissions: ["camera"], userDataDir: profile() });
  try {
    const page = await context.newPage();
    await page.goto(`${own.url}/kiosk/`);
    await until(page, (s) => s.engine.ready && s.counters.frames >= 1);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 30_000 });
    // Everything the kiosk needs is cached once the worker has stored what the page listed.
    // (Polled from here: waitForFunction would take the predicate's promise for a truthy value.)
    const needed = ["/kiosk/", "/kiosk/kiosk.js", "/pkg/glance.js", "/pkg/glance_cpu.js", "/pkg/glance_cpu_bg.wasm", "/pkg/glance_worker.js", "/pkg/glance_worker_cpu.js", "/ads/mall-events.webm"];
    const missing = () => page.evaluate(async (needed) => {
      const urls = (await (await caches.open("glance-kiosk-v1")).keys()).map((r) => new URL(r.url).pathname);
      return needed.filter((p) => !urls.includes(p));
    }, needed);
    for (const until = Date.now() + 60_000; (await missing()).length; await sleep(500)) {
      assert.ok(Date.now() < until, `cached for offline use within 60 s; missing ${await missing()}`);
    }
    await own.close();
    // The server is gone for real.
    await assert.rejects(fetch(`${own.url}/kiosk/`));
    await page.reload();
    assert.equal(await page.title(), "Glance kiosk");
    await until(page, (s) => s.engine.ready && s.counters.frames >= 1 && s.currentAd !== null);
    const { thread, threadReason } = await status(page);
    assert.equal(thread, "worker", `the engine's worker starts offline too (${threadReason})`);
    await page.waitForSelector("#stage .slide.shown img, #stage .slide.shown video");
    assert.equal(await page.locator("#stage .slide.placeholder").count(), 0, "the creatives come from the cache");
  } finally {
    await context.close();
  }
});

test("demo: ?video= analyses a looping clip instead of the camera", { timeout: 180_000 }, async () => {
  const media = await startServer({ media: work });
  const camerales = await launch(); // no camera at all
  try {
    const context = await camerales.newContext({ viewport: { width: 1280, height: 720 } });
    const net = await guardNetwork(context, media.url);
    await watchStreams(context);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${media.url}/kiosk/?video=/media/sample.webm`);
    await until(page, (s) => s.camera.state === "on" && s.camera.source === "clip" && s.counters.frames >= 3 && s.audience?.present >= 1);
    assert.equal(await page.evaluate(() => window.__streams.length), 0, "the camera was never asked for");
    assert.equal(await page.evaluate(() => document.getElementById("camera").loop), true);
    assert.deepEqual(net.foreign, []);
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await camerales.close();
    await media.close();
  }
});
