// The engine's Worker (pkg/glance_worker.js), started by the entry module (glance.js) for
// `thread: "worker"` through one small entry per engine module (pkg/glance_worker_cpu.js and
// glance_worker_webgpu.js, written by scripts/build-web), so a worker imports only the glue of
// the module it runs. It runs the engine module the page compiled (sent as a WebAssembly.Module,
// so nothing is downloaded or compiled twice), fetches the weights itself, and answers the
// page's calls one message each. The disclosure notice stays on the page: every frame comes with
// the page's verdict, measured before the frame was taken, and is analysed only when it says the
// notice was readable. Frames arrive transferred and are closed here after use.
//
// The fine scan (CenterFace looking for small faces, a band of the frame at a time) runs in a
// second worker where the engine runs on the CPU and the browser has more than one core: this
// same file, told so by a "scanner" message. After each frame the engine hands out the band it
// cut from it; the scanner scans it while the engine goes on, and its detections are given back
// before the frame they join (`joinsAtMs`, 100 ms later). The results are the same as when the
// engine scans the band itself; only the time moves to the other core. The band's pixels are
// transferred, not copied, and dropped once scanned.
//
// Messages in:  { id, method: "create", options, fineScanWorker }, then { type: "module", module };
//               { id, method: "processFrame", frame, timestampMs, notice };
//               { id, method, args } for the engine's other methods.
// Messages out: { type: "progress", progress }; { id, value } or { id, error } with the
//               engine's `backend`, `fallbackReason`, `memoryBytes` and `fineScanWorker`, and
//               for frames the engine's events.
// The scanner:  in { id, type: "scanner", module, models }, then { id, method: "scan", band };
//               out { id } once ready, { id, value: detections }, or { id, error }.

import { openModels } from "./glance_weights.js";

// Checked with `tsc --strict` in pkg/ (www/jsconfig.worker.json), against the module's declarations.
/** @typedef {import("./glance_cpu.js").AudienceEngine} ModuleEngine */
/**
 * The module's engine, with the methods its declarations leave out (the page's verdict on the
 * notice; the fine scan's bands, for the scanner).
 * @typedef {ModuleEngine & { setHostNotice(notice: unknown): void, handOutFineScan(on: boolean): void,
 *   takeFineScanBand(): ScanBand | undefined, joinFineScan(timestampMs: number, detections: unknown): void }} EngineInWorker
 */
/** A band of a frame for the fine scan (fields as the engine gives them). @typedef {{ timestampMs: number, joinsAtMs: number, pixels: Uint8Array }} ScanBand */
/** The fine scan alone (the module's FineScanner). @typedef {{ scan(band: ScanBand): Promise<unknown> }} ModuleScanner */
/**
 * The engine module's glue (either module's): its `init`, its AudienceEngine and FineScanner
 * classes, and the URL of this worker's entry (to start the scanner from).
 * @typedef {{ init: (input: { module_or_path: WebAssembly.Module }) => Promise<unknown>,
 *   AudienceEngine: { create(options: import("./glance.js").GlanceOptions & { hostNotice: true }): Promise<ModuleEngine> },
 *   FineScanner: { create(options: { models: unknown }): Promise<ModuleScanner> }, url: string }} Glue
 */
/** A scan waiting for its answer. @typedef {{ resolve: (value: unknown) => void, reject: (error: Error) => void, timer: ReturnType<typeof setTimeout> }} PendingScan */

/** A scan not answered within this time stops the scanner; the engine scans its bands itself again. */
const SCAN_TIMEOUT_MS = 10_000;

/** @type {Glue | null} */
let glue = null;

/** @type {EngineInWorker | null} The engine, once created. */
let engine = null;
/** @type {(module: WebAssembly.Module) => void} Resolves `compiledModule`. */
let moduleArrived = () => {};
/** @type {Promise<WebAssembly.Module>} The compiled module the page sends after `create`. */
const compiledModule = new Promise((resolve) => {
  moduleArrived = resolve;
});

/**
 * An error as data: its class's name and the fields that class carries.
 * @param {unknown} error
 */
function errorData(error) {
  const fields = /** @type {{ name?: unknown, message?: unknown, issues?: unknown, path?: unknown }} */ (typeof error === "object" && error !== null ? error : {});
  return {
    name: typeof fields.name === "string" ? fields.name : "Error",
    message: String(fields.message ?? error),
    issues: fields.issues,
    path: fields.path,
  };
}

/** The engine, or an error saying it is not created yet. */
function created() {
  if (!engine) throw new Error("the engine is not created yet");
  return engine;
}

function engineState() {
  return engine
    ? { backend: engine.backend, fallbackReason: engine.fallbackReason ?? null, memoryBytes: engine.memoryBytes, fineScanWorker: scanner !== null }
    : {};
}

/** The second worker that scans the fine scan's bands (this file, as a scanner). */
class ScanWorker {
  /** @type {Worker} */
  #worker;
  /** @type {Map<number, PendingScan>} */
  #calls = new Map();
  #nextId = 1;
  /** @type {string | null} Why it stopped, once it has. */
  failed = null;

  /** @param {Worker} worker */
  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      const call = this.#calls.get(data?.id);
      if (!call) return;
      this.#calls.delete(data.id);
      clearTimeout(call.timer);
      if (data.error) call.reject(Object.assign(new Error(data.error.message), { name: data.error.name }));
      else call.resolve(data.value);
    };
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.stop(`the fine scan's worker failed: ${event.message || "it could not be loaded"}`);
    };
  }

  /**
   * A scanner running the engine's module, with CenterFace's weights from `models`.
   * @param {string} url this worker's entry
   * @param {WebAssembly.Module} module
   * @param {unknown} models the engine's model options (without callbacks or responses)
   */
  static async start(url, module, models) {
    const scanner = new ScanWorker(new Worker(url, { type: "module" }));
    try {
      await scanner.#request({ type: "scanner", module, models }, []);
    } catch (error) {
      scanner.stop(String(error));
      throw error;
    }
    return scanner;
  }

  /**
   * The band's detections; its pixels go over transferred.
   * @param {ScanBand} band
   */
  scan(band) {
    return this.#request({ method: "scan", band }, [band.pixels.buffer]);
  }

  /**
   * @param {Record<string, unknown>} message
   * @param {Transferable[]} transfer
   * @returns {Promise<unknown>}
   */
  #request(message, transfer) {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.stop(`the fine scan's worker did not answer within ${SCAN_TIMEOUT_MS} ms`), SCAN_TIMEOUT_MS);
      this.#calls.set(id, { resolve, reject, timer });
      this.#worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** @param {string} reason */
  stop(reason) {
    this.failed ??= reason;
    this.#worker.terminate();
    for (const call of this.#calls.values()) {
      clearTimeout(call.timer);
      call.reject(new Error(reason));
    }
    this.#calls.clear();
  }
}

/** @type {ScanWorker | null} The fine scan's worker, once ready (null: the engine scans itself). */
let scanner = null;
/** @type {{ timestampMs: number, joinsAtMs: number, detections: Promise<unknown> }[]} Bands out for scanning. */
let scanning = [];

/**
 * Whether a scanner may start (`fineScanWorker`, the CPU backend, more than one core), with the
 * model options it loads CenterFace from; null once started or refused.
 * @type {{ models: unknown } | null}
 */
let scannerAllowed = null;
/** Whether the engine is in video mode (`pipeline.detectionIntervalMs` above 0), the only mode that hands out bands. */
let videoMode = false;

/**
 * Starts the scanner the first time the engine is in video mode (image mode scans within the
 * frame: a scanner would only take memory and, while it starts, the first frame's core) and,
 * once it is ready, hands it the engine's bands. Not waited for: until then the engine scans
 * its bands itself.
 */
function startScannerIfUseful() {
  if (!scannerAllowed || !videoMode || !glue) return;
  const { models } = scannerAllowed;
  const engineGlue = glue;
  scannerAllowed = null;
  (async () => {
    const started = await ScanWorker.start(engineGlue.url, await compiledModule, models);
    if (!engine) return started.stop("the engine is gone");
    scanner = started;
    engine.handOutFineScan(true);
  })().catch(() => {});
}

/**
 * Video mode or not, as the options say (a missing or null interval is the default, 0).
 * @param {unknown} pipeline
 */
function isVideoMode(pipeline) {
  const interval = /** @type {{ detectionIntervalMs?: unknown } | null | undefined} */ (pipeline)?.detectionIntervalMs;
  return typeof interval === "number" && interval > 0;
}

/**
 * The engine scans its bands itself again (the scanner failed): bands out for scanning are lost.
 * @param {string} reason
 */
function stopScanner(reason) {
  scanner?.stop(reason);
  scanner = null;
  scanning = [];
  try {
    engine?.handOutFineScan(false);
  } catch {
    // a closed engine has nothing to hand out
  }
  console.warn(`Glance: the fine scan runs in the engine's worker from now on: ${reason}`);
}

/**
 * Gives the engine the detections of every band that joins the frame at `timestampMs`, waiting
 * for the scanner where it is not done yet.
 * @param {EngineInWorker} running
 * @param {number} timestampMs
 */
async function joinScans(running, timestampMs) {
  const due = scanning.filter((s) => s.joinsAtMs <= timestampMs);
  scanning = scanning.filter((s) => s.joinsAtMs > timestampMs);
  for (const band of due) {
    try {
      running.joinFineScan(band.timestampMs, await band.detections);
    } catch (error) {
      stopScanner(error instanceof Error ? error.message : String(error));
    }
  }
}

/** Sends the band the engine cut from its last frame, if any, to the scanner. */
function handOutBand() {
  const band = scanner ? engine?.takeFineScanBand() : undefined;
  if (!band || !scanner) return;
  const detections = scanner.scan(band);
  detections.catch(() => {}); // reported where it is awaited (joinScans)
  scanning.push({ timestampMs: band.timestampMs, joinsAtMs: band.joinsAtMs, detections });
}

/**
 * @param {{ options: import("./glance.js").GlanceOptions, fineScanWorker?: boolean }} message
 */
async function create({ options, fineScanWorker = true }) {
  if (!glue) throw new Error("the worker has no engine module");
  const { init, AudienceEngine } = glue;
  /** @type {import("./glance.js").ModelOptions & { responses?: ReturnType<typeof openModels> }} */
  const models = { ...options.models };
  models.responses = openModels(models);
  models.onProgress = (progress) => postMessage({ type: "progress", progress });
  await init({ module_or_path: await compiledModule });
  engine = /** @type {EngineInWorker} */ (await AudienceEngine.create({ ...options, models, hostNotice: true }));
  if (fineScanWorker && engine.backend === "cpu" && (navigator.hardwareConcurrency ?? 1) > 1) scannerAllowed = { models: options.models };
  videoMode = isVideoMode(options.pipeline);
  startScannerIfUseful();
}

/** @param {{ frame: ImageData | VideoFrame | ImageBitmap, timestampMs: number, notice: unknown }} message */
async function processFrame({ frame, timestampMs, notice }) {
  try {
    const running = created();
    running.setHostNotice(notice);
    await joinScans(running, timestampMs);
    return await running.processFrame(/** @type {import("./glance.js").FrameSource} */ (frame), timestampMs);
  } finally {
    if (!(frame instanceof ImageData)) frame.close();
    handOutBand();
  }
}

/** The engine's events after a frame, analysed or refused. @returns {import("./glance.js").EngineEvent[]} */
function takeEvents() {
  try {
    return engine?.takeEvents() ?? [];
  } catch {
    return []; // a closed or crashed engine has nothing more to tell
  }
}

/** @param {any} message a call from the page (the entry module's WorkerCall, with its `id`) */
async function answer(message) {
  const { id, method } = message;
  try {
    let value;
    if (method === "create") value = await create(message);
    else if (method === "processFrame") value = await processFrame(message);
    else {
      const running = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (created()));
      const forwarded = running[method];
      if (typeof forwarded !== "function") throw new Error(`the engine has no method ${method}`);
      value = forwarded.apply(running, message.args ?? []);
      const pipeline = method === "setOptions" ? message.args?.[0]?.pipeline : undefined;
      if (pipeline === null || (typeof pipeline === "object" && "detectionIntervalMs" in pipeline)) {
        videoMode = isVideoMode(pipeline);
        startScannerIfUseful();
      }
    }
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, value, events, ...engineState() });
  } catch (error) {
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, error: errorData(error), events, ...engineState() });
  }
}

/**
 * This worker as the fine scan's: CenterFace alone, scanning the bands the engine's worker
 * sends, one message each.
 * @param {Glue} engineGlue
 * @param {{ id: number, module: WebAssembly.Module, models: import("./glance.js").ModelOptions }} message
 */
async function serveScanner(engineGlue, { id, module, models }) {
  /** @type {Promise<ModuleScanner>} */
  const ready = (async () => {
    await engineGlue.init({ module_or_path: module });
    return engineGlue.FineScanner.create({ models: { ...models, responses: openModels(models, ["centerface"]) } });
  })();
  self.onmessage = async ({ data }) => {
    try {
      const value = await (await ready).scan(data.band);
      postMessage({ id: data.id, value });
    } catch (error) {
      postMessage({ id: data.id, error: errorData(error) });
    }
  };
  try {
    await ready;
    postMessage({ id });
  } catch (error) {
    postMessage({ id, error: errorData(error) });
  }
}

/**
 * Answers the page's messages with the engine module whose glue is given (or, told so by the
 * engine's worker, serves as its fine scan's worker).
 * @param {Glue} engineGlue
 */
export function serveEngine(engineGlue) {
  glue = engineGlue;
  self.onmessage = ({ data }) => {
    if (data?.type === "module") moduleArrived(data.module);
    else if (data?.type === "scanner") serveScanner(engineGlue, data);
    else answer(data);
  };
}
