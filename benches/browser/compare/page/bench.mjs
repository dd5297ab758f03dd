// One benchmark row in the page: compose the frames (not timed), load the library and take its
// first result (cold start), then per case `warmup` untimed frames and `frames` timed ones.
import { makeFrames } from "./frames.mjs";
import { ADAPTERS } from "./adapters.mjs";

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
/** The video rows' frames come as a camera's would: one every FRAME_INTERVAL_MS (15 fps, the
 * timestamps the adapters give), never before the last one is analysed. */
const FRAME_INTERVAL_MS = 66;
const until = (atMs) => new Promise((resolve) => setTimeout(resolve, Math.max(0, atMs - performance.now())));

export async function runRow({ lib, task, backend, banner, cases, frames, warmup = 1 }) {
  const prepared = [];
  const video = task.startsWith("video");
  for (const c of cases) prepared.push({ ...c, frames: await makeFrames(c.width, c.height, c.faces, frames, video) });
  // The cold start frame: the first case's first frame.
  const t0 = performance.now();
  const adapter = await ADAPTERS[lib]({ task, backend, banner });
  const firstFaces = await adapter.run(prepared[0].frames[0]);
  const coldStartMs = performance.now() - t0;
  const results = [];
  for (const c of prepared) {
    for (let i = 0; i < warmup; i++) await adapter.run(c.frames[c.frames.length - 1 - (i % c.frames.length)]);
    const ms = [];
    const found = [];
    // Glance says where its time went: the mean by stage.
    const stagesMs = {};
    // And on its two slowest frames (the p95's), where that time went.
    const slowest = [];
    const firstAt = performance.now();
    for (let i = 0; i < frames; i++) {
      const frame = c.frames[i % c.frames.length];
      if (video) await until(firstAt + i * FRAME_INTERVAL_MS);
      const started = performance.now();
      found.push(await adapter.run(frame));
      ms.push(performance.now() - started);
      for (const [stage, value] of Object.entries(adapter.stages ?? {})) stagesMs[stage] = (stagesMs[stage] ?? 0) + value / frames;
      if (adapter.stages) slowest.push({ frame: i, ms: ms[ms.length - 1], stagesMs: adapter.stages });
    }
    const sorted = [...ms].sort((a, b) => a - b);
    // Time analysing (not waiting for the next frame): fps is what the library could keep up with.
    const total = ms.reduce((a, b) => a + b, 0);
    results.push({
      width: c.width,
      height: c.height,
      faces: c.faces,
      found: { min: Math.min(...found), max: Math.max(...found), median: quantile([...found].sort((a, b) => a - b), 0.5) },
      frames,
      medianMs: quantile(sorted, 0.5),
      p95Ms: quantile(sorted, 0.95),
      meanMs: total / frames,
      ...(adapter.stages ? { stagesMs, slowest: slowest.sort((a, b) => b.ms - a.ms).slice(0, 2) } : {}),
      fps: (1000 * frames) / total,
    });
  }
  await adapter.close();
  return { backend: adapter.backend, coldStartMs, firstFaces, crossOriginIsolated, cases: results };
}

/** For looking at the frames: one PNG data URL per case. */
export async function previewFrames(cases) {
  const out = [];
  for (const c of cases) out.push((await makeFrames(c.width, c.height, c.faces, 1))[0].canvas.toDataURL("image/png"));
  return out;
}
