//! Frame → faces: detection, aligned crops, face mesh, irises, head pose, gaze, distance, age
//! and gender. One configurable `Pipeline` over whichever burn device it was given.

use serde::{Deserialize, Serialize};

use super::detector::{self, DetectorChoice};
use super::geometry::{self, Camera, EyeObservation};
use super::networks::{ModelWeights, Networks};
use crate::analysis::{FaceAnalysis, FrameAnalysis, Gender, SkipReason};
use crate::error::{GlanceError, Result};
use crate::frame::{Border, Frame, RotatedRect, WarpOptions};
use burn::tensor::Device;

/// Options of the vision pipeline. Every field has a default; JSON uses camelCase names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PipelineOptions {
    /// Face detector networks. Default: `both` (full and short range, merged).
    pub detector: DetectorChoice,
    /// Minimum detector confidence for a face. Default 0.4.
    pub min_detection_score: f32,
    /// Video mode: a face already followed stays while the detector gives it at least this
    /// confidence, though below `minDetectionScore` (hysteresis: a moving face's score dips).
    /// Default 0.25.
    pub min_tracking_score: f32,
    /// Overlap above which two detections are one face. Default 0.3.
    pub nms_iou_threshold: f32,
    /// At most this many faces per frame, largest first. Default 10.
    pub max_faces: usize,
    /// Faces narrower than this (pixels) get no age/gender estimate. Default 32.
    pub min_face_size_for_attributes: f32,
    /// Eyes narrower than this (pixels, corner to corner) get no iris/eye gaze. Default 10.
    pub min_eye_width_for_iris: f32,
    /// Minimum face-mesh presence probability to trust the mesh. Default 0.5.
    pub min_mesh_presence: f32,
    /// The camera's horizontal field of view in degrees, for distances. Default 60.
    pub camera_horizontal_fov_deg: f32,
    /// The camera's focal length in pixels; overrides the field of view when set.
    pub focal_length_px: Option<f32>,
    /// Run the face mesh, and with it head pose, irises, gaze and distance. Default true. Off,
    /// a face is the detector's box and six keypoints (and age/gender): MediaPipe's
    /// FaceDetector's output, at its cost.
    pub face_mesh: bool,
    /// Run the age/gender network. Default true.
    pub age_gender: bool,
    /// Side of the age/gender crop relative to the face box's longer side. Default 1.2.
    pub age_gender_crop_scale: f32,
    /// Video mode: between detector runs, follow the faces of the previous frame by their mesh
    /// (as MediaPipe's landmarker does in video mode) and run the detectors again only after
    /// this many milliseconds, or at once when a followed face is lost. New faces are found at
    /// the next detector run. 0 (default): detect on every frame.
    pub detection_interval_ms: f64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            detector: DetectorChoice::Both,
            min_detection_score: 0.4,
            min_tracking_score: 0.25,
            nms_iou_threshold: 0.3,
            max_faces: 10,
            min_face_size_for_attributes: 32.0,
            min_eye_width_for_iris: 10.0,
            min_mesh_presence: 0.5,
            camera_horizontal_fov_deg: 60.0,
            focal_length_px: None,
            face_mesh: true,
            age_gender: true,
            age_gender_crop_scale: 1.2,
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
        unit("minMeshPresence", self.min_mesh_presence)?;
        if !(1.0..179.0).contains(&self.camera_horizontal_fov_deg) {
            return Err(GlanceError::Config {
                path: "cameraHorizontalFovDeg".into(),
                message: format!(
                    "must be between 1 and 179 degrees, got {}",
                    self.camera_horizontal_fov_deg
                ),
            });
        }
        if let Some(f) = self
            .focal_length_px
            .filter(|f| !(f.is_finite() && *f > 0.0))
        {
            return Err(GlanceError::Config {
                path: "focalLengthPx".into(),
                message: format!("must be positive, got {f}"),
            });
        }
        if !(self.detection_interval_ms.is_finite() && self.detection_interval_ms >= 0.0) {
            return Err(GlanceError::Config {
                path: "detectionIntervalMs".into(),
                message: format!("must be 0 or more, got {}", self.detection_interval_ms),
            });
        }
        if self.detection_interval_ms > 0.0 && !self.face_mesh {
            return Err(GlanceError::Config {
                path: "detectionIntervalMs".into(),
                message: "video mode follows faces by their mesh: it needs faceMesh".into(),
            });
        }
        if !(self.age_gender_crop_scale > 0.5 && self.age_gender_crop_scale < 4.0) {
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

/// Face mesh crop: the detection box's longer side times this (MediaPipe's value).
const MESH_ROI_SCALE: f32 = 1.5;
/// Eye crop: the corner-to-corner distance times this (MediaPipe's value).
const EYE_ROI_SCALE: f32 = 2.3;
const MESH_SIZE: usize = 192;
/// Values per eye in the iris network's iris output (5 points x, y, z).
const IRIS_VALUES: usize = 15;
const IRIS_SIZE: usize = 64;
const AGE_GENDER_SIZE: usize = 112;

/// Mesh landmark ids of the eye corners: (image-left eye), (image-right eye).
const EYE_CORNERS: [(usize, usize); 2] = [(33, 133), (362, 263)];

/// One face as the detector saw it, in frame pixels.
#[derive(Debug, Clone, Copy)]
struct PixelDetection {
    bbox: [f32; 4],
    score: f32,
    keypoints: [[f32; 2]; 6],
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
    let inside =
        |p: [f32; 2], b: [f32; 4]| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3];
    let (a, b) = (followed.bbox, d.bbox);
    detector::box_iou(a, b) > 0.3 || inside(box_centre(a), b) || inside(box_centre(b), a)
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
            },
            box_in_extent: r,
            at_ms,
            velocity: [0.0; 2],
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
        let size = (frame.width(), frame.height());
        // Video mode: follow the previous frame's faces while the detectors rest.
        let (previous, lost, detectors_rest) = {
            let followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
            let interval = self.options.detection_interval_ms;
            let follow =
                interval > 0.0 && followed.size == size && timestamp_ms > followed.last_frame_ms;
            if follow {
                (
                    followed.faces.clone(),
                    followed.lost.clone(),
                    !followed.faces.is_empty()
                        && timestamp_ms - followed.last_detection_ms < interval,
                )
            } else {
                (Vec::new(), Vec::new(), false)
            }
        };
        // The faces of this frame: the detectors' (unless they rest, then the followed faces
        // where they should be now), and where each comes from.
        let predicted: Vec<PixelDetection> =
            previous.iter().map(|f| f.predicted(timestamp_ms)).collect();
        let (mut detections, origins, still_lost) = if detectors_rest {
            let origins = previous.into_iter().map(Origin::Carried).collect();
            (predicted, origins, lost)
        } else {
            let (mut detections, weak) = self.detect(frame).await?;
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
                            detection: face,
                            box_in_extent: [0.0; 4],
                            at_ms: lost_ms,
                            velocity: [0.0; 2],
                        })));
                    }
                    _ => still_lost.push((lost_ms, face)),
                }
            }
            (detections, origins, still_lost)
        };
        let mut meshes = if detections.is_empty() || !self.options.face_mesh {
            vec![None; detections.len()]
        } else {
            self.face_meshes(frame, &detections).await?
        };
        self.remember(
            size,
            timestamp_ms,
            &mut detections,
            &meshes,
            &origins,
            still_lost,
        );
        // A carried face without a mesh has left: it is not a face of this frame.
        let keep: Vec<bool> = (0..detections.len())
            .map(|i| meshes[i].is_some() || !matches!(origins[i], Origin::Carried(_)))
            .collect();
        let mut kept = keep.iter().copied();
        detections.retain(|_| kept.next().unwrap_or(false));
        let mut kept = keep.iter().copied();
        meshes.retain(|_| kept.next().unwrap_or(false));
        let camera = self.options.camera(frame.width(), frame.height());
        // Boxes are reported inside the frame (a followed face's, from its mesh, may stick out).
        let (fw, fh) = (frame.width() as f32, frame.height() as f32);
        let mut faces: Vec<FaceAnalysis> = detections
            .iter()
            .map(|d| {
                let [x0, y0] = [d.bbox[0].clamp(0.0, fw), d.bbox[1].clamp(0.0, fh)];
                let [x1, y1] = [d.bbox[2].clamp(0.0, fw), d.bbox[3].clamp(0.0, fh)];
                FaceAnalysis::detected([x0, y0, x1 - x0, y1 - y0], d.score, d.keypoints)
            })
            .collect();
        if detections.is_empty() {
            return Ok(FrameAnalysis {
                width: frame.width(),
                height: frame.height(),
                timestamp_ms,
                faces,
            });
        }

        let eyes = self.eyes(frame, &meshes).await?;
        for (i, face) in faces.iter_mut().enumerate() {
            let Some(mesh) = &meshes[i] else {
                face.skipped.push(if self.options.face_mesh {
                    SkipReason::NoMesh
                } else {
                    SkipReason::MeshOff
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
            self.age_gender(frame, &detections, &mut faces, &plan)
                .await?;
        }
        Ok(FrameAnalysis {
            width: frame.width(),
            height: frame.height(),
            timestamp_ms,
            faces,
        })
    }

    /// Records this frame's faces for video mode. Carried faces get the boxes and keypoints of
    /// their new meshes (so the frame's results describe this frame). When the mesh loses a
    /// face that was followed, the next frame runs the detectors to find it; every face without
    /// a mesh joins `lost`, for detector runs to look for.
    fn remember(
        &self,
        size: (u32, u32),
        timestamp_ms: f64,
        detections: &mut [PixelDetection],
        meshes: &[Option<Vec<[f32; 3]>>],
        origins: &[Origin],
        mut lost: Vec<(f64, PixelDetection)>,
    ) {
        if self.options.detection_interval_ms <= 0.0 {
            return;
        }
        // Faces are carried only while the detectors rest.
        let detectors_rest = origins.iter().any(|o| matches!(o, Origin::Carried(_)));
        let mut followed = self.followed.lock().unwrap_or_else(|e| e.into_inner());
        let mut faces = Vec::with_capacity(meshes.len());
        let mut follow_lost = false;
        for (i, mesh) in meshes.iter().enumerate() {
            let Some(mesh) = mesh else {
                follow_lost |= origins[i].followed().is_some();
                lost.push((timestamp_ms, detections[i]));
                continue;
            };
            let carried = match origins[i] {
                Origin::Carried(f) => Some(f.box_in_extent),
                _ => None,
            };
            let mut face = FollowedFace::from_mesh(mesh, &detections[i], carried, timestamp_ms);
            if carried.is_some() {
                detections[i] = face.detection;
            }
            if let Some(before) = origins[i].followed() {
                let dt = (timestamp_ms - before.at_ms) as f32;
                let (now, then) = (
                    box_centre(face.detection.bbox),
                    box_centre(before.detection.bbox),
                );
                if dt > 0.0 {
                    face.velocity = [(now[0] - then[0]) / dt, (now[1] - then[1]) / dt];
                }
            }
            faces.push(face);
        }
        if follow_lost {
            // Find the lost face (or whoever replaced it) on the next frame.
            followed.last_detection_ms = f64::NEG_INFINITY;
        } else if !detectors_rest {
            followed.last_detection_ms = timestamp_ms;
        }
        followed.size = size;
        followed.last_frame_ms = timestamp_ms;
        followed.faces = faces;
        followed.lost = lost;
    }

    /// The faces the detectors find: those above `minDetectionScore`, largest first, and (for
    /// video mode) the weaker ones above `minTrackingScore` that overlap none of them.
    async fn detect(
        &self,
        frame: &Frame<'_>,
    ) -> Result<(Vec<PixelDetection>, Vec<PixelDetection>)> {
        let letterbox = RotatedRect::letterbox(frame.width(), frame.height());
        let floor = if self.options.detection_interval_ms > 0.0 {
            self.options
                .min_tracking_score
                .min(self.options.min_detection_score)
        } else {
            self.options.min_detection_score
        };
        let mut raw = Vec::new();
        // Both networks see the same letterboxed square, so their detections merge directly.
        for &model in self.options.detector.models() {
            let size = model.input_size();
            let input = frame.warp_to_chw(
                &letterbox,
                size,
                size,
                WarpOptions {
                    border: Border::Zero,
                    range: (-1.0, 1.0),
                    flip_horizontal: false,
                },
            );
            let (boxes, scores) = self.networks.detect(model, input).await?;
            raw.extend(detector::decode(
                &boxes,
                &scores,
                &model.anchors(),
                size,
                floor,
            ));
        }
        // Separate suppression, so weak candidates never shift a strong face's box.
        let (strong, weak): (Vec<_>, Vec<_>) = raw
            .into_iter()
            .partition(|d| d.score >= self.options.min_detection_score);
        let mut kept = detector::weighted_nms(strong, self.options.nms_iou_threshold);
        kept.sort_by(|a, b| b.area().total_cmp(&a.area()));
        kept.truncate(self.options.max_faces);
        let weak: Vec<_> = detector::weighted_nms(weak, self.options.nms_iou_threshold)
            .into_iter()
            .filter(|w| {
                kept.iter()
                    .all(|k| k.iou(w) < self.options.nms_iou_threshold)
            })
            .collect();
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let to_frame = |found: Vec<detector::Detection>| -> Vec<PixelDetection> {
            found
                .into_iter()
                .map(|d| {
                    let [x0, y0] = letterbox.to_frame(d.bbox[0], d.bbox[1], false);
                    let [x1, y1] = letterbox.to_frame(d.bbox[2], d.bbox[3], false);
                    let keypoints = d.keypoints.map(|[u, v]| letterbox.to_frame(u, v, false));
                    PixelDetection {
                        bbox: [x0.max(0.0), y0.max(0.0), x1.min(w), y1.min(h)],
                        score: d.score,
                        keypoints,
                    }
                })
                .filter(|d| d.bbox[2] > d.bbox[0] && d.bbox[3] > d.bbox[1])
                .collect()
        };
        Ok((to_frame(kept), to_frame(weak)))
    }

    /// The 468-point mesh of each face in frame pixels (z: relative depth in the same scale),
    /// `None` where the mesh network says the crop holds no face.
    async fn face_meshes(
        &self,
        frame: &Frame<'_>,
        detections: &[PixelDetection],
    ) -> Result<Vec<Option<Vec<[f32; 3]>>>> {
        let options = WarpOptions {
            border: Border::Replicate,
            range: (0.0, 1.0),
            flip_horizontal: false,
        };
        let rois: Vec<RotatedRect> = detections
            .iter()
            .map(|d| d.square_roi(MESH_ROI_SCALE))
            .collect();
        // One batch for all faces, as for the irises: fewer, larger matrix products.
        let mut input = Vec::with_capacity(rois.len() * 3 * MESH_SIZE * MESH_SIZE);
        for roi in &rois {
            input.extend(frame.warp_to_chw(roi, MESH_SIZE, MESH_SIZE, options));
        }
        let (landmarks, presence) = self.networks.face_landmarks(input, rois.len()).await?;
        let s = MESH_SIZE as f32;
        Ok(rois
            .iter()
            .zip(landmarks.chunks_exact(landmarks.len() / rois.len()))
            .zip(&presence)
            .map(|((roi, landmarks), &presence)| {
                let p = 1.0 / (1.0 + (-presence).exp());
                (p >= self.options.min_mesh_presence).then(|| {
                    landmarks
                        .chunks_exact(3)
                        .map(|c| {
                            let [x, y] = roi.to_frame(c[0] / s, c[1] / s, false);
                            [x, y, c[2] / s * roi.width]
                        })
                        .collect()
                })
            })
            .collect())
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

    async fn age_gender(
        &self,
        frame: &Frame<'_>,
        detections: &[PixelDetection],
        faces: &mut [FaceAnalysis],
        plan: &[bool],
    ) -> Result<()> {
        let options = WarpOptions {
            border: Border::Replicate,
            range: (0.0, 255.0),
            flip_horizontal: false,
        };
        for (i, (d, face)) in detections.iter().zip(faces.iter_mut()).enumerate() {
            if face.bbox[2].max(face.bbox[3]) < self.options.min_face_size_for_attributes {
                face.skipped.push(SkipReason::TooSmall);
                continue;
            }
            if !plan.get(i).copied().unwrap_or(true) {
                face.skipped.push(SkipReason::NotScheduled);
                continue;
            }
            let roi = d.square_roi(self.options.age_gender_crop_scale);
            let input = frame.warp_to_chw(&roi, AGE_GENDER_SIZE, AGE_GENDER_SIZE, options);
            let (age, gender) = self.networks.age_gender(input, 1).await?;
            let (male, female) = (gender[0], gender[1]);
            face.age = Some(age[0].max(0.0));
            let (g, score) = if male >= female {
                (Gender::Male, male)
            } else {
                (Gender::Female, female)
            };
            face.gender = Some(g);
            face.gender_score = Some(score);
        }
        Ok(())
    }
}

/// A pipeline on burn's CPU backend with the weights compiled into the binary.
#[cfg(all(feature = "flex", feature = "embed-models"))]
pub fn cpu_pipeline(options: PipelineOptions) -> Result<Pipeline> {
    Pipeline::new(&Device::flex(), &ModelWeights::embedded(), options)
}
