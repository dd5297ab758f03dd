// Browser benchmark of the wasm engine in headless Chromium, per path (the CPU module, and the
// WebGPU module on whatever adapter Chromium offers: SwiftShader here):
// - bytes transferred, as the server sent them (www/serve.mjs: brotli), by a fresh page that
//   creates the engine and analyses one 640x480 frame, split into module, glue and models;
// - cold start by phase, from the `create` call: engine module compiled, models downloaded,
//   weights loaded, warm-up frame, first result; with the default options (detection and the
//   far-field scan on every frame) and, in a second fresh page, with the kiosk's pipeline
//   options (www/kiosk/config.json: video mode);
// - ms per 640x480 frame with 1 and 5 faces (video mode's frames paced at 15 fps, as a camera
//   gives them; image mode's back to back), the engine's mean per stage (its `timingsMs`), and
//   the median time outside it (crossing to the worker and back).
// The engine runs where `thread` "auto" puts it (a worker in Chromium); THREAD=main for the
// page's thread.
// Run after `scripts/build-web`: `node benches/browser/engine.mjs` (writes target/browser-bench.json).
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, startServer } from "../../www/tests/browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FRAMES = { cpu: Number(process.env.FRAMES_CPU ?? 20), webgpu: Number(process.env.FRAMES_GPU ?? 3) };
const PATHS = (process.env.PATHS ?? "cpu,webgpu").split(",");
const THREAD = process.env.THREAD ?? "auto";
const KIOSK_PIPELINE = JSON.parse(await readFile(join(ROOT, "www/kiosk/config.json"), "utf8")).pipeline ?? {};

const server = await startServer({ media: join(ROOT, "tests/fixtures") });
const browser = await launch({ webgpu: true });

function kindOf(url) {
  const path = new URL(url).pathname;
  if (path.endsWith(".wasm")) return "module";
  if (path.startsWith("/pkg/models/")) return "models";
  if (path.startsWith("/pkg/")) return "glue";
  return "page";
}

/** A fresh page (empty caches) that creates the engine with `pipeline` options and analyses
 * frames: bytes it was sent by kind, cold start by phase, and (when `frames`) ms per frame. */
async function measure(backend, pipeline, frames) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The context's requests include the engine worker's (the weights are fetched there).
  const bytes = { module: 0, glue: 0, models: 0, page: 0 };
  const sizing = [];
  context.on("requestfinished", (request) => {
    sizing.push(request.sizes().then((s) => { bytes[kindOf(request.url())] += s.responseBodySize + s.responseHeadersSize; }));
  });
  await page.goto(`${server.url}/tests/blank.html`);
  const out = await page.evaluate(async ({ backend, pipeline, frames, thread }) => {
    const phases = {};
    const started = performance.now();
    const at = () => Math.round(performance.now() - started);
    const glance = await import("/pkg/glance.js");
    const engine = await glance.AudienceEngine.create({
      backend,
      thread,
      pipeline,
      models: { onProgress: (p) => { phases[p.phase] = at(); } },
      banner: { controller: { name: "Glance bench", contact: "bench@localhost" }, noticeUrl: "/privacy.html" },
    });
    phases.created = at();
    const picture = await createImageBitmap(await (await fetch("/media/astronaut.jpg")).blob());
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
    // The picture's fetch and decode happened in between; they are not the engine's.
    const firstFrameMs = Math.round(performance.now() - started) - phases.created;
    const time = async (image) => {
      const ms = [];
      // Each frame's time outside the engine's own measurement: crossing to the worker and back.
      const outside = [];
      const stages = {};
      let faces = 0;
      let slowest = { ms: 0, stages: {} };
      await engine.processFrame(image, (t += 66));
      // Video mode gets its frames as a camera gives them, one every 66 ms (15 fps, the
      // timestamps' pace), so that work the engine does beside its frames (the fine scan's
      // second worker) runs between them as in a kiosk; image mode one after another.
      const paced = (pipeline?.detectionIntervalMs ?? 0) > 0;
      const firstAt = performance.now();
      for (let i = 0; i < frames; i++) {
        if (paced) await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstAt + i * 66 - performance.now())));
        const begun = performance.now();
        const result = await engine.processFrame(image, (t += 66));
        ms.push(performance.now() - begun);
        outside.push(ms[ms.length - 1] - result.timingsMs.total);
        faces = result.faces.length;
        // Where the engine's time went, by stage (the rest of `ms` is crossing to the worker).
        for (const [stage, value] of Object.entries(result.timingsMs)) stages[stage] = (stages[stage] ?? 0) + value / frames;
        if (ms[ms.length - 1] > slowest.ms) slowest = { ms: ms[ms.length - 1], stages: result.timingsMs };
      }
      ms.sort((a, b) => a - b);
      outside.sort((a, b) => a - b);
      return { faces, medianMs: ms[Math.floor(ms.length / 2)], p95Ms: ms[Math.min(ms.length - 1, Math.floor(ms.length * 0.95))], outsideMedianMs: outside[Math.floor(outside.length / 2)], frames, stages, slowest };
    };
    return {
      backend: engine.backend, thread: engine.thread, modules: glance.requestedModules(), phases, firstFrameMs,
      createToFirstResultMs: phases.created + firstFrameMs, firstFrameFaces: first.faces.length,
      ...(frames ? { oneFace: await time(one), fiveFaces: await time(five) } : {}),
    };
  }, { backend, pipeline, frames, thread: THREAD });
  await Promise.all(sizing);
  out.transferred = { ...bytes, engine: bytes.module + bytes.glue + bytes.models };
  await context.close();
  return out;
}

const mb = (n) => (n / 1e6).toFixed(2);
/** The engine's mean ms per frame by stage (its `timingsMs`), as one line. */
const stageLine = (stages) => Object.entries(stages).map(([stage, ms]) => `${stage} ${ms.toFixed(1)}`).join(", ");
const coldStart = (out) => {
  const p = out.phases;
  return `create -> first result ${out.createToFirstResultMs} ms: module ${p.module}, models downloaded ${p.download}, weights loaded ${p.load}${p.warmup === undefined ? "" : `, warm-up ${p.warmup}`}, created ${p.created}, first frame +${out.firstFrameMs} (${out.firstFrameFaces} face)`;
};
/** Per frame with 1 and 5 faces: median, p95, the mean by stage and the slowest frame's stages. */
const perFrame = (out) => {
  for (const [label, frames] of [["1 face", out.oneFace], ["5 faces", out.fiveFaces]]) {
    console.log(`  per frame, ${label}: median ${frames.medianMs.toFixed(1)} ms, p95 ${frames.p95Ms.toFixed(1)} (found ${frames.faces}); outside the engine's own time, median ${frames.outsideMedianMs.toFixed(1)} ms`);
    console.log(`    mean by stage: ${stageLine(frames.stages)}`);
    console.log(`    slowest frame ${frames.slowest.ms.toFixed(1)} ms: ${stageLine(frames.slowest.stages)}`);
  }
};
const results = {};
for (const backend of PATHS) {
  const out = await measure(backend, {}, FRAMES[backend]);
  const bytes = out.transferred;
  console.log(`${backend} (${out.modules.join("+")} module, backend ${out.backend}, engine on the ${out.thread} thread): transferred ${mb(bytes.engine)} MB (module ${mb(bytes.module)}, glue ${mb(bytes.glue)}, models ${mb(bytes.models)})`);
  console.log(`  default options: ${coldStart(out)}`);
  perFrame(out);
  out.kiosk = await measure(backend, KIOSK_PIPELINE, FRAMES[backend]);
  console.log(`  kiosk options ${JSON.stringify(KIOSK_PIPELINE)}: ${coldStart(out.kiosk)}`);
  perFrame(out.kiosk);
  results[backend] = out;
}
await browser.close();
await server.close();
const sizes = JSON.parse(await readFile(join(ROOT, "target/web-sizes.json"), "utf8").catch(() => "{}"));
await mkdir(join(ROOT, "target"), { recursive: true });
await writeFile(join(ROOT, "target/browser-bench.json"), JSON.stringify({ sizes, ...results }, null, 2) + "\n");
