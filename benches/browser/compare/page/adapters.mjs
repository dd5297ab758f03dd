// One adapter per library: `create({ task, backend, banner })` loads the library and its models
// the way its documentation shows (but from this server) and resolves to
// `{ backend, run(frame) -> Promise<faces found>, close() }`.
//
// task "detector": face boxes only, where the library can do that alone;
// task "full":     everything the library offers towards Glance's output: detection, landmarks /
//                  mesh, irises, head pose or gaze, age and gender. See README.md for the table.

const TFJS_WASM = "/lib/@tensorflow/tfjs-backend-wasm/dist/";

/** Glance: the product itself (pkg/), one AudienceEngine per row. */
async function glance({ task, backend, banner }) {
  const module = await import("/pkg/glance.js");
  await module.default({ backend });
  // Detector only: BlazeFace short range, boxes and six keypoints (MediaPipe FaceDetector's work).
  const pipeline = {
    detector: { detector: "shortRange", faceMesh: false, ageGender: false },
    full: {},
    video: { detectionIntervalMs: 500 },
    // The same without the fine scan (faces too small for the whole-frame view): its cost.
    "full-coarse": { minFaceHeight: 0 },
    "video-coarse": { detectionIntervalMs: 500, minFaceHeight: 0 },
    "video-one-worker": { detectionIntervalMs: 500 },
  }[task];
  // video-one-worker: the fine scan in the engine's own worker, as on a single core.
  const options = { backend, models: { baseUrl: "/pkg/models", cache: false }, pipeline, fineScanWorker: task !== "video-one-worker" };
  if (banner) options.banner = banner;
  const engine = await module.AudienceEngine.create(options);
  if (engine.backend !== backend) throw new Error(`asked for ${backend}, got ${engine.backend}: ${engine.fallbackReason}`);
  let t = 0;
  const adapter = {
    backend: engine.backend,
    /** The last frame's time by stage, as the engine measured it (`timingsMs`). */
    stages: null,
    run: async (frame) => {
      const result = await engine.processFrame(frame.imageData, (t += 66));
      adapter.stages = result.timingsMs;
      return result.faces.length;
    },
    close: () => engine.close(),
  };
  return adapter;
}

/** MediaPipe Tasks Vision: FaceDetector, or FaceLandmarker (478-point mesh with irises). */
async function mediapipe({ task, backend }) {
  const vision = await import("/lib/@mediapipe/tasks-vision/vision_bundle.mjs");
  const fileset = await vision.FilesetResolver.forVisionTasks("/lib/@mediapipe/tasks-vision/wasm");
  const delegate = backend === "gpu" ? "GPU" : "CPU";
  // IMAGE mode: every frame is detected afresh, as Glance does (VIDEO mode would track instead).
  if (task === "detector") {
    const detector = await vision.FaceDetector.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: "/models/blaze_face_short_range.tflite", delegate },
      runningMode: "IMAGE",
      minDetectionConfidence: 0.5,
    });
    return {
      backend: `wasm ${delegate}`,
      run: async (frame) => detector.detect(frame.imageData).detections.length,
      close: () => detector.close(),
    };
  }
  const video = task === "video";
  let t = 0;
  const landmarker = await vision.FaceLandmarker.createFromOptions(fileset, {
    baseOptions: { modelAssetPath: "/models/face_landmarker.task", delegate },
    runningMode: video ? "VIDEO" : "IMAGE",
    numFaces: 10,
    outputFaceBlendshapes: false,
    // The head pose (a 4x4 transform per face), the nearest it has to Glance's yaw/pitch/roll.
    outputFacialTransformationMatrixes: true,
  });
  return {
    backend: `wasm ${delegate}`,
    run: async (frame) => (video ? landmarker.detectForVideo(frame.imageData, (t += 66)) : landmarker.detect(frame.imageData)).faceLandmarks.length,
    close: () => landmarker.close(),
  };
}

/** @vladmandic/human: BlazeFace, or BlazeFace + FaceMesh + iris + FaceRes (age, gender, descriptor). */
async function human({ task, backend }) {
  const { Human } = await import("/lib/@vladmandic/human/dist/human.esm.js");
  const full = task === "full";
  const h = new Human({
    backend,
    wasmPath: TFJS_WASM,
    modelBasePath: "/lib/@vladmandic/human/models/",
    cacheModels: false,
    debug: false,
    warmup: "none",
    // No result caching between frames: every frame is analysed in full, as in Glance.
    cacheSensitivity: 0,
    // Glance gets the raw frame; Human's image filters (on by default) would add work.
    filter: { enabled: false },
    gesture: { enabled: false },
    body: { enabled: false },
    hand: { enabled: false },
    object: { enabled: false },
    segmentation: { enabled: false },
    face: {
      enabled: true,
      detector: { maxDetected: 10, skipFrames: 0, skipTime: 0, rotation: false },
      mesh: { enabled: full },
      iris: { enabled: full },
      attention: { enabled: false },
      description: { enabled: full, skipFrames: 0, skipTime: 0 },
      emotion: { enabled: false },
      antispoof: { enabled: false },
      liveness: { enabled: false },
    },
  });
  await h.load();
  const env = h.tf.env();
  const threads = backend === "wasm" && env.getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? "threads" : "1 thread";
  return {
    backend: backend === "wasm" ? `wasm (${threads})` : backend,
    run: async (frame) => {
      const result = await h.detect(frame.imageData);
      if (result.error) throw new Error(result.error);
      return result.face.length;
    },
    close: () => {},
  };
}

/** @vladmandic/face-api: TinyFaceDetector, or with 68 landmarks and age/gender. */
async function faceapi({ task, backend }) {
  const api = await import("/lib/@vladmandic/face-api/dist/face-api.esm.js");
  if (backend === "wasm") api.tf.setWasmPaths(TFJS_WASM);
  await api.tf.setBackend(backend);
  await api.tf.ready();
  const models = "/lib/@vladmandic/face-api/model";
  await api.nets.tinyFaceDetector.loadFromUri(models);
  if (task === "full") {
    await api.nets.faceLandmark68Net.loadFromUri(models);
    await api.nets.ageGenderNet.loadFromUri(models);
  }
  const options = new api.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 });
  const env = api.tf.env();
  const threads = backend === "wasm" && env.getBool("WASM_HAS_MULTITHREAD_SUPPORT") ? "threads" : "1 thread";
  // face-api takes media elements or tensors, not ImageData: it gets a canvas with the same pixels.
  return {
    backend: backend === "wasm" ? `wasm (${threads})` : backend,
    run: async (frame) =>
      task === "full"
        ? (await api.detectAllFaces(frame.canvas, options).withFaceLandmarks().withAgeAndGender()).length
        : (await api.detectAllFaces(frame.canvas, options)).length,
    close: () => {},
  };
}

export const ADAPTERS = { glance, mediapipe, human, faceapi };
