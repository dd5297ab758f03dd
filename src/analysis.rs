//! Plain result types of the vision core, shared by the audience aggregator, the rules' scheduler,
//! the CLI and the web layer. No burn here: everything downstream of inference depends only on
//! these types, so it builds and tests without a model.

use serde::{Deserialize, Serialize};

/// Apparent gender as the attribute model reports it (annotated appearance, not identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
}

/// Why an estimate is missing on a face (the field is `null` and this says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SkipReason {
    /// The face is smaller than the configured minimum for attribute models.
    TooSmall,
    /// No face mesh on this frame: it did not fit the face (a head turned too far, a face too
    /// small for its crop: the detectors confirmed it), or, in video mode, the face is followed
    /// by its box until the detectors run again.
    NoMesh,
    /// The face mesh is turned off (`faceMesh: false`).
    MeshOff,
    /// The eyes were too small in pixels to locate the irises.
    EyesTooSmall,
    /// The attribute model was not run on this frame (cadence).
    NotScheduled,
    /// More faces than `maxAnalyzedFaces`: this one, farther than those analysed, is counted
    /// and followed by its box, without the face mesh, irises or age/gender on this frame.
    FaceBudget,
}

/// One face in one frame. Coordinates are pixels of the input frame; angles are degrees.
///
/// Camera coordinate frame used for `gaze` and `positionM`: x to the image's right, y down the
/// image, z away from the camera into the scene (right-handed). A face looking straight into the
/// camera has `gaze` ≈ [0, 0, -1] and yaw = pitch = 0. Yaw > 0: the head turns towards the
/// image's right (+x); pitch > 0: the head tilts up (towards −y); roll > 0: the head leans
/// clockwise in the image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceAnalysis {
    /// [x, y, w, h] in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// BlazeFace keypoints in pixels: right eye, left eye (the person's), nose tip, mouth centre,
    /// right ear tragion, left ear tragion.
    pub keypoints: [[f32; 2]; 6],
    /// Apparent age in years (this frame's estimate).
    pub age: Option<f32>,
    /// Apparent gender, this frame's more likely one.
    pub gender: Option<Gender>,
    /// Probability of `gender`, in [0.5, 1], calibrated on the dev sets (of the faces given
    /// this score, about that share are right).
    pub gender_score: Option<f32>,
    /// Sharpness of the face crop the age/gender network saw, in [0, 1] (0 blurred flat, 1
    /// crisp): a blurred face's estimate counts less towards the visit's.
    pub sharpness: Option<f32>,
    pub yaw: Option<f32>,
    pub pitch: Option<f32>,
    pub roll: Option<f32>,
    /// Unit gaze direction in camera coordinates (head pose combined with eye gaze).
    pub gaze: Option<[f32; 3]>,
    /// Whether `gaze` used the irises (true) or head pose alone (false).
    pub gaze_from_eyes: Option<bool>,
    /// Face-presence probability the face-mesh network gives this face's crop: the second
    /// signal that confirms a detection when it reaches `minFacePresence`. `None` with the face
    /// mesh off.
    pub presence: Option<f32>,
    /// Which second signal confirmed the detection as a face. `None` with the face mesh off.
    pub confirmed_by: Option<Confirmation>,
    /// Distance from the camera to the face in metres.
    pub distance_m: Option<f32>,
    /// Position of the point between the eyes in camera coordinates, metres.
    pub position_m: Option<[f32; 3]>,
    /// Reasons for estimates left out on this face, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkipReason>,
}

impl FaceAnalysis {
    /// A detected face with no estimates yet: every estimate `None`, nothing skipped.
    pub fn detected(bbox: [f32; 4], score: f32, keypoints: [[f32; 2]; 6]) -> Self {
        FaceAnalysis {
            bbox,
            score,
            keypoints,
            age: None,
            gender: None,
            gender_score: None,
            sharpness: None,
            yaw: None,
            pitch: None,
            roll: None,
            gaze: None,
            gaze_from_eyes: None,
            presence: None,
            confirmed_by: None,
            distance_m: None,
            position_m: None,
            skipped: Vec::new(),
        }
    }
}

/// Everything the vision core found in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameAnalysis {
    pub width: u32,
    pub height: u32,
    /// Timestamp of the frame in milliseconds (monotonic, as the host gave it).
    pub timestamp_ms: f64,
    pub faces: Vec<FaceAnalysis>,
    /// Detections the face mesh did not confirm as faces (backs of heads, hair, clothing,
    /// pictures of textures): reported so an installer can see them, never tracked, counted or
    /// given attributes.
    #[serde(default)]
    pub rejected: Vec<RejectedDetection>,
    /// The whole picture changed at once since the previous frame of the same size (a cut in a
    /// video, the camera turned, the lights switched): no face is followed across it, and every
    /// visit open before it ends there. A frame with the previous one's timestamp (a still
    /// analysed again) is no cut.
    #[serde(default)]
    pub scene_cut: bool,
}

/// The second signal that confirmed a detection as a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Confirmation {
    /// The face mesh's face-presence probability reached `minFacePresence`.
    FaceMesh,
    /// Two detector networks found it (a head turned too far for the mesh), or CenterFace found
    /// it again on a second look at a larger scale (a face too small for the mesh's crop).
    Detectors,
}

/// A detection that no second signal confirmed as a face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectedDetection {
    /// [x, y, w, h] in pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector confidence in [0, 1].
    pub score: f32,
    /// The face mesh's face-presence probability, below `minFacePresence`.
    pub presence: f32,
}
