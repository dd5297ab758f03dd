//! The detector networks on a frame: BlazeFace (full and short range) on the whole frame,
//! CenterFace's fine scan for small faces, and one suppression over all they found.

use super::{DETECTORS_AGREE_IOU, Pipeline, PixelDetection};
use crate::error::Result;
use crate::frame::{Border, Frame, RotatedRect, WarpOptions};
use crate::vision::centerface::ScanInput;
use crate::vision::detector::{self, Detection, DetectorModel};
use crate::vision::fine_scan;
use crate::vision::timings::{Instant, Stage};

/// Faces under this share of the frame's longer side (24 px in the whole-frame view) are boxed
/// roughly by the whole-frame detectors; where the fine scan sees them too, it places them.
const WHOLE_FRAME_RESOLVED_FACE_SHARE: f32 = 24.0 / 192.0;

/// What the detector networks saw on a frame, before suppression.
#[derive(Default)]
struct Sightings {
    /// BlazeFace's detections, on the whole frame.
    whole_frame: Vec<Detection>,
    /// CenterFace's, from the fine scan.
    scanned: Vec<Detection>,
    /// Each network's confident boxes, to tell where two of them saw a face.
    by_network: Vec<Vec<[f32; 4]>>,
}

/// The detections a frame keeps: the faces (`strong`), the weaker ones video mode looks among
/// for faces it followed (`weak`), and the boxes two networks saw though they disagree on
/// where (`seen_twice`).
struct Merged {
    strong: Vec<Detection>,
    weak: Vec<Detection>,
    seen_twice: Vec<[f32; 4]>,
}

impl Pipeline {
    /// The faces the detectors find, in frame pixels: those above `minDetectionScore`, largest
    /// first, and (for video mode) the weaker ones above `minTrackingScore` that overlap none
    /// of them. `whole_frame`: the BlazeFace networks on the letterboxed frame; `scan`: CenterFace
    /// on the frame at that scale. Every detection goes through one suppression.
    /// `late`: the fine scan's detections from bands of earlier frames, found again on this one.
    pub(super) async fn detect(
        &self,
        frame: &Frame<'_>,
        whole_frame: bool,
        scan: Option<ScanInput>,
        late: Vec<Detection>,
    ) -> Result<(Vec<PixelDetection>, Vec<PixelDetection>)> {
        let floor = self.detection_floor();
        let mut seen = Sightings::default();
        if whole_frame {
            self.detect_whole_frame(frame, floor, &mut seen).await?;
        }
        if let Some(scan) = scan {
            self.detect_scanned(frame, scan, floor, &mut seen).await?;
        }
        if !late.is_empty() {
            seen.by_network.push(self.confident_boxes(&late));
            seen.scanned.extend(late);
        }
        let merged = self.merge(frame, seen.whole_frame, seen.scanned);
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let agree = |b: [f32; 4]| {
            merged.seen_twice.contains(&b)
                || seen
                    .by_network
                    .iter()
                    .filter(|boxes| {
                        boxes
                            .iter()
                            .any(|&o| detector::boxes_agree(b, o, DETECTORS_AGREE_IOU))
                    })
                    .count()
                    >= 2
        };
        let to_frame = |found: Vec<Detection>| -> Vec<PixelDetection> {
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
        Ok((to_frame(merged.strong), to_frame(merged.weak)))
    }

    /// Each chosen BlazeFace network on the letterboxed frame.
    async fn detect_whole_frame(
        &self,
        frame: &Frame<'_>,
        floor: f32,
        seen: &mut Sightings,
    ) -> Result<()> {
        let started = Instant::now();
        let letterbox = RotatedRect::letterbox(frame.width(), frame.height());
        for &model in self.options.detector.models() {
            let found = self.detect_in(frame, model, &[letterbox], floor).await?;
            let found: Vec<_> = found.into_iter().flatten().collect();
            seen.by_network.push(self.confident_boxes(&found));
            seen.whole_frame.extend(found);
        }
        self.lock_timings().add(Stage::Detection, started);
        Ok(())
    }

    /// CenterFace on the frame at the scan's scale (the whole frame, or one band of it), and on
    /// its mirror image with `mirroredFineScan` (one batch).
    async fn detect_scanned(
        &self,
        frame: &Frame<'_>,
        scan: ScanInput,
        floor: f32,
        seen: &mut Sightings,
    ) -> Result<()> {
        let started = Instant::now();
        let mirrored = self.options.mirrored_fine_scan;
        let found =
            fine_scan::scan(self.networks.centerface(), frame, scan, mirrored, floor).await?;
        self.lock_timings().add(Stage::FineScan, started);
        let found: Vec<_> = found
            .into_iter()
            .filter(|d| !scan.cut_at_band_edge(d.bbox, frame.width(), frame.height()))
            .collect();
        seen.by_network.push(self.confident_boxes(&found));
        seen.scanned.extend(found);
        Ok(())
    }

    /// The lowest score a detection is kept at: video mode looks among weaker ones for faces it
    /// followed.
    pub(super) fn detection_floor(&self) -> f32 {
        if self.options.detection_interval_ms > 0.0 {
            self.options
                .min_tracking_score
                .min(self.options.min_detection_score)
        } else {
            self.options.min_detection_score
        }
    }

    fn confident_boxes(&self, found: &[Detection]) -> Vec<[f32; 4]> {
        found
            .iter()
            .filter(|d| d.score >= self.options.min_detection_score)
            .map(|d| d.bbox)
            .collect()
    }

    /// BlazeFace's detections and CenterFace's, suppressed apart (so weak candidates never
    /// shift a strong face's box), then merged preferring BlazeFace's box where both found a
    /// face.
    fn merge(&self, frame: &Frame<'_>, near: Vec<Detection>, far: Vec<Detection>) -> Merged {
        let iou = self.options.nms_iou_threshold;
        let min_score = self.options.min_detection_score;
        let (strong, weak): (Vec<_>, Vec<_>) = near.into_iter().partition(|d| d.score >= min_score);
        let (strong_far, weak_far): (Vec<_>, Vec<_>) =
            far.into_iter().partition(|d| d.score >= min_score);
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
        let weak = detector::merge_preferring(
            detector::weighted_nms(weak, iou),
            detector::weighted_nms(weak_far, iou),
            iou,
        )
        .into_iter()
        .filter(|w| kept.iter().all(|k| k.iou(w) < iou))
        .collect();
        Merged {
            strong: kept,
            weak,
            seen_twice,
        }
    }

    /// One detector network through each of `views` (upright squares of the frame, batched):
    /// per view, its detections scoring at least `min_score`, in frame pixels.
    async fn detect_in(
        &self,
        frame: &Frame<'_>,
        model: DetectorModel,
        views: &[RotatedRect],
        min_score: f32,
    ) -> Result<Vec<Vec<Detection>>> {
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
}
