// What every browser test shares: the pages' own server (www/serve.mjs), headless Chromium with
// the flags that work on a closed network, an optional fake camera, and a context that refuses
// and records every request leaving the local server.
import { mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { serve } from "../serve.mjs";

export const CHROMIUM_ARGS = ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"];

/** Starts the pages' server on a free port; `{ url, close }`. */
export function startServer(options = {}) {
  return serve({ port: 0, ...options });
}

const REPOSITORY_TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".jpg": "image/jpeg", ".png": "image/png", ".bpk": "application/octet-stream" };

/**
 * Serves the files under `root` (the repository: pkg/, tests/fixtures/, examples/) as they are,
 * with no compression and no rewriting, on a free port; `{ origin, close }`.
 */
export async function serveRepository(root) {
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { "content-type": REPOSITORY_TYPES[extname(path)] ?? "application/octet-stream", "content-length": body.length });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
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
