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

/** The base class of every error the engine throws; `name` says which. */
export class GlanceError extends Error {
  readonly name: ErrorName;
}
/** The frame given cannot be analysed (zero size, a video without a frame yet, ...). */
export class InvalidFrameError extends GlanceError {
  readonly name: "InvalidFrameError";
}
/** An image or video could not be decoded. */
export class DecodeError extends GlanceError {
  readonly name: "DecodeError";
}
/** Model weights or the engine module could not be fetched, or the weights do not fit. */
export class ModelLoadError extends GlanceError {
  readonly name: "ModelLoadError";
}
/** The requested backend is not available here (`backend: "webgpu"` without a GPU). */
export class BackendUnavailableError extends GlanceError {
  readonly name: "BackendUnavailableError";
}
/** Options that cannot work together or are out of range. */
export class ConfigError extends GlanceError {
  readonly name: "ConfigError";
  /** The option at fault as a path in the options ("pipeline.minDetectionScore"); "" for the options as a whole. */
  readonly path: string;
}
/** A rules document that cannot be used; the rules running before stay. */
export class RulesValidationError extends GlanceError {
  readonly name: "RulesValidationError";
  /** Every problem, each with its JSON path in the document. */
  readonly issues: ValidationIssue[];
}
/** Proof of play out of order: an ad ended that never started, or started twice. */
export class AdPlayError extends GlanceError {
  readonly name: "AdPlayError";
}
/** A saved state that cannot be restored (another schema version, other age bands, damaged). */
export class StateError extends GlanceError {
  readonly name: "StateError";
}
/** A report that cannot be exported. */
export class ExportError extends GlanceError {
  readonly name: "ExportError";
}
/** `processFrame` while the previous frame is still being analysed: skip this frame. */
export class EngineBusyError extends GlanceError {
  readonly name: "EngineBusyError";
}
/** The engine was closed. */
export class EngineClosedError extends GlanceError {
  readonly name: "EngineClosedError";
}
/** The engine stopped after an internal failure; reload the page or create a new engine. */
export class EngineCrashedError extends GlanceError {
  readonly name: "EngineCrashedError";
  /** A call that failed because the engine's worker stopped: a new one is starting, later calls work. */
  readonly restarting?: boolean;
  /** In an `error` event: the new worker took over. */
  readonly restarted?: boolean;
  /** In an `error` event: the save the new worker started from (the audience since it is lost). */
  readonly restoredFromMs?: number;
}
/** Analysis refused: the disclosure notice is not in the page or not readable. */
export class DisclosureHiddenError extends GlanceError {
  readonly name: "DisclosureHiddenError";
}

/** `backendchange`: the GPU was lost and the CPU backend took over, keeping the audience. */
export interface BackendChange {
  backend: "webgpu" | "cpu";
  reason: string | null;
}

/** The events an {@link AudienceEngine} dispatches; each is a CustomEvent with this `detail`. */
export interface AudienceEngineEventMap {
  /** A person was first tracked. */
  visitstart: CustomEvent<VisitStart & { type: "visitstart" }>;
  /** A person's visit ended: dwell, attention, band and gender, aggregates only. */
  visitend: CustomEvent<VisitEnd & { type: "visitend" }>;
  /** Who is present, watching or looking changed, or the band x gender counts did. */
  audiencechange: CustomEvent<AudienceSnapshot & { type: "audiencechange" }>;
  /** `nextAd` or `shouldInterrupt` picked an ad. */
  decision: CustomEvent<Decision>;
  backendchange: CustomEvent<BackendChange>;
  /** The notice became readable, or stopped being so (analysis stops while it is not). */
  disclosurechange: CustomEvent<DisclosureStatus>;
  /**
   * `processFrame` failed for a reason other than a busy engine or a hidden notice; or the
   * engine's worker stopped and a new one took over (an EngineCrashedError with `restarted`
   * true and `restoredFromMs`, when the state it started from was saved).
   */
  error: CustomEvent<GlanceError | EngineCrashedError>;
}

export interface AudienceEngine {
  /** Where the networks run: "worker" (a dedicated Worker) or "main" (the page's thread). */
  readonly thread: "worker" | "main";
  /** Why they run on the page's thread although `thread: "auto"` asked for a worker, if so. */
  readonly threadReason: string | undefined;
  /**
   * Whether a second worker runs the fine scan (small faces) beside the engine's, as of the
   * worker's last answer (see `fineScanWorker` in GlanceOptions).
   */
  readonly fineScanWorker: boolean;
  addEventListener<K extends keyof AudienceEngineEventMap>(type: K, listener: (this: AudienceEngine, event: AudienceEngineEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof AudienceEngineEventMap>(type: K, listener: (this: AudienceEngine, event: AudienceEngineEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}
