// Browser benchmark of the wasm engine in headless Chromium: cold start (page load to the first
// analysed frame, empty cache) and ms per 640x480 frame with 1 and 5 faces, per backend.
// Run after `scripts/build-web`: `node benches/browser/engine.mjs` (writes target/browser-bench.json).
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const { chromium } = createRequire(join(ROOT, "www/package.json"))("playwright-core");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".jpg": "image/jpeg", ".bpk": "application/octet-stream" };
const FRAMES = { cpu: Number(process.env.FRAMES_CPU ?? 20), webgpu: Number(process.env.FRAMES_GPU ?? 3) };

const server = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
  try {
    const body = await readFile(join(ROOT, path));
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic", "--enable-unsafe-webgpu"],
});

const results = {};
for (const backend of ["cpu", "webgpu"]) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageStart = Date.now();
  await page.goto(`${origin}/www/tests/blank.html`);
  const out = await page.evaluate(async ({ backend, frames, pageStart }) => {
    const glance = await import("/pkg/glance.js");
    await glance.default();
    const engine = await glance.AudienceEngine.create({ backend, models: { baseUrl: "/pkg/models", cache: false }, banner: { controller: { name: "Glance bench", contact: "bench@localhost" }, noticeUrl: "/privacy.html" } });
    const picture = await createImageBitmap(await (await fetch("/tests/fixtures/astronaut.jpg")).blob());
    // The same frames as benches/vision_speed.rs: the astronaut pasted on grey 640x480.
    const compose = (side, positions) => {
      const canvas = new OffscreenCanvas(640, 480);
      const ctx = canvas.getContext("2d");
      ctx.fillStyle = "rgb(128,128,128)";
      ctx.fillRect(0, 0, 640, 480);
      for (const [x, y] of positions) ctx.drawImage(picture, x, y, side, side);
      return ctx.getImageData(0, 0, 640, 480);
    };
    const one = compose(480, [[80, 0]]);
    const five = compose(240, [[0, 0], [200, 0], [400, 0], [100, 240], [300, 240]]);
    let t = 0;
    const first = await engine.processFrame(one, (t += 66));
    const coldStartMs = Date.now() - pageStart;
    const time = async (image) => {
      const ms = [];
      let faces = 0;
      await engine.processFrame(image, (t += 66));
      for (let i = 0; i < frames; i++) {
        const started = performance.now();
        faces = (await engine.processFrame(image, (t += 66))).faces.length;
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      return { faces, medianMs: ms[Math.floor(ms.length / 2)], p95Ms: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.95))], frames };
    };
    return { backend: engine.backend, coldStartMs, firstFrameFaces: first.faces.length, oneFace: await time(one), fiveFaces: await time(five) };
  }, { backend, frames: FRAMES[backend], pageStart });
  results[backend] = out;
  console.log(`${backend}: cold start ${out.coldStartMs} ms; 1 face ${out.oneFace.medianMs.toFixed(1)} ms (found ${out.oneFace.faces}); 5 faces ${out.fiveFaces.medianMs.toFixed(1)} ms (found ${out.fiveFaces.faces})`);
  await context.close();
}
await browser.close();
server.close();
const sizes = JSON.parse(await readFile(join(ROOT, "target/web-sizes.json"), "utf8").catch(() => "{}"));
await mkdir(join(ROOT, "target"), { recursive: true });
await writeFile(join(ROOT, "target/browser-bench.json"), JSON.stringify({ ...sizes, ...results }, null, 2) + "\n");
console.log(JSON.stringify(sizes));
