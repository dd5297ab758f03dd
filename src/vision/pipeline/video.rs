//! Video mode's memory between frames: the faces followed (geometry only, never pixels), the
//! faces lost lately, and the fine scan's sweep schedule.

use super::options::{FAR_FIELD_DISTANCE_M, MIN_FACE_HEIGHT_PX};
use super::{Candidate, Pipeline, PixelDetection, WHOLE_FRAME_MIN_FACE_SHARE, box_centre};
use crate::error::Result;
use crate::frame::Frame;
use crate::vision::centerface::ScanInput;
use crate::vision::detector::{self, Detection};
use crate::vision::fine_scan::{self, FineScanBand};
use crate::vision::timings::{Instant, Stage};

/// Height of a face as BlazeFace boxes it (brow to chin), metres, for the default
/// `minFaceHeight`.
const FACE_HEIGHT_M: f32 = 0.16;
/// A video-mode sweep of the fine scan is spread over at most this many frames, each scanning
/// one band of the frame (about a third of the whole scan's cost with four).
const MAX_SCAN_BANDS: usize = 4;
/// Neighbouring bands overlap by this many times the largest face the scan is for.
const SCAN_BAND_OVERLAP: f32 = 1.5;
/// In video mode a band of the fine scan is cut from one frame and its detections join the
/// first frame at least this much later (ms), found again there where the face now is: time
/// for a second worker to scan it while the engine goes on, the same whether one does or not.
pub(crate) const BAND_JOIN_DELAY_MS: f64 = 100.0;
/// Bands waiting for their frame: more only if frames come faster than bands are scanned.
const MAX_WAITING_BANDS: usize = 8;
/// How long video mode keeps looking for a lost face with the tracking threshold, ms.
pub(super) const LOST_FACE_MEMORY_MS: f64 = 1000.0;
/// Mesh landmark ids of BlazeFace's six keypoints: (right eye corners), (left eye corners),
/// nose tip, (upper lip, lower lip), right tragion, left tragion.
const KEYPOINT_LANDMARKS: [&[usize]; 6] =
    [&[33, 133], &[362, 263], &[1], &[13, 14], &[234], &[454]];

/// A face lost lately (by its mesh, or by the detector), with when (ms).
pub(super) type LostFace = (f64, PixelDetection);

/// Pixels sampled for a frame's [`ColourSpread`]: about a thousand a cell, a fraction of a
/// millisecond.
const SPREAD_SAMPLES: usize = 16_384;
/// A [`ColourSpread`]'s cells: the frame cut in this many columns and as many rows.
const SPREAD_GRID: usize = 4;
const SPREAD_CELLS: usize = SPREAD_GRID * SPREAD_GRID;
/// Bins of brightness, and of each of the two colour axes, in a cell's histogram.
const LUMA_BINS: usize = 16;
const CHROMA_BINS: usize = 8;
const CELL_BINS: usize = LUMA_BINS + 2 * CHROMA_BINS;
/// A cell whose histogram moved by more than this (L1, of 2) since the last frame changed.
const CHANGED_CELL_DISTANCE: f32 = 0.15;
/// A frame where at least this many of the 16 cells changed is a scene cut: people move in a
/// part of the picture, a cut changes all of it. On the walk-by clip, people walking up close,
/// no frame has even 4 cells that moved by 0.01; at the slideshows' cuts 13 cells or more moved
/// by 0.28 to 0.8.
const SCENE_CUT_CELLS: usize = 13;

/// How the pixels of each cell of a 4x4 grid over the frame spread over brightness and two
/// colour axes (blue and red against brightness): 16 histograms of a sixteenth of the frame
/// each, from which no picture of anyone can be drawn. Kept from one frame to the next to tell
/// a scene cut.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ColourSpread([[f32; CELL_BINS]; SPREAD_CELLS]);

impl ColourSpread {
    pub(super) fn of(frame: &Frame<'_>) -> Self {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let mut bins = [[0u32; CELL_BINS]; SPREAD_CELLS];
        for ([x, y], [r, g, b]) in frame.sample_pixels(SPREAD_SAMPLES) {
            let cell = &mut bins[y * SPREAD_GRID / h * SPREAD_GRID + x * SPREAD_GRID / w];
            let [r, g, b] = [r, g, b].map(i32::from);
            let luma = (77 * r + 150 * g + 29 * b) >> 8;
            let chroma = |c: i32| ((c - luma + 256) * CHROMA_BINS as i32 / 512) as usize;
            cell[(luma as usize * LUMA_BINS) >> 8] += 1;
            cell[LUMA_BINS + chroma(b)] += 1;
            cell[LUMA_BINS + CHROMA_BINS + chroma(r)] += 1;
        }
        // Each cell's three histograms sum to 1/3 each, so the cell's to 1.
        ColourSpread(bins.map(|cell| {
            let share = 1.0 / cell.iter().sum::<u32>().max(1) as f32;
            cell.map(|n| n as f32 * share)
        }))
    }

    /// Whether `next` follows this frame across a scene cut: most of its cells changed.
    pub(super) fn cut_before(&self, next: &ColourSpread) -> bool {
        let changed = self.0.iter().zip(&next.0).filter(|(a, b)| {
            let distance: f32 = a.iter().zip(b.iter()).map(|(p, q)| (p - q).abs()).sum();
            distance > CHANGED_CELL_DISTANCE
        });
        changed.count() >= SCENE_CUT_CELLS
    }
}

/// The faces video mode follows, and when the detectors last ran.
#[derive(Debug, Default)]
pub(super) struct Followed {
    size: (u32, u32),
    last_frame_ms: f64,
    last_detection_ms: f64,
    faces: Vec<FollowedFace>,
    /// Followed faces lost lately: detector runs within [`LOST_FACE_MEMORY_MS`] still find them
    /// above the tracking threshold.
    lost: Vec<LostFace>,
    /// The last frame's size, time and colours, to tell a scene cut (in either mode).
    last_look: Option<((u32, u32), f64, ColourSpread)>,
    /// When the far-field scan's last sweep began.
    last_scan_ms: f64,
    /// The band of the sweep under way to scan next (0: none under way), of `scan_bands`.
    scan_band: usize,
    scan_bands: usize,
    /// Bands of the fine scan cut from earlier frames, waiting for the frame they join.
    waiting_bands: Vec<ScannedBand>,
    /// Bands are handed to the host to scan (see [`Pipeline::hand_out_fine_scan`]).
    hand_out: bool,
    /// The band cut from the last frame, until the host takes it.
    handed_out: Option<FineScanBand>,
}

/// A band of the fine scan cut from an earlier frame: when, and what it found (once scanned).
#[derive(Debug)]
struct ScannedBand {
    timestamp_ms: f64,
    detections: Option<Vec<Detection>>,
}

/// The detections of a band cut from an earlier frame (at `timestamp_ms`), joining this one.
pub(super) struct JoinedBand {
    pub(super) timestamp_ms: f64,
    pub(super) detections: Vec<Detection>,
}

/// What a frame starts from: the faces followed from the previous frame, those lost lately,
/// whether the detectors rest on this frame, and the part of the fine scan it runs.
pub(super) struct FrameStart {
    pub(super) previous: Vec<FollowedFace>,
    pub(super) lost: Vec<LostFace>,
    pub(super) detectors_rest: bool,
    pub(super) scan: Option<ScanInput>,
    /// Video mode: the band of the fine scan cut from this frame after its analysis, to join a
    /// later frame.
    pub(super) band: Option<ScanInput>,
    /// Video mode: bands cut from earlier frames whose detections join this one.
    pub(super) joined: Vec<JoinedBand>,
    /// The picture changed all at once since the previous frame: nothing is followed across.
    pub(super) scene_cut: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct FollowedFace {
    pub(super) detection: PixelDetection,
    /// The detector's box relative to the mesh's extent (x0, y0, x1, y1 as fractions of the
    /// extent), so boxes derived from the mesh keep the detector's proportions.
    box_in_extent: [f32; 4],
    /// When it was seen, and how fast its box centre moved then (pixels per ms).
    at_ms: f64,
    velocity: [f32; 2],
    /// Followed by its mesh; otherwise by its box alone (a face confirmed by the detectors, or
    /// one beyond `maxAnalyzedFaces`), carried at its speed while the detectors rest.
    pub(super) meshed: bool,
}

/// Where a face of a video-mode frame comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin {
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
    pub(super) fn is_carried(&self) -> bool {
        matches!(self, Origin::Carried(_))
    }

    /// The face was followed by its box: confirmed on an earlier frame, so it needs no new
    /// confirmation while the detectors keep finding it (or rest).
    pub(super) fn followed_by_box(&self) -> bool {
        self.followed().is_some_and(|f| !f.meshed)
    }

    fn followed(&self) -> Option<&FollowedFace> {
        match self {
            Origin::New => None,
            Origin::Detected(f) | Origin::Carried(f) => Some(f),
        }
    }
}

impl FollowedFace {
    /// Where the face should be at `timestamp_ms` if it kept its speed: the mesh's crop is
    /// placed there, so a walking face does not slip towards the crop's edge.
    pub(super) fn predicted(&self, timestamp_ms: f64) -> PixelDetection {
        let dt = (timestamp_ms - self.at_ms) as f32;
        let [dx, dy] = [self.velocity[0] * dt, self.velocity[1] * dt];
        let mut d = self.detection;
        (d.bbox, d.keypoints) = detector::translated(d.bbox, d.keypoints, [dx, dy]);
        d
    }

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
    pub(super) fn by_box(detection: PixelDetection, at_ms: f64) -> Self {
        FollowedFace {
            detection,
            box_in_extent: [0.0; 4],
            at_ms,
            velocity: [0.0; 2],
            meshed: false,
        }
    }

    /// A face lost lately (at `lost_ms`) and found again: its speed is measured from where it
    /// was lost.
    pub(super) fn found_again(detection: PixelDetection, lost_ms: f64) -> Self {
        FollowedFace {
            meshed: true,
            ..FollowedFace::by_box(detection, lost_ms)
        }
    }

    /// Its speed since `before` was seen, where it is now (`self`, seen at `at_ms`).
    fn measure_speed(&mut self, before: &FollowedFace) {
        let dt = (self.at_ms - before.at_ms) as f32;
        let (now, then) = (
            box_centre(self.detection.bbox),
            box_centre(before.detection.bbox),
        );
        if dt > 0.0 {
            self.velocity = [(now[0] - then[0]) / dt, (now[1] - then[1]) / dt];
            // Boxes from different networks (the detectors', CenterFace's) sit a little
            // differently on a face: a box-followed face's speed is smoothed.
            if !self.meshed {
                self.velocity = [0, 1].map(|k| (self.velocity[k] + before.velocity[k]) / 2.0);
            }
        }
    }
}

/// Whether detection `d` is the face `followed` was: they overlap, or one's centre lies in the
/// other's box (a moving face's new box may overlap its old one little).
pub(super) fn same_face(followed: &PixelDetection, d: &PixelDetection) -> bool {
    same_face_boxes(followed.bbox, d.bbox)
}

/// [`same_face`] for two boxes (x0, y0, x1, y1).
pub(super) fn same_face_boxes(a: [f32; 4], b: [f32; 4]) -> bool {
    let inside =
        |p: [f32; 2], b: [f32; 4]| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3];
    detector::box_iou(a, b) > 0.3 || inside(box_centre(a), b) || inside(box_centre(b), a)
}

/// The mesh's bounding box in frame pixels: its origin and size (at least 1 px each way).
pub(super) fn mesh_extent(mesh: &[[f32; 3]]) -> ([f32; 2], [f32; 2]) {
    let [x0, y0, x1, y1] = mesh.iter().fold(
        [f32::MAX, f32::MAX, f32::MIN, f32::MIN],
        |[x0, y0, x1, y1], p| [x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1])],
    );
    ([x0, y0], [(x1 - x0).max(1.0), (y1 - y0).max(1.0)])
}

impl Followed {
    /// The bands whose detections join the frame at `timestamp_ms`, taken from those waiting.
    fn bands_joining(&mut self, timestamp_ms: f64) -> Vec<JoinedBand> {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_bands)
            .into_iter()
            .partition(|b| b.timestamp_ms + BAND_JOIN_DELAY_MS <= timestamp_ms);
        self.waiting_bands = waiting;
        due.into_iter()
            .filter_map(|b| {
                Some(JoinedBand {
                    timestamp_ms: b.timestamp_ms,
                    detections: b.detections?,
                })
            })
            .collect()
    }
}

impl Pipeline {
    fn lock_followed(&self) -> std::sync::MutexGuard<'_, Followed> {
        // Geometry only: a panic elsewhere leaves at worst a stale face, found again next frame.
        self.followed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where this frame starts from (video mode: the previous frame's faces, followed while
    /// the detectors rest), and which part of the fine scan it runs.
    pub(super) fn begin_frame(&self, frame: &Frame<'_>, timestamp_ms: f64) -> FrameStart {
        let size = (frame.width(), frame.height());
        let mut followed = self.lock_followed();
        let spread = ColourSpread::of(frame);
        let scene_cut = followed
            .last_look
            .as_ref()
            .is_some_and(|(was, at, before)| {
                *was == size && timestamp_ms > *at && before.cut_before(&spread)
            });
        followed.last_look = Some((size, timestamp_ms, spread));
        let next = followed.size == size && timestamp_ms > followed.last_frame_ms;
        let interval = self.options.detection_interval_ms;
        let follow = interval > 0.0 && next && !scene_cut;
        let scan = self.fine_scan(&mut followed, size, follow, timestamp_ms);
        // In video mode the scan's band is cut from the frame and its detections join a later
        // frame, after a cut too (no frame stalls on the whole scan); a still (no time passing)
        // or a frame of a new size is scanned within the frame.
        let (scan, band) = match interval > 0.0 && next {
            true => (None, scan),
            false => (scan, None),
        };
        if follow {
            FrameStart {
                previous: followed.faces.clone(),
                lost: followed.lost.clone(),
                // An empty scene too: whoever enters is found at the next run, as someone
                // joining a followed face is.
                detectors_rest: timestamp_ms - followed.last_detection_ms < interval,
                scan,
                band,
                joined: followed.bands_joining(timestamp_ms),
                scene_cut,
            }
        } else {
            // Nothing found before a break or a cut joins the frames after it.
            followed.waiting_bands.clear();
            FrameStart {
                previous: Vec::new(),
                lost: Vec::new(),
                detectors_rest: false,
                scan,
                band,
                joined: Vec::new(),
                scene_cut,
            }
        }
    }

    /// Video mode: the fine scan's band of this frame, cut out once the frame is analysed and
    /// scanned here, or kept for the host to scan (`hand_out_fine_scan`); its detections join
    /// a later frame.
    pub(super) async fn scan_band_after(
        &self,
        frame: &Frame<'_>,
        timestamp_ms: f64,
        input: ScanInput,
    ) -> Result<()> {
        let started = Instant::now();
        let mirrored = self.options.mirrored_fine_scan;
        let band = FineScanBand::cut(frame, timestamp_ms, input, mirrored, self.detection_floor())?;
        let hand_out = self.lock_followed().hand_out;
        let detections = if hand_out {
            self.lock_followed().handed_out = Some(band);
            None
        } else {
            let detections = fine_scan::scan_band(self.networks.centerface(), &band).await?;
            self.lock_timings().add(Stage::FineScan, started);
            Some(detections)
        };
        let mut followed = self.lock_followed();
        if followed.waiting_bands.len() >= MAX_WAITING_BANDS {
            followed.waiting_bands.remove(0);
        }
        followed.waiting_bands.push(ScannedBand {
            timestamp_ms,
            detections,
        });
        Ok(())
    }

    /// Bands of the fine scan go to the host to scan (a [`super::super::fine_scan::FineScanner`]
    /// in a second worker), or (`false`, the default) are scanned here after each frame. The
    /// results are the same either way, provided the host returns each band's detections
    /// before the frame they join (`joinsAtMs`).
    pub fn hand_out_fine_scan(&self, on: bool) {
        let mut followed = self.lock_followed();
        followed.hand_out = on;
        if !on {
            followed.handed_out = None;
        }
    }

    /// The band cut from the last frame for the host to scan, if any (see
    /// [`Pipeline::hand_out_fine_scan`]). Its pixels are the host's to drop once scanned.
    pub fn take_fine_scan_band(&self) -> Option<FineScanBand> {
        self.lock_followed().handed_out.take()
    }

    /// The detections of the band cut from the frame at `timestamp_ms`, scanned by the host.
    /// A band no frame waits for (after a break, a cut, or a second answer) is ignored.
    pub fn join_fine_scan(&self, timestamp_ms: f64, detections: Vec<Detection>) {
        let mut followed = self.lock_followed();
        let waiting = followed
            .waiting_bands
            .iter_mut()
            .find(|b| b.timestamp_ms == timestamp_ms && b.detections.is_none());
        if let Some(band) = waiting {
            band.detections = Some(detections);
        }
    }

    /// Records this frame's faces for video mode. Carried faces get the boxes and keypoints of
    /// their new meshes (so the frame's results describe this frame). When the mesh loses a
    /// face that was followed, the next frame runs the detectors to find it, and it joins
    /// `lost`, for detector runs to look for (a new detection without a mesh is no face).
    /// Confirmed faces without a mesh are followed by their box, at their speed, until the
    /// detectors run again (or they leave the frame).
    pub(super) fn remember(
        &self,
        size: (u32, u32),
        timestamp_ms: f64,
        detectors_ran: bool,
        candidates: &mut [Candidate],
        mut lost: Vec<LostFace>,
    ) {
        if self.options.detection_interval_ms <= 0.0 {
            return;
        }
        let mut followed = self.lock_followed();
        let mut faces = Vec::with_capacity(candidates.len());
        // Followed faces whose candidate was rejected; lost only if no kept candidate carries
        // them (the detectors may box one head twice, and the second box is rejected).
        let mut dropped: Vec<([f32; 4], PixelDetection)> = Vec::new();
        let mut kept_from: Vec<[f32; 4]> = Vec::new();
        let in_frame = |b: [f32; 4]| {
            let [x, y] = box_centre(b);
            (0.0..size.0 as f32).contains(&x) && (0.0..size.1 as f32).contains(&y)
        };
        for c in candidates.iter_mut() {
            let mut face = match (&c.mesh, c.confirmed_by) {
                (Some(mesh), _) => {
                    let carried = match c.origin {
                        Origin::Carried(f) => Some(f.box_in_extent),
                        _ => None,
                    };
                    let face = FollowedFace::from_mesh(mesh, &c.detection, carried, timestamp_ms);
                    if carried.is_some() {
                        c.detection = face.detection;
                    }
                    face
                }
                (None, Some(_)) if in_frame(c.detection.bbox) => {
                    FollowedFace::by_box(c.detection, timestamp_ms)
                }
                (None, Some(_)) => continue,
                (None, None) => {
                    if let Some(before) = c.origin.followed() {
                        dropped.push((before.detection.bbox, c.detection));
                    }
                    continue;
                }
            };
            if let Some(before) = c.origin.followed() {
                face.measure_speed(before);
                kept_from.push(before.detection.bbox);
            }
            faces.push(face);
        }
        let lost_now = dropped
            .into_iter()
            .filter(|(followed, _)| !kept_from.contains(followed));
        let before = lost.len();
        lost.extend(lost_now.map(|(_, d)| (timestamp_ms, d)));
        let follow_lost = lost.len() > before;
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

    /// The smallest face the fine scan looks for on a frame of `size`, pixels high; 0 for none.
    fn min_face_height(&self, size: (u32, u32)) -> f32 {
        // Without the face mesh nothing would confirm the fine scan's detections.
        if !self.options.face_mesh {
            return 0.0;
        }
        self.options.min_face_height.unwrap_or_else(|| {
            let camera = self.options.camera(size.0, size.1);
            // The floor a user's value is held to holds for the derived one (a narrow frame
            // would otherwise ask for faces of a fraction of a pixel).
            (camera.focal_px * FACE_HEIGHT_M / FAR_FIELD_DISTANCE_M).max(MIN_FACE_HEIGHT_PX)
        })
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
        let min_face_height = self.min_face_height(size);
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
}

#[cfg(test)]
mod tests {
    use super::ColourSpread;
    use crate::frame::Frame;

    /// A grey `width` x `height` frame with its columns before `painted_to` painted blue.
    fn spread(width: u32, height: u32, painted_to: u32) -> ColourSpread {
        let pixels: Vec<u8> = (0..width * height)
            .flat_map(|i| match i % width < painted_to {
                true => [30, 60, 150],
                false => [128, 128, 128],
            })
            .collect();
        ColourSpread::of(&Frame::from_rgb(width, height, &pixels).unwrap())
    }

    #[test]
    fn a_scene_cut_is_a_change_of_the_whole_picture_not_of_a_part() {
        let grey = spread(640, 480, 0);
        assert!(!grey.cut_before(&spread(640, 480, 0)), "the same picture");
        // Someone close to the camera fills half of it at once: no cut.
        assert!(!grey.cut_before(&spread(640, 480, 320)), "half the picture");
        assert!(grey.cut_before(&spread(640, 480, 640)), "all of it");
        assert!(spread(640, 480, 640).cut_before(&grey), "and back");
        // Small frames too; one smaller than the grid leaves cells empty, and those never change.
        assert!(spread(8, 8, 0).cut_before(&spread(8, 8, 8)));
        assert!(!spread(1, 1, 0).cut_before(&spread(1, 1, 1)));
    }
}
