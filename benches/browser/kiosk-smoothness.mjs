// How smooth the kiosk page stays while the engine analyses, in headless Chromium (CPU backend):
// the kiosk plays a video ad on a loop while a clip of groups of people (../shared/eval/video's
// clip2, or CLIP=path) stands in for the camera (`?video=`). For the engine on the page's thread
// (`?thread=main`) and in its worker (the default), over BENCH_SECONDS (30) after the first analysed
// frame: the longest main-thread task and how many took over 50 ms, animation-frame gaps over
// 50 and 100 ms, the video ad's dropped frames, analysed frames per second; and memory at the
// start, each minute and at the end (the page's JS heap, and the resident memory of the
// benchmark's Chromium, and the engine module's own WebAssembly memory, `engine.memoryBytes`),
// for BENCH_SECONDS=600 runs that look for growth. Each long animation frame (over 50 ms) is
// attributed to the scripts that ran in it, so a late frame the engine's code caused shows as
// such (`engineLongFrames`: the package's scripts or the kiosk's camera-frame callback).
// Run after `scripts/build-web`: `node benches/browser/kiosk-smoothness.mjs`
// (writes target/kiosk-smoothness.json). THREADS=main,worker,camera,idle picks the runs (camera:
// the same clip playing in the kiosk's camera element, nothing analysed: what decoding the camera
// costs the page; idle: no camera, nothing analysed: the page's own drops and late frames on this
// machine).
import { execFileSync } from "node:child_process";
import { access, mkdir, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, startServer } from "../../www/tests/browser.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLIP = process.env.CLIP ?? join(ROOT, "../shared/eval/video/clip2_voc_groups.mp4");
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const THREADS = (process.env.THREADS ?? "main,worker,camera,idle").split(",");

/** One video ad on a loop: its playback shows every frame the page drops. */
const VIDEO_AD_RULES = {
  version: 1,
  timeZone: "UTC",
  ads: [{ id: "spot", media: "/ads/sneaker-spot.webm", kind: "video", durationS: 4 }],
  defaultLoop: ["spot"],
  rules: [],
};

/** Installed in the page before its scripts: long tasks, animation-frame gaps, ad playback. */
function watchSmoothness() {
  const watch = { longTasks: [], longFrames: [], rafGaps: [], ads: new Map(), from: 0 };
  window.__smoothness = watch;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.startTime >= watch.from) watch.longTasks.push(entry.duration);
  }).observe({ type: "longtask" });
  // Long animation frames (over 50 ms) and the scripts that ran in each: whose work made it late.
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.startTime < watch.from) continue;
      watch.longFrames.push({
        durationMs: Math.round(entry.duration),
        blockingMs: Math.round(entry.blockingDuration),
        scripts: entry.scripts.map((s) => ({ source: s.sourceURL.replace(location.origin, ""), invoker: s.invoker, durationMs: Math.round(s.duration) })),
      });
    }
  }).observe({ type: "long-animation-frame" });
  let last = null;
  const frame = (t) => {
    if (last !== null && t >= watch.from) watch.rafGaps.push(t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  // Each ad video's decoded and dropped frames, sampled: a finished ad's element goes away.
  setInterval(() => {
    for (const video of document.querySelectorAll("#stage video")) {
      const q = video.getVideoPlaybackQuality?.();
      if (q) watch.ads.set(video, { total: q.totalVideoFrames, dropped: q.droppedVideoFrames });
    }
  }, 200);
}

/** Resident memory of this benchmark's Chromium (every process descending from this one), MB. */
function chromiumRssMb() {
  const rows = execFileSync("ps", ["-e", "-o", "pid=,ppid=,rss="]).toString().trim().split("\n");
  const procs = rows.map((r) => r.trim().split(/\s+/).map(Number));
  const ours = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of procs) if (ours.has(ppid) && !ours.has(pid)) { ours.add(pid); grew = true; }
  }
  const kb = procs.filter(([pid]) => pid !== process.pid && ours.has(pid)).reduce((n, [, , rss]) => n + rss, 0);
  return Math.round(kb / 1024);
}

async function run(browser, server, thread) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(`${server.url}/tests/blank.html`);
  await page.evaluate(async (doc) => {
    const { KEYS, save } = await import("/lib/store.js");
    await save(KEYS.rules, doc);
  }, VIDEO_AD_RULES);
  await context.addInitScript(watchSmoothness);
  // "idle": the same page with no camera, so nothing is analysed: what the page drops anyway;
  // "camera": that page with the clip playing in its camera element, still nothing analysed.
  const analysing = thread !== "idle" && thread !== "camera";
  await page.goto(analysing ? `${server.url}/kiosk/?video=/media/${basename(CLIP)}&thread=${thread}` : `${server.url}/kiosk/`);
  const cdp = await context.newCDPSession(page);
  const heapMb = async () => Math.round((await cdp.send("Runtime.getHeapUsage")).usedSize / 1e6);
  if (!analysing) await page.waitForFunction(() => window.glanceKiosk?.status.engine.ready && document.querySelector("#stage video"), null, { timeout: 180_000, polling: 250 });
  else await page.waitForFunction(() => window.glanceKiosk?.status.counters.frames >= 3, null, { timeout: 180_000, polling: 250 });
  if (thread === "camera") {
    await page.evaluate(async (src) => {
      const video = /** @type {HTMLVideoElement} */ (document.getElementById("camera"));
      video.loop = true;
      video.src = src;
      await video.play();
    }, `/media/${basename(CLIP)}`);
  }
  const wasmMb = () => page.evaluate(() => {
    const bytes = window.glanceKiosk.status.engine.memoryBytes;
    return bytes ? Math.round(bytes / 1e6) : null;
  });
  // Measure from here: the engine has started and analyses.
  const start = await page.evaluate(() => {
    const s = window.glanceKiosk.status;
    window.__smoothness.from = performance.now();
    window.__smoothness.ads.clear();
    return { frames: s.counters.frames, thread: s.thread, backend: s.engine.backend };
  });
  const memoryAtStart = { pageHeapMb: await heapMb(), chromiumRssMb: chromiumRssMb(), wasmMb: await wasmMb() };
  // Memory once a minute (and at the end): growth, as opposed to the first minute's warm-up.
  const memorySeries = [];
  for (let left = SECONDS; left > 0; left -= 60) {
    await page.waitForTimeout(Math.min(60, left) * 1000);
    memorySeries.push({ atS: SECONDS - left + Math.min(60, left), pageHeapMb: await heapMb(), chromiumRssMb: chromiumRssMb(), wasmMb: await wasmMb() });
  }
  const out = await page.evaluate(() => {
    const w = window.__smoothness;
    const s = window.glanceKiosk.status;
    const ads = [...w.ads.values()];
    return {
      frames: s.counters.frames,
      present: s.audience?.present ?? null,
      longTasks: w.longTasks,
      longFrames: w.longFrames,
      rafGaps: w.rafGaps,
      adFrames: ads.reduce((n, a) => n + a.total, 0),
      adDropped: ads.reduce((n, a) => n + a.dropped, 0),
    };
  });
  const memoryAtEnd = { pageHeapMb: await heapMb(), chromiumRssMb: chromiumRssMb(), wasmMb: await wasmMb() };
  await context.close();
  const gaps = out.rafGaps;
  // A late frame is the engine's when its scripts took most of it: the package's files, or the
  // kiosk's camera-frame callback (which, on the page's thread, runs the networks).
  const isEngine = (s) => s.source.startsWith("/pkg/") || s.invoker === "VideoFrameRequestCallback";
  const engineLongFrames = out.longFrames.filter((f) => {
    const engineMs = f.scripts.filter(isEngine).reduce((n, s) => n + s.durationMs, 0);
    return engineMs > f.durationMs / 2;
  });
  const longest = [...out.longFrames].sort((a, b) => b.durationMs - a.durationMs).slice(0, 3);
  return {
    thread: start.thread,
    backend: start.backend,
    seconds: SECONDS,
    analysedFps: (out.frames - start.frames) / SECONDS,
    longestTaskMs: Math.round(Math.max(0, ...out.longTasks)),
    tasksOver50Ms: out.longTasks.length,
    longAnimationFrames: out.longFrames.length,
    engineLongFrames: engineLongFrames.length,
    longestAnimationFrames: longest,
    animationFrames: gaps.length,
    gapsOver50Ms: gaps.filter((g) => g > 50).length,
    gapsOver100Ms: gaps.filter((g) => g > 100).length,
    adFrames: out.adFrames,
    adFramesDropped: out.adDropped,
    presentAtEnd: out.present,
    memoryAtStart,
    memoryAtEnd,
    memorySeries,
  };
}

await access(CLIP).catch(() => {
  console.error(`kiosk-smoothness: no clip at ${CLIP} (set CLIP=...)`);
  process.exit(2);
});
const server = await startServer({ media: dirname(CLIP) });
const browser = await launch();
const results = {};
try {
  for (const thread of THREADS) {
    const r = await run(browser, server, thread);
    results[thread] = r;
    const pct = (n) => ((100 * n) / Math.max(1, r.animationFrames)).toFixed(1);
    console.log(
      `${thread} (engine on ${r.thread}, ${r.backend}): ${r.analysedFps.toFixed(1)} analysed fps; longest main-thread task ${r.longestTaskMs} ms, ` +
        `${r.tasksOver50Ms} tasks > 50 ms; ${r.longAnimationFrames} long animation frames, ${r.engineLongFrames} of them the engine's ` +
        `(longest: ${r.longestAnimationFrames.map((f) => `${f.durationMs} ms [${f.scripts.map((s) => `${s.invoker} ${s.durationMs} ms`).join("; ")}]`).join(", ")}); animation frames late > 50 ms ${r.gapsOver50Ms} (${pct(r.gapsOver50Ms)} %), > 100 ms ${r.gapsOver100Ms} (${pct(r.gapsOver100Ms)} %) of ${r.animationFrames}; ` +
        `video ad dropped ${r.adFramesDropped} of ${r.adFrames} frames; ${r.presentAtEnd} present at the end; ` +
        `page JS heap ${r.memoryAtStart.pageHeapMb} -> ${r.memoryAtEnd.pageHeapMb} MB, Chromium resident ${r.memoryAtStart.chromiumRssMb} -> ${r.memoryAtEnd.chromiumRssMb} MB` +
        ` (each minute: ${r.memorySeries.map((m) => m.chromiumRssMb).join(", ")} MB); engine wasm memory ` +
        `${r.memoryAtStart.wasmMb} -> ${r.memoryAtEnd.wasmMb} MB (each minute: ${r.memorySeries.map((m) => m.wasmMb).join(", ")} MB)`,
    );
  }
} finally {
  await browser.close();
  await server.close();
}
await mkdir(join(ROOT, "target"), { recursive: true });
await writeFile(join(ROOT, "target/kiosk-smoothness.json"), JSON.stringify({ clip: CLIP, results }, null, 2) + "\n");
