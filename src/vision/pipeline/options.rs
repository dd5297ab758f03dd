//! The pipeline's options: what each one does, its default and its valid range.

use serde::{Deserialize, Serialize};

use super::super::detector::DetectorChoice;
use super::super::geometry::Camera;
use crate::error::{GlanceError, Result};

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
    /// on successive frames, so that no frame carries the whole scan. A band is scanned apart
    /// from its frame (in the browser by a second worker) and what it finds joins the first
    /// frame 100 ms later. Default 1000 (people 5 m
    /// away stay in view for seconds; 500 found no more of them on the walk-by clip, for twice
    /// the scan's time). Detecting on every frame, or with 0, the whole frame is scanned on
    /// every frame. At most 60000.
    #[schemars(range(min = 0.0, max = 60000.0))]
    pub fine_scan_sweep_ms: f64,
    /// The fine scan looks at the frame mirrored too and pools what both views find: faces the
    /// network misses one way round it often finds the other (on WIDER dev, faces >= 24 px
    /// within its reach at 0.4 go from 84 to 88 %), for twice the scan's time. Default false.
    pub mirrored_fine_scan: bool,
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
            fine_scan_sweep_ms: 1000.0,
            mirrored_fine_scan: false,
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
        for (path, v) in [
            ("minDetectionScore", self.min_detection_score),
            ("minTrackingScore", self.min_tracking_score),
            ("nmsIouThreshold", self.nms_iou_threshold),
            ("minFacePresence", self.min_face_presence),
        ] {
            between(path, v, 0.0, 1.0, "")?;
        }
        between("maxFaces", self.max_faces, 1, MAX_FACES_LIMIT, "")?;
        between(
            "maxAnalyzedFaces",
            self.max_analyzed_faces,
            0,
            MAX_ANALYZED_FACES_LIMIT,
            "",
        )?;
        if let Some(h) = self
            .min_face_height
            .filter(|&h| !(h == 0.0 || (MIN_FACE_HEIGHT_PX..=4096.0).contains(&h)))
        {
            return Err(config_error(
                "minFaceHeight",
                format!("must be 0 (no fine scan) or between 8 and 4096 pixels, got {h}"),
            ));
        }
        let fov = self.camera_horizontal_fov_deg;
        between("cameraHorizontalFovDeg", fov, 1.0, 179.0, " degrees")?;
        // A camera's focal length in pixels: from a fisheye's at VGA to a telephoto's at 8K.
        if let Some(f) = self.focal_length_px {
            between("focalLengthPx", f, 1.0, 100_000.0, " pixels")?;
        }
        for (path, v) in [
            (
                "minFaceSizeForAttributes",
                self.min_face_size_for_attributes,
            ),
            ("minEyeWidthForIris", self.min_eye_width_for_iris),
        ] {
            between(path, v, 0.0, 4096.0, " pixels")?;
        }
        for (path, v) in [
            ("fineScanSweepMs", self.fine_scan_sweep_ms),
            ("detectionIntervalMs", self.detection_interval_ms),
        ] {
            between(path, v, 0.0, 60_000.0, " ms")?;
        }
        if self.detection_interval_ms > 0.0 && !self.face_mesh {
            return Err(config_error(
                "detectionIntervalMs",
                "video mode follows faces by their mesh: it needs faceMesh".into(),
            ));
        }
        between(
            "ageGenderCropScale",
            self.age_gender_crop_scale,
            0.5,
            4.0,
            "",
        )
    }

    pub(super) fn camera(&self, width: u32, height: u32) -> Camera {
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

fn config_error(path: &str, message: String) -> GlanceError {
    GlanceError::Config {
        path: path.into(),
        message,
    }
}

/// `value` must lie in `lo..=hi` (`unit` follows the bounds in the message, with its space).
fn between<T: PartialOrd + std::fmt::Display>(
    path: &str,
    value: T,
    lo: T,
    hi: T,
    unit: &str,
) -> Result<()> {
    if lo <= value && value <= hi {
        Ok(())
    } else {
        Err(config_error(
            path,
            format!("must be between {lo} and {hi}{unit}, got {value}"),
        ))
    }
}

/// The largest `maxFaces` and `maxAnalyzedFaces` accepted: each face costs memory in the
/// networks' batches (a mesh crop is 0.44 MB, a second look 0.2 MB).
const MAX_FACES_LIMIT: usize = 1000;
const MAX_ANALYZED_FACES_LIMIT: usize = 64;
/// The smallest face the fine scan looks for, pixels (`minFaceHeight` and its derived default).
pub(super) const MIN_FACE_HEIGHT_PX: f32 = 8.0;
/// How far away the fine scan looks for faces by default, metres (audience vendors measure to
/// 5 m).
pub const FAR_FIELD_DISTANCE_M: f32 = 5.0;
