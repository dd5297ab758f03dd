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
//
// Beside this file: glance_modules.js (which module, downloaded and compiled once),
// glance_threads.js (the engine on the page's thread or in its worker) and glance_weights.js.

// The engine's error classes (a wasm-bindgen snippet both modules share; scripts/build-web
// writes its path here), exported so that `instanceof` works before and after a module loads.
import { glanceError } from "__GLANCE_ERRORS__";
import { load, loaded, moduleFor } from "./glance_modules.js";
import { MainThreadCore, WorkerCore, WorkerUnavailable, missingForWorker, report, workerOptions } from "./glance_threads.js";
import { openModels, packagedModels } from "./glance_weights.js";
export * from "__GLANCE_ERRORS__";
export { requestedModules } from "./glance_modules.js";

// Checked with `tsc --strict` in pkg/, against the package's declarations (glance.d.ts); the
// modules are loaded by glance_modules.js, and run on the page's thread or in a worker by
// glance_threads.js.
/** @typedef {import("./glance.js").GlanceOptions} GlanceOptions */
/** @typedef {import("./glance.js").InitOptions} InitOptions */
/** @typedef {import("./glance.js").FrameSource} FrameSource */
/** @typedef {import("./glance.js").FrameResult} FrameResult */
/** @typedef {import("./glance.js").ModelOptions} ModelOptions */
/** @typedef {import("./glance_modules.js").EngineModule} EngineModule */
/** @typedef {import("./glance_threads.js").ModuleEngine} ModuleEngine */
/** @typedef {import("./glance_threads.js").EngineCore} EngineCore */
/** @typedef {import("./glance_threads.js").FrameOutcome} FrameOutcome */

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
    const { thread = "auto", workerTimeoutMs = WORKER_TIMEOUT_MS, fineScanWorker = true, ...engineOptions } = options ?? /** @type {GlanceOptions} */ ({});
    if (!THREADS.includes(thread)) throw glanceError("ConfigError", `must be one of ${THREADS.join(", ")}`, undefined, "thread");
    if (typeof workerTimeoutMs !== "number" || !(workerTimeoutMs >= 1000)) throw glanceError("ConfigError", "must be a number of milliseconds, at least 1000", undefined, "workerTimeoutMs");
    if (typeof fineScanWorker !== "boolean") throw glanceError("ConfigError", "must be true or false", undefined, "fineScanWorker");
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
        const settings = { timeoutMs: workerTimeoutMs, onProgress, fineScanWorker };
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
  /** Whether a second worker runs the fine scan (as of the engine's worker's last answer). */
  get fineScanWorker() { return this.#core.fineScanWorker; }
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
