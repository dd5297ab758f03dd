//! Looks again with CenterFace: the confirmation of detections the mesh did not take, and how a
//! face followed by its box is found again.

use super::{DETECTORS_AGREE_IOU, Pipeline, PixelDetection, box_centre};
use crate::error::Result;
use crate::frame::{Frame, RotatedRect, WarpOptions};
use crate::vision::{centerface, detector};

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
/// A face followed by its box is found again only in a detection of its size, within this
/// factor either way.
const RELOCATE_SIZE_RATIO: f32 = 1.5;

impl Pipeline {
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
            .centerface()
            .maps(input, views.len(), look.px, look.px)
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
    pub(super) async fn second_look(
        &self,
        frame: &Frame<'_>,
        batch: &mut [&mut PixelDetection],
    ) -> Result<()> {
        let boxes: Vec<[f32; 4]> = batch.iter().map(|d| d.bbox).collect();
        let first = self.look_scores(frame, &boxes, SECOND_LOOK).await?;
        let mut doubtful = Vec::new();
        for (k, (d, &score)) in batch.iter_mut().zip(&first).enumerate() {
            let min_score = if d.score >= CONFIDENT_DETECTION_SCORE {
                SECOND_LOOK_CONFIDENT_MIN_SCORE
            } else {
                self.options.min_detection_score.max(SECOND_LOOK_MIN_SCORE)
            };
            d.detectors_agree = score >= min_score;
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
            batch[k].detectors_agree = total / looks >= LOOKS_MEAN_MIN_SCORE;
        }
        Ok(())
    }

    /// Finds each of `batch` (carried faces the mesh does not follow) near where it should be:
    /// the surest CenterFace detection in a window around its predicted box, of about its size,
    /// its centre within a box side of the prediction, above `minTrackingScore`. Found faces
    /// move their box there and take the detection's keypoints; per face, whether it was found.
    pub(super) async fn relocate(
        &self,
        frame: &Frame<'_>,
        batch: &mut [&mut PixelDetection],
    ) -> Result<Vec<bool>> {
        let boxes: Vec<[f32; 4]> = batch.iter().map(|d| d.bbox).collect();
        let min_scores = vec![self.options.min_tracking_score; batch.len()];
        let found = self
            .look_around(frame, &boxes, &min_scores, SECOND_LOOK)
            .await?;
        Ok(batch
            .iter_mut()
            .zip(&found)
            .map(|(face, found)| {
                let b = face.bbox;
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
                    face.bbox = [dx - w / 2.0, dy - h / 2.0, dx + w / 2.0, dy + h / 2.0];
                    face.keypoints = d.keypoints;
                    face.score = d.score;
                }
                best.is_some()
            })
            .collect())
    }
}
