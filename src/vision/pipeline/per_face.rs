//! The per-face networks: the face mesh (with head pose, gaze and distance from it), the
//! irises, and age and gender.

use super::{Candidate, Pipeline};
use crate::analysis::{FaceAnalysis, Gender, SkipReason};
use crate::error::Result;
use crate::frame::{Border, Frame, RotatedRect, WarpOptions};
use crate::vision::attributes;
use crate::vision::geometry::{self, Camera, EyeObservation};

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

/// One eye's crop for the iris network.
struct EyeCrop {
    face: usize,
    corners: [[f32; 2]; 2],
    roi: RotatedRect,
    flip: bool,
}

impl Pipeline {
    /// For the `analysed` candidates: the face-presence probability of each one's crop, and its
    /// 468-point mesh in frame pixels (z: relative depth in the same scale), left `None` where
    /// the presence is below `minFacePresence`.
    pub(super) async fn face_meshes(
        &self,
        frame: &Frame<'_>,
        candidates: &mut [Candidate],
    ) -> Result<()> {
        let chosen: Vec<usize> = (0..candidates.len())
            .filter(|&i| candidates[i].analysed)
            .collect();
        if chosen.is_empty() {
            return Ok(());
        }
        let options = WarpOptions {
            border: Border::Replicate,
            range: (0.0, 1.0),
            flip_horizontal: false,
        };
        let rois: Vec<RotatedRect> = chosen
            .iter()
            .map(|&i| candidates[i].detection.square_roi(MESH_ROI_SCALE))
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
            candidates[i].presence = Some(p);
            candidates[i].mesh = (p >= self.options.min_face_presence).then(|| {
                landmarks[k * per_face..(k + 1) * per_face]
                    .chunks_exact(3)
                    .map(|c| {
                        let [x, y] = roi.to_frame(c[0] / s, c[1] / s, false);
                        [x, y, c[2] / s * roi.width]
                    })
                    .collect()
            });
        }
        Ok(())
    }

    /// Head pose, gaze, distance and position of each meshed face, from its mesh and `eyes`;
    /// a face without a mesh says why in `skipped`.
    pub(super) fn add_geometry(
        &self,
        camera: &Camera,
        candidates: &[Candidate],
        eyes: &[Option<Vec<EyeObservation>>],
        faces: &mut [FaceAnalysis],
    ) {
        for (i, face) in faces.iter_mut().enumerate() {
            let Some(mesh) = &candidates[i].mesh else {
                face.skipped.push(match candidates[i].unanalysed() {
                    Some(reason) => reason,
                    None if self.options.face_mesh => SkipReason::NoMesh,
                    None => SkipReason::MeshOff,
                });
                continue;
            };
            let pose = geometry::head_pose(mesh, camera);
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
            face.distance_m = geometry::distance_m(camera, centre, face_eyes, pose.as_ref());
            face.position_m = face
                .distance_m
                .map(|d| geometry::position_m(camera, centre, d));
        }
    }

    /// The crops of both eyes of each meshed face whose eyes are wide enough to resolve.
    fn eye_crops(&self, candidates: &[Candidate]) -> Vec<EyeCrop> {
        let mut crops: Vec<EyeCrop> = Vec::new();
        for (face, candidate) in candidates.iter().enumerate() {
            let Some(mesh) = &candidate.mesh else {
                continue;
            };
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
        crops
    }

    /// Both eyes of each meshed face, `None` where the eyes are too small to resolve. Every eye
    /// of the frame goes through the iris network in one batch (about twice as fast as one call
    /// per eye: the network is small, so per-call overhead dominates).
    pub(super) async fn eyes(
        &self,
        frame: &Frame<'_>,
        candidates: &[Candidate],
    ) -> Result<Vec<Option<Vec<EyeObservation>>>> {
        let crops = self.eye_crops(candidates);
        let mut out: Vec<Option<Vec<EyeObservation>>> = vec![None; candidates.len()];
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
    /// Which faces the age/gender model can run on: those analysed, and large enough.
    pub(super) fn attribute_eligible(
        &self,
        candidates: &[Candidate],
        faces: &[FaceAnalysis],
    ) -> Vec<bool> {
        candidates
            .iter()
            .zip(faces)
            .map(|(c, face)| c.analysed && !self.too_small_for_attributes(face))
            .collect()
    }

    fn too_small_for_attributes(&self, face: &FaceAnalysis) -> bool {
        face.bbox[2].max(face.bbox[3]) < self.options.min_face_size_for_attributes
    }

    pub(super) async fn age_gender(
        &self,
        frame: &Frame<'_>,
        candidates: &[Candidate],
        faces: &mut [FaceAnalysis],
        plan: &[bool],
    ) -> Result<()> {
        let size = attributes::INPUT_SIZE;
        let mut chw = Vec::new();
        let mut judged = Vec::new();
        for (i, (c, face)) in candidates.iter().zip(faces.iter_mut()).enumerate() {
            // Faces beyond the budget are left out (their reason is already given).
            if !c.analysed {
                continue;
            }
            if self.too_small_for_attributes(face) {
                face.skipped.push(SkipReason::TooSmall);
                continue;
            }
            if !plan.get(i).copied().unwrap_or(true) {
                face.skipped.push(SkipReason::NotScheduled);
                continue;
            }
            let scale = attributes::CROP_SCALE * self.options.age_gender_crop_scale;
            let roi = c.detection.square_roi(scale);
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
