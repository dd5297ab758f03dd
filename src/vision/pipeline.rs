//! Frame → faces: detection, aligned crops, face mesh, irises, head pose, gaze, distance, age
//! and gender. One configurable `Pipeline` over whichever burn device it was given.

use serde::{Deserialize, Serialize};

use super::attributes;
use super::centerface::{self, ScanInput};
use super::detector::{self, DetectorChoice, DetectorModel};
use super::geometry::{self, Camera, EyeObservation};
use super::networks::{ModelWeights, Networks};
use super::timings::{FrameTimings, Instant, Stage, elapsed_ms};
use crate::analysis::{
    Confirmation, FaceAnalysis, FrameAnalysis, Gender, RejectedDetection, SkipReason,
};
use crate::error::{GlanceError, Result};
use crate::frame::{Border, Frame, RotatedRect, WarpOptions};
use burn::tensor::Device;

/// Options of the vision pipeline. Every field has a default; JSON uses camelCase names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PipelineOptions {
    /// Face detector networks. Default: `both` (full and short range, merged).
    pub detector: DetectorChoice,
    /// Minimum detector confidence for a face. Default 0.4.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_detection_score: f32,
    /// Video mode: a face already followed stays while the detector gives it at least this
    /// confidence, though below `minDetectionScore` (hysteresis: a moving face's score dips).
    /// Default 0.25.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_tracking_score: f32,
    /// Overlap above which two detections are one face. Default 0.3.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub nms_iou_threshold: f32,
    /// At most this many faces per frame, largest first: a bound on memory and time for a frame
    /// full of faces (or of things a detector mistakes for them), not a count the audience is
    /// expected to reach. Default 100, at most 1000.
    #[schemars(range(min = 1, max = 1000))]
    pub max_faces: usize,
    /// The per-face networks (the face mesh with head pose, irises, gaze and distance; age and
    /// gender) run on at most this many faces per frame, the largest (nearest) first, which
    /// bounds a frame's time in a crowd. The others are still confirmed, counted and followed
    /// by their boxes, and say `faceBudget` in `skipped`. Default 10, at most 64.
    #[schemars(range(max = 64))]
    pub max_analyzed_faces: usize,
    /// Faces narrower than this (pixels) get no age/gender estimate. Default 32 (0 to 4096).
    #[schemars(range(min = 0.0, max = 4096.0))]
    pub min_face_size_for_attributes: f32,
    /// Eyes narrower than this (pixels, corner to corner) get no iris/eye gaze. Default 10 (0 to
    /// 4096).
    #[schemars(range(min = 0.0, max = 4096.0))]
    pub min_eye_width_for_iris: f32,
    /// A detection is a face only when a second signal confirms it: the face-mesh network, run
    /// on its crop, gives a face-presence probability of at least this; or (for heads turned
    /// too far for the mesh, and faces too small for it) two detector networks found it, or
    /// CenterFace finds it again on a second look that shows it 32 px high, with at least 0.5
    /// (0.3 for a detection that itself scored 0.6 or more).
    /// This keeps the backs of heads, hair and clothing the detectors fire on out of the counts.
    /// An unconfirmed detection is listed in `rejected` and never tracked, counted or given
    /// attributes. Default 0.7. With `faceMesh` off every detection counts.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_face_presence: f32,
    /// The smallest face to find, pixels high. Faces smaller than the whole-frame BlazeFace view
    /// resolves (about a twelfth of the frame's longer side) are looked for by CenterFace on the
    /// whole frame, scaled so that such a face is 16 px high there, enlarged at most twice (the
    /// fine scan). Default `None`: the height of a face
    /// [`FAR_FIELD_DISTANCE_M`] (5 m) from the camera, from `cameraHorizontalFovDeg` or
    /// `focalLengthPx` (18 px at 640x480, 35 px at 1280x720 with 60°), so the fine scan costs
    /// the same at every resolution. 0 turns it off, and so does `faceMesh: false` (nothing
    /// would confirm its detections).
    #[schemars(range(min = 0.0, max = 4096.0))]
    pub min_face_height: Option<f32>,
    /// Video mode: a sweep of the fine scan begins every this many milliseconds (a face entering
    /// far away appears within about one and a half): the first (on the second frame) scans the
    /// whole frame, later ones scan it in bands (up to four, as many as frames fit in a sweep)
    /// on successive frames, so that no frame carries the whole scan. Default 500. Detecting on
    /// every frame, or with 0, the whole frame is scanned on every frame. At most 60000.
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub fine_scan_sweep_ms: f64,
    /// The camera's horizontal field of view in degrees, for distances. Default 60.
    #[schemars(range(min = 1.0, max = 179.0))]
    pub camera_horizontal_fov_deg: f32,
    /// The camera's focal length in pixels (1 to 100000); overrides the field of view when set.
    #[schemars(range(min = 1.0, max = 100000.0))]
    pub focal_length_px: Option<f32>,
    /// Run the face mesh, and with it head pose, irises, gaze and distance. Default true. Off,
    /// a face is the detector's box and six keypoints (and age/gender): MediaPipe's
    /// FaceDetector's output, at its cost.
    pub face_mesh: bool,
    /// Run the age/gender network. Default true.
    pub age_gender: bool,
    /// Side of the age/gender crop relative to the framing of the chips the network was
    /// trained on (the detection box's longer side, measured on the dev sets). Default 1.
    #[schemars(range(min = 0.5, max = 4.0))]
    pub age_gender_crop_scale: f32,
    /// Video mode: between detector runs, follow the faces of the previous frame by their mesh
    /// (as MediaPipe's landmarker does in video mode) and run the detectors again only after
    /// this many milliseconds, or at once when a followed face is lost. New faces are found at
    /// the next detector run. 0 (default): detect on every frame. At most 60000.
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub detection_interval_ms: f64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            detector: DetectorChoice::Both,
            min_detection_score: 0.4,
            min_tracking_score: 0.25,
            nms_iou_threshold: 0.3,
            max_faces: 100,
            max_analyzed_faces: 10,
            min_face_size_for_attributes: 32.0,
            min_eye_width_for_iris: 10.0,
            min_face_presence: 0.7,
            min_face_height: None,
            fine_scan_sweep_ms: 500.0,
            camera_horizontal_fov_deg: 60.0,
            focal_length_px: None,
            face_mesh: true,
            age_gender: true,
            age_gender_crop_scale: 1.0,
            detection_interval_ms: 0.0,
        }
    }
}

impl PipelineOptions {
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(GlanceError::Config {
                    path: name.into(),
                    message: format!("must be between 0 and 1, got {v}"),
                })
            }
        };
        unit("minDetectionScore", self.min_detection_score)?;
        unit("minTrackingScore", self.min_tracking_score)?;
        unit("nmsIouThreshold", self.nms_iou_threshold)?;
        unit("minFacePresence", self.min_face_presence)?;
        if !(1..=MAX_FACES_LIMIT).contains(&self.max_faces) {
            return Err(GlanceError::Config {
                path: "maxFaces".into(),
                message: format!(
                    "must be between 1 and {MAX_FACES_LIMIT}, got {}",
                    self.max_faces
                ),
            });
        }
        if self.max_analyzed_faces > MAX_ANALYZED_FACES_LIMIT {
            return Err(GlanceError::Config {
                path: "maxAnalyzedFaces".into(),
                message: format!(
                    "must be between 0 and {MAX_ANALYZED_FACES_LIMIT}, got {}",
                    self.max_analyzed_faces
                ),
            });
        }
        if let Some(h) = self
            .min_face_height
            .filter(|&h| !(h == 0.0 || (MIN_FACE_HEIGHT_PX..=4096.0).contains(&h)))
        {
            return Err(GlanceError::Config {
                path: "minFaceHeight".into(),
                message: format!("must be 0 (no fine scan) or between 8 and 4096 pixels, got {h}"),
            });
        }
        if !(1.0..=179.0).contains(&self.camera_horizontal_fov_deg) {
            return Err(GlanceError::Config {
                path: "cameraHorizontalFovDeg".into(),
                message: format!(
                    "must be between 1 and 179 degrees, got {}",
                    self.camera_horizontal_fov_deg
                ),
            });
        }
        // A camera's focal length in pixels: from a fisheye's at VGA to a telephoto's at 8K.
        if let Some(f) = self
            .focal_length_px
            .filter(|f| !(1.0..=100_000.0).contains(f))
        {
            return Err(GlanceError::Config {
                path: "focalLengthPx".into(),
                message: format!("must be between 1 and 100000 pixels, got {f}"),
            });
        }
        let pixels = [
            (
                self.min_face_size_for_attributes,
                "minFaceSizeForAttributes",
            ),
            (self.min_eye_width_for_iris, "minEyeWidthForIris"),
        ];
        for (v, name) in pixels {
            if !(0.0..=4096.0).contains(&v) {
                return Err(GlanceError::Config {
                    path: name.into(),
                    message: format!("must be between 0 and 4096 pixels, got {v}"),
                });
            }
        }
        let periods = [
            (self.fine_scan_sweep_ms, "fineScanSweepMs"),
            (self.detection_interval_ms, "detectionIntervalMs"),
        ];
        for (v, name) in periods {
            if !(0.0..=60_000.0).contains(&v) {
                return Err(GlanceError::Config {
                    path: name.into(),
                    message: format!("must be between 0 and 60000 ms, got {v}"),
                });
            }
        }
        if self.detection_interval_ms > 0.0 && !self.face_mesh {
            return Err(GlanceError::Config {
                path: "detectionIntervalMs".into(),
                message: "video mode follows faces by their mesh: it needs faceMesh".into(),
            });
        }
        if !(0.5..=4.0).contains(&self.age_gender_crop_scale) {
            return Err(GlanceError::Config {
                path: "ageGenderCropScale".into(),
                message: format!(
                    "must be between 0.5 and 4, got {}",
                    self.age_gender_crop_scale
                ),
            });
        }
        Ok(())
    }

    fn camera(&self, width: u32, height: u32) -> Camera {
        match self.focal_length_px {
            Some(focal_px) => Camera {
                focal_px,
                cx: width as f32 / 2.0,
                cy: height as f32 / 2.0,
            },
            None => Camera::from_fov(width, height, self.camera_horizontal_fov_deg),
        }
    }
}

/// The largest `maxFaces` and `maxAnalyzedFaces` accepted: each face costs memory in the
/// networks' batches (a mesh crop is 0.44 MB, a second look 0.2 MB).
const MAX_FACES_LIMIT: usize = 1000;
const MAX_ANALYZED_FACES_LIMIT: usize = 64;
/// Second looks go through CenterFace in batches of at most this many, so a crowd's batch
/// stays a few megabytes.
const SECOND_LOOK_BATCH: usize = 32;
/// A face followed by its box is found again only in a detection of its size, within this
/// factor either way.
const RELOCATE_SIZE_RATIO: f32 = 1.5;

/// How far away the fine scan looks for faces by default, metres (audience vendors measure to
/// 5 m).
pub const FAR_FIELD_DISTANCE_M: f32 = 5.0;
/// Height of a face as BlazeFace boxes it (brow to chin), metres, for the default
/// `minFaceHeight`.
const FACE_HEIGHT_M: f32 = 0.16;
/// The smallest face the whole-frame BlazeFace view resolves, as a share of the frame's longer
/// side (16 px of the full-range network's 192 px input); smaller ones need the fine scan.
const WHOLE_FRAME_MIN_FACE_SHARE: f32 = 16.0 / 192.0;
/// Faces under this share of the frame's longer side (24 px in the whole-frame view) are boxed
/// roughly by the whole-frame detectors; where the fine scan sees them too, it places them.
const WHOLE_FRAME_RESOLVED_FACE_SHARE: f32 = 24.0 / 192.0;
/// The smallest face the fine scan looks for, pixels (`minFaceHeight` and its derived default).
const MIN_FACE_HEIGHT_PX: f32 = 8.0;
/// A video-mode sweep of the fine scan is spread over at most this many frames, each scanning
/// one band of the frame (about a third of the whole scan's cost with four).
const MAX_SCAN_BANDS: usize = 4;
/// Neighbouring bands overlap by this many times the largest face the scan is for.
const SCAN_BAND_OVERLAP: f32 = 1.5;
/// Overlap at which two networks' boxes are taken to be one face seen by both.
const DETECTORS_AGREE_IOU: f32 = 0.5;
/// A look again at a detection with CenterFace: a window of the face's longer side times
/// `scale` around it, upright, resampled to `px` square, mirrored or not.
#[derive(Debug, Clone, Copy)]
struct Look {
    scale: f32,
    px: usize,
    mirrored: bool,
}

/// The second look: the face 32 px high (chosen on WIDER dev with
/// `examples/confirmation_signals.rs`); also how a carried face is found again.
const SECOND_LOOK: Look = Look {
    scale: 4.0,
    px: 128,
    mirrored: false,
};
/// Where the second look does not confirm a face, these decide with it: the face about 43 px
/// high, mirrored, and 48 px high.
const MORE_LOOKS: [Look; 3] = [
    Look {
        scale: 3.0,
        px: 128,
        mirrored: false,
    },
    Look {
        scale: 4.0,
        px: 128,
        mirrored: true,
    },
    Look {
        scale: 4.0,
        px: 192,
        mirrored: false,
    },
];
/// The mean of the four looks' scores that confirms a face the second look alone did not.
const LOOKS_MEAN_MIN_SCORE: f32 = 0.4;
/// Only a detection the second look found at least this sure of gets the more looks: below it
/// they almost never confirm a face (13 of the 14 faces they confirm on WIDER dev are above it),
/// and a thing the detectors keep mistaking for a face would cost them on every frame.
const MORE_LOOKS_MIN_FIRST_SCORE: f32 = 0.25;
/// Detections below this score count as not found in a look.
const LOOK_SCORE_FLOOR: f32 = 0.05;
/// The second look must find the face with at least this confidence (or `minDetectionScore`,
/// when higher): a weak detection does not confirm a weak detection.
const SECOND_LOOK_MIN_SCORE: f32 = 0.5;
/// A detection at least this confident needs the second look to find it only at
/// [`SECOND_LOOK_CONFIDENT_MIN_SCORE`]: two fairly sure sightings at two scales. On WIDER dev
/// this confirms 2 more points of the faces of 24 px or more at no added false positive.
const CONFIDENT_DETECTION_SCORE: f32 = 0.6;
const SECOND_LOOK_CONFIDENT_MIN_SCORE: f32 = 0.3;
/// Face mesh crop: the detection box's longer side times this (MediaPipe's value).
const MESH_ROI_SCALE: f32 = 1.5;
/// Eye crop: the corner-to-corner distance times this (MediaPipe's value).
const EYE_ROI_SCALE: f32 = 2.3;
const MESH_SIZE: usize = 192;
/// Values per eye in the iris network's iris output (5 points x, y, z).
const IRIS_VALUES: usize = 15;
const IRIS_SIZE: usize = 64;

/// Mesh landmark ids of the eye corners: (image-left eye), (image-right eye).
const EYE_CORNERS: [(usize, usize); 2] = [(33, 133), (362, 263)];

/// One face as the detector saw it, in frame pixels.
#[derive(Debug, Clone, Copy)]
struct PixelDetection {
    bbox: [f32; 4],
    score: f32,
    keypoints: [[f32; 2]; 6],
    /// The detectors confirm this face: two networks (BlazeFace full and short range, CenterFace)
    /// found it, each on its own, or CenterFace found it again on a second look at a larger
    /// scale. The second signal where the mesh cannot tell: heads turned too far, small faces.
    detectors_agree: bool,
}

impl PixelDetection {
    /// Roll of the eye line, radians, clockwise in the image (the person's right eye is the
    /// first keypoint, on the image's left for a face looking at the camera).
    fn roll(&self) -> f32 {
        let [r, l] = [self.keypoints[0], self.keypoints[1]];
        (l[1] - r[1]).atan2(l[0] - r[0])
    }

    fn square_roi(&self, scale: f32) -> RotatedRect {
        let side = (self.bbox[2] - self.bbox[0]).max(self.bbox[3] - self.bbox[1]) * scale;
        RotatedRect {
            cx: (self.bbox[0] + self.bbox[2]) / 2.0,
            cy: (self.bbox[1] + self.bbox[3]) / 2.0,
            width: side,
            height: side,
            rotation: self.roll(),
        }
    }
}

pub struct Pipeline {
    options: PipelineOptions,
    networks: Networks,
    /// Video mode's memory of the previous frame: face geometry only (boxes and keypoints),
    /// never pixels.
    followed: std::sync::Mutex<Followed>,
    /// The last frame's time by stage (see [`Pipeline::last_timings`]).
    timings: std::sync::Mutex<FrameTimings>,
}

/// The faces video mode follows, and when the detectors last ran.
#[derive(Debug, Default)]
struct Followed {
    size: (u32, u32),
    last_frame_ms: f64,
    last_detection_ms: f64,
    faces: Vec<FollowedFace>,
    /// Followed faces lost lately (by their mesh, or by the detector), with when: detector runs
    /// within [`LOST_FACE_MEMORY_MS`] still find them above the tracking threshold.
    lost: Vec<(f64, PixelDetection)>,
    /// When the far-field scan's last sweep began.
    last_scan_ms: f64,
    /// The band of the sweep under way to scan next (0: none under way), of `scan_bands`.
    scan_band: usize,
    scan_bands: usize,
}

/// How long video mode keeps looking for a lost face with the tracking threshold, ms.
const LOST_FACE_MEMORY_MS: f64 = 1000.0;

#[derive(Debug, Clone, Copy)]
struct FollowedFace {
    detection: PixelDetection,
    /// The detector's box relative to the mesh's extent (x0, y0, x1, y1 as fractions of the
    /// extent), so boxes derived from the mesh keep the detector's proportions.
    box_in_extent: [f32; 4],
    /// When it was seen, and how fast its box centre moved then (pixels per ms).
    at_ms: f64,
    velocity: [f32; 2],
    /// Followed by its mesh; otherwise by its box alone (a face confirmed by the detectors, or
    /// one beyond `maxAnalyzedFaces`), carried at its speed while the detectors rest.
    meshed: bool,
}

/// Where a face of a video-mode frame comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Found by the detectors, followed by no one.
    New,
    /// Found by the detectors where a followed face was.
    Detected(FollowedFace),
    /// Carried from the previous frame while the detectors rest, to be found by its mesh.
    Carried(FollowedFace),
}

impl Origin {
    /// Carried faces were not detected on this frame: only their mesh can keep them, or their
    /// box when they are followed by it.
    fn is_carried(&self) -> bool {
        matches!(self, Origin::Carried(_))
    }

    /// The face was followed by its box: confirmed on an earlier frame, so it needs no new
    /// confirmation while the detectors keep finding it (or rest).
    fn followed_by_box(&self) -> bool {
        self.followed().is_some_and(|f| !f.meshed)
    }

    fn followed(&self) -> Option<&FollowedFace> {
        match self {
            Origin::New => None,
            Origin::Detected(f) | Origin::Carried(f) => Some(f),
        }
    }
}

fn box_centre(b: [f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

impl FollowedFace {
    /// Where the face should be at `timestamp_ms` if it kept its speed: the mesh's crop is
    /// placed there, so a walking face does not slip towards the crop's edge.
    fn predicted(&self, timestamp_ms: f64) -> PixelDetection {
        let dt = (timestamp_ms - self.at_ms) as f32;
        let [dx, dy] = [self.velocity[0] * dt, self.velocity[1] * dt];
        let mut d = self.detection;
        d.bbox = [
            d.bbox[0] + dx,
            d.bbox[1] + dy,
            d.bbox[2] + dx,
            d.bbox[3] + dy,
        ];
        d.keypoints = d.keypoints.map(|[x, y]| [x + dx, y + dy]);
        d
    }
}

/// Whether detection `d` is the face `followed` was: they overlap, or one's centre lies in the
/// other's box (a moving face's new box may overlap its old one little).
fn same_face(followed: &PixelDetection, d: &PixelDetection) -> bool {
    same_face_boxes(followed.bbox, d.bbox)
}

/// [`same_face`] for two boxes (x0, y0, x1, y1).
fn same_face_boxes(a: [f32; 4], b: [f32; 4]) -> bool {
    let inside =
        |p: [f32; 2], b: [f32; 4]| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3];
    detector::box_iou(a, b) > 0.3 || inside(box_centre(a), b) || inside(box_centre(b), a)
}

/// Keeps the items whose `keep` is true.
fn retain_where<T>(items: &mut Vec<T>, keep: &[bool]) {
    let mut keep = keep.iter().copied();
    items.retain(|_| keep.next().unwrap_or(true));
}

/// Mesh landmark ids of BlazeFace's six keypoints: (right eye corners), (left eye corners),
/// nose tip, (upper lip, lower lip), right tragion, left tragion.
const KEYPOINT_LANDMARKS: [&[usize]; 6] =
    [&[33, 133], &[362, 263], &[1], &[13, 14], &[234], &[454]];

/// The mesh's bounding box in frame pixels: its origin and size (at least 1 px each way).
fn mesh_extent(mesh: &[[f32; 3]]) -> ([f32; 2], [f32; 2]) {
    let [x0, y0, x1, y1] = mesh.iter().fold(
        [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
        |[x0, y0, x1, y1], p| [x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1])],
    );
    ([x0, y0], [(x1 - x0).max(1.0), (y1 - y0).max(1.0)])
}

impl FollowedFace {
    /// The face as the detector would report it where its mesh now is. `box_in_extent`: the
    /// previous frame's, or `None` on a detector frame to take it from `detection`.
    fn from_mesh(
        mesh: &[[f32; 3]],
        detection: &PixelDetection,
        box_in_extent: Option<[f32; 4]>,
        at_ms: f64,
    ) -> Self {
        let ([x0, y0], [w, h]) = mesh_extent(mesh);
        let r = box_in_extent.unwrap_or_else(|| {
            let b = detection.bbox;
            [
                (b[0] - x0) / w,
                (b[1] - y0) / h,
                (b[2] - x0) / w,
                (b[3] - y0) / h,
            ]
        });
        let keypoints = KEYPOINT_LANDMARKS.map(|ids| {
            let n = ids.len() as f32;
            let sum = ids
                .iter()
                .fold([0.0, 0.0], |[x, y], &i| [x + mesh[i][0], y + mesh[i][1]]);
            [sum[0] / n, sum[1] / n]
        });
        FollowedFace {
            detection: PixelDetection {
                bbox: [x0 + r[0] * w, y0 + r[1] * h, x0 + r[2] * w, y0 + r[3] * h],
                score: detection.score,
                keypoints,
                detectors_agree: detection.detectors_agree,
            },
            box_in_extent: r,
            at_ms,
            velocity: [0.0; 2],
            meshed: true,
        }
    }

    /// The face as its detection shows it, followed by its box.
    fn by_box(detection: PixelDetection, at_ms: f64) -> Self {
        FollowedFace {
            detection,
            box_in_extent: [0.0; 4],
            at_ms,
            velocity: [0.0; 2],
            meshed: false,
        }
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.options)
            .field("networks", &self.networks)
            .finish()
    }
}

impl Pipeline {
    pub fn new(device: &Device, weights: &ModelWeights, options: PipelineOptions) -> Result<Self> {
        options.validate()?;
        Ok(Pipeline {
            options,
            networks: Networks::load(device, weights)?,
            followed: Default::default(),
            timings: Default::default(),
        })
    }

    pub fn options(&self) -> &PipelineOptions {
        &self.options
    }

    pub fn set_options(&mut self, options: PipelineOptions) -> Result<()> {
        options.validate()?;
        self.options = options;
        Ok(())
    }

    pub fn device(&self) -> &Device {
        self.networks.device()
    }

    /// Analyses one frame. Nothing of the frame is kept once this returns.
    pub async fn analyze(&self, frame: &Frame<'_>, timestamp_ms: f64) -> Result<FrameAnalysis> {
        self.analyze_scheduled(frame, timestamp_ms, |faces| vec![true; faces.len()])
            .await
    }

    /// Like [`Pipeline::analyze`], but the age/gender model runs only on the faces `schedule`
    /// picks (given the faces with their geometry); the others get
    /// [`SkipReason::NotScheduled`]. The audience tracker's plan skips stable tracks this way.
    pub async fn analyze_scheduled(
        &self,
        frame: &Frame<'_>,
        timestamp_ms: f64,
        schedule: impl FnOnce(&[FaceAnalysis]) -> Vec<bool>,
    ) -> Result<FrameAnalysis> {
        let started = Instant::now();
        *self.lock_timings() = FrameTimings::default();
        let analysis = self.analyze_stages(frame, timestamp_ms, schedule).await;
        self.lock_timings().close_pipeline(elapsed_ms(started));
        analysis
    }

    /// The last frame's time by stage (the pipeline's stages; `readPixels` and `audience` are
    /// the host's and the engine's to add).
    pub fn last_timings(&self) -> FrameTimings {
        *self.lock_timings()
    }

    fn lock_timings(&self) -> std::sync::MutexGuard<'_, FrameTimings> {
        // Timings are plain numbers: a panic elsewhere leaves nothing half-written to fear.
        self.timings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Times `work` as `stage` of this frame.
    async fn timed<T>(&self, stage: Stage, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let out = work.await;
        self.lock_timings().add(stage, started);
        out
    }

    async fn analyze_stages(
        &self,
        frame: &Frame<'_>,
        timestamp_ms: f64,
        schedule: impl FnOnce(&[FaceAnalysis]) -> Vec<bool>,
    ) -> Result<FrameAnalysis> {
        let size = (frame.width(), frame.height());
        // Video mode: follow the previous frame's faces while the detectors rest.
        let (previous, lost, detectors_rest, scan) = {
            let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            let interval = self.options.detection_interval_ms;
            let follow =
                interval > 0.0 && followed.size == size && timestamp_ms > followed.last_frame_ms;
            let scan = self.fine_scan(&mut followed, size, follow, timestamp_ms);
            if follow {
                (
                    followed.faces.clone(),
                    followed.lost.clone(),
                    !followed.faces.is_empty()
                        && timestamp_ms - followed.last_detection_ms < interval,
                    scan,
                )
            } else {
                (Vec::new(), Vec::new(), false, scan)
            }
        };
        // The faces of this frame: the detectors' (unless they rest, then the followed faces
        // where they should be now, and new ones the fine scan finds), and where each comes
        // from.
        let predicted: Vec<PixelDetection> =
            previous.iter().map(|f| f.predicted(timestamp_ms)).collect();
        let (mut detections, mut origins, mut still_lost) = if detectors_rest {
            let (found, _weak) = self.detect(frame, false, scan).await?;
            let mut detections = predicted.clone();
            let mut origins: Vec<Origin> = previous.into_iter().map(Origin::Carried).collect();
            for d in found {
                if detections.len() < self.options.max_faces
                    && !predicted.iter().any(|p| same_face(p, &d))
                {
                    detections.push(d);
                    origins.push(Origin::New);
                }
            }
            (detections, origins, lost)
        } else {
            // Faces smaller than the whole-frame view resolves are seen only by the fine scan:
            // between its runs they are carried, by their mesh or box, not lost.
            let scanned = |face: &PixelDetection| scan.is_some_and(|s| s.covers(face.bbox));
            let whole_frame_min = size.0.max(size.1) as f32 * WHOLE_FRAME_MIN_FACE_SHARE;
            let (mut detections, weak) = self.detect(frame, true, scan).await?;
            let mut origins: Vec<Origin> = detections
                .iter()
                .map(|d| {
                    predicted
                        .iter()
                        .position(|p| same_face(p, d))
                        .map_or(Origin::New, |i| Origin::Detected(previous[i]))
                })
                .collect();
            // Hysteresis, as trackers do: a followed face whose score dips below the detection
            // threshold (it does as a face moves) stays while it is above the tracking one.
            let mut still_lost = Vec::new();
            let recent = lost
                .into_iter()
                .filter(|(lost_ms, _)| timestamp_ms - lost_ms <= LOST_FACE_MEMORY_MS);
            let followed = previous
                .iter()
                .zip(&predicted)
                .map(|(f, p)| (timestamp_ms, *p, Some(*f)));
            for (lost_ms, face, from) in followed.chain(recent.map(|(t, d)| (t, d, None))) {
                if detections.iter().any(|d| same_face(&face, d)) {
                    continue;
                }
                match weak.iter().find(|d| same_face(&face, d)) {
                    Some(d) if detections.len() < self.options.max_faces => {
                        detections.push(*d);
                        // A face lost lately and found again: its speed is measured from where
                        // it was lost.
                        origins.push(Origin::Detected(from.unwrap_or(FollowedFace {
                            meshed: true,
                            ..FollowedFace::by_box(face, lost_ms)
                        })));
                    }
                    _ => match from {
                        Some(followed)
                            if !scanned(&face)
                                && face.bbox[3] - face.bbox[1] < whole_frame_min
                                && detections.len() < self.options.max_faces =>
                        {
                            detections.push(face);
                            origins.push(Origin::Carried(followed));
                        }
                        _ => still_lost.push((lost_ms, face)),
                    },
                }
            }
            (detections, origins, still_lost)
        };
        // The per-face networks run on the nearest faces the budget allows; faces followed by
        // their box stay boxes until the detectors run again.
        let mut analysed = self.analysis_budget(&detections, &origins);
        let (mut presence, mut meshes) = if self.options.face_mesh {
            self.timed(Stage::Mesh, self.face_meshes(frame, &detections, &analysed))
                .await?
        } else {
            (vec![None; detections.len()], vec![None; detections.len()])
        };
        // Carried faces without a mesh (followed by their box, beyond the budget, or turned
        // too far for the mesh now) are looked for where they should be: a box carried blind
        // drifts off its face. Those not found there are lost.
        let relocated: Vec<usize> = (0..detections.len())
            .filter(|&i| origins[i].is_carried() && meshes[i].is_none())
            .collect();
        let mut found = Vec::with_capacity(relocated.len());
        for batch in relocated.chunks(SECOND_LOOK_BATCH) {
            found.extend(
                self.timed(
                    Stage::Confirmation,
                    self.relocate(frame, &mut detections, batch),
                )
                .await?,
            );
        }
        if found.contains(&false) {
            let mut keep = vec![true; detections.len()];
            for (&i, _) in relocated.iter().zip(&found).filter(|(_, found)| !**found) {
                keep[i] = false;
                still_lost.push((timestamp_ms, detections[i]));
            }
            retain_where(&mut detections, &keep);
            retain_where(&mut origins, &keep);
            retain_where(&mut analysed, &keep);
            retain_where(&mut presence, &keep);
            retain_where(&mut meshes, &keep);
        }
        // While the detectors rest, a face the fine scan finds may be a followed one that moved
        // further than predicted (its speed is not known on its second frame): its mesh (or the
        // box it was found again by) shows where it is now, and the scan's detection there is
        // dropped.
        if detectors_rest {
            let carried_now: Vec<[f32; 4]> = (0..detections.len())
                .filter(|&i| origins[i].is_carried())
                .map(|i| match meshes[i].as_deref() {
                    Some(mesh) => {
                        let ([x, y], [w, h]) = mesh_extent(mesh);
                        [x, y, x + w, y + h]
                    }
                    // Found again by its box, just now.
                    None => detections[i].bbox,
                })
                .collect();
            let keep: Vec<bool> = (0..detections.len())
                .map(|i| {
                    !matches!(origins[i], Origin::New)
                        || !carried_now
                            .iter()
                            .any(|&b| same_face_boxes(b, detections[i].bbox))
                })
                .collect();
            retain_where(&mut detections, &keep);
            retain_where(&mut origins, &keep);
            retain_where(&mut presence, &keep);
            retain_where(&mut meshes, &keep);
            retain_where(&mut analysed, &keep);
        }
        // Detections without a mesh, not confirmed before, need a second look.
        let second_look: Vec<usize> = (0..detections.len())
            .filter(|&i| {
                self.options.face_mesh
                    && meshes[i].is_none()
                    && !detections[i].detectors_agree
                    && !origins[i].is_carried()
                    && !origins[i].followed_by_box()
            })
            .collect();
        for batch in second_look.chunks(SECOND_LOOK_BATCH) {
            self.timed(
                Stage::Confirmation,
                self.second_look(frame, &mut detections, batch),
            )
            .await?;
        }
        // Only confirmed faces go on: a detection neither the mesh nor both detectors call a
        // face is rejected. Faces followed from earlier frames were confirmed there (carried
        // ones without a mesh were just found again where they should be).
        let confirmations: Vec<Option<Confirmation>> = (0..detections.len())
            .map(|i| {
                if meshes[i].is_some() {
                    Some(Confirmation::FaceMesh)
                } else if origins[i].followed_by_box()
                    || origins[i].is_carried()
                    || detections[i].detectors_agree
                {
                    Some(Confirmation::Detectors)
                } else {
                    None
                }
            })
            .collect();
        self.remember(
            size,
            timestamp_ms,
            !detectors_rest,
            &mut detections,
            &meshes,
            &origins,
            &confirmations,
            still_lost,
        );
        // Boxes are reported inside the frame (a followed face's, from its mesh, may stick out).
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let frame_box = |d: &PixelDetection| {
            let [x0, y0] = [d.bbox[0].clamp(0.0, fw), d.bbox[1].clamp(0.0, fh)];
            let [x1, y1] = [d.bbox[2].clamp(0.0, fw), d.bbox[3].clamp(0.0, fh)];
            [x0, y0, x1 - x0, y1 - y0]
        };
        let mut rejected = Vec::new();
        let keep: Vec<bool> = (0..detections.len())
            .map(|i| {
                let confirmed = confirmations[i].is_some() || !self.options.face_mesh;
                if !confirmed && !origins[i].is_carried() {
                    rejected.push(RejectedDetection {
                        bbox: frame_box(&detections[i]),
                        score: detections[i].score,
                        presence: presence[i].unwrap_or(0.0),
                    });
                }
                confirmed
            })
            .collect();
        // Why a face has no mesh: beyond the budget, or followed by its box on a rest frame.
        let unanalysed: Vec<Option<SkipReason>> = (0..detections.len())
            .map(|i| {
                (!analysed[i]).then_some(if origins[i].is_carried() {
                    SkipReason::NoMesh
                } else {
                    SkipReason::FaceBudget
                })
            })
            .collect();
        retain_where(&mut detections, &keep);
        retain_where(&mut meshes, &keep);
        let mut unanalysed = unanalysed;
        retain_where(&mut unanalysed, &keep);
        let mut kept = keep.iter().copied();
        let verdicts: Vec<(Option<f32>, Option<Confirmation>)> = presence
            .into_iter()
            .zip(confirmations)
            .filter(|_| kept.next().unwrap_or(false))
            .collect();
        let camera = self.options.camera(frame.width(), frame.height());
        let mut faces: Vec<FaceAnalysis> = detections
            .iter()
            .zip(&verdicts)
            .map(|(d, &(presence, confirmed_by))| {
                let mut face = FaceAnalysis::detected(frame_box(d), d.score, d.keypoints);
                face.presence = presence;
                face.confirmed_by = confirmed_by;
                face
            })
            .collect();
        if detections.is_empty() {
            return Ok(FrameAnalysis {
                width: frame.width(),
                height: frame.height(),
                timestamp_ms,
                faces,
                rejected,
            });
        }

        let eyes = self.timed(Stage::Irises, self.eyes(frame, &meshes)).await?;
        for (i, face) in faces.iter_mut().enumerate() {
            let Some(mesh) = &meshes[i] else {
                face.skipped.push(match unanalysed[i] {
                    Some(reason) => reason,
                    None if self.options.face_mesh => SkipReason::NoMesh,
                    None => SkipReason::MeshOff,
                });
                continue;
            };
            let pose = geometry::head_pose(mesh, &camera);
            let face_eyes: &[EyeObservation] = eyes[i].as_deref().unwrap_or(&[]);
            if eyes[i].is_none() {
                face.skipped.push(SkipReason::EyesTooSmall);
            }
            if let Some(pose) = &pose {
                face.yaw = Some(pose.yaw_deg);
                face.pitch = Some(pose.pitch_deg);
                face.roll = Some(pose.roll_deg);
                let g = geometry::gaze_direction(pose, face_eyes);
                face.gaze = Some([g.x as f32, g.y as f32, g.z as f32]);
                face.gaze_from_eyes = Some(!face_eyes.is_empty());
            }
            let centre = geometry::mesh_centre(mesh);
            face.distance_m = geometry::distance_m(&camera, centre, face_eyes, pose.as_ref());
            face.position_m = face
                .distance_m
                .map(|d| geometry::position_m(&camera, centre, d));
        }
        if self.options.age_gender {
            let plan = schedule(&faces);
            // Faces beyond the budget are left out (their reason is already given).
            let analysed: Vec<bool> = unanalysed.iter().map(Option::is_none).collect();
            self.timed(
                Stage::AgeGender,
                self.age_gender(frame, &detections, &mut faces, &plan, &analysed),
            )
            .await?;
        }
        Ok(FrameAnalysis {
            width: frame.width(),
            height: frame.height(),
            timestamp_ms,
            faces,
            rejected,
        })
    }

    /// Which faces the per-face networks run on: the `maxAnalyzedFaces` largest (nearest),
    /// leaving out faces followed by their box on a frame where the detectors rest.
    fn analysis_budget(&self, detections: &[PixelDetection], origins: &[Origin]) -> Vec<bool> {
        let area = |d: &PixelDetection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
        let mut eligible: Vec<usize> = (0..detections.len())
            .filter(|&i| !(origins[i].is_carried() && origins[i].followed_by_box()))
            .collect();
        eligible.sort_by(|&a, &b| area(&detections[b]).total_cmp(&area(&detections[a])));
        let mut analysed = vec![false; detections.len()];
        for &i in eligible.iter().take(self.options.max_analyzed_faces) {
            analysed[i] = true;
        }
        analysed
    }

    /// CenterFace on a window around each of `boxes` (its longer side times `look.scale`,
    /// upright, at `look.px`, mirrored when `look.mirrored`): per box, the detections scoring at
    /// least its `min_scores` entry, in frame pixels.
    async fn look_around(
        &self,
        frame: &Frame<'_>,
        boxes: &[[f32; 4]],
        min_scores: &[f32],
        look: Look,
    ) -> Result<Vec<Vec<detector::Detection>>> {
        let warp = WarpOptions {
            flip_horizontal: look.mirrored,
            ..centerface::WARP
        };
        let mut input = Vec::with_capacity(boxes.len() * 3 * look.px.pow(2));
        let views: Vec<RotatedRect> = boxes
            .iter()
            .map(|&b| {
                let side = (b[2] - b[0]).max(b[3] - b[1]) * look.scale;
                let [cx, cy] = box_centre(b);
                let view = RotatedRect {
                    cx,
                    cy,
                    width: side,
                    height: side,
                    rotation: 0.0,
                };
                input.extend(frame.warp_to_chw(&view, look.px, look.px, warp));
                view
            })
            .collect();
        let maps = self
            .networks
            .centerface(input, views.len(), look.px, look.px)
            .await?;
        let px = look.px as f32;
        let to_frame =
            |view: &RotatedRect, [u, v]: [f32; 2]| view.to_frame(u / px, v / px, look.mirrored);
        Ok(views
            .iter()
            .zip(&maps)
            .zip(min_scores)
            .map(|((view, maps), &min_score)| {
                centerface::decode(maps, min_score)
                    .into_iter()
                    .map(|mut d| {
                        let [ax, y0] = to_frame(view, [d.bbox[0], d.bbox[1]]);
                        let [bx, y1] = to_frame(view, [d.bbox[2], d.bbox[3]]);
                        d.bbox = [ax.min(bx), y0, ax.max(bx), y1];
                        d.keypoints = d.keypoints.map(|p| to_frame(view, p));
                        if look.mirrored {
                            // Mirrored, the person's right eye and tragion are seen as the left.
                            d.keypoints.swap(0, 1);
                            d.keypoints.swap(4, 5);
                        }
                        d
                    })
                    .collect()
            })
            .collect())
    }

    /// Per box, the best score of a CenterFace detection in `look` that is that box's face.
    async fn look_scores(
        &self,
        frame: &Frame<'_>,
        boxes: &[[f32; 4]],
        look: Look,
    ) -> Result<Vec<f32>> {
        let floor = vec![LOOK_SCORE_FLOOR; boxes.len()];
        let found = self.look_around(frame, boxes, &floor, look).await?;
        Ok(boxes
            .iter()
            .zip(&found)
            .map(|(b, found)| {
                found
                    .iter()
                    .filter(|d| detector::boxes_agree(*b, d.bbox, DETECTORS_AGREE_IOU))
                    .map(|d| d.score)
                    .fold(0.0, f32::max)
            })
            .collect())
    }

    /// A second look at each of `batch` (detections the mesh did not take: small faces are
    /// blurred in its crop, and faces beyond the budget get none): CenterFace must find the face
    /// again, confidently, where it shows well resolved. Where it is nearly sure, three more
    /// looks (closer, mirrored, finer) decide: the mean of the four scores. On WIDER dev this
    /// keeps 90 % of the true faces of 24 px or more and 2 % of false ones. Sets
    /// `detectors_agree` where the face is confirmed.
    async fn second_look(
        &self,
        frame: &Frame<'_>,
        detections: &mut [PixelDetection],
        batch: &[usize],
    ) -> Result<()> {
        let boxes: Vec<[f32; 4]> = batch.iter().map(|&i| detections[i].bbox).collect();
        let first = self.look_scores(frame, &boxes, SECOND_LOOK).await?;
        let mut doubtful = Vec::new();
        for (k, (&i, &score)) in batch.iter().zip(&first).enumerate() {
            let min_score = if detections[i].score >= CONFIDENT_DETECTION_SCORE {
                SECOND_LOOK_CONFIDENT_MIN_SCORE
            } else {
                self.options.min_detection_score.max(SECOND_LOOK_MIN_SCORE)
            };
            detections[i].detectors_agree = score >= min_score;
            if score < min_score && score >= MORE_LOOKS_MIN_FIRST_SCORE {
                doubtful.push(k);
            }
        }
        if doubtful.is_empty() {
            return Ok(());
        }
        let doubtful_boxes: Vec<[f32; 4]> = doubtful.iter().map(|&k| boxes[k]).collect();
        let mut total: Vec<f32> = doubtful.iter().map(|&k| first[k]).collect();
        for look in MORE_LOOKS {
            let scores = self.look_scores(frame, &doubtful_boxes, look).await?;
            for (t, s) in total.iter_mut().zip(scores) {
                *t += s;
            }
        }
        let looks = (1 + MORE_LOOKS.len()) as f32;
        for (&k, total) in doubtful.iter().zip(total) {
            detections[batch[k]].detectors_agree = total / looks >= LOOKS_MEAN_MIN_SCORE;
        }
        Ok(())
    }

    /// Finds each of `batch` (carried faces the mesh does not follow) near where it should be:
    /// the surest CenterFace detection in a window around its predicted box, of about its size,
    /// its centre within a box side of the prediction, above `minTrackingScore`. Found faces
    /// move their box there and take the detection's keypoints; per face, whether it was found.
    async fn relocate(
        &self,
        frame: &Frame<'_>,
        detections: &mut [PixelDetection],
        batch: &[usize],
    ) -> Result<Vec<bool>> {
        let boxes: Vec<[f32; 4]> = batch.iter().map(|&i| detections[i].bbox).collect();
        let min_scores = vec![self.options.min_tracking_score; batch.len()];
        let found = self
            .look_around(frame, &boxes, &min_scores, SECOND_LOOK)
            .await?;
        Ok(batch
            .iter()
            .zip(&boxes)
            .zip(&found)
            .map(|((&i, &b), found)| {
                let side = (b[2] - b[0]).max(b[3] - b[1]);
                let [cx, cy] = box_centre(b);
                let near = |d: &&detector::Detection| {
                    let d_side = (d.bbox[2] - d.bbox[0]).max(d.bbox[3] - d.bbox[1]);
                    let [dx, dy] = box_centre(d.bbox);
                    (RELOCATE_SIZE_RATIO.recip()..=RELOCATE_SIZE_RATIO).contains(&(d_side / side))
                        && (dx - cx).hypot(dy - cy) <= side
                };
                let best = found
                    .iter()
                    .filter(near)
                    .max_by(|a, b| a.score.total_cmp(&b.score));
                if let Some(d) = best {
                    // The box moves to the face, keeping its size and proportions (CenterFace's
                    // boxes are taller than the detectors' that the tracker has seen).
                    let [dx, dy] = box_centre(d.bbox);
                    let [w, h] = [b[2] - b[0], b[3] - b[1]];
                    detections[i].bbox = [dx - w / 2.0, dy - h / 2.0, dx + w / 2.0, dy + h / 2.0];
                    detections[i].keypoints = d.keypoints;
                    detections[i].score = d.score;
                }
                best.is_some()
            })
            .collect())
    }

    /// Records this frame's faces for video mode. Carried faces get the boxes and keypoints of
    /// their new meshes (so the frame's results describe this frame). When the mesh loses a
    /// face that was followed, the next frame runs the detectors to find it, and it joins
    /// `lost`, for detector runs to look for (a new detection without a mesh is no face).
    /// Confirmed faces without a mesh are followed by their box, at their speed, until the
    /// detectors run again (or they leave the frame).
    #[allow(clippy::too_many_arguments)]
    fn remember(
        &self,
        size: (u32, u32),
        timestamp_ms: f64,
        detectors_ran: bool,
        detections: &mut [PixelDetection],
        meshes: &[Option<Vec<[f32; 3]>>],
        origins: &[Origin],
        confirmations: &[Option<Confirmation>],
        mut lost: Vec<(f64, PixelDetection)>,
    ) {
        if self.options.detection_interval_ms <= 0.0 {
            return;
        }
        let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
        let mut faces = Vec::with_capacity(meshes.len());
        let mut follow_lost = false;
        let in_frame = |b: [f32; 4]| {
            let [x, y] = box_centre(b);
            (0.0..size.0 as f32).contains(&x) && (0.0..size.1 as f32).contains(&y)
        };
        for (i, mesh) in meshes.iter().enumerate() {
            let mut face = match (mesh, confirmations[i]) {
                (Some(mesh), _) => {
                    let carried = match origins[i] {
                        Origin::Carried(f) => Some(f.box_in_extent),
                        _ => None,
                    };
                    let face = FollowedFace::from_mesh(mesh, &detections[i], carried, timestamp_ms);
                    if carried.is_some() {
                        detections[i] = face.detection;
                    }
                    face
                }
                (None, Some(_)) if in_frame(detections[i].bbox) => {
                    FollowedFace::by_box(detections[i], timestamp_ms)
                }
                (None, Some(_)) => continue,
                (None, None) => {
                    if origins[i].followed().is_some() {
                        follow_lost = true;
                        lost.push((timestamp_ms, detections[i]));
                    }
                    continue;
                }
            };
            if let Some(before) = origins[i].followed() {
                let dt = (timestamp_ms - before.at_ms) as f32;
                let (now, then) = (
                    box_centre(face.detection.bbox),
                    box_centre(before.detection.bbox),
                );
                if dt > 0.0 {
                    face.velocity = [(now[0] - then[0]) / dt, (now[1] - then[1]) / dt];
                    // Boxes from different networks (the detectors', CenterFace's) sit a little
                    // differently on a face: a box-followed face's speed is smoothed.
                    if !face.meshed {
                        face.velocity =
                            [0, 1].map(|k| (face.velocity[k] + before.velocity[k]) / 2.0);
                    }
                }
            }
            faces.push(face);
        }
        if follow_lost {
            // Find the lost face (or whoever replaced it) on the next frame.
            followed.last_detection_ms = f64::NEG_INFINITY;
        } else if detectors_ran {
            followed.last_detection_ms = timestamp_ms;
        }
        followed.size = size;
        followed.last_frame_ms = timestamp_ms;
        followed.faces = faces;
        followed.lost = lost;
    }

    /// The far-field scan this frame runs, if any: the whole frame on every frame when detecting
    /// on every frame (or after a break in the video). In video mode a sweep begins once per
    /// `fineScanSweepMs`: the first, on the second frame (so that the first result does not wait
    /// for it), scans the whole frame; later ones scan it in bands spread over the sweep's
    /// frames, so that no frame stalls on the whole scan.
    fn fine_scan(
        &self,
        followed: &mut Followed,
        size: (u32, u32),
        follow: bool,
        timestamp_ms: f64,
    ) -> Option<ScanInput> {
        // Without the face mesh nothing would confirm the fine scan's detections.
        let min_face_height = if self.options.face_mesh {
            self.options.min_face_height.unwrap_or_else(|| {
                let camera = self.options.camera(size.0, size.1);
                // The floor a user's value is held to holds for the derived one (a narrow frame
                // would otherwise ask for faces of a fraction of a pixel).
                (camera.focal_px * FACE_HEIGHT_M / FAR_FIELD_DISTANCE_M).max(MIN_FACE_HEIGHT_PX)
            })
        } else {
            0.0
        };
        // Faces the whole-frame view resolves need no scan.
        let whole_frame_min = size.0.max(size.1) as f32 * WHOLE_FRAME_MIN_FACE_SHARE;
        if min_face_height <= 0.0 || min_face_height >= whole_frame_min {
            return None;
        }
        let sweep = self.options.fine_scan_sweep_ms;
        // Nothing analysed yet in video mode (remember() sets the size): scan on the next frame.
        if self.options.detection_interval_ms > 0.0 && followed.size == (0, 0) {
            followed.last_scan_ms = f64::NEG_INFINITY;
            followed.scan_band = 0;
            return None;
        }
        if !follow || sweep <= 0.0 || followed.last_scan_ms == f64::NEG_INFINITY {
            followed.last_scan_ms = timestamp_ms;
            followed.scan_band = 0;
            return Some(ScanInput::for_frame(size.0, size.1, min_face_height));
        }
        // Half a frame early rather than a frame late.
        let frame_ms = (timestamp_ms - followed.last_frame_ms).max(0.0);
        let since = timestamp_ms - followed.last_scan_ms + frame_ms / 2.0;
        if followed.scan_band == 0 {
            if since < sweep {
                return None;
            }
            // A new sweep, in as many bands as frames fit in it.
            followed.scan_bands = if frame_ms > 0.0 {
                ((sweep / frame_ms) as usize).clamp(1, MAX_SCAN_BANDS)
            } else {
                1
            };
            followed.last_scan_ms = timestamp_ms;
        } else if since < sweep * followed.scan_band as f64 / followed.scan_bands as f64 {
            return None;
        }
        let band = followed.scan_band;
        followed.scan_band = (band + 1) % followed.scan_bands;
        // Neighbouring bands share the largest face the scan is for, with room around it.
        let overlap = whole_frame_min * SCAN_BAND_OVERLAP;
        Some(ScanInput::band(
            size.0,
            size.1,
            min_face_height,
            band,
            followed.scan_bands,
            overlap,
        ))
    }

    /// The faces the detectors find, in frame pixels: those above `minDetectionScore`, largest
    /// first, and (for video mode) the weaker ones above `minTrackingScore` that overlap none
    /// of them. `whole_frame`: the BlazeFace networks on the letterboxed frame; `scan`: CenterFace
    /// on the frame at that scale. Every detection goes through one suppression.
    async fn detect(
        &self,
        frame: &Frame<'_>,
        whole_frame: bool,
        scan: Option<ScanInput>,
    ) -> Result<(Vec<PixelDetection>, Vec<PixelDetection>)> {
        let floor = if self.options.detection_interval_ms > 0.0 {
            self.options
                .min_tracking_score
                .min(self.options.min_detection_score)
        } else {
            self.options.min_detection_score
        };
        // BlazeFace's detections and CenterFace's, suppressed apart, then merged preferring
        // BlazeFace's box where both found a face.
        let (mut raw, mut raw_far) = (Vec::new(), Vec::new());
        // Each network's confident boxes, to tell where two of them saw a face.
        let mut by_network: Vec<Vec<[f32; 4]>> = Vec::new();
        let confident_boxes = |found: &[detector::Detection]| -> Vec<[f32; 4]> {
            found
                .iter()
                .filter(|d| d.score >= self.options.min_detection_score)
                .map(|d| d.bbox)
                .collect()
        };
        if whole_frame {
            let started = Instant::now();
            let letterbox = RotatedRect::letterbox(frame.width(), frame.height());
            for &model in self.options.detector.models() {
                let found = self.detect_in(frame, model, &[letterbox], floor).await?;
                let found: Vec<_> = found.into_iter().flatten().collect();
                by_network.push(confident_boxes(&found));
                raw.extend(found);
            }
            self.lock_timings().add(Stage::Detection, started);
        }
        if let Some(scan) = scan {
            let started = Instant::now();
            let input = frame.warp_to_chw(&scan.view(), scan.width, scan.height, centerface::WARP);
            let maps = self
                .networks
                .centerface(input, 1, scan.height, scan.width)
                .await?
                .remove(0);
            self.lock_timings().add(Stage::FineScan, started);
            let found: Vec<_> = centerface::decode(&maps, floor)
                .into_iter()
                .map(|d| scan.to_frame(d))
                .filter(|d| !scan.cut_at_band_edge(d.bbox, frame.width(), frame.height()))
                .collect();
            by_network.push(confident_boxes(&found));
            raw_far.extend(found);
        }
        // Separate suppression, so weak candidates never shift a strong face's box.
        let iou = self.options.nms_iou_threshold;
        let min_score = self.options.min_detection_score;
        let suppress = |near: Vec<detector::Detection>, far: Vec<detector::Detection>| {
            detector::merge_preferring(
                detector::weighted_nms(near, iou),
                detector::weighted_nms(far, iou),
                iou,
            )
        };
        let (strong, weak): (Vec<_>, Vec<_>) = raw.into_iter().partition(|d| d.score >= min_score);
        let (strong_far, weak_far): (Vec<_>, Vec<_>) =
            raw_far.into_iter().partition(|d| d.score >= min_score);
        // A face the whole-frame view shows only a few pixels high is boxed roughly there (a
        // 53 px face off by a fifth of its height): where the fine scan saw it too, it is placed
        // by the scan, and two networks found it.
        let mut strong = detector::weighted_nms(strong, iou);
        let strong_far = detector::weighted_nms(strong_far, iou);
        let resolved = frame.width().max(frame.height()) as f32 * WHOLE_FRAME_RESOLVED_FACE_SHARE;
        let refined = detector::refine_small_faces(&mut strong, &strong_far, iou, resolved);
        let seen_twice: Vec<[f32; 4]> = strong
            .iter()
            .zip(&refined)
            .filter(|(_, refined)| **refined)
            .map(|(d, _)| d.bbox)
            .collect();
        let mut kept = detector::merge_preferring(strong, strong_far, iou);
        kept.sort_by(|a, b| b.area().total_cmp(&a.area()));
        kept.truncate(self.options.max_faces);
        let weak: Vec<_> = suppress(weak, weak_far)
            .into_iter()
            .filter(|w| {
                kept.iter()
                    .all(|k| k.iou(w) < self.options.nms_iou_threshold)
            })
            .collect();
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let agree = |b: [f32; 4]| {
            seen_twice.contains(&b)
                || by_network
                    .iter()
                    .filter(|boxes| {
                        boxes
                            .iter()
                            .any(|&o| detector::boxes_agree(b, o, DETECTORS_AGREE_IOU))
                    })
                    .count()
                    >= 2
        };
        let to_frame = |found: Vec<detector::Detection>| -> Vec<PixelDetection> {
            found
                .into_iter()
                .map(|d| PixelDetection {
                    bbox: [
                        d.bbox[0].max(0.0),
                        d.bbox[1].max(0.0),
                        d.bbox[2].min(w),
                        d.bbox[3].min(h),
                    ],
                    score: d.score,
                    keypoints: d.keypoints,
                    detectors_agree: agree(d.bbox),
                })
                .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
                .collect()
        };
        Ok((to_frame(kept), to_frame(weak)))
    }

    /// One detector network through each of `views` (upright squares of the frame, batched):
    /// per view, its detections scoring at least `min_score`, in frame pixels.
    async fn detect_in(
        &self,
        frame: &Frame<'_>,
        model: DetectorModel,
        views: &[RotatedRect],
        min_score: f32,
    ) -> Result<Vec<Vec<detector::Detection>>> {
        let size = model.input_size();
        let options = WarpOptions {
            border: Border::Zero,
            range: (-1.0, 1.0),
            flip_horizontal: false,
        };
        let mut input = Vec::with_capacity(views.len() * 3 * size * size);
        for view in views {
            input.extend(frame.warp_to_chw(view, size, size, options));
        }
        let (boxes, scores) = self.networks.detect(model, input, views.len()).await?;
        let anchors = model.anchors();
        let per_view = anchors.len();
        Ok(views
            .iter()
            .enumerate()
            .map(|(i, view)| {
                let view_boxes = &boxes[i * per_view * 16..(i + 1) * per_view * 16];
                let view_scores = &scores[i * per_view..(i + 1) * per_view];
                detector::decode(view_boxes, view_scores, &anchors, size, min_score)
                    .into_iter()
                    .map(|mut d| {
                        let [x0, y0] = view.to_frame(d.bbox[0], d.bbox[1], false);
                        let [x1, y1] = view.to_frame(d.bbox[2], d.bbox[3], false);
                        d.bbox = [x0, y0, x1, y1];
                        d.keypoints = d.keypoints.map(|[u, v]| view.to_frame(u, v, false));
                        d
                    })
                    .collect()
            })
            .collect())
    }

    /// For the `analysed` faces: the face-presence probability of each one's crop, and its
    /// 468-point mesh in frame pixels (z: relative depth in the same scale), `None` where the
    /// presence is below `minFacePresence`. The other faces get `None` for both.
    #[allow(clippy::type_complexity)]
    async fn face_meshes(
        &self,
        frame: &Frame<'_>,
        detections: &[PixelDetection],
        analysed: &[bool],
    ) -> Result<(Vec<Option<f32>>, Vec<Option<Vec<[f32; 3]>>>)> {
        let (mut presence, mut meshes) =
            (vec![None; detections.len()], vec![None; detections.len()]);
        let chosen: Vec<usize> = (0..detections.len()).filter(|&i| analysed[i]).collect();
        if chosen.is_empty() {
            return Ok((presence, meshes));
        }
        let options = WarpOptions {
            border: Border::Replicate,
            range: (0.0, 1.0),
            flip_horizontal: false,
        };
        let rois: Vec<RotatedRect> = chosen
            .iter()
            .map(|&i| detections[i].square_roi(MESH_ROI_SCALE))
            .collect();
        // One batch for all faces, as for the irises: fewer, larger matrix products.
        let mut input = Vec::with_capacity(rois.len() * 3 * MESH_SIZE * MESH_SIZE);
        for roi in &rois {
            input.extend(frame.warp_to_chw(roi, MESH_SIZE, MESH_SIZE, options));
        }
        let (landmarks, presence_logits) = self.networks.face_landmarks(input, rois.len()).await?;
        let s = MESH_SIZE as f32;
        let per_face = landmarks.len() / rois.len();
        for (k, (&i, roi)) in chosen.iter().zip(&rois).enumerate() {
            let p = 1.0 / (1.0 + (-presence_logits[k]).exp());
            presence[i] = Some(p);
            meshes[i] = (p >= self.options.min_face_presence).then(|| {
                landmarks[k * per_face..(k + 1) * per_face]
                    .chunks_exact(3)
                    .map(|c| {
                        let [x, y] = roi.to_frame(c[0] / s, c[1] / s, false);
                        [x, y, c[2] / s * roi.width]
                    })
                    .collect()
            });
        }
        Ok((presence, meshes))
    }

    /// Both eyes of each meshed face, `None` where the eyes are too small to resolve. Every eye
    /// of the frame goes through the iris network in one batch (about twice as fast as one call
    /// per eye: the network is small, so per-call overhead dominates).
    async fn eyes(
        &self,
        frame: &Frame<'_>,
        meshes: &[Option<Vec<[f32; 3]>>],
    ) -> Result<Vec<Option<Vec<EyeObservation>>>> {
        struct EyeCrop {
            face: usize,
            corners: [[f32; 2]; 2],
            roi: RotatedRect,
            flip: bool,
        }
        let mut crops: Vec<EyeCrop> = Vec::new();
        for (face, mesh) in meshes.iter().enumerate() {
            let Some(mesh) = mesh else { continue };
            let mut pair = Vec::with_capacity(2);
            for (k, &(a, b)) in EYE_CORNERS.iter().enumerate() {
                let (pa, pb) = ([mesh[a][0], mesh[a][1]], [mesh[b][0], mesh[b][1]]);
                let (left, right) = if pa[0] <= pb[0] { (pa, pb) } else { (pb, pa) };
                let width = (right[0] - left[0]).hypot(right[1] - left[1]);
                if width < self.options.min_eye_width_for_iris {
                    break;
                }
                pair.push(EyeCrop {
                    face,
                    corners: [left, right],
                    roi: RotatedRect {
                        cx: (left[0] + right[0]) / 2.0,
                        cy: (left[1] + right[1]) / 2.0,
                        width: width * EYE_ROI_SCALE,
                        height: width * EYE_ROI_SCALE,
                        rotation: (right[1] - left[1]).atan2(right[0] - left[0]),
                    },
                    // The iris model was trained on one eye; the other is mirrored into it.
                    flip: k == 1,
                });
            }
            if pair.len() == 2 {
                crops.extend(pair);
            }
        }
        let mut out: Vec<Option<Vec<EyeObservation>>> = vec![None; meshes.len()];
        if crops.is_empty() {
            return Ok(out);
        }
        let mut input = Vec::with_capacity(crops.len() * 3 * IRIS_SIZE * IRIS_SIZE);
        for crop in &crops {
            let options = WarpOptions {
                border: Border::Replicate,
                range: (0.0, 1.0),
                flip_horizontal: crop.flip,
            };
            input.extend(frame.warp_to_chw(&crop.roi, IRIS_SIZE, IRIS_SIZE, options));
        }
        let (_contour, iris) = self.networks.iris_landmarks(input, crops.len()).await?;
        let s = IRIS_SIZE as f32;
        let dist = |p: [f32; 2], q: [f32; 2]| (p[0] - q[0]).hypot(p[1] - q[1]);
        for (crop, values) in crops.iter().zip(iris.chunks_exact(IRIS_VALUES)) {
            let pts: Vec<[f32; 2]> = values
                .chunks_exact(3)
                .map(|c| crop.roi.to_frame(c[0] / s, c[1] / s, crop.flip))
                .collect();
            out[crop.face]
                .get_or_insert_with(Vec::new)
                .push(EyeObservation {
                    corners: crop.corners,
                    iris_centre: pts[0],
                    iris_diameter_px: dist(pts[1], pts[3]).max(dist(pts[2], pts[4])),
                });
        }
        Ok(out)
    }

    /// Age and gender of the planned faces, in one batch: each face's crop and its mirror.
    async fn age_gender(
        &self,
        frame: &Frame<'_>,
        detections: &[PixelDetection],
        faces: &mut [FaceAnalysis],
        plan: &[bool],
        analysed: &[bool],
    ) -> Result<()> {
        let size = attributes::INPUT_SIZE;
        let mut chw = Vec::new();
        let mut judged = Vec::new();
        for (i, (d, face)) in detections.iter().zip(faces.iter_mut()).enumerate() {
            if !analysed[i] {
                continue;
            }
            if face.bbox[2].max(face.bbox[3]) < self.options.min_face_size_for_attributes {
                face.skipped.push(SkipReason::TooSmall);
                continue;
            }
            if !plan.get(i).copied().unwrap_or(true) {
                face.skipped.push(SkipReason::NotScheduled);
                continue;
            }
            let roi = d.square_roi(attributes::CROP_SCALE * self.options.age_gender_crop_scale);
            for flip_horizontal in [false, true] {
                let options = WarpOptions {
                    border: Border::Replicate,
                    range: (0.0, 255.0),
                    flip_horizontal,
                };
                let crop = frame.warp_to_chw(&roi, size, size, options);
                if !flip_horizontal {
                    face.sharpness = Some(attributes::sharpness(&crop, size));
                }
                chw.extend(crop);
            }
            judged.push(i);
        }
        if judged.is_empty() {
            return Ok(());
        }
        let (ages, genders) = self.networks.age_gender(chw, 2 * judged.len()).await?;
        for (k, &i) in judged.iter().enumerate() {
            let face = &mut faces[i];
            let age = attributes::age_years(&ages[2 * k..2 * k + 2]);
            face.age = Some(age);
            let outputs = [
                [genders[4 * k], genders[4 * k + 1]],
                [genders[4 * k + 2], genders[4 * k + 3]],
            ];
            let p_female = attributes::female_probability(&outputs, age);
            (face.gender, face.gender_score) = if p_female >= 0.5 {
                (Some(Gender::Female), Some(p_female))
            } else {
                (Some(Gender::Male), Some(1.0 - p_female))
            };
        }
        Ok(())
    }
}

/// A pipeline on burn's CPU backend with the weights compiled into the binary.
#[cfg(all(feature = "flex", feature = "embed-models"))]
pub fn cpu_pipeline(options: PipelineOptions) -> Result<Pipeline> {
    Pipeline::new(&Device::flex(), &ModelWeights::embedded(), options)
}
