// The wasm engine in headless Chromium: the same face and attributes as the native CLI, typed
// errors, and no traffic beyond its own files. Needs `scripts/dev web` to have built pkg/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { serveRepository } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"];

/** The wasm engine's face against the CLI's: same place, pose, age and gender within tolerance. */
function assertSameFace(got, want) {
  for (let k = 0; k < 4; k++) assert.ok(Math.abs(got.box[k] - want.box[k]) < 3, `box ${got.box} vs ${want.box}`);
  assert.ok(Math.abs(got.yaw - want.yaw) < 3, `yaw ${got.yaw} vs ${want.yaw}`);
  assert.ok(Math.abs(got.age - want.age) < 3, `age ${got.age} vs ${want.age}`);
  assert.equal(got.gender, want.gender);
  assert.ok(Math.abs(got.distanceM - want.distanceM) < 0.05, `distance ${got.distanceM} vs ${want.distanceM}`);
}

let server;
let origin;
let browser;
const requests = [];

before(async () => {
  server = await serveRepository(ROOT);
  origin = server.origin;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function newPage(target = browser) {
  const context = await target.newContext();
  context.on("request", (r) => requests.push(r.url()));
  // Anything not from our own server is recorded and refused, so the assertion can name it.
  await context.route((url) => !url.href.startsWith(origin), (route) => route.abort());
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  await page.goto(`${origin}/www/tests/blank.html`);
  return { page, context, errors };
}

const cli = () => {
  const bin = process.env.GLANCE_BIN ?? join(ROOT, "target/release/glance");
  return JSON.parse(execFileSync(bin, ["analyze", join(ROOT, "tests/fixtures/astronaut.jpg")]).toString());
};

test("the wasm engine finds the face the CLI finds, on the CPU backend", async () => {
  const expected = cli().faces;
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const engine = await glance.AudienceEngine.create({ backend: "auto", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
    const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
    const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const started = performance.now();
    const result = await engine.processFrame(bitmap, 1000);
    const ms = performance.now() - started;
    bitmap.close();
    return { result, backend: engine.backend, fallbackReason: engine.fallbackReason, ms };
  });
  assert.deepEqual(errors, []);
  // No --enable-unsafe-webgpu here: "auto" must fall back to the CPU and say why.
  assert.equal(out.backend, "cpu");
  assert.match(out.fallbackReason, /webgpu/i);
  assert.equal(out.result.faces.length, expected.length);
  assertSameFace(out.result.faces[0], expected[0]);
  // Where the frame's time went: the stages that ran took time, and they add up to the total,
  // which the round trip to the worker contains.
  const t = out.result.timingsMs;
  for (const stage of ["detection", "mesh", "irises", "ageGender"]) assert.ok(t[stage] > 0, `${stage}: ${JSON.stringify(t)}`);
  const stages = t.readPixels + t.detection + t.fineScan + t.confirmation + t.mesh + t.irises + t.ageGender + t.other + t.audience;
  assert.ok(Math.abs(t.total - stages) < 1e-6, JSON.stringify(t));
  assert.ok(t.total <= out.ms, `${t.total} ms inside ${out.ms} ms`);
  console.log(`wasm cpu: ${out.ms.toFixed(1)} ms for one 512x512 frame with one face; by stage ${JSON.stringify(t)}`);
  await context.close();
});

test("on WebGPU (SwiftShader here) the engine agrees with the CPU backend, and falls back to the CPU when the GPU is lost", { timeout: 900_000 }, async () => {
  const expected = cli().faces;
  const gpuBrowser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, "--enable-unsafe-webgpu"],
  });
  try {
    const { page, context, errors } = await newPage(gpuBrowser);
    const out = await page.evaluate(async () => {
      // Keep a handle on the GPU device the engine opens, to lose it on purpose below.
      const devices = [];
      const requestDevice = GPUAdapter.prototype.requestDevice;
      GPUAdapter.prototype.requestDevice = async function (...args) {
        const device = await requestDevice.apply(this, args);
        devices.push(device);
        return device;
      };
      const glance = await import("/pkg/glance.js");
      await glance.default();
      const created = performance.now();
      // On the page's thread: the test loses the GPU device the page opened.
      const engine = await glance.AudienceEngine.create({ backend: "webgpu", thread: "main", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
      const createMs = performance.now() - created;
      const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
      const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
      const started = performance.now();
      const result = await engine.processFrame(bitmap, 1000);
      const ms = performance.now() - started;
      devices.forEach((d) => d.destroy());
      const afterLoss = await engine.processFrame(bitmap, 2000);
      bitmap.close();
      return { result, backend: engine.backend, createMs, ms, devices: devices.length, afterLoss, backendAfterLoss: engine.backend, reason: engine.fallbackReason };
    });
    assert.deepEqual(errors, []);
    assert.equal(out.result.backend, "webgpu");
    assert.equal(out.result.faces.length, expected.length);
    assertSameFace(out.result.faces[0], expected[0]);
    // The device is gone: the same frame is analysed on the CPU, and the engine says so.
    assert.equal(out.devices, 1);
    assert.equal(out.afterLoss.backend, "cpu");
    assert.equal(out.afterLoss.backendChanged, true);
    assert.equal(out.backendAfterLoss, "cpu");
    assert.match(out.reason, /destroyed|lost|poisoned/i);
    assert.equal(out.afterLoss.faces.length, expected.length);
    assertSameFace(out.afterLoss.faces[0], expected[0]);
    console.log(`wasm webgpu (software): create ${out.createMs.toFixed(0)} ms, frame ${out.ms.toFixed(1)} ms`);
    await context.close();
  } finally {
    await gpuBrowser.close();
  }
});

test("errors are typed Error objects and bad rules leave the old ones running", async () => {
  const { page, context } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const rules = await (await fetch("/examples/rules/mall.rules.json")).json();
    const engine = await glance.AudienceEngine.create({ backend: "cpu", models: { baseUrl: "/pkg/models" }, rules, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
    const catchError = async (f) => {
      try { await f(); return null; } catch (e) {
        // Which exported class it is an instance of, found by instanceof alone.
        const classes = ["RulesValidationError", "InvalidFrameError", "ConfigError", "EngineClosedError"].filter((c) => e instanceof glance[c]);
        return { isError: e instanceof Error, isGlanceError: e instanceof glance.GlanceError, classes, name: e.name, message: e.message, issues: e.issues, path: e.path };
      }
    };
    const before = (await engine.nextAd(Date.parse("2025-11-24T10:00:00Z"))).adId;
    const bad = await (await fetch("/tests/fixtures/rules/invalid.rules.json")).json();
    const rulesError = await catchError(() => engine.setRules(bad));
    const afterAd = (await engine.nextAd(Date.parse("2025-11-24T10:00:00Z"))).adId;
    // An error raised in the engine (in its worker here) arrives as its class, with its fields.
    const setOptionError = await catchError(() => engine.setOptions({ pipeline: { minDetectionScore: 2 } }));
    const frameError = await catchError(() => engine.processFrame({ not: "a frame" }, 0));
    // Four times an 8K camera's pixels: refused in the worker before they are copied into it.
    const oversized = await catchError(() => engine.processFrame(new ImageData(8200, 8200), 500));
    const optionError = await catchError(() => glance.AudienceEngine.create({ backend: "cpu", pipeline: { minDetectionScore: 2 }, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } }));
    const pixels = new ImageData(320, 240);
    // Two frames at once: on the CPU the first finishes before the second starts; on a GPU the
    // second is rejected with EngineBusyError. Either way both settle cleanly.
    const overlapping = await Promise.allSettled([engine.processFrame(pixels, 2000), engine.processFrame(pixels, 2040)]);
    const settled = overlapping.map((r) => (r.status === "fulfilled" ? "ok" : r.reason.name));
    const busyAfter = engine.busy;
    const late = await engine.processFrame(pixels, 1500);
    const thread = engine.thread;
    await engine.close();
    const closedError = await catchError(() => engine.snapshot());
    return { before, afterAd, rulesError, frameError, oversized, optionError, setOptionError, thread, settled, busyAfter, late: late.timestampMs, clamped: late.timestampClamped, closedError };
  });
  assert.equal(out.thread, "worker", "Chromium has module workers: the engine runs in one");
  for (const error of [out.rulesError, out.frameError, out.oversized, out.optionError, out.setOptionError, out.closedError]) {
    assert.equal(error.isError, true);
    assert.equal(error.isGlanceError, true, error.name);
    assert.deepEqual(error.classes, [error.name], "instanceof the exported class of its name, and of no other");
  }
  assert.equal(out.rulesError.name, "RulesValidationError");
  assert.ok(out.rulesError.issues.some((i) => i.path === "$.rules[0].play.ad"));
  assert.equal(out.afterAd, out.before, "the old rules still decide");
  assert.equal(out.frameError.name, "InvalidFrameError");
  assert.equal(out.oversized.name, "InvalidFrameError");
  assert.match(out.oversized.message, /8200x8200.*at most 66355200 pixels/);
  assert.equal(out.optionError.name, "ConfigError");
  assert.equal(out.optionError.path, "pipeline.minDetectionScore");
  assert.equal(out.setOptionError.name, "ConfigError");
  assert.equal(out.setOptionError.path, "pipeline.minDetectionScore");
  assert.equal(out.settled[0], "ok");
  assert.ok(["ok", "EngineBusyError"].includes(out.settled[1]), `second frame: ${out.settled[1]}`);
  assert.equal(out.busyAfter, false);
  assert.equal(out.late, out.settled[1] === "ok" ? 2040 : 2000, "a timestamp going backwards is clamped to the last analysed one");
  assert.equal(out.clamped, true);
  assert.equal(out.closedError.name, "EngineClosedError");
  await context.close();
});

test("models report download progress", async () => {
  const { page, context, errors } = await newPage();
  const { progress, phases } = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const progress = {};
    const phases = [];
    await glance.AudienceEngine.create({
      backend: "cpu",
      banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" },
      models: {
        baseUrl: "/pkg/models", cache: false,
        onProgress: (p) => {
          if (phases.at(-1) !== p.phase) phases.push(p.phase);
          if (p.phase === "module") phases.push(p.module);
          if (p.phase === "download") progress[p.model] = [p.loaded, p.total];
        },
      },
    });
    return { progress, phases };
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(phases, ["module", "cpu", "download", "load"], "each start phase, in order (no warm-up on the CPU)");
  assert.deepEqual(Object.keys(progress).sort(), ["age_gender", "centerface", "face_detection_full_range", "face_detection_short_range", "face_landmark", "iris_landmark"]);
  for (const [loaded, total] of Object.values(progress)) assert.equal(loaded, total, "the last report covers the whole file");
  await context.close();
});

test("a browser without WebGPU downloads only the CPU module, and the plain functions wait for one", async () => {
  const { page, context, errors } = await newPage();
  const seen = [];
  context.on("request", (r) => seen.push(new URL(r.url()).pathname));
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const early = (() => { try { glance.validateRules("{}"); return null; } catch (e) { return e.name; } })();
    const engine = await glance.AudienceEngine.create({ banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
    const result = await engine.processFrame(new ImageData(64, 48), 0);
    return { early, backend: engine.backend, modules: glance.requestedModules(), isEngine: engine instanceof glance.AudienceEngine, faces: result.faces.length, issues: glance.validateRules("{}").length };
  });
  assert.deepEqual(errors, []);
  assert.equal(out.early, "GlanceError", "a plain function before any module loaded is a named error");
  assert.deepEqual([out.backend, out.modules, out.isEngine, out.faces], ["cpu", ["cpu"], true, 0]);
  assert.ok(out.issues > 0, "validateRules works once the module is there");
  assert.ok(seen.includes("/pkg/glance_cpu_bg.wasm"), seen.join(" "));
  assert.ok(!seen.some((p) => p.includes("webgpu")), `no WebGPU module: ${seen.join(" ")}`);
  assert.ok(seen.includes("/pkg/models/centerface.bpk"), "models found beside the package by default");
  assert.ok(seen.indexOf("/pkg/glance_cpu_bg.wasm") < seen.indexOf("/pkg/glance_cpu.js"), `the wasm download starts before the glue's: ${seen.join(" ")}`);
  await context.close();
});

test("a server that sends the wasm without its MIME type still gets a working engine", async () => {
  const { page, context, errors } = await newPage();
  const wasm = await readFile(join(ROOT, "pkg/glance_cpu_bg.wasm"));
  let served = 0;
  await context.route("**/pkg/glance_cpu_bg.wasm", (route) => {
    served++;
    return route.fulfill({ status: 200, contentType: "application/octet-stream", body: wasm });
  });
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const engine = await glance.AudienceEngine.create({ backend: "cpu", models: { baseUrl: "/pkg/models", cache: false }, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
    return { backend: engine.backend, faces: (await engine.processFrame(new ImageData(64, 48), 0)).faces.length };
  });
  assert.deepEqual(errors, []);
  assert.equal(served, 1);
  assert.deepEqual(out, { backend: "cpu", faces: 0 });
  await context.close();
});

test("a module that cannot be downloaded is a named ModelLoadError", async () => {
  const { page, context } = await newPage();
  await context.route("**/pkg/glance_cpu_bg.wasm", (route) => route.fulfill({ status: 404, body: "gone" }));
  const error = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    try {
      await glance.AudienceEngine.create({ backend: "cpu", banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
      return null;
    } catch (e) {
      return { name: e.name, message: e.message, isError: e instanceof Error };
    }
  });
  assert.equal(error?.name, "ModelLoadError");
  assert.ok(error.isError);
  assert.match(error.message, /glance_cpu_bg\.wasm: HTTP 404/);
  await context.close();
});

test("the engine fetched only its own files and stored no frame data", async () => {
  const { page, context } = await newPage();
  const stored = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const engine = await glance.AudienceEngine.create({ backend: "cpu", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" } });
    await engine.processFrame(new ImageData(64, 48), 0);
    const cached = [];
    for (const name of await caches.keys()) for (const request of await (await caches.open(name)).keys()) cached.push(request.url);
    return { local: localStorage.length, session: sessionStorage.length, databases: (await indexedDB.databases()).length, cached };
  });
  assert.deepEqual([stored.local, stored.session, stored.databases], [0, 0, 0]);
  for (const url of stored.cached) assert.match(url, /\/pkg\/models\/[a-z_]+\.bpk$/, "only model files are cached");
  const own = /^http:\/\/127\.0\.0\.1:\d+\/(www\/tests\/blank\.html|pkg\/.+|tests\/fixtures\/.+|examples\/rules\/.+)$/;
  for (const url of requests) assert.match(url, own, `unexpected request ${url}`);
  await context.close();
});

/** Every text node of the page, closed shadow roots included (the notice's root is closed). */
async function renderedText(page) {
  const cdp = await page.context().newCDPSession(page);
  const { root } = await cdp.send("DOM.getDocument", { depth: -1, pierce: true });
  const texts = [];
  const walk = (node) => {
    if (node.nodeType === 3) texts.push(node.nodeValue);
    for (const child of [...(node.children ?? []), ...(node.shadowRoots ?? [])]) walk(child);
  };
  walk(root);
  await cdp.detach();
  return texts.join(" ");
}

test("the engine shows its disclosure notice and analyses only while it can be read", async () => {
  const { page, context, errors } = await newPage();
  await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const missing = await glance.AudienceEngine.create({ backend: "cpu", models: { baseUrl: "/pkg/models" } }).then(() => null, (e) => ({ name: e.name, path: e.path }));
    window.missing = missing;
    window.engine = await glance.AudienceEngine.create({
      backend: "cpu",
      models: { baseUrl: "/pkg/models" },
      banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html", language: "de", retentionDays: 30 },
    });
    // What a frame loop sees: a result, or the name of the error.
    window.tryFrame = async () => {
      try { await window.engine.processFrame(new ImageData(64, 48), performance.now()); return "analysed"; } catch (e) { return e.name; }
    };
  });
  assert.deepEqual(await page.evaluate(() => window.missing), { name: "ConfigError", path: "banner" });
  assert.equal(await page.locator("glance-disclosure").count(), 1);
  const text = await renderedText(page);
  for (const phrase of ["Kameraanalyse", "Glance tests", "tests@localhost", "30 Tage", "Widerspruchsrecht", "/privacy.html"]) {
    assert.ok(text.includes(phrase), `the notice says "${phrase}"`);
  }
  await page.screenshot({ path: join(ROOT, "target/screenshots/engine-banner-de.png") });
  assert.deepEqual(await page.evaluate(() => window.engine.disclosure), { visible: true, reason: null });
  assert.equal(await page.evaluate(() => window.engine.thread), "worker", "the notice is on the page, the analysis in a worker");
  assert.equal(await page.evaluate(() => window.tryFrame()), "analysed");

  // Each way a page could hide the notice stops the very next frame; undoing it resumes.
  const hides = [
    ["display: none", "el.style.display = 'none'", "el.style.display = ''", /display: none/],
    ["visibility", "el.style.visibility = 'hidden'", "el.style.visibility = ''", /visibility/],
    ["opacity", "el.style.opacity = '0.1'", "el.style.opacity = ''", /transparent/],
    ["moved off screen", "el.style.transform = 'translateY(500px)'", "el.style.transform = ''", /outside the screen/],
    ["covered", "const c = document.createElement('div'); c.id = 'cover'; c.style.cssText = 'position:fixed;inset:0;background:#000;z-index:2147483647'; document.body.append(c)", "document.getElementById('cover').remove()", /covered/],
    ["shrunk", "el.style.height = '10px'; el.style.overflow = 'hidden'", "el.style.height = ''; el.style.overflow = ''", /too small/],
    ["removed", "window.parked = el; el.remove()", "document.body.append(window.parked)", /not in the document/],
  ];
  for (const [label, hide, undo, reason] of hides) {
    const outcome = await page.evaluate(async ([hide, undo]) => {
      const el = document.querySelector("glance-disclosure");
      new Function("el", hide)(el);
      const hidden = await window.tryFrame();
      const status = window.engine.disclosure;
      new Function("el", undo)(document.querySelector("glance-disclosure") ?? window.parked);
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      return { hidden, status, resumed: await window.tryFrame() };
    }, [hide, undo]);
    assert.equal(outcome.hidden, "DisclosureHiddenError", `${label}: the frame is refused`);
    assert.equal(outcome.status.visible, false, label);
    assert.match(outcome.status.reason, reason, label);
    assert.equal(outcome.resumed, "analysed", `${label}: analysis resumes once the notice shows again`);
  }
  // With no frame coming (a host that stopped its camera), the engine still says when the
  // notice stops and starts being readable: a host listens instead of polling.
  const idle = await page.evaluate(async () => {
    const seen = [];
    window.engine.addEventListener("disclosurechange", (e) => seen.push(e.detail.visible));
    const until = async (count) => {
      const start = performance.now();
      while (seen.length < count && performance.now() - start < 5000) await new Promise((r) => setTimeout(r, 50));
    };
    await new Promise((r) => setTimeout(r, 600));
    const el = document.querySelector("glance-disclosure");
    el.style.visibility = "hidden";
    await until(1);
    el.style.visibility = "";
    await until(2);
    return seen;
  });
  assert.deepEqual(idle, [false, true], "disclosurechange without frames");
  // The notice follows language changes and goes away with the engine.
  await page.evaluate(() => window.engine.setOptions({ banner: { language: "fr" } }));
  assert.ok((await renderedText(page)).includes("Analyse par caméra"));
  await page.evaluate(() => window.engine.close());
  assert.equal(await page.locator("glance-disclosure").count(), 0);
  assert.deepEqual(errors, []);
  await context.close();
});

test("rules validation, the simulator and reports work without models", async () => {
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const text = async (path) => (await fetch(path)).text();
    const mall = await text("/examples/rules/mall.rules.json");
    const timeline = await text("/examples/rules/weekday.timeline.jsonl");
    const steps = timeline.split("\n").filter((l) => l.trim() && !l.startsWith("#")).map((l) => JSON.parse(l));
    const fromText = glance.simulateRules(mall, timeline);
    const fromSteps = glance.simulateRules(JSON.parse(mall), steps);
    const badTimeline = (() => { try { glance.simulateRules(mall, "[]"); } catch (e) { return e.name; } })();
    const engine = await glance.AudienceEngine.create({ backend: "cpu", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" } });
    await engine.adStarted("coffee", "play-1", 1000);
    await engine.adEnded("coffee", true, "play-1", 9000);
    const saved = await engine.saveState();
    const live = await engine.report();
    const offline = glance.reportFromState(saved);
    return {
      valid: glance.validateRules(mall),
      invalid: glance.validateRules(await text("/tests/fixtures/rules/invalid.rules.json")),
      schemaTitle: Object.keys(glance.rulesSchema().properties ?? {}),
      fromText, fromSteps, badTimeline, live, offline,
      csv: glance.reportToCsv(offline),
    };
  });
  assert.deepEqual(out.valid, []);
  const expectedIssues = JSON.parse(await readFile(join(ROOT, "tests/fixtures/rules/invalid.expected.json"), "utf8"));
  assert.deepEqual(out.invalid, expectedIssues);
  assert.ok(out.schemaTitle.includes("rules") && out.schemaTitle.includes("ads"));
  // The CLI's golden output: one play per line, then the summary.
  const lines = (await readFile(join(ROOT, "tests/fixtures/rules/weekday.expected.jsonl"), "utf8")).trim().split("\n").map((l) => JSON.parse(l));
  const golden = { plays: lines.slice(0, -1), summary: lines.at(-1).summary };
  assert.deepEqual(out.fromText, golden, "the simulator in the browser gives the CLI's plays");
  assert.deepEqual(out.fromSteps, golden);
  assert.ok(out.badTimeline);
  assert.deepEqual(out.offline, out.live, "a report from saved aggregates equals the live one");
  assert.equal(out.offline.plays.length, 1);
  assert.match(out.csv.split("\n")[0], /value/);
  assert.deepEqual(errors, []);
  await context.close();
});

/** Runs the TypeScript compiler (strict) on `files`; `{ ok, output }`. */
function tsc(files) {
  try {
    const output = execFileSync(join(ROOT, "www/node_modules/.bin/tsc"), ["--strict", "--noEmit", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler", "--lib", "es2022,dom", ...files], { encoding: "utf8" });
    return { ok: true, output };
  } catch (e) {
    return { ok: false, output: `${e.stdout}${e.stderr}` };
  }
}

test("the engine dispatches its events, and every result and event is exactly as the generated declarations say", { timeout: 600_000 }, async () => {
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const rules = await (await fetch("/examples/rules/mall.rules.json")).json();
    const engine = await glance.AudienceEngine.create({
      backend: "cpu",
      models: { baseUrl: "/pkg/models" },
      rules,
      // Visits end half a second after the face goes, so the test sees `visitend` soon.
      audience: { tracker: { maxAgeMs: 500 } },
      banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" },
    });
    const events = [];
    for (const type of ["visitstart", "visitend", "audiencechange", "decision", "backendchange", "disclosurechange", "error"]) {
      engine.addEventListener(type, (event) => events.push({ type, isCustom: event instanceof CustomEvent, detail: event.detail }));
    }
    const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
    const face = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const empty = new ImageData(512, 512);
    const frames = [];
    for (let t = 0; t <= 1500; t += 100) frames.push(await engine.processFrame(face, t));
    const withFace = await engine.snapshot();
    for (let t = 1750; t <= 4000; t += 250) await engine.processFrame(empty, t);
    const decision = await engine.nextAd(Date.parse("2025-11-24T10:00:00Z"));
    const interrupt = await engine.shouldInterrupt(Date.parse("2025-11-24T10:00:01Z"));
    // Hiding the notice stops analysis and says so.
    const notice = document.querySelector("glance-disclosure");
    notice.style.visibility = "hidden";
    const hidden = await engine.processFrame(empty, 4100).then(() => null, (e) => e.name);
    notice.style.visibility = "";
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    await engine.processFrame(empty, 4200);
    const failed = await engine.processFrame({ not: "a frame" }, 4300).then(() => null, (e) => e.name);
    const report = await engine.report();
    const timeline = [{ t: "2025-11-24T10:00", audience: { present: 2, watchers: 1 } }, { t: "2025-11-24T10:05", audience: { present: 0 } }];
    const simulation = glance.simulateRules(rules, timeline);
    const issues = glance.validateRules("{}");
    const disclosure = engine.disclosure;
    // A RulesValidationError, caught by its class, with its issues.
    let rulesError = null;
    try {
      await engine.setRules(await (await fetch("/tests/fixtures/rules/invalid.rules.json")).json());
    } catch (e) {
      if (e instanceof glance.RulesValidationError) rulesError = e.issues;
    }
    // The fleet records: the visit's minute once every visit has ended, and a heartbeat.
    const none = await engine.takeRecords("test-screen-1");
    await engine.endVisits(4400);
    const records = [
      ...(await engine.takeRecords("test-screen-1", true)),
      glance.heartbeatRecord("test-screen-1", { camera: "live", analysedFps: 9.5, backend: "cpu", outboxDepth: 0, outboxDropped: 0, lastAckMs: null }, Date.parse("2025-11-24T10:00:00Z")),
    ];
    let badScreen = null;
    try {
      await engine.takeRecords("no spaces allowed");
    } catch (e) {
      badScreen = [e.name, e.path];
    }
    await engine.close();
    const faces = frames.filter((f) => f.faces.length > 0);
    return { frames: [faces[0], frames.at(-1)], withFace, decision, interrupt, hidden, failed, report, simulation, issues, disclosure, events, rulesError, none, records, badScreen };
  });
  assert.deepEqual(errors, []);
  const types = out.events.map((e) => e.type);
  assert.ok(out.events.every((e) => e.isCustom), "every event is a CustomEvent");
  const starts = out.events.filter((e) => e.type === "visitstart");
  const ends = out.events.filter((e) => e.type === "visitend");
  assert.equal(starts.length, 1, types.join(" "));
  assert.equal(ends.length, 1, types.join(" "));
  assert.equal(ends[0].detail.trackId, starts[0].detail.trackId);
  assert.ok(ends[0].detail.dwellS > 1 && ends[0].detail.dwellS < 3, `dwell ${ends[0].detail.dwellS}`);
  assert.ok(types.indexOf("visitstart") < types.indexOf("visitend"));
  const changes = out.events.filter((e) => e.type === "audiencechange").map((e) => e.detail.present);
  assert.deepEqual([changes[0], changes.at(-1)], [1, 0], `present over the changes: ${changes}`);
  assert.equal(out.withFace.present, 1);
  assert.deepEqual(out.events.filter((e) => e.type === "decision").map((e) => e.detail.adId), [out.decision.adId, ...(out.interrupt ? [out.interrupt.adId] : [])]);
  assert.equal(out.hidden, "DisclosureHiddenError");
  assert.deepEqual(out.events.filter((e) => e.type === "disclosurechange").map((e) => e.detail.visible), [false, true]);
  assert.equal(out.failed, "InvalidFrameError");
  assert.deepEqual(out.events.filter((e) => e.type === "error").map((e) => e.detail.name), ["InvalidFrameError"]);
  assert.ok(out.rulesError?.some((i) => i.path === "$.rules[0].play.ad"), JSON.stringify(out.rulesError));
  // Nothing before the visit's minute could close; then one minute with the one visit, and the heartbeat.
  assert.deepEqual(out.none, []);
  assert.deepEqual(out.records.map((r) => [r.kind, r.id]), [["audienceMinute", "test-screen-1:minute:0"], ["heartbeat", `test-screen-1:heartbeat:${Date.parse("2025-11-24T10:00:00Z")}`]]);
  assert.equal(out.records[0].impressions, 1);
  assert.equal(out.records[0].cells.reduce((n, c) => n + c.present, 0), 1);
  assert.deepEqual(out.badScreen, ["ConfigError", "screenId"]);

  // Every real value as a fresh object literal of its declared type: TypeScript rejects any
  // property the declarations lack (and any they require that is missing), so a field the Rust
  // types gain without the declarations fails here.
  const dir = join(ROOT, "target/ts-values");
  await mkdir(dir, { recursive: true });
  const literal = (value) => JSON.stringify(value, null, 1);
  const byType = (type) => out.events.filter((e) => e.type === type).map((e) => e.detail);
  const values = [
    ["frames", "FrameResult[]", out.frames],
    ["snapshot", "AudienceSnapshot", out.withFace],
    ["decision", "Decision", out.decision],
    ["report", "AudienceReport", out.report],
    ["simulation", "SimulationReport", out.simulation],
    ["issues", "ValidationIssue[]", out.issues],
    ["disclosure", "DisclosureStatus", out.disclosure],
    ["visitStarts", 'AudienceEngineEventMap["visitstart"]["detail"][]', byType("visitstart")],
    ["visitEnds", 'AudienceEngineEventMap["visitend"]["detail"][]', byType("visitend")],
    ["changes", 'AudienceEngineEventMap["audiencechange"]["detail"][]', byType("audiencechange")],
    ["disclosureChanges", 'AudienceEngineEventMap["disclosurechange"]["detail"][]', byType("disclosurechange")],
    ["records", "FleetRecord[]", out.records],
  ];
  const header = 'import type { AudienceEngineEventMap, AudienceReport, AudienceSnapshot, Decision, DisclosureStatus, FleetRecord, FrameResult, SimulationReport, ValidationIssue } from "../../pkg/glance.js";\n';
  const exact = join(dir, "values.ts");
  await writeFile(exact, header + values.map(([name, type, value]) => `export const ${name}: ${type} = ${literal(value)};\n`).join(""));
  const checked = tsc([exact]);
  assert.ok(checked.ok, checked.output);
  // The same check fails on a field the declarations do not have.
  const extra = join(dir, "extra-field.ts");
  await writeFile(extra, header + `export const frame: FrameResult = ${literal({ ...out.frames[0], addedInRust: 1 })};\n`);
  const rejected = tsc([extra]);
  assert.equal(rejected.ok, false, "an unknown field must not type-check");
  assert.match(rejected.output, /addedInRust/);
  await context.close();
});

test("a worker that dies is replaced from the last saved state, the loss reported; the page's thread stays available", { timeout: 300_000 }, async () => {
  const { page, context, errors } = await newPage();
  const before = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const bad = await glance.AudienceEngine.create({ thread: "elsewhere", banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" } }).then(() => null, (e) => [e.name, e.path]);
    const engine = await glance.AudienceEngine.create({
      backend: "cpu",
      workerTimeoutMs: 1000,
      models: { baseUrl: "/pkg/models" },
      audience: { tracker: { maxAgeMs: 500 } },
      banner: { controller: { name: "Glance tests", contact: "tests@localhost" }, noticeUrl: "/privacy.html" },
    });
    window.engine = engine;
    window.crashes = [];
    engine.addEventListener("error", (e) => window.crashes.push({ name: e.detail.name, restarted: e.detail.restarted, restoredFromMs: e.detail.restoredFromMs, message: e.detail.message }));
    const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
    window.face = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    window.empty = new ImageData(320, 240);
    // One visit and one play, saved; then a second play that the save does not hold.
    for (let t = 0; t <= 1000; t += 100) await engine.processFrame(window.face, t);
    for (let t = 1250; t <= 2500; t += 250) await engine.processFrame(window.empty, t);
    await engine.adStarted("coffee", "play-1", 1000);
    await engine.adEnded("coffee", true, "play-1", 9000);
    window.saved = await engine.saveState();
    window.savedReport = await engine.report({ k: 1, includePlays: true });
    await engine.adStarted("coffee", "play-2", 10000);
    await engine.adEnded("coffee", true, "play-2", 18000);
    const unsaved = await engine.report({ k: 1, includePlays: true });
    return { bad, thread: engine.thread, savedPlays: window.savedReport.plays.length, unsavedPlays: unsaved.plays.length, savedVisits: window.savedReport.totals.impressions.value };
  });
  assert.deepEqual(before.bad, ["ConfigError", "thread"]);
  assert.equal(before.thread, "worker");
  assert.deepEqual([before.savedVisits, before.savedPlays, before.unsavedPlays], [1, 1, 2]);

  // Kill the engine's worker from inside, as a crash of the browser's worker process would.
  const worker = page.workers().find((w) => /glance_worker_cpu/.test(w.url()));
  assert.ok(worker, `the engine's worker: ${page.workers().map((w) => w.url())}`);
  await worker.evaluate(() => self.close()).catch(() => {});
  const after = await page.evaluate(async () => {
    const { engine } = window;
    const inFlight = await engine.processFrame(window.empty, 3000).then(() => null, (e) => ({ name: e.name, restarting: e.restarting }));
    // The next frames and calls go to the new worker.
    await new Promise((r) => setTimeout(r, 50));
    let resumed = null;
    for (let i = 0; i < 100 && !resumed; i++) {
      resumed = await engine.processFrame(window.face, 4000 + i * 100).then((r) => r.faces.length, (e) => (e.name === "EngineCrashedError" ? null : e.name));
      if (!resumed) await new Promise((r) => setTimeout(r, 100));
    }
    const report = await engine.report({ k: 1, includePlays: true });
    await engine.close();
    return { inFlight, resumed, crashes: window.crashes, plays: report.plays.map((p) => p.playId), impressions: report.totals.impressions.value, thread: engine.thread };
  });
  assert.deepEqual(after.inFlight, { name: "EngineCrashedError", restarting: true }, "the frame in flight fails, and says a new worker takes over");
  assert.equal(after.resumed, 1, "the new worker analyses frames");
  const restarts = after.crashes.filter((c) => c.restarted);
  assert.equal(restarts.length, 1, JSON.stringify(after.crashes));
  assert.ok(Number.isFinite(restarts[0].restoredFromMs), "the restart says from when the state is");
  assert.match(restarts[0].message, /did not answer .* within 1000 ms; a new worker took over from the last saved state: \d+ s of audience lost/);
  // Everything saved before the crash is there; the play after the save is the gap reported.
  assert.deepEqual(after.plays, ["play-1"]);
  assert.ok(after.impressions >= 1, `impressions ${after.impressions}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("thread: \"main\" runs the engine on the page's thread, with the same results", { timeout: 300_000 }, async () => {
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
    const face = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    const results = {};
    for (const thread of ["main", "worker"]) {
      const engine = await glance.AudienceEngine.create({ backend: "cpu", thread, models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" } });
      const frames = [];
      for (let t = 0; t <= 300; t += 100) frames.push(await engine.processFrame(face, t));
      results[thread] = { thread: engine.thread, reason: engine.threadReason ?? null, frames, snapshot: await engine.snapshot(), faceStillUsable: face.width, memoryBytes: engine.memoryBytes };
      await engine.close();
    }
    return results;
  });
  assert.equal(out.main.thread, "main");
  assert.equal(out.worker.thread, "worker");
  assert.equal(out.main.reason, null);
  assert.equal(out.worker.faceStillUsable, 512, "the page's own bitmap is not taken from it");
  // The module's memory, read where it runs: whole 64 KiB pages, more than the weights take.
  for (const thread of ["main", "worker"]) {
    const bytes = out[thread].memoryBytes;
    assert.ok(bytes > 8e6 && bytes % 65536 === 0, `${thread}: memoryBytes ${bytes}`);
  }
  // The same module, the same frames: the same faces and the same audience.
  // Track ids are random per engine (ephemeral by design).
  const strip = (s) => ({ ...s, people: s.people.map((p) => ({ ...p, trackId: undefined })) });
  assert.deepEqual(out.worker.frames.map((r) => r.faces), out.main.frames.map((r) => r.faces));
  assert.deepEqual(strip(out.worker.snapshot), strip(out.main.snapshot));
  assert.deepEqual(errors, []);
  await context.close();
});

test("the fine scan in a second worker gives the same results as in the engine's worker", { timeout: 300_000 }, async () => {
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    const glance = await import("/pkg/glance.js");
    const blob = await (await fetch("/tests/fixtures/astronaut.jpg")).blob();
    const face = await createImageBitmap(blob);
    // Three far faces (64 px pictures in a 720p frame) walking right, 3 px a frame, from the
    // fourth frame: only the fine scan finds faces this small.
    const canvas = new OffscreenCanvas(1280, 720);
    const context2d = canvas.getContext("2d", { willReadFrequently: true });
    const frameAt = (i) => {
      context2d.fillStyle = "#808080";
      context2d.fillRect(0, 0, 1280, 720);
      if (i >= 3) for (const [x, y] of [[40, 80], [600, 400], [1100, 200]]) context2d.drawImage(face, x + 3 * i, y, 64, 64);
      return context2d.getImageData(0, 0, 1280, 720);
    };
    const results = {};
    for (const fineScanWorker of [true, false]) {
      const engine = await glance.AudienceEngine.create({
        backend: "cpu",
        thread: "worker",
        fineScanWorker,
        pipeline: { detectionIntervalMs: 250, fineScanSweepMs: 500, minFaceHeight: 16 },
        models: { baseUrl: "/pkg/models" },
        banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" },
      });
      // The scanner starts beside the engine; until it is ready the engine scans itself.
      for (let waited = 0; fineScanWorker && !engine.fineScanWorker && waited < 20_000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        await engine.snapshot();
      }
      const ready = engine.fineScanWorker;
      const frames = [];
      for (let i = 0; i < 30; i++) frames.push((await engine.processFrame(frameAt(i), (i * 1000) / 15)).faces);
      results[fineScanWorker] = { ready, still: engine.fineScanWorker, frames };
      await engine.close();
    }
    // Image mode scans within the frame: no scanner until the options turn to video mode.
    const engine = await glance.AudienceEngine.create({ backend: "cpu", thread: "worker", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" } });
    await engine.processFrame(frameAt(5), 0);
    results.imageMode = engine.fineScanWorker;
    await engine.setOptions({ pipeline: { detectionIntervalMs: 250 } });
    for (let waited = 0; !engine.fineScanWorker && waited < 20_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await engine.snapshot();
    }
    results.videoModeLater = engine.fineScanWorker;
    await engine.close();
    return results;
  });
  assert.equal(out.imageMode, false, "no scanner in image mode");
  assert.equal(out.videoModeLater, true, "a scanner once the options turn to video mode");
  assert.equal(out.true.ready, true, "a second worker scans");
  assert.equal(out.true.still, true, "and still does after the frames");
  assert.equal(out.false.ready, false);
  assert.equal(Math.max(...out.true.frames.map((faces) => faces.length)), 3, "the far faces were found");
  // Frame for frame the same faces, to the last digit.
  assert.deepEqual(out.true.frames, out.false.frames);
  assert.deepEqual(errors, []);
  await context.close();
});

test("without Web Workers the engine runs on the page's thread and says why; thread: \"worker\" there is a BackendUnavailableError", async () => {
  const { page, context, errors } = await newPage();
  const out = await page.evaluate(async () => {
    delete window.Worker;
    const glance = await import("/pkg/glance.js");
    const options = { backend: "cpu", models: { baseUrl: "/pkg/models" }, banner: { controller: { name: "t", contact: "t@localhost" }, noticeUrl: "/p" } };
    const forced = await glance.AudienceEngine.create({ ...options, thread: "worker" }).then(() => null, (e) => [e.name, e.message]);
    const engine = await glance.AudienceEngine.create(options);
    const faces = (await engine.processFrame(new ImageData(64, 48), 0)).faces.length;
    const result = { forced, thread: engine.thread, reason: engine.threadReason, faces, notices: document.querySelectorAll("glance-disclosure").length };
    await engine.close();
    return result;
  });
  assert.deepEqual(out.forced, ["BackendUnavailableError", "this browser has no Web Workers"]);
  assert.equal(out.thread, "main");
  assert.equal(out.reason, "this browser has no Web Workers");
  assert.equal(out.faces, 0);
  assert.equal(out.notices, 1, "one notice, shown by the engine on the page's thread");
  assert.deepEqual(errors, []);
  await context.close();
});
