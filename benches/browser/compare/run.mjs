#!/usr/bin/env node
// Glance against the face libraries a web developer would pick instead: the same composed frames
// in the same headless Chromium, one run. Per library and task: cold start (loading the library
// and its models up to the first result), median and p95 ms per frame, frames per second and the
// ratio to Glance's median on the same frames.
//
//   bash benches/browser/compare/setup.sh          # once: the libraries and models (registries)
//   node benches/browser/compare/run.mjs [--frames 30] [--gpu-frames 3] [--only glance,human/full]
//                                        [--webgl] [--sizes 640x480,1280x720]
//                                        [--out target/browser-compare.json]
//                                        [--preview DIR]   (writes the frames as PNGs and stops)
//
// Needs pkg/ (scripts/build-web), www/node_modules (playwright-core) and ../shared/eval.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serve, ROOT } from "./server.mjs";
import { CHROMIUM_ARGS } from "../../../www/tests/browser.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const { chromium } = createRequire(join(ROOT, "www/package.json"))("playwright-core");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const FRAMES = Number(option("--frames", 30));
const GPU_FRAMES = Number(option("--gpu-frames", 3));
const ONLY = option("--only", "").split(",").filter(Boolean);
const OUT = resolve(option("--out", join(ROOT, "target/browser-compare.json")));
const EVAL = resolve(option("--eval", process.env.GLANCE_EVAL ?? join(ROOT, "../shared/eval")));
const PREVIEW = option("--preview", null);
const SIZES = option("--sizes", "640x480,1280x720").split(",").map((s) => s.split("x").map(Number));
const CASES = SIZES.flatMap(([width, height]) => [1, 0, 5].map((faces) => ({ width, height, faces })));

// What each row computes per frame. Glance's reference for the ratio is the row of the same task.
const COMPUTES = {
  "glance/detector": "BlazeFace short range (128 px): boxes and six keypoints (faceMesh and ageGender off)",
  "glance/full": "BlazeFace full + short range, 468-point mesh, irises, head pose, eye gaze, distance, age, gender, audience tracking",
  "glance/video": "the full pipeline in video mode: faces followed by their mesh, detectors every 500 ms (detectionIntervalMs)",
  "glance/full-coarse": "glance/full without the fine scan (minFaceHeight 0): what the far-field detection costs",
  "glance/video-coarse": "glance/video without the fine scan (minFaceHeight 0)",
  "glance/video-one-worker": "glance/video with the fine scan in the engine's worker (fineScanWorker false): one core instead of two",
  "mediapipe/detector": "FaceDetector: BlazeFace short range (128 px)",
  "mediapipe/video": "FaceLandmarker in VIDEO mode (detectForVideo): faces followed by their landmarks, the detector only when a face is lost",
  "mediapipe/full": "FaceLandmarker: BlazeFace short range + 478-point mesh with irises + head transform matrix; no age/gender (MediaPipe has none)",
  "human/detector": "BlazeFace back model (256 px)",
  "human/full": "BlazeFace + 468-point FaceMesh + iris + FaceRes (age, gender, face descriptor) + head rotation and gaze",
  "faceapi/detector": "TinyFaceDetector (416 px)",
  "faceapi/full": "TinyFaceDetector + 68 landmarks + age/gender; no irises, head pose or gaze",
};
const ROWS = [
  { lib: "glance", task: "detector", backend: "cpu" },
  { lib: "glance", task: "full", backend: "cpu" },
  { lib: "glance", task: "video", backend: "cpu" },
  { lib: "glance", task: "full-coarse", backend: "cpu" },
  { lib: "glance", task: "video-coarse", backend: "cpu" },
  { lib: "glance", task: "video-one-worker", backend: "cpu" },
  // SwiftShader's WebGPU runs on the CPU: seconds per frame, so only a few frames, and no warm-up
  // frame per case (the cold-start frame already ran every network; the GPU's shapes do not
  // depend on the frame size).
  { lib: "glance", task: "full", backend: "webgpu", frames: GPU_FRAMES, warmup: 0 },
  { lib: "mediapipe", task: "detector", backend: "cpu" },
  { lib: "mediapipe", task: "full", backend: "cpu" },
  { lib: "mediapipe", task: "video", backend: "cpu" },
  { lib: "human", task: "detector", backend: "wasm" },
  { lib: "human", task: "full", backend: "wasm" },
  { lib: "faceapi", task: "detector", backend: "wasm" },
  { lib: "faceapi", task: "full", backend: "wasm" },
  // WebGL on SwiftShader (CPU-emulated GPU): only with --webgl, a few frames.
  ...(args.includes("--webgl")
    ? [
        { lib: "mediapipe", task: "full", backend: "gpu", frames: GPU_FRAMES, warmup: 0 },
        { lib: "human", task: "full", backend: "webgl", frames: GPU_FRAMES, warmup: 0 },
        { lib: "faceapi", task: "full", backend: "webgl", frames: GPU_FRAMES, warmup: 0 },
      ]
    : []),
].filter((r) => !ONLY.length || ONLY.some((o) => `${r.lib}/${r.task}/${r.backend}`.startsWith(o)));

for (const [what, path] of [
  ["pkg/ (run scripts/build-web)", join(ROOT, "pkg/glance.js")],
  ["www/node_modules (npm ci in www/)", join(ROOT, "www/node_modules/playwright-core")],
  ["the libraries and models (run benches/browser/compare/setup.sh)", join(HERE, "models/face_landmarker.task")],
  ["the libraries and models (run benches/browser/compare/setup.sh)", join(HERE, "node_modules/@vladmandic/human")],
  [`the evaluation photos (${EVAL}; --eval DIR)`, join(EVAL, "fairface-dev/labels.csv")],
]) {
  if (!existsSync(path)) {
    console.error(`missing ${what}: ${path}`);
    process.exit(2);
  }
}

// The engine analyses only while its disclosure notice shows.
const BANNER = { controller: { name: "Glance bench", contact: "bench@localhost" }, noticeUrl: "/privacy.html" };
const version = (pkg) => JSON.parse(readFileSync(join(HERE, "node_modules", pkg, "package.json"), "utf8")).version;

const server = await serve({ evalDir: EVAL });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [...CHROMIUM_ARGS, "--enable-unsafe-webgpu"],
});

/** A fresh context (empty caches) whose requests may only go to the local server. */
async function openPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const foreign = [];
  await context.route((url) => !url.href.startsWith(server.url), (route) => {
    foreign.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // MediaPipe logs its informational messages as console errors; keep the real ones.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("INFO:") && errors.push(m.text()));
  await page.goto(`${server.url}/index.html`);
  return { context, page, errors, foreign };
}

if (PREVIEW) {
  const { context, page } = await openPage();
  const urls = await page.evaluate(async (cases) => (await import("/bench.mjs")).previewFrames(cases), CASES);
  await mkdir(PREVIEW, { recursive: true });
  for (const [i, c] of CASES.entries()) {
    const file = join(PREVIEW, `${c.width}x${c.height}-${c.faces}faces.png`);
    await writeFile(file, Buffer.from(urls[i].split(",")[1], "base64"));
    console.log(file);
  }
  await context.close();
  await browser.close();
  await server.close();
  process.exit(0);
}

const startLoad = loadavg()[0];
const rows = [];
for (const row of ROWS) {
  const frames = row.frames ?? FRAMES;
  const name = `${row.lib}/${row.task}/${row.backend}`;
  process.stdout.write(`${name}: ${frames} frames per case ... `);
  const { context, page, errors, foreign } = await openPage();
  let result;
  try {
    result = await page.evaluate(
      async (params) => (await import("/bench.mjs")).runRow(params),
      { lib: row.lib, task: row.task, backend: row.backend, banner: BANNER, cases: CASES, frames, warmup: row.warmup ?? 1 },
    );
    console.log(`cold start ${Math.round(result.coldStartMs)} ms`);
  } catch (e) {
    result = { error: String(e.message ?? e).split("\n")[0] };
    console.log(`failed: ${result.error}`);
  }
  if (errors.length) result.pageErrors = errors.slice(0, 5);
  if (foreign.length) result.blockedRequests = foreign;
  rows.push({ library: row.lib, task: row.task, requestedBackend: row.backend, computes: COMPUTES[`${row.lib}/${row.task}`], warmupFramesPerCase: row.warmup ?? 1, ...result });
  await context.close();
}
const chromiumVersion = browser.version();
await browser.close();
await server.close();

// Ratio to Glance: the row's median over Glance's CPU median for the same task and frames
// (below 1: faster than Glance; above 1: slower).
const reference = (task, c) =>
  rows.find((r) => r.library === "glance" && r.task === task && r.requestedBackend === "cpu" && r.cases)?.cases.find(
    (x) => x.width === c.width && x.height === c.height && x.faces === c.faces,
  );
for (const r of rows) {
  for (const c of r.cases ?? []) {
    const ref = reference(r.task, c);
    c.vsGlance = ref ? c.medianMs / ref.medianMs : null;
  }
}

const report = {
  date: new Date().toISOString(),
  chromium: chromiumVersion,
  cpu: `${cpus().length} x ${cpus()[0]?.model ?? "?"}`,
  loadAverageAtStart: startLoad,
  loadAverageAtEnd: loadavg()[0],
  framesPerCase: FRAMES,
  gpuFramesPerCase: GPU_FRAMES,
  glanceBanner: Boolean(BANNER),
  versions: {
    glance: JSON.parse(readFileSync(join(ROOT, "pkg/package.json"), "utf8")).version,
    "@mediapipe/tasks-vision": version("@mediapipe/tasks-vision"),
    "@vladmandic/human": version("@vladmandic/human"),
    "@vladmandic/face-api": version("@vladmandic/face-api"),
    "@tensorflow/tfjs-backend-wasm": version("@tensorflow/tfjs-backend-wasm"),
  },
  notes: [
    "coldStartMs: from importing the library in a fresh browser context (empty caches) to its first result on a 640x480 one-face frame; includes fetching and compiling Wasm and models from localhost.",
    "medianMs/p95Ms/fps: per frame, after warmupFramesPerCase untimed frames per case; fps = frames / total time, frames processed one after the other.",
    "blockedRequests: requests to other hosts, refused (MediaPipe Tasks posts usage logs to a Google endpoint unless blocked).",
    "vsGlance: median ms over Glance's CPU median for the same task and case; < 1 is faster than Glance.",
    "found: faces each library reported per frame (min/median/max) against `faces` in the frame.",
    "Frames: 0 faces = synthetic shelves; 1 face = one FairFace photo (CC BY 4.0); 5 faces = two PASCAL VOC group photos side by side (3 + 2 annotated faces).",
  ],
  rows,
};
await mkdir(join(OUT, ".."), { recursive: true });
await writeFile(OUT, JSON.stringify(report, null, 2) + "\n");

const pad = (s, n) => String(s).padEnd(n);
const num = (v, d = 0) => (v == null ? "-" : v.toFixed(d));
console.log(`\n${pad("library/task/backend", 28)}${pad("frame", 10)}${pad("faces", 7)}${pad("found", 7)}${pad("cold ms", 9)}${pad("med ms", 9)}${pad("p95 ms", 9)}${pad("fps", 7)}x Glance`);
for (const r of rows) {
  const name = `${r.library}/${r.task}/${r.requestedBackend}`;
  if (!r.cases) {
    console.log(`${pad(name, 28)}failed: ${r.error}`);
    continue;
  }
  for (const c of r.cases) {
    console.log(
      `${pad(name, 28)}${pad(`${c.width}x${c.height}`, 10)}${pad(c.faces, 7)}${pad(c.found.median, 7)}${pad(num(r.coldStartMs), 9)}` +
        `${pad(num(c.medianMs, 1), 9)}${pad(num(c.p95Ms, 1), 9)}${pad(num(c.fps, 1), 7)}${num(c.vsGlance, 2)}`,
    );
  }
}
// Where Glance's time went, case by case (the engine's own measurements, mean ms a frame).
for (const r of rows) {
  for (const c of (r.cases ?? []).filter((c) => c.stagesMs)) {
    const stages = Object.entries(c.stagesMs).filter(([stage, ms]) => stage !== "total" && ms >= 0.05);
    const list = (entries) => entries.filter(([stage, ms]) => stage !== "total" && ms >= 0.05).map(([stage, ms]) => `${stage} ${ms.toFixed(1)}`).join(", ");
    console.log(`${pad(`${r.library}/${r.task}/${r.requestedBackend}`, 28)}${pad(`${c.width}x${c.height}`, 10)}${pad(c.faces, 3)}by stage: ${list(stages)}`);
    for (const slow of c.slowest ?? []) console.log(`${pad("", 41)}slow frame ${slow.frame}, ${slow.ms.toFixed(1)} ms: ${list(Object.entries(slow.stagesMs))}`);
  }
}
console.log(`\nwrote ${OUT} (load average ${startLoad.toFixed(2)} at start, ${loadavg()[0].toFixed(2)} at end)`);
