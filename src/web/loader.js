// Glance's entry module (pkg/glance.js). The engine is built twice: a CPU-only module and a
// WebGPU one that also carries the CPU backend, for falling back when the GPU is lost. This
// loader picks one from what the browser offers before downloading either, so a kiosk without
// a GPU never downloads the WebGPU backend, and forwards the API to it.
//
// `backend: "cpu"` / `"webgpu"` force the choice; `"auto"` (the default) takes the WebGPU
// module when `navigator.gpu` gives an adapter. Modules load once per page and are shared.

/** The networks' weight files (`<name>.bpk`): the same list, in the same order, as
 * src/web/models.rs's MODEL_NAMES (a Rust test compares them). */
const MODEL_NAMES = ["face_detection_full_range", "face_detection_short_range", "face_landmark", "iris_landmark", "age_gender", "centerface"];
/** The package version, written here by scripts/build-web: the default Cache API name. */
const VERSION = "__GLANCE_VERSION__";

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

/** A named Error, as the engine's own errors are (before a module is loaded, its classes are not). */
function namedError(name, message) {
  const error = new Error(message);
  Object.defineProperty(error, "name", { value: name });
  return error;
}

/**
 * Compiles a module's wasm while it downloads. Started before the glue module is imported, so
 * the download does not wait for the glue and its imports; asked for at high priority, ahead of
 * the weights, which are needed only once the module runs.
 */
async function compileWasm(url) {
  const response = await fetch(url, { priority: "high" }).catch((e) => {
    throw namedError("ModelLoadError", `${url}: ${e?.message ?? e}`);
  });
  if (!response.ok) throw namedError("ModelLoadError", `${url}: HTTP ${response.status} ${response.statusText}`);
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
    throw namedError("GlanceError", `${name}: the engine module is not loaded yet; await init() first`);
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

export class AudienceEngine {
  /** Loads the module the backend needs and, at the same time, the models; starts the engine. */
  static async create(options = {}) {
    const kind = await moduleFor(options?.backend);
    const models = { ...(options?.models ?? {}) };
    // The package's own weights, found beside this file wherever a bundler put it.
    if (!models.bytes && !models.baseUrl && !models.urls) models.baseUrl = new URL("./models", import.meta.url).href;
    // The weights download while the module compiles.
    models.responses = openModels(models);
    const module = await load(kind);
    try {
      models.onProgress?.({ phase: "module", module: kind });
    } catch {
      // A throwing progress callback must not stop the engine.
    }
    return module.AudienceEngine.create({ ...options, models });
  }

  /** An engine from either module is an AudienceEngine. */
  static [Symbol.hasInstance](value) {
    return loadedModules.some((m) => value instanceof m.AudienceEngine);
  }
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

export function reportToCsv(report) {
  return loaded("reportToCsv").reportToCsv(report);
}
