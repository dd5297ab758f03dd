//! TypeScript declarations of the options and results (plain JS objects, camelCase as the Rust
//! types serialise). `tests/typescript.rs` keeps them in step with the Rust types.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A frame to analyse. The engine copies its pixels, analyses them and drops them. */
export type FrameSource = ImageData | HTMLVideoElement | VideoFrame | ImageBitmap;

export type Backend = "auto" | "webgpu" | "cpu";
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

export interface PipelineOptions {
  /** "both" (default) | "fullRange" | "shortRange". */
  detector?: "both" | "fullRange" | "shortRange";
  /** Default 0.4. */ minDetectionScore?: number;
  /** Video mode: a followed face stays while its detector score is at least this. Default 0.25. */ minTrackingScore?: number;
  /** Default 0.3. */ nmsIouThreshold?: number;
  /** Default 10. */ maxFaces?: number;
  /** Pixels; default 32. */ minFaceSizeForAttributes?: number;
  /** Pixels; default 10. */ minEyeWidthForIris?: number;
  /** A detection counts as a face only when a second signal confirms it: the face mesh's face-presence probability on its crop reaches this, or two detector networks found it, or CenterFace finds it again on a second look at a larger scale; unconfirmed, it is listed in `rejected` and never tracked, counted or given attributes. Default 0.7. */ minFacePresence?: number;
  /** Smallest face to find, pixels high: faces too small for the whole-frame view are looked for by CenterFace on the whole frame, scaled so such a face is 16 px high (at most 2x; the fine scan; it needs faceMesh). Default null: a face 5 m from the camera (18 px at 640x480, 35 px at 1280x720 with a 60° camera); 0: no fine scan. */ minFaceHeight?: number | null;
  /** Video mode: the fine scan runs on one frame in this many ms. Default 500; 0: on every frame. */ fineScanSweepMs?: number;
  /** Degrees; default 60. */ cameraHorizontalFovDeg?: number;
  /** Pixels; overrides the field of view. */ focalLengthPx?: number | null;
  /** Face mesh, head pose, irises, gaze, distance; off: the detector's box and keypoints only. Default true. */ faceMesh?: boolean;
  /** Default true. */ ageGender?: boolean;
  /** Crop side relative to the framing of the network's training chips. Default 1. */ ageGenderCropScale?: number;
  /** Video mode: follow faces by their mesh and run the detectors only every this many ms
   * (and when a face is lost); new faces appear at the next detector run. Default 0: detect on every frame. */
  detectionIntervalMs?: number;
}

export interface GlanceOptions {
  /** Default "auto": WebGPU when it works, else the CPU. */
  backend?: Backend;
  models?: ModelOptions;
  pipeline?: PipelineOptions;
  /** Audience configuration: tracker, attributes, screen geometry, bands (see AudienceConfig in the docs). */
  audience?: Record<string, unknown>;
  /** The rules document (docs/rules.md). */
  rules?: object;
  /** The disclosure notice the engine renders and requires to be readable while it analyses. */
  banner: BannerOptions;
}

export type BannerLanguage = "en" | "de" | "fr" | "es";
export type BannerTextKey = "title" | "what" | "purpose" | "noIdentification" | "retention" | "controller" | "legalBasis" | "object" | "more";

export interface BannerOptions {
  /** Who is responsible for the camera, and how to reach them (to object, to ask). */
  controller: { name: string; contact: string };
  /** The full (second-layer) privacy notice, shown as a link and a QR code. */
  noticeUrl: string;
  /** Default "auto": the first of `navigator.languages` supported, else English. */
  language?: "auto" | BannerLanguage;
  /** How long the anonymous totals are kept, as the notice says. Default 365. */
  retentionDays?: number;
  /** Default "bottom". */
  position?: "bottom" | "top";
  /** Where the notice is inserted. Default `document.body`. */
  container?: HTMLElement;
  /** Text overrides per language; placeholders {controller}, {contact}, {days}. */
  text?: Partial<Record<BannerLanguage, Partial<Record<BannerTextKey, string>>>>;
  /** CSS pixels; default 48. The notice must also span at least half the viewport's width. */
  minHeightPx?: number;
}

/** `engine.disclosure`: analysis runs only while `visible`. */
export interface DisclosureStatus { visible: boolean; reason: string | null }

export interface ReportOptions {
  /** Start (inclusive) and end (exclusive) in ms; default everything up to now. */
  fromMs?: number | null;
  toMs?: number | null;
  /** Default "hour". */
  granularity?: "minute" | "hour" | "day";
  /** Smallest number of people a published count may describe. Default 5. */
  k?: number;
  /** Default true. */ includeSeries?: boolean;
  /** Default true. */ includePlays?: boolean;
}

/** One step of a simulator timeline: the audience from `t` until the next step. */
export interface TimelineStep {
  /** UTC ms, RFC 3339, or local "2025-11-24T12:00" in the rules' time zone. */
  t: number | string;
  audience: {
    present?: number; watchers?: number; lookingNow?: number; groupSize?: number;
    attentionS?: number; distanceM?: number | null;
    byBandGender?: { ageBand?: string | null; gender?: Gender | null; present?: number; watchers?: number }[];
  };
}

export type SimulationReport = { plays: Record<string, unknown>[]; summary: Record<string, unknown>; [key: string]: unknown };

/** Apparent gender: an estimate of appearance, never of identity. Where a result allows `null`, null is "unknown" (not confident enough, or a child's). */
export type Gender = "female" | "male";

export interface FaceAnalysis {
  box: [number, number, number, number];
  score: number;
  keypoints: [number, number][];
  /** This frame's apparent age, years. */
  age: number | null;
  /** This frame's more likely apparent gender. */
  gender: Gender | null;
  /** Calibrated probability of `gender`, in [0.5, 1]. */
  genderScore: number | null;
  /** Sharpness of the age/gender crop, in [0, 1]: blurred frames count less towards a visit. */
  sharpness: number | null;
  yaw: number | null;
  pitch: number | null;
  roll: number | null;
  gaze: [number, number, number] | null;
  gazeFromEyes: boolean | null;
  /** Face-presence probability from the face mesh: the second signal that confirmed the detection. Null with the mesh off. */
  presence: number | null;
  /** Which second signal confirmed the detection as a face: the face mesh (`presence` reached `minFacePresence`) or the detectors (two networks, or CenterFace's second look at a larger scale). Null with the mesh off. */
  confirmedBy: "faceMesh" | "detectors" | null;
  distanceM: number | null;
  positionM: [number, number, number] | null;
  /** noMesh: the detectors confirmed the face but the mesh did not fit it (a head turned too far). */
  skipped?: ("tooSmall" | "noMesh" | "meshOff" | "eyesTooSmall" | "notScheduled")[];
}

/** A detection the face mesh did not confirm as a face: never tracked, counted or given attributes. */
export interface RejectedDetection {
  box: [number, number, number, number];
  score: number;
  presence: number;
}

export interface FrameResult {
  width: number;
  height: number;
  timestampMs: number;
  faces: FaceAnalysis[];
  rejected: RejectedDetection[];
  backend: "webgpu" | "cpu";
  timestampClamped: boolean;
  backendChanged: boolean;
}

export interface AudienceSnapshot {
  timestampMs: number;
  present: number;
  watchers: number;
  lookingNow: number;
  groupSize: number;
  longestAttentionS: number;
  nearestDistanceM: number | null;
  /** One cell per (band, gender); a null band or gender is the "unknown" category. */
  byBandGender: { ageBand: string | null; gender: Gender | null; present: number; watchers: number }[];
  people: PersonNow[];
}

/** One person in front of the screen now. `trackId` is ephemeral. */
export interface PersonNow {
  trackId: number;
  /** Null: unknown (not yet judged, or `ageBandConfidence` below `minAgeBandConfidence`). */
  ageBand: string | null;
  /** Calibrated probability of the most likely band; null until judged. */
  ageBandConfidence: number | null;
  /** Null: unknown (not yet judged, below `minGenderConfidence`, or a child's). */
  gender: Gender | null;
  /** Calibrated probability of the more likely apparent gender, in [0.5, 1]; null until judged. */
  genderConfidence: number | null;
  looking: boolean;
  isWatcher: boolean;
  dwellS: number;
  attentionS: number;
  currentLookS: number;
  distanceM: number | null;
}

export interface Decision {
  adId: string;
  media: string;
  kind: "image" | "video" | "html";
  durationMs: number;
  minOnScreenMs: number;
  decidedAtMs: number;
  source: Record<string, unknown>;
  reason: { summary: string; [key: string]: unknown };
}

export type AudienceReport = Record<string, unknown>;

export interface ValidationIssue { path: string; message: string }
"#;
