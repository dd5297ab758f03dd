/** Options of {@link init}. */
export interface InitOptions {
  /** Which engine module to load: "auto" (default) takes the WebGPU one when `navigator.gpu` gives an adapter. */
  backend?: "auto" | "webgpu" | "cpu";
  /** Where that module's wasm comes from (a URL, a Response or the bytes), instead of beside this file. */
  moduleOrPath?: RequestInfo | URL | Response | BufferSource | WebAssembly.Module;
}

/**
 * Loads the engine module a backend needs (the CPU-only one, or the WebGPU one, which also
 * carries the CPU backend) and resolves to its name. `AudienceEngine.create` calls it itself;
 * await it first only to use the plain functions (validateRules, rulesSchema, ...).
 */
export default function init(options?: InitOptions): Promise<"cpu" | "webgpu">;

/** The engine modules this page has asked for so far. */
export function requestedModules(): Array<"cpu" | "webgpu">;
