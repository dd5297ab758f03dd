//! TypeScript declarations of what only the browser binding has (frame sources, model sources,
//! start progress). Every option, result and event type the Rust library defines is generated
//! from its JSON Schema by scripts/build-web (scripts/gen-types.mjs) and added beside these.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A frame to analyse. The engine copies its pixels, analyses them and drops them. */
export type FrameSource = ImageData | HTMLVideoElement | VideoFrame | ImageBitmap;

export type ModelName = "face_detection_full_range" | "face_detection_short_range" | "face_landmark" | "iris_landmark" | "age_gender" | "centerface";

export interface ModelOptions {
  /** Weights (.bpk) given directly; they win over URLs. */
  bytes?: Partial<Record<ModelName, Uint8Array>>;
  /** Folder holding `<name>.bpk` for every model. Default: the package's own `models/`. */
  baseUrl?: string;
  /** Per-model URLs, overriding `baseUrl`. */
  urls?: Partial<Record<ModelName, string>>;
  /** Cache API cache name, or false to not cache. Default "glance-models-<version>". */
  cache?: string | false;
  /**
   * Called as the engine starts, in order: "module" (the engine module compiled, once per
   * page), "download" for every chunk of every model (`total` is null when the server
   * compresses the file), "load" (weights on the backend) and, on WebGPU, "warmup" (a blank
   * frame compiled the shaders), once per backend tried.
   */
  onProgress?: (progress: StartProgress) => void;
}

export type StartProgress =
  | { phase: "module"; module: "cpu" | "webgpu" }
  | { phase: "download"; model: ModelName; loaded: number; total: number | null }
  | { phase: "load" | "warmup"; backend: "webgpu" | "cpu" };

/** Options of `AudienceEngine.create`: the engine's options (EngineOptions, generated from the
 * Rust types) plus what only a browser has: where the weights come from, where the notice goes. */
export interface GlanceOptions extends Omit<EngineOptions, "banner"> {
  models?: ModelOptions;
  /**
   * Where the networks run (the entry module's choice): "auto" (default) in a dedicated module
   * Worker where the browser has module Workers and OffscreenCanvas, else on the page's thread;
   * "worker" or "main" force it. The notice is always shown and measured on the page's thread.
   */
  thread?: "auto" | "worker" | "main";
  /**
   * A worker that does not answer a call within this many milliseconds (default 20000, at
   * least 1000) is taken for dead: a new one takes over from the last saved state.
   */
  workerTimeoutMs?: number;
  /**
   * With the engine in a worker on the CPU and more than one core (`navigator.hardwareConcurrency`),
   * a second worker runs the fine scan (CenterFace looking for small faces, a band of the frame
   * at a time) while the engine analyses the next frame (default true). The results are the
   * same either way; only the time moves off the engine's core. `engine.fineScanWorker` says
   * whether one runs.
   */
  fineScanWorker?: boolean;
  /** The disclosure notice the engine renders and requires to be readable while it analyses. */
  banner: BannerOptions & {
    /** Where the notice is inserted. Default `document.body`. */
    container?: HTMLElement;
  };
}
"#;
