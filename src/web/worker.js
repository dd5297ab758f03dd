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

/** The engine module's glue: its `init` and its AudienceEngine class. */
let glue;

/** The engine, once created. */
let engine = null;
/** Resolves to the compiled module the page sends after `create`. */
let moduleArrived;
const compiledModule = new Promise((resolve) => {
  moduleArrived = resolve;
});

/** An error as data: its class's name and the fields that class carries. */
function errorData(error) {
  return {
    name: typeof error?.name === "string" ? error.name : "Error",
    message: String(error?.message ?? error),
    issues: error?.issues,
    path: error?.path,
  };
}

function engineState() {
  return engine ? { backend: engine.backend, fallbackReason: engine.fallbackReason ?? null, memoryBytes: engine.memoryBytes } : {};
}

async function create({ options }) {
  const { init, AudienceEngine } = glue;
  const models = { ...options.models };
  models.responses = openModels(models);
  models.onProgress = (progress) => postMessage({ type: "progress", progress });
  await init({ module_or_path: await compiledModule });
  engine = await AudienceEngine.create({ ...options, models, hostNotice: true });
}

async function processFrame({ frame, timestampMs, notice }) {
  try {
    engine.setHostNotice(notice);
    return await engine.processFrame(frame, timestampMs);
  } finally {
    frame.close?.();
  }
}

/** The engine's events after a frame, analysed or refused. */
function takeEvents() {
  try {
    return engine?.takeEvents() ?? [];
  } catch {
    return []; // a closed or crashed engine has nothing more to tell
  }
}

async function answer(message) {
  const { id, method } = message;
  try {
    let value;
    if (method === "create") value = await create(message);
    else if (method === "processFrame") value = await processFrame(message);
    else value = engine[method](...(message.args ?? []));
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, value, events, ...engineState() });
  } catch (error) {
    const events = method === "processFrame" ? takeEvents() : undefined;
    postMessage({ id, error: errorData(error), events, ...engineState() });
  }
}

/** Answers the page's messages with the engine module whose glue is given. */
export function serveEngine(engineGlue) {
  glue = engineGlue;
  self.onmessage = ({ data }) => {
    if (data?.type === "module") moduleArrived(data.module);
    else answer(data);
  };
}
