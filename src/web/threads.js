// Where the engine runs (pkg/glance_threads.js, beside the entry module): on the page's thread
// (MainThreadCore, the module's engine called directly) or in a dedicated module Worker
// (WorkerCore: the networks never block the page; the notice stays on the page and is measured
// before each frame is taken). The entry module's AudienceEngine forwards to one of them.
import { glanceError } from "__GLANCE_ERRORS__";
import { compiledModule, load, messageOf } from "./glance_modules.js";

// Checked with `tsc --strict` in pkg/, against the package's declarations (glance.d.ts).
/** @typedef {import("./glance.js").GlanceOptions} GlanceOptions */
/** @typedef {import("./glance.js").FrameSource} FrameSource */
/** @typedef {import("./glance.js").FrameResult} FrameResult */
/** @typedef {import("./glance.js").EngineEvent} EngineEvent */
/** @typedef {import("./glance.js").DisclosureStatus} DisclosureStatus */
/** @typedef {import("./glance.js").ModelOptions} ModelOptions */
/** @typedef {import("./glance.js").StartProgress} StartProgress */
/** @typedef {import("./glance_modules.js").ModuleKind} ModuleKind */
/** @typedef {import("./glance_modules.js").Notice} Notice */
/** The module's own engine, on the page's thread. @typedef {import("./glance_cpu.js").AudienceEngine} ModuleEngine */
/**
 * The engine's methods the loader forwards to wherever the engine runs.
 * @typedef {"nextAd" | "shouldInterrupt" | "snapshot" | "adStarted" | "adEnded" | "setRules" | "setOptions" | "report"
 *   | "saveState" | "takeRecords" | "endVisits" | "restoreState"} EngineMethod
 */
/**
 * A forwarded method's result, always a promise (the engine may be in a worker).
 * @template {EngineMethod} M
 * @typedef {Promise<Awaited<ReturnType<ModuleEngine[M]>>>} Answer
 */
/** What a frame came to: its result or its error, and the engine's events either way. @typedef {{ result?: FrameResult, error?: unknown, events: EngineEvent[] }} FrameOutcome */
/** Where the engine runs. @typedef {MainThreadCore | WorkerCore} EngineCore */

/**
 * Calls a progress callback; one that throws must not stop the engine.
 * @param {((progress: StartProgress) => void) | undefined} onProgress
 * @param {StartProgress} progress
 */
export function report(onProgress, progress) {
  try {
    onProgress?.(progress);
  } catch {
    // ignored: see above
  }
}

/** The engine on the page's own thread: the module's engine, called directly. */
export class MainThreadCore {
  thread = /** @type {const} */ ("main");
  /** @type {(error: Error) => void} */
  onRestart = () => {};
  /** @type {string | undefined} Why the engine is not in a worker although `thread: "auto"` asked for one, if so. */
  threadReason;
  /** @type {ModuleEngine} */
  #engine;

  /**
   * @param {ModuleEngine} engine
   * @param {string | null} threadReason
   */
  constructor(engine, threadReason) {
    this.#engine = engine;
    this.threadReason = threadReason ?? undefined;
  }

  /**
   * @param {FrameSource} source
   * @param {number} timestampMs
   * @returns {Promise<FrameOutcome>}
   */
  async frame(source, timestampMs) {
    try {
      const result = await this.#engine.processFrame(source, timestampMs);
      return { result, events: this.#events() };
    } catch (error) {
      return { error, events: this.#events() };
    }
  }

  /** @returns {EngineEvent[]} */
  #events() {
    try {
      return this.#engine.takeEvents();
    } catch {
      return []; // a closed or crashed engine has nothing more to tell
    }
  }

  /**
   * @template {EngineMethod} M
   * @param {M} method
   * @param {Parameters<ModuleEngine[M]>} args
   * @returns {Answer<M>}
   */
  async call(method, args) {
    const forwarded = /** @type {(...args: unknown[]) => Awaited<ReturnType<ModuleEngine[M]>>} */ (this.#engine[method]);
    return forwarded.apply(this.#engine, args);
  }

  close() {
    this.#engine.close();
  }

  get backend() { return this.#engine.backend; }
  get fallbackReason() { return this.#engine.fallbackReason; }
  get memoryBytes() { return this.#engine.memoryBytes; }
  /** The page's thread scans its bands itself. */
  get fineScanWorker() { return false; }
  get busy() { return this.#engine.busy; }
  get disclosure() { return this.#engine.disclosure; }
}

/** The worker could not run (no module workers here, a CSP forbidding them, ...). */
export class WorkerUnavailable extends Error {}

/** An error as data (worker.js): its class's name and the fields that class carries. @typedef {{ name: string, message: string, issues?: unknown, path?: string }} ErrorData */

/**
 * An error sent over as data (see worker.js), as the same class with the same fields.
 * @param {ErrorData} data
 */
function errorFromData(data) {
  const error = glanceError(data.name, data.message, data.issues ?? undefined, data.path ?? undefined);
  if (error.name !== data.name) error.message = `${data.name}: ${data.message}`;
  return error;
}

/**
 * A private copy of the frame for the worker, which closes it after use: the page's own
 * bitmap, video frame or image data stays the page's. Taken only after the notice was measured.
 * @param {FrameSource} source
 * @returns {Promise<{ frame: ImageData | VideoFrame | ImageBitmap, transfer: Transferable[] }>}
 */
async function takeFrame(source) {
  const invalid = (/** @type {string} */ message) => glanceError("InvalidFrameError", message);
  if (source instanceof ImageData) return { frame: source, transfer: [] };
  try {
    if (globalThis.HTMLVideoElement && source instanceof HTMLVideoElement) {
      if (source.readyState < 2) throw invalid("the video has no current frame yet (readyState < 2)");
      if (!source.videoWidth || !source.videoHeight) throw invalid("the source is 0x0 (closed or not loaded?)");
      // A VideoFrame wraps the decoded picture without a copy; an ImageBitmap where there is none.
      const frame = globalThis.VideoFrame ? new VideoFrame(source) : await createImageBitmap(source);
      return { frame, transfer: [frame] };
    }
    if (globalThis.VideoFrame && source instanceof VideoFrame) {
      const frame = source.clone();
      return { frame, transfer: [frame] };
    }
    if (source instanceof ImageBitmap) {
      if (!source.width || !source.height) throw invalid(`the source is ${source.width}x${source.height} (closed or not loaded?)`);
      const frame = await createImageBitmap(source);
      return { frame, transfer: [frame] };
    }
  } catch (error) {
    throw error instanceof Error && error.name === "InvalidFrameError" ? error : invalid(`cannot take the frame: ${messageOf(error)}`);
  }
  throw invalid("expected ImageData, HTMLVideoElement, VideoFrame or ImageBitmap");
}

/**
 * RFC 7396: `patch` applied to `target` (`null` removes a key, so its default applies).
 * @param {unknown} target
 * @param {unknown} patch
 * @returns {unknown}
 */
function mergePatch(target, patch) {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  /** @type {Record<string, unknown>} */
  const merged = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete merged[key];
    else merged[key] = mergePatch(merged[key], value);
  }
  return merged;
}

/**
 * The options a worker's engine is created with: GlanceOptions less what cannot be sent.
 * @typedef {Omit<GlanceOptions, "models" | "banner"> & { banner?: import("./glance.js").BannerOptions, models: Omit<ModelOptions, "onProgress"> }} WorkerEngineOptions
 */
/** @typedef {{ timeoutMs: number, onProgress: ((progress: StartProgress) => void) | undefined, fineScanWorker: boolean }} WorkerSettings */
/**
 * A message to the worker (see worker.js).
 * @typedef {{ method: "create", options: WorkerEngineOptions, fineScanWorker: boolean }
 *   | { method: "processFrame", frame: ImageData | VideoFrame | ImageBitmap, timestampMs: number, notice: DisclosureStatus }
 *   | { method: EngineMethod, args: unknown[] }} WorkerCall
 */
/**
 * The worker's answer to one call, with the engine's backend and memory as of then.
 * @typedef {{ id: number, value?: any, error?: ErrorData, events?: EngineEvent[], backend?: "cpu" | "webgpu",
 *   fallbackReason?: string | null, memoryBytes?: number, fineScanWorker?: boolean }} WorkerAnswer
 */
/**
 * A call waiting for the worker's answer.
 * @typedef {{ resolve: (answer: WorkerAnswer) => void, reject: (error: unknown) => void, timer: ReturnType<typeof setTimeout> | null }} PendingCall
 */

/** More restarts than this within RESTART_WINDOW_MS and the engine stays crashed. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;

/**
 * The engine in a dedicated module Worker (worker.js), so that the networks never block the
 * page. The notice stays here and is measured before each frame is taken; the frame goes over
 * transferred, with the verdict. The audience lives in the worker: a worker that dies or stops
 * answering is replaced by a new one, started from the state the page last saved or restored
 * (with the rules and options set since), and the loss is reported as an `error` event.
 */
export class WorkerCore {
  thread = /** @type {const} */ ("worker");
  /** @type {string | undefined} */
  threadReason = undefined;
  /** @type {(error: Error) => void} Called with the EngineCrashedError that describes a restart (or its failure). */
  onRestart = () => {};
  /** @type {ModuleKind} */
  #kind;
  /** @type {WorkerEngineOptions} The options a new worker's engine is created with: those given, then every change. */
  #options;
  /** @type {Notice | null} */
  #notice = null;
  /** @type {number} */
  #timeoutMs;
  /** @type {((progress: StartProgress) => void) | undefined} */
  #onProgress;
  /** @type {Worker | null} */
  #worker = null;
  /** @type {Promise<void>} Settles once the current worker's engine is created; every call waits for it. */
  #ready = Promise.resolve();
  /** @type {Map<number, PendingCall>} */
  #calls = new Map();
  #nextId = 1;
  /** @type {"cpu" | "webgpu" | null} */
  #backend = null;
  /** @type {string | null | undefined} */
  #fallbackReason = null;
  /** The worker's WebAssembly memory, as of its last answer. */
  #memoryBytes = 0;
  /** Whether the worker runs the fine scan in a second worker, as of its last answer. */
  #fineScanWorker = false;
  /** Whether it may. */
  #allowFineScanWorker;
  #busy = false;
  #closed = false;
  /** @type {string | null} */
  #crashed = null;
  #restarting = false;
  /** @type {number[]} */
  #restarts = [];
  /** @type {{ state: string | null, atMs: number } | null} What a new worker starts from: the last state saved or restored, and when. */
  #saved = null;
  #createdAtMs = Date.now();

  /**
   * @param {ModuleKind} kind
   * @param {WorkerEngineOptions} options
   * @param {WorkerSettings} settings
   */
  constructor(kind, options, { timeoutMs, onProgress, fineScanWorker }) {
    this.#allowFineScanWorker = fineScanWorker;
    this.#kind = kind;
    this.#options = options;
    this.#timeoutMs = timeoutMs;
    this.#onProgress = onProgress;
  }

  /**
   * Starts the worker (it fetches the weights at once), shows the notice on this thread when the
   * module is here, then hands the worker the compiled module. Rejects with WorkerUnavailable
   * when no worker can run here, and with the engine's error when its creation fails.
   * @param {ModuleKind} kind
   * @param {WorkerEngineOptions} options
   * @param {GlanceOptions} noticeOptions
   * @param {WorkerSettings} settings
   */
  static async start(kind, options, noticeOptions, settings) {
    const core = new WorkerCore(kind, options, settings);
    const created = core.#spawn();
    try {
      const module = await load(kind);
      core.#notice = module.DisclosureNotice.mount(noticeOptions);
      await core.#ready;
      return core;
    } catch (error) {
      core.close();
      created.catch(() => {});
      throw error;
    }
  }

  /**
   * A new worker; resolves when its engine is created.
   * @returns {Promise<void>}
   */
  #spawn() {
    // The literal form bundlers (Vite, webpack) recognise: they bundle each worker and its imports.
    const worker =
      this.#kind === "webgpu"
        ? new Worker(new URL("./glance_worker_webgpu.js", import.meta.url), { type: "module" })
        : new Worker(new URL("./glance_worker_cpu.js", import.meta.url), { type: "module" });
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (event) => {
      event.preventDefault?.();
      this.#died(worker, `the engine's worker failed: ${event.message || "it could not be loaded"}`);
    };
    worker.onmessageerror = () => this.#died(worker, "the engine's worker sent a message that could not be read");
    const created = this.#post({ method: "create", options: this.#options, fineScanWorker: this.#allowFineScanWorker }, [], { timed: false }).then((answer) => {
      if (answer.error) throw errorFromData(answer.error);
    });
    // Sent once the page has it too (after the "module" progress report, which comes first).
    load(this.#kind)
      .then(() => compiledModule(this.#kind))
      .then((module) => worker.postMessage({ type: "module", module }), () => {});
    this.#ready = created;
    created.catch(() => {});
    return created;
  }

  /** @param {WorkerAnswer | { type: "progress", progress: StartProgress } | null} data */
  #receive(data) {
    if (!data) return;
    if ("type" in data) return report(this.#onProgress, data.progress);
    const call = this.#calls.get(data.id);
    if (!call) return;
    this.#calls.delete(data.id);
    if (call.timer) clearTimeout(call.timer);
    if (data.backend) {
      this.#backend = data.backend;
      this.#fallbackReason = data.fallbackReason;
      this.#memoryBytes = data.memoryBytes ?? 0;
      this.#fineScanWorker = data.fineScanWorker ?? false;
    }
    call.resolve(data);
  }

  /**
   * Posts one call and resolves to the worker's answer (`value` or `error`, and `events`).
   * @param {WorkerCall} message
   * @param {Transferable[]} [transfer]
   * @returns {Promise<WorkerAnswer>}
   */
  #post(message, transfer = [], { timed = true } = {}) {
    const worker = this.#worker;
    const id = this.#nextId++;
    if (!worker) return Promise.reject(glanceError("EngineClosedError", "the engine's worker is not running"));
    return new Promise((resolve, reject) => {
      const timer = timed && this.#timeoutMs > 0 ? setTimeout(() => this.#died(worker, `the engine's worker did not answer ${message.method} within ${this.#timeoutMs} ms`), this.#timeoutMs) : null;
      this.#calls.set(id, { resolve, reject, timer });
      try {
        worker.postMessage({ ...message, id }, transfer);
      } catch (error) {
        this.#calls.delete(id);
        if (timer) clearTimeout(timer);
        reject(glanceError("InvalidFrameError", `cannot send to the engine's worker: ${messageOf(error)}`));
      }
    });
  }

  /**
   * Waits for the engine, then makes one call.
   * @param {WorkerCall} message
   * @param {Transferable[]} [transfer]
   */
  async #call(message, transfer = []) {
    this.#check();
    await this.#ready.catch(() => {});
    this.#check();
    return this.#post(message, transfer);
  }

  #check() {
    if (this.#closed) throw glanceError("EngineClosedError", "the engine was closed");
    if (this.#crashed) throw glanceError("EngineCrashedError", this.#crashed);
  }

  /**
   * The worker stopped (an uncaught error, a crash of the module, no answer in time): its
   * pending calls fail, and a new worker takes over from the last saved state.
   * @param {Worker} worker
   * @param {string} reason
   */
  #died(worker, reason) {
    if (worker !== this.#worker || this.#closed) return;
    worker.terminate();
    const starting = this.#backend === null;
    const now = Date.now();
    this.#restarts = [...this.#restarts.filter((at) => now - at < RESTART_WINDOW_MS), now];
    const restart = !starting && !this.#restarting && this.#restarts.length <= MAX_RESTARTS;
    for (const call of this.#calls.values()) {
      if (call.timer) clearTimeout(call.timer);
      if (starting) {
        call.reject(new WorkerUnavailable(reason));
      } else {
        const error = glanceError("EngineCrashedError", reason);
        // A new worker takes over: the caller may go on with the same engine.
        if (restart) error.restarting = true;
        call.reject(error);
      }
    }
    this.#calls.clear();
    if (starting || this.#restarting) return; // the start or the restart under way fails
    if (!restart) {
      this.#crashed = `${reason}; the worker was restarted ${MAX_RESTARTS} times within ${RESTART_WINDOW_MS / 1000} s, so the engine stops`;
      this.onRestart(glanceError("EngineCrashedError", this.#crashed));
      return;
    }
    this.#restart(reason);
  }

  /** @param {string} reason */
  async #restart(reason) {
    this.#restarting = true;
    const from = this.#saved ?? { state: null, atMs: this.#createdAtMs };
    const restarted = this.#spawn().then(async () => {
      if (from.state === null) return;
      const restored = await this.#post({ method: "restoreState", args: [from.state] });
      if (restored.error) throw errorFromData(restored.error);
    });
    this.#ready = restarted;
    try {
      await restarted;
    } catch (error) {
      this.#crashed = `${reason}; starting a new worker failed: ${messageOf(error)}`;
      this.onRestart(glanceError("EngineCrashedError", this.#crashed));
      return;
    } finally {
      this.#restarting = false;
    }
    const since = from.state === null ? "the engine's creation" : "the last saved state";
    const lostS = Math.round((Date.now() - from.atMs) / 1000);
    const error = glanceError("EngineCrashedError", `${reason}; a new worker took over from ${since}: ${lostS} s of audience lost`);
    error.restarted = true;
    error.restoredFromMs = from.atMs;
    this.onRestart(error);
  }

  /**
   * @param {FrameSource} source
   * @param {number} timestampMs
   * @returns {Promise<FrameOutcome>}
   */
  async frame(source, timestampMs) {
    if (this.#busy) return { error: glanceError("EngineBusyError", "a frame is already being processed; skip this one"), events: [] };
    this.#busy = true;
    try {
      this.#check();
      const notice = this.#noticeStatus();
      if (!notice.visible) return { error: glanceError("DisclosureHiddenError", notice.reason ?? "the notice is not visible"), events: [] };
      const { frame, transfer } = await takeFrame(source);
      let answer;
      try {
        answer = await this.#call({ method: "processFrame", frame, timestampMs, notice }, transfer);
      } catch (error) {
        if (!(frame instanceof ImageData)) frame.close();
        throw error;
      }
      const events = answer.events ?? [];
      return answer.error ? { error: errorFromData(answer.error), events } : { result: answer.value, events };
    } catch (error) {
      return { error, events: [] };
    } finally {
      this.#busy = false;
    }
  }

  /**
   * @template {EngineMethod} M
   * @param {M} method
   * @param {Parameters<ModuleEngine[M]>} args
   * @returns {Answer<M>}
   */
  async call(method, args) {
    const answer = await this.#call({ method, args });
    if (answer.error) throw errorFromData(answer.error);
    this.#remember(method, args, answer.value);
    return answer.value;
  }

  /**
   * What a new worker must be told: the state, and the rules and options set since.
   * @param {EngineMethod} method
   * @param {unknown[]} args
   * @param {unknown} value
   */
  #remember(method, args, value) {
    if (method === "saveState") this.#saved = { state: /** @type {string} */ (value), atMs: Date.now() };
    else if (method === "restoreState") this.#saved = { state: /** @type {string} */ (args[0]), atMs: Date.now() };
    else if (method === "setRules") this.#options = { ...this.#options, rules: /** @type {GlanceOptions["rules"]} */ (args[0]) };
    else if (method === "setOptions") {
      this.#options = /** @type {WorkerEngineOptions} */ (mergePatch(this.#options, args[0]));
      this.#notice?.setOptions(args[0]);
    }
  }

  /** @returns {DisclosureStatus} */
  #noticeStatus() {
    return this.#notice ? this.#notice.status() : { visible: false, reason: "the notice is not shown yet" };
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#notice?.close();
    this.#worker?.terminate();
    for (const call of this.#calls.values()) {
      if (call.timer) clearTimeout(call.timer);
      call.reject(glanceError("EngineClosedError", "the engine was closed"));
    }
    this.#calls.clear();
  }

  get backend() { return this.#backend; }
  get fallbackReason() { return this.#fallbackReason ?? undefined; }
  get memoryBytes() { return this.#memoryBytes; }
  get fineScanWorker() { return this.#fineScanWorker; }
  get busy() { return this.#busy; }
  get disclosure() { return this.#closed ? { visible: false, reason: "the engine was closed" } : this.#noticeStatus(); }
}

/** What this browser lacks to run the engine in a worker, if anything. */
export function missingForWorker() {
  if (typeof Worker !== "function") return "this browser has no Web Workers";
  if (typeof OffscreenCanvas !== "function") return "this browser has no OffscreenCanvas, which a worker needs to read frames";
  return null;
}

/**
 * The options a worker's engine can be sent: no elements, callbacks or responses.
 * @param {GlanceOptions} options
 * @param {ModelOptions & { responses?: unknown }} models
 * @returns {WorkerEngineOptions}
 */
export function workerOptions(options, models) {
  const { container: _container, ...banner } = options.banner ?? {};
  const { onProgress: _onProgress, responses: _responses, ...sendable } = models;
  return { ...options, ...(options.banner ? { banner } : {}), models: sendable };
}
