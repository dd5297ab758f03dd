// What every browser test shares: the pages' own server (www/serve.mjs), headless Chromium with
// the flags that work on a closed network, an optional fake camera, and a context that refuses
// and records every request leaving the local server.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

export const CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"];

/** Starts the pages' server on a free port; `{ url, close }`. */
export function startServer(options = {}) {
  return serve({ port: 0, ...options });
}

/**
 * Launches headless Chromium. `camera`: absolute path of a .y4m the fake camera plays (looping);
 * `webgpu`: expose SwiftShader's WebGPU adapter.
 */
export function launch({ camera = null, webgpu = false, args = [] } = {}) {
  const all = [...CHROMIUM_ARGS, ...args];
  if (webgpu) all.push("--enable-unsafe-webgpu");
  if (camera) all.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${camera}`);
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, args: all });
}

/**
 * A persistent context (a real profile directory, so IndexedDB, the Cache API and service
 * workers behave as on a kiosk) with the same flags as `launch`.
 */
export function launchPersistent({ camera = null, webgpu = false, args = [], userDataDir = mkdtempSync(join(tmpdir(), "glance-profile-")), permissions } = {}) {
  const all = [...CHROMIUM_ARGS, ...args];
  if (webgpu) all.push("--enable-unsafe-webgpu");
  if (camera) all.push("--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${camera}`);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: all,
    permissions,
  });
}

/**
 * Records every request of `context` in the returned array and aborts those not addressed to
 * `origin`, so a test can assert that nothing left the machine.
 */
export async function guardNetwork(context, origin) {
  const foreign = [];
  const all = [];
  context.on("request", (r) => all.push(r.url()));
  await context.route((url) => !url.href.startsWith(origin), (route) => {
    foreign.push(route.request().url());
    return route.abort();
  });
  return { foreign, all };
}

/** Collects page errors and console errors of `page`. */
export function collectErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  return errors;
}
