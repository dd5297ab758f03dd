// The npm package where its users have it: the packed tarball (npm pack) installed into a Vite
// app (examples/vite-app), type-checked with `tsc --strict`, bundled, and run in headless
// Chromium; and the same installed package imported by plain ES modules from node_modules.
// Needs scripts/build-web to have built pkg/ and `npm ci` in examples/vite-app (scripts/dev does both).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, guardNetwork, collectErrors, serveRepository } from "./browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const APP = join(ROOT, "examples/vite-app");

const sh = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

let server;
let origin;
let browser;
let tarball;

before(async () => {
  // The tarball exactly as `npm publish` would upload it, installed as a user installs it.
  const packDir = join(ROOT, "target/pack");
  rmSync(packDir, { recursive: true, force: true });
  mkdirSync(packDir, { recursive: true });
  const [packed] = JSON.parse(sh("npm", ["pack", join(ROOT, "pkg"), "--pack-destination", packDir, "--json"], ROOT));
  tarball = { path: join(packDir, packed.filename), files: packed.files.map((f) => f.path), size: packed.size, unpackedSize: packed.unpackedSize };
  sh("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefer-offline", tarball.path], APP);

  server = await serveRepository(ROOT);
  origin = server.origin;
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the tarball holds the entry, its declarations first in exports, both engine modules, the models and the schema", () => {
  const manifest = JSON.parse(readFileSync(join(APP, "node_modules/glance/package.json"), "utf8"));
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "default"], "types first, as TypeScript requires");
  for (const file of ["glance.js", "glance_modules.js", "glance_threads.js", "glance.d.ts", "glance_weights.js", "glance_worker.js", "glance_worker_cpu.js", "glance_worker_webgpu.js", "glance_cpu_bg.wasm", "glance_webgpu_bg.wasm", "models/centerface.bpk", "schemas/glance.schema.json"]) {
    assert.ok(tarball.files.includes(file), `${file} is packed`);
  }
  assert.ok(tarball.files.some((f) => /^snippets\/.+\/errors\.js$/.test(f)), "the error classes are packed");
  console.log(`npm pack: ${(tarball.size / 1e6).toFixed(2)} MB packed, ${(tarball.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${tarball.files.length} files`);
});

async function runPage(path) {
  const context = await browser.newContext();
  const network = await guardNetwork(context, origin);
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto(`${origin}${path}`);
  const outcome = await page.evaluate(() => window.glanceExample);
  await context.close();
  return { outcome, errors, network };
}

test("the Vite app type-checks under strict, bundles with no configuration for Glance, and runs: engine, frame, events, RulesValidationError", { timeout: 600_000 }, async () => {
  const typecheck = (() => {
    try {
      return { ok: true, out: sh(join(APP, "node_modules/.bin/tsc"), ["--noEmit", "-p", APP], APP) };
    } catch (e) {
      return { ok: false, out: `${e.stdout}${e.stderr}` };
    }
  })();
  assert.ok(typecheck.ok, typecheck.out);
  rmSync(join(APP, "dist"), { recursive: true, force: true });
  sh(join(APP, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], APP);
  const assets = readdirSync(join(APP, "dist/assets"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `the engine's wasm is in the bundle: ${assets}`);
  assert.equal(assets.filter((f) => f.endsWith(".bpk")).length, 6, `every model is in the bundle: ${assets}`);
  const js = assets.filter((f) => f.endsWith(".js"));
  const kb = (files) => Math.round(files.reduce((n, f) => n + statSync(join(APP, "dist/assets", f)).size, 0) / 1024);
  console.log(`vite build: ${js.length} JS chunks ${kb(js)} KiB, wasm ${kb(assets.filter((f) => f.endsWith(".wasm")))} KiB, models ${kb(assets.filter((f) => f.endsWith(".bpk")))} KiB`);

  const { outcome, errors, network } = await runPage("/examples/vite-app/dist/index.html");
  assert.deepEqual(errors, []);
  assert.deepEqual(network.foreign, []);
  assert.ok(network.all.some((u) => /\/dist\/assets\/.+\.wasm$/.test(u)), "the wasm came from the bundle");
  assert.ok(network.all.some((u) => /\/dist\/assets\/centerface-.+\.bpk$/.test(u)), "the weights came from the bundle");
  assert.equal(outcome.backend, "cpu");
  assert.equal(outcome.thread, "worker", "the bundled worker ran the engine");
  assert.equal(outcome.fineScanWorker, true, "the bundled worker started the fine scan's worker from its own URL");
  assert.equal(outcome.facesInFirstFrame, 1);
  assert.ok(outcome.firstFace.age > 10 && outcome.firstFace.age < 80, `age ${outcome.firstFace.age}`);
  const kinds = outcome.events.map((e) => e.split(":")[0]);
  assert.ok(kinds.includes("visitstart") && kinds.includes("visitend") && kinds.includes("audiencechange"), outcome.events.join(" "));
  assert.equal(outcome.visits.length, 1);
  assert.ok(outcome.visits[0].dwellS > 0.5, `dwell ${outcome.visits[0].dwellS}`);
  assert.deepEqual(outcome.lastSnapshot, { present: 0, watchers: 0 });
  assert.ok(outcome.rulesIssues?.some((i) => i.path === "$.rules[0].play.ad"), JSON.stringify(outcome.rulesIssues));
});

test("plain ES modules import the installed package from node_modules", { timeout: 300_000 }, async () => {
  const { outcome, errors, network } = await runPage("/examples/vite-app/plain.html");
  assert.deepEqual(errors, []);
  assert.deepEqual(network.foreign, []);
  assert.ok(network.all.some((u) => u.endsWith("/node_modules/glance/glance_cpu_bg.wasm")), network.all.join(" "));
  assert.deepEqual(outcome, { faces: 1, backend: "cpu", thread: "worker", configError: "pipeline.minDetectionScore" });
});
