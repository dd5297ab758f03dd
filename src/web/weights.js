// The model weights (pkg/glance_weights.js), shared by the entry module and the engine's worker:
// where the package's own files are, and one request per file, from the Cache API when it
// holds the file.

/** The networks' weight files (`<name>.bpk`): the same list, in the same order, as
 * src/web/models.rs's MODEL_NAMES (a Rust test compares them). */
/** @typedef {import("./glance.js").ModelName} ModelName */

/** @type {ModelName[]} */
export const MODEL_NAMES = ["face_detection_full_range", "face_detection_short_range", "face_landmark", "iris_landmark", "age_gender", "centerface"];
/** The package version, written here by scripts/build-web: the default Cache API name. */
const VERSION = "__GLANCE_VERSION__";

/**
 * The package's own weights, one literal `new URL(..., import.meta.url)` each, so that a bundler
 * (Vite, webpack, esbuild, Parcel) copies every file and rewrites its URL with no configuration.
 * @returns {Record<ModelName, string>}
 */
export function packagedModels() {
  return {
    face_detection_full_range: new URL("./models/face_detection_full_range.bpk", import.meta.url).href,
    face_detection_short_range: new URL("./models/face_detection_short_range.bpk", import.meta.url).href,
    face_landmark: new URL("./models/face_landmark.bpk", import.meta.url).href,
    iris_landmark: new URL("./models/iris_landmark.bpk", import.meta.url).href,
    age_gender: new URL("./models/age_gender.bpk", import.meta.url).href,
    centerface: new URL("./models/centerface.bpk", import.meta.url).href,
  };
}

/**
 * Starts every weight file's request at once, from the Cache API when it holds the file (the
 * kiosk then starts offline), else from the network, storing a copy. Resolves per model to a
 * Response whose body the engine reads with progress reports.
 * @param {Omit<import("./glance.js").ModelOptions, "onProgress">} models
 * @param {readonly ModelName[]} [names] the files to open (default: every network's)
 * @returns {Partial<Record<ModelName, Promise<Response>>>}
 */
export function openModels(models, names = MODEL_NAMES) {
  const cacheName = models.cache === false ? null : typeof models.cache === "string" ? models.cache : `glance-models-${VERSION}`;
  const cache = cacheName && globalThis.caches ? globalThis.caches.open(cacheName).catch(() => null) : Promise.resolve(null);
  /** @type {Partial<Record<ModelName, Promise<Response>>>} */
  const responses = {};
  for (const name of names) {
    const url = models.urls?.[name] ?? (models.baseUrl ? `${String(models.baseUrl).replace(/\/+$/, "")}/${name}.bpk` : null);
    if (!url || models.bytes?.[name]) continue;
    const response = (async () => {
      const store = await cache;
      const hit = await store?.match(url).catch(() => undefined);
      if (hit) return hit;
      const response = await fetch(url).catch((e) => {
        throw new Error(`${url}: ${e instanceof Error ? e.message : e}`);
      });
      // Best effort, not waited for: a full cache costs only the next start's download.
      if (response.ok && store) store.put(url, response.clone()).catch(() => {});
      return response;
    })();
    response.catch(() => {}); // reported by the engine, which awaits it
    responses[name] = response;
  }
  return responses;
}
