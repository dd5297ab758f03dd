// Glance's entry module (pkg/glance.js). The engine is built twice: a CPU-only module and a
// WebGPU one that also carries the CPU backend, for falling back when the GPU is lost. This
// loader picks one from what the browser offers before downloading either, so a kiosk without
// a GPU never downloads the WebGPU backend, and forwards the API to it.
//
// `backend: "cpu"` / `"webgpu"` force the choice; `"auto"` (the default) takes the WebGPU
// module when `navigator.gpu` gives an adapter. Modules load once per page and are shared.

// The engine's error classes (a wasm-bindgen snippet both modules share; scripts/build-web
// writes its path here), exported so that `instanceof` works before and after a module loads.
import { glanceError } from "__GLANCE_ERRORS__";
export * from "__GLANCE_ERRORS__";

/** The networks' weight files (`<name>.bpk`): the same list, in the same order, as
 * src/web/models.rs's MODEL_NAMES (a Rust test compares them). */
const MODEL_NAMES = ["face_detection_full_range", "face_detection_short_range", "face_landmark", "iris_landmark", "age_gender", "centerface"];
/** The package version, written here by scripts/build-web: the default Cache API name. */
const VERSION = "__GLANCE_VERSION__";

/**
 * The package's own weights, one literal `new URL(..., import.meta.url)` each, so that a bundler
 * (Vite, webpack, esbuild, Parcel) copies every file and rewrites its URL with no configuration.
 */
function packagedModels() {
  return {
    face_detection_full_range: new URL("./models/face_detection_full_range.bpk", import.meta.url).href,
    face_detection_short_range: new URL("./models/face_detection_short_range.bpk", import.meta.url).href,
    face_landmark: new URL("./models/face_landmark.bpk", import.meta.url).href,
    iris_landmark: new URL("./models/iris_landmark.bpk", import.meta.url).href,
    age_gender: new URL("./models/age_gender.bpk", import.meta.url).href,
    centerface: new URL("./models/centerface.bpk", import.meta.url).href,
  };
}

/** @type {Record<string, Promise<any>>} */
const modules = {};
/** The modules loaded, first first: the plain functions (validateRules, ...) call the first. */
const loadedModules = [];

async function gpuOffered() {
  try {
    return Boolean(globalThis.navigator?.gpu && (await globalThis.navigator.gpu.requestAdapter()));
  } catch {
    return false;
  }
}

/** Which module a backend choice needs: "cpu" or "webgpu". */
async function moduleFor(backend = "auto") {
  if (backend === "cpu") return "cpu";
  if (backend === "webgpu") return "webgpu";
  return (await gpuOffered()) ? "webgpu" : "cpu";
}

/**
 * Compiles a module's wasm while it downloads. Started before the glue module is imported, so
 * the download does not wait for the glue and its imports; asked for at high priority, ahead of
 * the weights, which are needed only once the module runs.
 */
async function compileWasm(url) {
  const response = await fetch(url, { priority: "high" }).catch((e) => {
    throw glanceError("ModelLoadError", `${url}: ${e?.message ?? e}`);
  });
  if (!response.ok) throw glanceError("ModelLoadError", `${url}: HTTP ${response.status} ${response.statusText}`);
  // Streaming compilation needs the wasm MIME type; a server without it still works, slower.
  if (response.headers.get("Content-Type")?.startsWith("application/wasm") && WebAssembly.compileStreaming) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

/** Downloads, compiles (streaming) and instantiates one module, once. */
function load(kind, moduleOrPath) {
  modules[kind] ??= (async () => {
    // Literal URLs and specifiers, so bundlers see both modules and split them.
    const wasm =
      moduleOrPath ?? compileWasm(kind === "webgpu" ? new URL("./glance_webgpu_bg.wasm", import.meta.url) : new URL("./glance_cpu_bg.wasm", import.meta.url));
    wasm.catch?.(() => {}); // awaited below, after the glue
    const module = kind === "webgpu" ? await import("./glance_webgpu.js") : await import("./glance_cpu.js");
    await module.default({ module_or_path: await wasm });
    loadedModules.push(module);
    return module;
  })();
  modules[kind].catch(() => delete modules[kind]);
  return modules[kind];
}

/**
 * Loads the module for `options.backend` (default "auto"); `options.moduleOrPath` overrides
 * where its wasm comes from. `AudienceEngine.create` calls this itself; call it first only to
 * use the plain functions (validateRules, rulesSchema, ...). Resolves to the module's name.
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

function loaded(name) {
  const first = loadedModules[0];
  if (!first) {
    throw glanceError("GlanceError", `${name}: the engine module is not loaded yet; await init() first`);
  }
  return first;
}

/**
 * Starts every weight file's request at once, from the Cache API when it holds the file (the
 * kiosk then starts offline), else from the network, storing a copy. Resolves per model to a
 * Response whose body the engine reads with progress reports.
 */
function openModels(models) {
  const cacheName = models.cache === false ? null : typeof models.cache === "string" ? models.cache : `glance-models-${VERSION}`;
  const cache = cacheName && globalThis.caches ? globalThis.caches.open(cacheName).catch(() => null) : Promise.resolve(null);
  const responses = {};
  for (const name of MODEL_NAMES) {
    const url = models.urls?.[name] ?? (models.baseUrl ? `${String(models.baseUrl).replace(/\/+$/, "")}/${name}.bpk` : null);
    if (!url || models.bytes?.[name]) continue;
    responses[name] = (async () => {
      const store = await cache;
      const hit = await store?.match(url).catch(() => undefined);
      if (hit) return hit;
      const response = await fetch(url).catch((e) => {
        throw new Error(`${url}: ${e?.message ?? e}`);
      });
      // Best effort, not waited for: a full cache costs only the next start's download.
      if (response.ok && store) store.put(url, response.clone()).catch(() => {});
      return response;
    })();
    responses[name].catch(() => {}); // reported by the engine, which awaits it
  }
  return responses;
}

/** Errors a frame loop meets in normal running, reported by the promise only (not as `error`). */
const ROUTINE_ERRORS = new Set(["EngineBusyError", "DisclosureHiddenError"]);
/** Lets only `create` construct an engine. */
const CREATE = Symbol("AudienceEngine.create");

/**
 * The engine, as an EventTarget: after each frame it dispatches what happened (`visitstart`,
 * `visitend`, `audiencechange`, `backendchange`, `disclosurechange`, `error`) and every ad it
 * picks (`decision`), so a host listens instead of polling `snapshot()`. Every event is a
 * CustomEvent whose `detail` is the aggregate it names; none carries pixels.
 */
export class AudienceEngine extends EventTarget {
  #engine;
  #disclosureVisible;

  /** Loads the module the backend needs and, at the same time, the models; starts the engine. */
  static async create(options = {}) {
    const kind = await moduleFor(options?.backend);
    const models = { ...(options?.models ?? {}) };
    if (!models.bytes && !models.baseUrl && !models.urls) models.urls = packagedModels();
    // The weights download while the module compiles.
    models.responses = openModels(models);
    const module = await load(kind);
    try {
      models.onProgress?.({ phase: "module", module: kind });
    } catch {
      // A throwing progress callback must not stop the engine.
    }
    return new AudienceEngine(CREATE, await module.AudienceEngine.create({ ...options, models }));
  }

  /** Use `AudienceEngine.create`. */
  constructor(token, engine) {
    super();
    if (token !== CREATE) throw glanceError("GlanceError", "use AudienceEngine.create(options)");
    this.#engine = engine;
    this.#disclosureVisible = engine.disclosure.visible;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** After a frame, analysed or refused: the engine's queued events, then what changed. */
  #afterFrame(result) {
    const disclosure = this.#engine.disclosure;
    if (disclosure.visible !== this.#disclosureVisible) {
      this.#disclosureVisible = disclosure.visible;
      this.#emit("disclosurechange", disclosure);
    }
    if (result?.backendChanged) {
      this.#emit("backendchange", { backend: result.backend, reason: this.#engine.fallbackReason ?? null });
    }
    for (const event of this.#engine.takeEvents()) this.#emit(event.type, event);
  }

  async processFrame(...args) {
    let result;
    try {
      result = await this.#engine.processFrame(...args);
    } catch (error) {
      try {
        this.#afterFrame(null);
      } catch {
        // A closed or crashed engine has nothing more to tell.
      }
      if (!ROUTINE_ERRORS.has(error?.name)) this.#emit("error", error);
      throw error;
    }
    this.#afterFrame(result);
    return result;
  }

  nextAd(...args) {
    const decision = this.#engine.nextAd(...args);
    this.#emit("decision", decision);
    return decision;
  }

  shouldInterrupt(...args) {
    const decision = this.#engine.shouldInterrupt(...args);
    if (decision) this.#emit("decision", decision);
    return decision;
  }

  // The rest as the engine module has them (their types: the module's declarations).
  snapshot(...args) { return this.#engine.snapshot(...args); }
  adStarted(...args) { return this.#engine.adStarted(...args); }
  adEnded(...args) { return this.#engine.adEnded(...args); }
  setRules(...args) { return this.#engine.setRules(...args); }
  setOptions(...args) { return this.#engine.setOptions(...args); }
  report(...args) { return this.#engine.report(...args); }
  saveState(...args) { return this.#engine.saveState(...args); }
  takeRecords(...args) { return this.#engine.takeRecords(...args); }
  endVisits(...args) { return this.#engine.endVisits(...args); }
  restoreState(...args) { return this.#engine.restoreState(...args); }
  close(...args) { return this.#engine.close(...args); }
  get backend() { return this.#engine.backend; }
  get fallbackReason() { return this.#engine.fallbackReason; }
  get busy() { return this.#engine.busy; }
  get disclosure() { return this.#engine.disclosure; }
}

export function validateRules(rules) {
  return loaded("validateRules").validateRules(rules);
}

export function rulesSchema() {
  return loaded("rulesSchema").rulesSchema();
}

export function simulateRules(rules, timeline) {
  return loaded("simulateRules").simulateRules(rules, timeline);
}

export function reportFromState(state, options) {
  return loaded("reportFromState").reportFromState(state, options);
}

export function heartbeatRecord(screenId, health, atMs) {
  return loaded("heartbeatRecord").heartbeatRecord(screenId, health, atMs);
}

export function reportToCsv(report) {
  return loaded("reportToCsv").reportToCsv(report);
}
