// The engine's Worker (pkg/glance_worker.js), started by the entry module (glance.js) for
// `thread: "worker"` through one small entry per engine module (pkg/glance_worker_cpu.js and
// glance_worker_webgpu.js, written by scripts/build-web), so a worker imports only the glue of
// the module it runs. It runs the engine module the page compiled (sent as a WebAssembly.Module,
// so nothing is downloaded or compiled twice), fetches the weights itself, and answers the
// page's calls one message each. The disclosure notice stays on the page: every frame comes with
// the page's verdict, measured before the frame was taken, and is analysed only when it says the
// notice was readable. Frames arrive transferred and are closed here after use.
//
// Messages in:  { id, method: "create", options }, then { type: "module", module };
//               { id, method: "processFrame", frame, timestampMs, notice };
//               { id, method, args } for the engine's other methods.
// Messages out: { type: "progress", progress }; { id, value } or { id, error } with the
//               engine's `backend`, `fallbackReason` and `memoryBytes`, and for frames the
//               engine's events.

import { openModels } from "./glance_weights.js";

// Checked with `tsc --strict` in pkg/ (www/jsconfig.worker.json), against the module's declarations.
/** @typedef {import("./glance_cpu.js").AudienceEngine} ModuleEngine */
/**
 * The module's engine, with the method its declarations leave out (the page's verdict on the notice).
 * @typedef {ModuleEngine & { setHostNotice(notice: unknown): void }} WorkerEngine
 */
/**
 * The engine module's glue (either module's): its `init` and its AudienceEngine class.
 * @typedef {{ init: (input: { module_or_path: WebAssembly.Module }) => Promise<unknown>,
 *   AudienceEngine: { create(options: import("./glance.js").GlanceOptions & { hostNotice: true }): Promise<ModuleEngine> } }} Glue
 */

/** @type {Glue | null} */
let glue = null;

/** @type {WorkerEngine | null} The engine, once created. */
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
  return engine ? { backend: engine.backend, fallbackReason: engine.fallbackReason ?? null, memoryBytes: engine.memoryBytes } : {};
}

/** @param {{ options: import("./glance.js").GlanceOptions }} message */
async function create({ options }) {
  if (!glue) throw new Error("the worker has no engine module");
  const { init, AudienceEngine } = glue;
  /** @type {import("./glance.js").ModelOptions & { responses?: ReturnType<typeof openModels> }} */
  const models = { ...options.models };
  models.responses = openModels(models);
  models.onProgress = (progress) => postMessage({ type: "progress", progress });
  await init({ module_or_path: await compiledModule });
  engine = /** @type {WorkerEngine} */ (await AudienceEngine.create({ ...options, models, hostNotice: true }));
}

/** @param {{ frame: ImageData | VideoFrame | ImageBitmap, timestampMs: number, notice: unknown }} message */
async function processFrame({ frame, timestampMs, notice }) {
  try {
    const running = created();
    running.setHostNotice(notice);
    return await running.processFrame(/** @type {import("./glance.js").FrameSource} */ (frame), timestampMs);
  } finally {
    if (!(frame instanceof ImageData)) frame.close();
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
    }
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, value, events, ...engineState() });
  } catch (error) {
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, error: errorData(error), events, ...engineState() });
  }
}

/**
 * Answers the page's messages with the engine module whose glue is given.
 * @param {Glue} engineGlue
 */
export function serveEngine(engineGlue) {
  glue = engineGlue;
  self.onmessage = ({ data }) => {
    if (data?.type === "module") moduleArrived(data.module);
    else answer(data);
  };
}
