// Glance's entry module (pkg/glance.js). The engine is built twice: a CPU-only module and a
// WebGPU one that also carries the CPU backend, for falling back when the GPU is lost. This
// loader picks one from what the browser offers before downloading either, so a kiosk without
// a GPU never downloads the WebGPU backend, and forwards the API to it.
//
// `backend: "cpu"` / `"webgpu"` force the choice; `"auto"` (the default) takes the WebGPU
// module when `navigator.gpu` gives an adapter. Modules load once per page and are shared.
//
// The engine runs in a dedicated module Worker (pkg/glance_worker*.js, `thread: "auto"` or
// `"worker"`) so the networks never block the page; the page's thread keeps the disclosure
// notice (measured before each frame is taken) and compiles the module once for both.

// The engine's error classes (a wasm-bindgen snippet both modules share; scripts/build-web
// writes its path here), exported so that `instanceof` works before and after a module loads.
import { glanceError } from "__GLANCE_ERRORS__";
import { openModels, packagedModels } from "./glance_weights.js";
export * from "__GLANCE_ERRORS__";

// Checked with `tsc --strict` in pkg/, against the package's declarations (glance.d.ts).
/** @typedef {import("./glance.js").GlanceOptions} GlanceOptions */
/** @typedef {import("./glance.js").InitOptions} InitOptions */
/** @typedef {import("./glance.js").FrameSource} FrameSource */
/** @typedef {import("./glance.js").FrameResult} FrameResult */
/** @typedef {import("./glance.js").EngineEvent} EngineEvent */
/** @typedef {import("./glance.js").DisclosureStatus} DisclosureStatus */
/** @typedef {import("./glance.js").ModelOptions} ModelOptions */
/** @typedef {import("./glance.js").StartProgress} StartProgress */
/** @typedef {"cpu" | "webgpu"} ModuleKind */
/**
 * The notice on the page's thread for an engine in a worker (the module's DisclosureNotice).
 * @typedef {{ status(): DisclosureStatus, setOptions(patch: unknown): void, close(): void }} Notice
 */
/**
 * One engine module's glue (the two have the same API), with what its declarations leave out.
 * @typedef {typeof import("./glance_cpu.js") & { DisclosureNotice: { mount(options: GlanceOptions): Notice } }} EngineModule
 */
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
/** @typedef {MainThreadCore | WorkerCore} EngineCore */

/** @type {Partial<Record<ModuleKind, Promise<EngineModule>>>} */
const modules = {};
/** @type {EngineModule[]} The modules loaded, first first: the plain functions (validateRules, ...) call the first. */
const loadedModules = [];

/** @param {unknown} error */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

async function gpuOffered() {
  const { gpu } = /** @type {{ gpu?: { requestAdapter(): Promise<unknown> } }} */ (globalThis.navigator ?? {});
  try {
    return Boolean(gpu && (await gpu.requestAdapter()));
  } catch {
    return false;
  }
}

/**
 * Which module a backend choice needs: "cpu" or "webgpu".
 * @param {string} [backend]
 * @returns {Promise<ModuleKind>}
 */
async function moduleFor(backend = "auto") {
  if (backend === "cpu") return "cpu";
  if (backend === "webgpu") return "webgpu";
  return (await gpuOffered()) ? "webgpu" : "cpu";
}

/**
 * Compiles a module's wasm while it downloads. Started before the glue module is imported, so
 * the download does not wait for the glue and its imports; asked for at high priority, ahead of
 * the weights, which are needed only once the module runs.
 * @param {RequestInfo | URL | Response} urlOrResponse
 */
async function compileWasm(urlOrResponse) {
  const response =
    urlOrResponse instanceof Response
      ? urlOrResponse
      : await fetch(urlOrResponse, { priority: "high" }).catch((e) => {
          throw glanceError("ModelLoadError", `${urlOrResponse}: ${messageOf(e)}`);
        });
  if (!response.ok) throw glanceError("ModelLoadError", `${response.url}: HTTP ${response.status} ${response.statusText}`);
  // Streaming compilation needs the wasm MIME type; a server without it still works, slower.
  if (response.headers.get("Content-Type")?.startsWith("application/wasm") && WebAssembly.compileStreaming) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/**
 * A module's compiled wasm, from beside this file or from where `init({ moduleOrPath })` says.
 * @param {ModuleKind} kind
 * @param {InitOptions["moduleOrPath"] | Promise<InitOptions["moduleOrPath"]>} moduleOrPath
 * @returns {Promise<WebAssembly.Module>}
 */
function compile(kind, moduleOrPath) {
  if (moduleOrPath instanceof WebAssembly.Module) return Promise.resolve(moduleOrPath);
  if (ArrayBuffer.isView(moduleOrPath) || moduleOrPath instanceof ArrayBuffer) return WebAssembly.compile(/** @type {BufferSource} */ (moduleOrPath));
  if (moduleOrPath instanceof Promise) return moduleOrPath.then((m) => compile(kind, m));
  if (moduleOrPath !== undefined) return compileWasm(moduleOrPath);
  // Literal URLs, so bundlers see both modules and split them.
  return compileWasm(kind === "webgpu" ? new URL("./glance_webgpu_bg.wasm", import.meta.url) : new URL("./glance_cpu_bg.wasm", import.meta.url));
}

/** @type {Partial<Record<ModuleKind, Promise<WebAssembly.Module>>>} Each module's compiled wasm, kept to start engine workers without compiling again. */
const compiled = {};

/**
 * Downloads, compiles (streaming) and instantiates one module, once.
 * @param {ModuleKind} kind
 * @param {InitOptions["moduleOrPath"]} [moduleOrPath]
 * @returns {Promise<EngineModule>}
 */
function load(kind, moduleOrPath) {
  const loading = modules[kind] ?? (async () => {
    const wasm = compile(kind, moduleOrPath);
    compiled[kind] = wasm;
    wasm.catch(() => {}); // awaited below, after the glue
    // Literal specifiers, so bundlers see both modules and split them.
    const module = /** @type {EngineModule} */ (kind === "webgpu" ? await import("./glance_webgpu.js") : await import("./glance_cpu.js"));
    await module.default({ module_or_path: await wasm });
    loadedModules.push(module);
    return module;
  })();
  if (modules[kind] !== loading) {
    modules[kind] = loading;
    loading.catch(() => delete modules[kind]);
  }
  return loading;
}

/**
 * Loads the module for `options.backend` (default "auto"); `options.moduleOrPath` overrides
 * where its wasm comes from. `AudienceEngine.create` calls this itself; call it first only to
 * use the plain functions (validateRules, rulesSchema, ...). Resolves to the module's name.
 * @param {InitOptions} [options]
 */
export default async function init(options = {}) {
  const kind = await moduleFor(options.backend);
  await load(kind, options.moduleOrPath);
  return kind;
}

/** The modules this page has asked for ("cpu", "webgpu"): for diagnostics and tests. */
export function requestedModules() {
  return Object.keys(modules);
}

/** @param {string} name what needs it, for the error */
function loaded(name) {
  const first = loadedModules[0];
  if (!first) {
    throw glanceError("GlanceError", `${name}: the engine module is not loaded yet; await init() first`);
  }
  return first;
}

/** Errors a frame loop meets in normal running, reported by the promise only (not as `error`). */
const ROUTINE_ERRORS = new Set(["EngineBusyError", "DisclosureHiddenError"]);
/** Lets only `create` construct an engine. */
const CREATE = Symbol("AudienceEngine.create");
const THREADS = ["auto", "worker", "main"];
/** A worker that does not answer a call for this long is taken for dead and restarted. */
const WORKER_TIMEOUT_MS = 20_000;
// While no frame comes (a host that paused its camera for a hidden notice), the engine looks at
// its notice this often, so `disclosurechange` still tells the host when it can be read again.
const IDLE_NOTICE_CHECK_MS = 500;

/**
 * Calls a progress callback; one that throws must not stop the engine.
 * @param {((progress: StartProgress) => void) | undefined} onProgress
 * @param {StartProgress} progress
 */
function report(onProgress, progress) {
  try {
    onProgress?.(progress);
  } catch {
    // ignored: see above
  }
}

/** The engine on the page's own thread: the module's engine, called directly. */
class MainThreadCore {
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
  get busy() { return this.#engine.busy; }
  get disclosure() { return this.#engine.disclosure; }
}

/** The worker could not run (no module workers here, a CSP forbidding them, ...). */
class WorkerUnavailable extends Error {}

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
/** @typedef {{ timeoutMs: number, onProgress: ((progress: StartProgress) => void) | undefined }} WorkerSettings */
/**
 * A message to the worker (see worker.js).
 * @typedef {{ method: "create", options: WorkerEngineOptions }
 *   | { method: "processFrame", frame: ImageData | VideoFrame | ImageBitmap, timestampMs: number, notice: DisclosureStatus }
 *   | { method: EngineMethod, args: unknown[] }} WorkerCall
 */
/**
 * The worker's answer to one call, with the engine's backend and memory as of then.
 * @typedef {{ id: number, value?: any, error?: ErrorData, events?: EngineEvent[], backend?: "cpu" | "webgpu",
 *   fallbackReason?: string | null, memoryBytes?: number }} WorkerAnswer
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
class WorkerCore {
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
  constructor(kind, options, { timeoutMs, onProgress }) {
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
    const created = this.#post({ method: "create", options: this.#options }, [], { timed: false }).then((answer) => {
      if (answer.error) throw errorFromData(answer.error);
    });
    // Sent once the page has it too (after the "module" progress report, which comes first).
    load(this.#kind)
      .then(() => compiled[this.#kind])
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
  get busy() { return this.#busy; }
  get disclosure() { return this.#closed ? { visible: false, reason: "the engine was closed" } : this.#noticeStatus(); }
}

/** What this browser lacks to run the engine in a worker, if anything. */
function missingForWorker() {
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
function workerOptions(options, models) {
  const { container: _container, ...banner } = options.banner ?? {};
  const { onProgress: _onProgress, responses: _responses, ...sendable } = models;
  return { ...options, ...(options.banner ? { banner } : {}), models: sendable };
}

/**
 * The engine, as an EventTarget: after each frame it dispatches what happened (`visitstart`,
 * `visitend`, `audiencechange`, `backendchange`, `disclosurechange`, `error`) and every ad it
 * picks (`decision`), so a host listens instead of polling `snapshot()`. `disclosurechange`
 * also comes while no frame does (the notice is looked at every half second then), so a host
 * that paused its camera for a hidden notice hears when it can be read again. Every event is a
 * CustomEvent whose `detail` is the aggregate it names; none carries pixels.
 *
 * It runs in a Worker where the browser has module Workers and OffscreenCanvas (`thread`
 * "auto", the default), else on the page's thread; either way every method returns a promise.
 */
export class AudienceEngine extends EventTarget {
  /** @type {EngineCore} */
  #core;
  /** @type {boolean} */
  #disclosureVisible;
  #lastFrameAt = 0;
  #noticeWatch = 0;

  /**
   * Loads the module the backend needs and, at the same time, the models; starts the engine.
   * @param {GlanceOptions} [options]
   */
  static async create(options) {
    // Without options the engine says what is missing (the notice's banner first).
    const { thread = "auto", workerTimeoutMs = WORKER_TIMEOUT_MS, ...engineOptions } = options ?? /** @type {GlanceOptions} */ ({});
    if (!THREADS.includes(thread)) throw glanceError("ConfigError", `must be one of ${THREADS.join(", ")}`, undefined, "thread");
    if (typeof workerTimeoutMs !== "number" || !(workerTimeoutMs >= 1000)) throw glanceError("ConfigError", "must be a number of milliseconds, at least 1000", undefined, "workerTimeoutMs");
    const kind = await moduleFor(engineOptions.backend);
    /** @type {ModelOptions & { responses?: ReturnType<typeof openModels> }} */
    const models = { ...(engineOptions.models ?? {}) };
    if (!models.bytes && !models.baseUrl && !models.urls) models.urls = packagedModels();
    const onProgress = models.onProgress;
    load(kind)
      .then(() => report(onProgress, { phase: "module", module: kind }))
      .catch(() => {});
    let reason = thread === "main" ? null : missingForWorker();
    if (reason && thread === "worker") throw glanceError("BackendUnavailableError", reason);
    if (thread !== "main" && !reason) {
      try {
        const settings = { timeoutMs: workerTimeoutMs, onProgress };
        const core = await WorkerCore.start(kind, workerOptions(engineOptions, models), engineOptions, settings);
        return new AudienceEngine(CREATE, core);
      } catch (error) {
        if (!(error instanceof WorkerUnavailable)) throw error;
        if (thread === "worker") throw glanceError("BackendUnavailableError", error.message);
        reason = error.message;
      }
    }
    // The weights download while the module compiles.
    models.responses = openModels(models);
    const module = await load(kind);
    const engine = await module.AudienceEngine.create({ ...engineOptions, models });
    return new AudienceEngine(CREATE, new MainThreadCore(engine, reason));
  }

  /**
   * Use `AudienceEngine.create`.
   * @param {symbol} token
   * @param {EngineCore} core
   */
  constructor(token, core) {
    super();
    if (token !== CREATE) throw glanceError("GlanceError", "use AudienceEngine.create(options)");
    this.#core = core;
    this.#disclosureVisible = core.disclosure.visible;
    core.onRestart = (error) => this.#emit("error", error);
    this.#noticeWatch = setInterval(() => {
      if (performance.now() - this.#lastFrameAt < IDLE_NOTICE_CHECK_MS) return;
      try {
        this.#checkDisclosure();
      } catch {
        // An engine that crashed says so on its next call; the watch has nothing to add.
      }
    }, IDLE_NOTICE_CHECK_MS);
  }

  /** `disclosurechange` when the notice became readable or unreadable since the last look. */
  #checkDisclosure() {
    const disclosure = this.#core.disclosure;
    if (disclosure.visible !== this.#disclosureVisible) {
      this.#disclosureVisible = disclosure.visible;
      this.#emit("disclosurechange", disclosure);
    }
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * After a frame, analysed or refused: the engine's events, then what changed.
   * @param {FrameOutcome} outcome
   */
  #afterFrame({ result, events }) {
    this.#lastFrameAt = performance.now();
    this.#checkDisclosure();
    if (result?.backendChanged) {
      this.#emit("backendchange", { backend: result.backend, reason: this.#core.fallbackReason ?? null });
    }
    for (const event of events) this.#emit(event.type, event);
  }

  /**
   * @param {FrameSource} source
   * @param {number} timestampMs
   * @returns {Promise<FrameResult>}
   */
  async processFrame(source, timestampMs) {
    // A frame on its way looks at the notice itself: the idle watch waits.
    this.#lastFrameAt = performance.now();
    const outcome = await this.#core.frame(source, timestampMs);
    this.#afterFrame(outcome);
    if (outcome.error !== undefined || !outcome.result) {
      if (!(outcome.error instanceof Error && ROUTINE_ERRORS.has(outcome.error.name))) this.#emit("error", outcome.error);
      throw outcome.error;
    }
    return outcome.result;
  }

  /** @param {Parameters<ModuleEngine["nextAd"]>} args */
  async nextAd(...args) {
    const decision = await this.#core.call("nextAd", args);
    this.#emit("decision", decision);
    return decision;
  }

  /** @param {Parameters<ModuleEngine["shouldInterrupt"]>} args */
  async shouldInterrupt(...args) {
    const decision = await this.#core.call("shouldInterrupt", args);
    if (decision) this.#emit("decision", decision);
    return decision;
  }

  // The rest as the engine module has them (their types: the module's declarations).
  /** @param {Parameters<ModuleEngine["snapshot"]>} args */
  snapshot(...args) { return this.#core.call("snapshot", args); }
  /** @param {Parameters<ModuleEngine["adStarted"]>} args */
  adStarted(...args) { return this.#core.call("adStarted", args); }
  /** @param {Parameters<ModuleEngine["adEnded"]>} args */
  adEnded(...args) { return this.#core.call("adEnded", args); }
  /** @param {Parameters<ModuleEngine["setRules"]>} args */
  setRules(...args) { return this.#core.call("setRules", args); }
  /** @param {Parameters<ModuleEngine["setOptions"]>} args */
  setOptions(...args) { return this.#core.call("setOptions", args); }
  /** @param {Parameters<ModuleEngine["report"]>} args */
  report(...args) { return this.#core.call("report", args); }
  /** @param {Parameters<ModuleEngine["saveState"]>} args */
  saveState(...args) { return this.#core.call("saveState", args); }
  /** @param {Parameters<ModuleEngine["takeRecords"]>} args */
  takeRecords(...args) { return this.#core.call("takeRecords", args); }
  /** @param {Parameters<ModuleEngine["endVisits"]>} args */
  endVisits(...args) { return this.#core.call("endVisits", args); }
  /** @param {Parameters<ModuleEngine["restoreState"]>} args */
  restoreState(...args) { return this.#core.call("restoreState", args); }
  async close() {
    clearInterval(this.#noticeWatch);
    this.#core.close();
  }
  get backend() { return this.#core.backend; }
  get fallbackReason() { return this.#core.fallbackReason; }
  /** The engine module's WebAssembly memory in bytes (from the worker's last answer there). */
  get memoryBytes() { return this.#core.memoryBytes; }
  get busy() { return this.#core.busy; }
  get disclosure() { return this.#core.disclosure; }
  /** Where the networks run: "worker" or "main" (the page's thread). */
  get thread() { return this.#core.thread; }
  /** Why they run on the page's thread although a worker was asked for ("auto"), if so. */
  get threadReason() { return this.#core.threadReason; }
}

/** @param {Parameters<EngineModule["validateRules"]>[0]} rules */
export function validateRules(rules) {
  return loaded("validateRules").validateRules(rules);
}

export function rulesSchema() {
  return loaded("rulesSchema").rulesSchema();
}

/**
 * @param {Parameters<EngineModule["simulateRules"]>[0]} rules
 * @param {Parameters<EngineModule["simulateRules"]>[1]} timeline
 */
export function simulateRules(rules, timeline) {
  return loaded("simulateRules").simulateRules(rules, timeline);
}

/**
 * @param {Parameters<EngineModule["reportFromState"]>[0]} state
 * @param {Parameters<EngineModule["reportFromState"]>[1]} [options]
 */
export function reportFromState(state, options) {
  return loaded("reportFromState").reportFromState(state, options);
}

/**
 * @param {Parameters<EngineModule["heartbeatRecord"]>[0]} screenId
 * @param {Parameters<EngineModule["heartbeatRecord"]>[1]} health
 * @param {Parameters<EngineModule["heartbeatRecord"]>[2]} [atMs]
 */
export function heartbeatRecord(screenId, health, atMs) {
  return loaded("heartbeatRecord").heartbeatRecord(screenId, health, atMs);
}

/** @param {Parameters<EngineModule["reportToCsv"]>[0]} report */
export function reportToCsv(report) {
  return loaded("reportToCsv").reportToCsv(report);
}
