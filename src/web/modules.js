// Where the engine modules come from (pkg/glance_modules.js, beside the entry module): the
// CPU-only or the WebGPU module, chosen from what the browser offers, downloaded and compiled
// (streaming) once per page, and shared by the page's engines and their workers.
import { glanceError } from "__GLANCE_ERRORS__";

// Checked with `tsc --strict` in pkg/, against the package's declarations (glance.d.ts).
/** @typedef {import("./glance.js").GlanceOptions} GlanceOptions */
/** @typedef {import("./glance.js").InitOptions} InitOptions */
/** @typedef {import("./glance.js").DisclosureStatus} DisclosureStatus */
/** @typedef {"cpu" | "webgpu"} ModuleKind */
/**
 * The notice on the page's thread for an engine in a worker (the module's DisclosureNotice).
 * @typedef {{ status(): DisclosureStatus, setOptions(patch: unknown): void, close(): void }} Notice
 */
/**
 * One engine module's glue (the two have the same API), with what its declarations leave out.
 * @typedef {typeof import("./glance_cpu.js") & { DisclosureNotice: { mount(options: GlanceOptions): Notice } }} EngineModule
 */

/** @type {Partial<Record<ModuleKind, Promise<EngineModule>>>} */
const modules = {};
/** @type {EngineModule[]} The modules loaded, first first: the plain functions (validateRules, ...) call the first. */
const loadedModules = [];

/** @param {unknown} error */
export function messageOf(error) {
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
export async function moduleFor(backend = "auto") {
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
export function load(kind, moduleOrPath) {
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

/** The modules this page has asked for ("cpu", "webgpu"): for diagnostics and tests. */
export function requestedModules() {
  return /** @type {ModuleKind[]} */ (Object.keys(modules));
}

/** @param {string} name what needs it, for the error */
export function loaded(name) {
  const first = loadedModules[0];
  if (!first) {
    throw glanceError("GlanceError", `${name}: the engine module is not loaded yet; await init() first`);
  }
  return first;
}

/**
 * The compiled wasm of a module `load` was asked for, to start an engine's worker without
 * compiling again.
 * @param {ModuleKind} kind
 */
export function compiledModule(kind) {
  return compiled[kind];
}
