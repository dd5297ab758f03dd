//! Frame → faces: detection, aligned crops, face mesh, irises, head pose, gaze, distance, age
//! and gender. One configurable `Pipeline` over whichever burn device it was given.
//!
//! A frame goes through the stages in [`Pipeline::analyze_scheduled`], each a short method over
//! the frame's `Candidate`s: where they come from (the detectors, or video mode's faces
//! followed from the previous frame: `video`), the per-face budget, the face mesh (`per_face`),
//! finding carried faces again and confirming the others (`confirm`), then the report.
//! Files: `options` (what a host sets), `detect` (the detector networks and their merge),
//! `video`, `confirm`, `per_face`.

mod confirm;
mod detect;
mod options;
mod per_face;
mod video;

pub use options::{FAR_FIELD_DISTANCE_M, PipelineOptions};
pub(crate) use video::BAND_JOIN_DELAY_MS;

use super::centerface::ScanInput;
use super::detector::Detection;
use super::networks::{ModelWeights, Networks};
use super::timings::{FrameTimings, Instant, Stage, elapsed_ms};
use crate::analysis::{Confirmation, FaceAnalysis, FrameAnalysis, RejectedDetection, SkipReason};
use crate::error::Result;
use crate::frame::{Frame, RotatedRect};
use burn::tensor::Device;
use video::{FollowedFace, FrameStart, LOST_FACE_MEMORY_MS, LostFace, Origin};

/// Second looks go through CenterFace in batches of at most this many, so a crowd's batch
/// stays a few megabytes.
const SECOND_LOOK_BATCH: usize = 32;
/// The smallest face the whole-frame BlazeFace view resolves, as a share of the frame's longer
/// side (16 px of the full-range network's 192 px input); smaller ones need the fine scan.
const WHOLE_FRAME_MIN_FACE_SHARE: f32 = 16.0 / 192.0;
/// Overlap at which two networks' boxes are taken to be one face seen by both.
const DETECTORS_AGREE_IOU: f32 = 0.5;

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

    /// The box as reported, inside a frame of `width` x `height` (a followed face's box, from
    /// its mesh, may stick out): x, y, width, height.
    fn frame_box(&self, width: f32, height: f32) -> [f32; 4] {
        let [x0, y0] = [
            self.bbox[0].clamp(0.0, width),
            self.bbox[1].clamp(0.0, height),
        ];
        let [x1, y1] = [
            self.bbox[2].clamp(0.0, width),
            self.bbox[3].clamp(0.0, height),
        ];
        [x0, y0, x1 - x0, y1 - y0]
    }
}

fn box_centre(b: [f32; 4]) -> [f32; 2] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0]
}

/// A face of this frame on its way through the stages: what found it, and what each stage
/// made of it.
struct Candidate {
    detection: PixelDetection,
    origin: Origin,
    /// Among the faces the per-face networks run on (`maxAnalyzedFaces`, nearest first).
    analysed: bool,
    /// The mesh network's face-presence probability, where it ran.
    presence: Option<f32>,
    /// The 468-point mesh in frame pixels, where the mesh network took the face.
    mesh: Option<Vec<[f32; 3]>>,
    /// What confirmed that it is a face, once the confirmation has run; `None`: nothing did.
    confirmed_by: Option<Confirmation>,
}

impl Candidate {
    fn new(detection: PixelDetection, origin: Origin) -> Self {
        Candidate {
            detection,
            origin,
            analysed: false,
            presence: None,
            mesh: None,
            confirmed_by: None,
        }
    }

    /// A carried face the mesh did not follow: it must be found again where it should be.
    fn needs_relocating(&self) -> bool {
        self.origin.is_carried() && self.mesh.is_none()
    }

    /// A detection without a mesh, not confirmed on an earlier frame: it needs a second look.
    fn needs_second_look(&self) -> bool {
        self.mesh.is_none()
            && !self.detection.detectors_agree
            && !self.origin.is_carried()
            && !self.origin.followed_by_box()
    }

    /// The mesh's word first; else the detectors', or an earlier frame's confirmation (carried
    /// faces without a mesh were just found again where they should be).
    fn confirmation(&self) -> Option<Confirmation> {
        if self.mesh.is_some() {
            Some(Confirmation::FaceMesh)
        } else if self.origin.followed_by_box()
            || self.origin.is_carried()
            || self.detection.detectors_agree
        {
            Some(Confirmation::Detectors)
        } else {
            None
        }
    }

    /// Why the per-face networks did not run on it: beyond the budget, or followed by its box
    /// on a frame where the detectors rest.
    fn unanalysed(&self) -> Option<SkipReason> {
        (!self.analysed).then_some(if self.origin.is_carried() {
            SkipReason::NoMesh
        } else {
            SkipReason::FaceBudget
        })
    }

    /// The face as reported before the per-face networks add to it.
    fn face(&self, width: f32, height: f32) -> FaceAnalysis {
        let d = &self.detection;
        let mut face = FaceAnalysis::detected(d.frame_box(width, height), d.score, d.keypoints);
        face.presence = self.presence;
        face.confirmed_by = self.confirmed_by;
        face
    }
}

pub struct Pipeline {
    options: PipelineOptions,
    networks: Networks,
    /// Video mode's memory of the previous frame: face geometry only (boxes and keypoints),
    /// never pixels.
    followed: std::sync::Mutex<video::Followed>,
    /// The last frame's time by stage (see [`Pipeline::last_timings`]).
    timings: std::sync::Mutex<FrameTimings>,
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
        self.analyze_scheduled(frame, timestamp_ms, |faces, _| vec![true; faces.len()])
            .await
    }

    /// Like [`Pipeline::analyze`], but the age/gender model runs only on the faces `schedule`
    /// picks, given the faces with their geometry and which of them the model can run on
    /// (analysed, and at least `minFaceSizeForAttributes`); the others get
    /// [`SkipReason::NotScheduled`]. The audience tracker's plan keeps to its cadence this way.
    pub async fn analyze_scheduled(
        &self,
        frame: &Frame<'_>,
        timestamp_ms: f64,
        schedule: impl FnOnce(&[FaceAnalysis], &[bool]) -> Vec<bool>,
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
        schedule: impl FnOnce(&[FaceAnalysis], &[bool]) -> Vec<bool>,
    ) -> Result<FrameAnalysis> {
        let size = (frame.width(), frame.height());
        let mut start = self.begin_frame(frame, timestamp_ms);
        let (detectors_rest, scene_cut) = (start.detectors_rest, start.scene_cut);
        let band = start.band.take();
        let late = self.joined_detections(frame, &start).await?;
        let (mut candidates, mut lost) = if detectors_rest {
            self.while_detectors_rest(frame, start, late, timestamp_ms)
                .await?
        } else {
            self.with_detectors(frame, start, late, timestamp_ms)
                .await?
        };
        // The per-face networks run on the nearest faces the budget allows; faces followed by
        // their box stay boxes until the detectors run again.
        self.apply_budget(&mut candidates);
        if self.options.face_mesh {
            self.timed(Stage::Mesh, self.face_meshes(frame, &mut candidates))
                .await?;
        }
        self.relocate_carried(frame, &mut candidates, &mut lost, timestamp_ms)
            .await?;
        if detectors_rest {
            drop_found_again(&mut candidates);
        }
        self.confirm(frame, &mut candidates).await?;
        self.remember(size, timestamp_ms, !detectors_rest, &mut candidates, lost);
        let rejected = self.reject_unconfirmed(frame, &mut candidates);
        let (width, height) = (frame.width() as f32, frame.height() as f32);
        let mut faces: Vec<FaceAnalysis> =
            candidates.iter().map(|c| c.face(width, height)).collect();
        if !candidates.is_empty() {
            let eyes = self
                .timed(Stage::Irises, self.eyes(frame, &candidates))
                .await?;
            let camera = self.options.camera(frame.width(), frame.height());
            self.add_geometry(&camera, &candidates, &eyes, &mut faces);
            if self.options.age_gender {
                let plan = schedule(&faces, &self.attribute_eligible(&candidates, &faces));
                self.timed(
                    Stage::AgeGender,
                    self.age_gender(frame, &candidates, &mut faces, &plan),
                )
                .await?;
            }
        }
        if let Some(input) = band {
            self.scan_band_after(frame, timestamp_ms, input).await?;
        }
        Ok(FrameAnalysis {
            width: frame.width(),
            height: frame.height(),
            timestamp_ms,
            faces,
            rejected,
            scene_cut,
        })
    }

    /// A frame where the detectors rest: the followed faces where they should be now, and new
    /// ones the fine scan finds (if it runs on this frame).
    async fn while_detectors_rest(
        &self,
        frame: &Frame<'_>,
        start: FrameStart,
        late: Vec<Detection>,
        timestamp_ms: f64,
    ) -> Result<(Vec<Candidate>, Vec<LostFace>)> {
        let (found, _weak) = self.detect(frame, false, start.scan, late).await?;
        let mut candidates: Vec<Candidate> = start
            .previous
            .iter()
            .map(|f| Candidate::new(f.predicted(timestamp_ms), Origin::Carried(*f)))
            .collect();
        let followed = candidates.len();
        for d in found {
            if candidates.len() < self.options.max_faces
                && !candidates[..followed]
                    .iter()
                    .any(|p| video::same_face(&p.detection, &d))
            {
                candidates.push(Candidate::new(d, Origin::New));
            }
        }
        Ok((candidates, start.lost))
    }

    /// A frame where the detectors run: their faces, each with the followed face it is (if
    /// any), and followed or lately lost faces the detectors found only weakly (hysteresis) or
    /// could not see.
    async fn with_detectors(
        &self,
        frame: &Frame<'_>,
        start: FrameStart,
        late: Vec<Detection>,
        timestamp_ms: f64,
    ) -> Result<(Vec<Candidate>, Vec<LostFace>)> {
        let predicted: Vec<PixelDetection> = start
            .previous
            .iter()
            .map(|f| f.predicted(timestamp_ms))
            .collect();
        let (detections, weak) = self.detect(frame, true, start.scan, late).await?;
        let mut candidates: Vec<Candidate> = detections
            .into_iter()
            .map(|d| {
                let origin = predicted
                    .iter()
                    .position(|p| video::same_face(p, &d))
                    .map_or(Origin::New, |i| Origin::Detected(start.previous[i]));
                Candidate::new(d, origin)
            })
            .collect();
        let recent = start
            .lost
            .into_iter()
            .filter(|(lost_ms, _)| timestamp_ms - lost_ms <= LOST_FACE_MEMORY_MS);
        let followed = start
            .previous
            .iter()
            .zip(&predicted)
            .map(|(f, p)| (timestamp_ms, *p, Some(*f)));
        let mut still_lost = Vec::new();
        for (lost_ms, face, from) in followed.chain(recent.map(|(t, d)| (t, d, None))) {
            if candidates
                .iter()
                .any(|c| video::same_face(&face, &c.detection))
            {
                continue;
            }
            let size = (frame.width(), frame.height());
            match self.find_again(
                candidates.len(),
                &weak,
                start.scan,
                size,
                face,
                from,
                lost_ms,
            ) {
                Some(candidate) => candidates.push(candidate),
                None => still_lost.push((lost_ms, face)),
            }
        }
        Ok((candidates, still_lost))
    }

    /// A followed face (`from`), or one lost lately (at `lost_ms`), that the detectors did not
    /// find above the detection threshold: found among the `weak` detections (hysteresis, as
    /// trackers do: a moving face's score dips), or carried on by its mesh or box if it is
    /// smaller than the whole-frame view resolves and the fine scan did not look at it on this
    /// frame. `count`: the faces the frame has so far.
    #[allow(clippy::too_many_arguments)]
    fn find_again(
        &self,
        count: usize,
        weak: &[PixelDetection],
        scan: Option<ScanInput>,
        size: (u32, u32),
        face: PixelDetection,
        from: Option<FollowedFace>,
        lost_ms: f64,
    ) -> Option<Candidate> {
        if count >= self.options.max_faces {
            return None;
        }
        if let Some(d) = weak.iter().find(|d| video::same_face(&face, d)) {
            let origin = from.unwrap_or_else(|| FollowedFace::found_again(face, lost_ms));
            return Some(Candidate::new(*d, Origin::Detected(origin)));
        }
        let followed = from?;
        let scanned = scan.is_some_and(|s| s.covers(face.bbox));
        let whole_frame_min = size.0.max(size.1) as f32 * WHOLE_FRAME_MIN_FACE_SHARE;
        (!scanned && face.bbox[3] - face.bbox[1] < whole_frame_min)
            .then(|| Candidate::new(face, Origin::Carried(followed)))
    }

    /// The fine scan's detections from bands of earlier frames that join this one (see
    /// `video::BAND_JOIN_DELAY_MS`): faces not followed already, found again where they are
    /// now (a face moves between the two frames). Those not found again are dropped.
    async fn joined_detections(
        &self,
        frame: &Frame<'_>,
        start: &FrameStart,
    ) -> Result<Vec<Detection>> {
        let min_score = self.options.min_detection_score;
        let mut late: Vec<PixelDetection> = Vec::new();
        for band in &start.joined {
            let followed: Vec<[f32; 4]> = start
                .previous
                .iter()
                .map(|f| f.predicted(band.timestamp_ms).bbox)
                .collect();
            late.extend(
                band.detections
                    .iter()
                    .filter(|d| d.score >= min_score)
                    .filter(|d| !followed.iter().any(|&b| video::same_face_boxes(b, d.bbox)))
                    .map(|d| PixelDetection {
                        bbox: d.bbox,
                        score: d.score,
                        keypoints: d.keypoints,
                        detectors_agree: false,
                    }),
            );
        }
        if late.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        // The band's score stands: the look around only says where the face is now.
        let scores: Vec<f32> = late.iter().map(|d| d.score).collect();
        let mut found = Vec::with_capacity(late.len());
        let mut batch: Vec<&mut PixelDetection> = late.iter_mut().collect();
        for batch in batch.chunks_mut(SECOND_LOOK_BATCH) {
            found.extend(self.relocate(frame, batch).await?);
        }
        self.lock_timings().add(Stage::FineScan, started);
        Ok(late
            .into_iter()
            .zip(found)
            .zip(scores)
            .filter(|((_, found), _)| *found)
            .map(|((d, _), score)| Detection {
                bbox: d.bbox,
                score,
                keypoints: d.keypoints,
            })
            .collect())
    }

    /// Marks the faces the per-face networks run on: the `maxAnalyzedFaces` largest (nearest),
    /// leaving out faces followed by their box on a frame where the detectors rest.
    fn apply_budget(&self, candidates: &mut [Candidate]) {
        let area = |d: &PixelDetection| (d.bbox[2] - d.bbox[0]) * (d.bbox[3] - d.bbox[1]);
        let mut eligible: Vec<usize> = (0..candidates.len())
            .filter(|&i| {
                let origin = &candidates[i].origin;
                !(origin.is_carried() && origin.followed_by_box())
            })
            .collect();
        eligible.sort_by(|&a, &b| {
            area(&candidates[b].detection).total_cmp(&area(&candidates[a].detection))
        });
        for &i in eligible.iter().take(self.options.max_analyzed_faces) {
            candidates[i].analysed = true;
        }
    }

    /// Carried faces without a mesh (followed by their box, beyond the budget, or turned too
    /// far for the mesh now) are looked for where they should be: a box carried blind drifts
    /// off its face. Those not found there are lost.
    async fn relocate_carried(
        &self,
        frame: &Frame<'_>,
        candidates: &mut Vec<Candidate>,
        lost: &mut Vec<LostFace>,
        timestamp_ms: f64,
    ) -> Result<()> {
        let mut carried: Vec<&mut PixelDetection> = candidates
            .iter_mut()
            .filter(|c| c.needs_relocating())
            .map(|c| &mut c.detection)
            .collect();
        let mut found = Vec::with_capacity(carried.len());
        for batch in carried.chunks_mut(SECOND_LOOK_BATCH) {
            let relocated = self.relocate(frame, batch);
            found.extend(self.timed(Stage::Confirmation, relocated).await?);
        }
        let mut found = found.into_iter();
        candidates.retain(|c| {
            let kept = !c.needs_relocating() || found.next().unwrap_or(true);
            if !kept {
                lost.push((timestamp_ms, c.detection));
            }
            kept
        });
        Ok(())
    }

    /// Confirms each candidate or not: detections without a mesh, not confirmed before, get a
    /// second look first.
    async fn confirm(&self, frame: &Frame<'_>, candidates: &mut [Candidate]) -> Result<()> {
        let face_mesh = self.options.face_mesh;
        let mut doubtful: Vec<&mut PixelDetection> = candidates
            .iter_mut()
            .filter(|c| face_mesh && c.needs_second_look())
            .map(|c| &mut c.detection)
            .collect();
        for batch in doubtful.chunks_mut(SECOND_LOOK_BATCH) {
            self.timed(Stage::Confirmation, self.second_look(frame, batch))
                .await?;
        }
        for c in candidates.iter_mut() {
            c.confirmed_by = c.confirmation();
        }
        Ok(())
    }

    /// Only confirmed faces go on: a detection neither the mesh nor the detectors call a face
    /// is removed, and listed (carried faces excepted: they were no detection of this frame).
    /// With `faceMesh` off every detection counts.
    fn reject_unconfirmed(
        &self,
        frame: &Frame<'_>,
        candidates: &mut Vec<Candidate>,
    ) -> Vec<RejectedDetection> {
        let (width, height) = (frame.width() as f32, frame.height() as f32);
        let mut rejected = Vec::new();
        candidates.retain(|c| {
            let confirmed = c.confirmed_by.is_some() || !self.options.face_mesh;
            if !confirmed && !c.origin.is_carried() {
                rejected.push(RejectedDetection {
                    bbox: c.detection.frame_box(width, height),
                    score: c.detection.score,
                    presence: c.presence.unwrap_or(0.0),
                });
            }
            confirmed
        });
        rejected
    }
}

/// While the detectors rest, a face the fine scan finds may be a followed one that moved
/// further than predicted (its speed is not known on its second frame): its mesh (or the box it
/// was found again by) shows where it is now, and the scan's detection there is dropped.
fn drop_found_again(candidates: &mut Vec<Candidate>) {
    let carried_now: Vec<[f32; 4]> = candidates
        .iter()
        .filter(|c| c.origin.is_carried())
        .map(|c| match c.mesh.as_deref() {
            Some(mesh) => {
                let ([x, y], [w, h]) = video::mesh_extent(mesh);
                [x, y, x + w, y + h]
            }
            // Found again by its box, just now.
            None => c.detection.bbox,
        })
        .collect();
    candidates.retain(|c| {
        !matches!(c.origin, Origin::New)
            || !carried_now
                .iter()
                .any(|&b| video::same_face_boxes(b, c.detection.bbox))
    });
}

/// A pipeline on burn's CPU backend with the weights compiled into the binary.
#[cfg(all(feature = "flex", feature = "embed-models"))]
pub fn cpu_pipeline(options: PipelineOptions) -> Result<Pipeline> {
    Pipeline::new(&Device::flex(), &ModelWeights::embedded(), options)
}
