//! BlazeFace post-processing: SSD anchors, box/keypoint decoding and MediaPipe's weighted
//! non-maximum suppression. Plain functions over the network's raw outputs, so they are tested
//! against hand-computed cases without a model.

use serde::{Deserialize, Serialize};

/// Which BlazeFace networks look for faces.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum DetectorChoice {
    /// Both networks, their detections merged: faces from arm's length to about 5 m.
    #[default]
    Both,
    /// Full range only: faces from about 0.5 m to 5 m; misses faces that fill the frame.
    FullRange,
    /// Short range only: faces within about 2 m; fastest.
    ShortRange,
}

impl DetectorChoice {
    pub fn models(self) -> &'static [DetectorModel] {
        match self {
            DetectorChoice::Both => &[DetectorModel::FullRange, DetectorModel::ShortRange],
            DetectorChoice::FullRange => &[DetectorModel::FullRange],
            DetectorChoice::ShortRange => &[DetectorModel::ShortRange],
        }
    }
}

/// One BlazeFace network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorModel {
    /// 192x192 input, trained for faces from about 0.5 m to 5 m.
    FullRange,
    /// 128x128 input, trained for faces within about 2 m.
    ShortRange,
}

impl DetectorModel {
    pub(crate) fn input_size(self) -> usize {
        match self {
            DetectorModel::FullRange => 192,
            DetectorModel::ShortRange => 128,
        }
    }

    /// Anchor strides and whether each feature map position carries an extra interpolated
    /// anchor, as in MediaPipe's face_detection_{full,short}_range_common.pbtxt.
    fn ssd_layout(self) -> (&'static [usize], bool) {
        match self {
            DetectorModel::FullRange => (&[4], false),
            DetectorModel::ShortRange => (&[8, 16, 16, 16], true),
        }
    }

    /// Anchor centres in normalised input coordinates, in the network's output order
    /// (MediaPipe's SsdAnchorsCalculator with fixed anchor size).
    pub fn anchors(self) -> Vec<[f32; 2]> {
        let (strides, interpolated) = self.ssd_layout();
        let size = self.input_size();
        let mut anchors = Vec::new();
        let mut layer = 0;
        while layer < strides.len() {
            // Layers that share a stride share one feature map; their anchors interleave.
            let mut per_position = 0;
            let mut last = layer;
            while last < strides.len() && strides[last] == strides[layer] {
                per_position += if interpolated { 2 } else { 1 };
                last += 1;
            }
            let cells = size.div_ceil(strides[layer]);
            for y in 0..cells {
                for x in 0..cells {
                    let centre = [
                        (x as f32 + 0.5) / cells as f32,
                        (y as f32 + 0.5) / cells as f32,
                    ];
                    anchors.extend(std::iter::repeat_n(centre, per_position));
                }
            }
            layer = last;
        }
        anchors
    }
}

/// One detected face in normalised coordinates of the detector input (before letterbox removal).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// xmin, ymin, xmax, ymax.
    pub bbox: [f32; 4],
    pub score: f32,
    /// right eye, left eye, nose tip, mouth, right ear tragion, left ear tragion (the person's).
    pub keypoints: [[f32; 2]; 6],
}

/// A box (x0, y0, x1, y1) and its keypoints, moved by `[dx, dy]`.
pub(crate) fn translated(
    bbox: [f32; 4],
    keypoints: [[f32; 2]; 6],
    [dx, dy]: [f32; 2],
) -> ([f32; 4], [[f32; 2]; 6]) {
    (
        [bbox[0] + dx, bbox[1] + dy, bbox[2] + dx, bbox[3] + dy],
        keypoints.map(|[x, y]| [x + dx, y + dy]),
    )
}

fn box_area(b: [f32; 4]) -> f32 {
    (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0)
}

fn box_intersection(a: [f32; 4], b: [f32; 4]) -> f32 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    ix * iy
}

/// Intersection over union of two `[xmin, ymin, xmax, ymax]` boxes (any unit).
pub fn box_iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let inter = box_intersection(a, b);
    let union = box_area(a) + box_area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

impl Detection {
    pub(crate) fn area(&self) -> f32 {
        box_area(self.bbox)
    }

    pub fn iou(&self, other: &Detection) -> f32 {
        box_iou(self.bbox, other.bbox)
    }

    /// Whether `other` is this face seen at another scale: one box mostly inside the other
    /// (`SAME_FACE_CONTAINMENT`) and not much smaller (`NESTED_MIN_AREA_RATIO`).
    pub(crate) fn same_face_nested(&self, other: &Detection) -> bool {
        let (a, b) = (self.area(), other.area());
        self.containment(other) > SAME_FACE_CONTAINMENT
            && a.min(b) > NESTED_MIN_AREA_RATIO * a.max(b)
    }

    /// How much of the smaller box lies inside the other one.
    pub(crate) fn containment(&self, other: &Detection) -> f32 {
        let smaller = self.area().min(other.area());
        if smaller <= 0.0 {
            0.0
        } else {
            box_intersection(self.bbox, other.bbox) / smaller
        }
    }
}

/// Raw scores are clipped before the sigmoid, as MediaPipe does, so it never overflows.
const RAW_SCORE_LIMIT: f32 = 100.0;

/// Decodes the regressor output (`[anchors, 16]`: centre x, centre y, w, h, then 6 keypoints, in
/// input pixels relative to the anchor) and the classifier logits (`[anchors]`) into detections
/// scoring at least `min_score`.
pub fn decode(
    raw_boxes: &[f32],
    raw_scores: &[f32],
    anchors: &[[f32; 2]],
    input_size: usize,
    min_score: f32,
) -> Vec<Detection> {
    let scale = input_size as f32;
    let mut out = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let logit = raw_scores[i].clamp(-RAW_SCORE_LIMIT, RAW_SCORE_LIMIT);
        let score = 1.0 / (1.0 + (-logit).exp());
        if score < min_score {
            continue;
        }
        let r = &raw_boxes[i * 16..i * 16 + 16];
        let cx = r[0] / scale + anchor[0];
        let cy = r[1] / scale + anchor[1];
        let (w, h) = (r[2] / scale, r[3] / scale);
        if w <= 0.0 || h <= 0.0 {
            continue;
        }
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [
                r[4 + 2 * k] / scale + anchor[0],
                r[5 + 2 * k] / scale + anchor[1],
            ];
        }
        out.push(Detection {
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            score,
            keypoints,
        });
    }
    out
}

/// A detection mostly inside another one (or holding it) can be the same face seen at another
/// scale: the full- and short-range networks disagree like that on turned heads.
const SAME_FACE_CONTAINMENT: f32 = 0.7;
/// At or below this share of the larger box's area (sides 0.4 as long) a nested box is another
/// face: a small face beside a large false box, or in a crowd the detectors boxed as one.
const NESTED_MIN_AREA_RATIO: f32 = 0.16;

/// MediaPipe's WEIGHTED non-maximum suppression: the best-scoring detection absorbs every
/// detection overlapping it by more than `iou_threshold`, and its box and keypoints become the
/// score-weighted mean of the group (steadier boxes than plain NMS); its score is kept. Then,
/// beyond MediaPipe, detections nested in the merged box (or around it) are dropped unweighted.
pub fn weighted_nms(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept = Vec::new();
    while let Some(best) = detections.first().copied() {
        let (group, rest): (Vec<Detection>, Vec<Detection>) = detections
            .into_iter()
            .partition(|d| best.iou(d) > iou_threshold);
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = best;
        if total > 0.0 {
            merged.bbox = [0.0; 4];
            merged.keypoints = [[0.0; 2]; 6];
            for d in &group {
                let w = d.score / total;
                for k in 0..4 {
                    merged.bbox[k] += d.bbox[k] * w;
                }
                for k in 0..6 {
                    merged.keypoints[k][0] += d.keypoints[k][0] * w;
                    merged.keypoints[k][1] += d.keypoints[k][1] * w;
                }
            }
        }
        detections = rest
            .into_iter()
            .filter(|d| !merged.same_face_nested(d))
            .collect();
        kept.push(merged);
    }
    kept
}

/// Whether two networks' boxes are one face: overlapping by at least `min_iou`, or (networks
/// frame faces differently: BlazeFace's box is the inner face, CenterFace's reaches the brow and
/// chin) one at least half the other's area and lying 80 % or more inside it.
pub fn boxes_agree(a: [f32; 4], b: [f32; 4], min_iou: f32) -> bool {
    let (area_a, area_b) = (box_area(a), box_area(b));
    let (small, large) = (area_a.min(area_b), area_a.max(area_b));
    if small <= 0.0 {
        return false;
    }
    box_iou(a, b) >= min_iou || (small >= 0.5 * large && box_intersection(a, b) >= 0.8 * small)
}

/// Merges two suppressed sets of detections of one frame, the `preferred` network's first: a
/// detection of `other` that is the same face as a preferred one (overlap above
/// `iou_threshold`, or nested) is dropped, so that face keeps the preferred network's box and
/// keypoints (BlazeFace's, whose framing the mesh and age/gender crops are tuned to).
pub(crate) fn merge_preferring(
    preferred: Vec<Detection>,
    other: Vec<Detection>,
    iou_threshold: f32,
) -> Vec<Detection> {
    let extra: Vec<Detection> = other
        .into_iter()
        .filter(|o| {
            preferred
                .iter()
                .all(|p| p.iou(o) <= iou_threshold && !p.same_face_nested(o))
        })
        .collect();
    preferred.into_iter().chain(extra).collect()
}

/// BlazeFace's framing of a face CenterFace boxed (brow to chin, narrower): a square of this
/// share of CenterFace's height, its centre lower by [`BLAZEFACE_FRAMING_DROP`] of that height.
/// Medians over the faces both networks resolve well (16 px or more in BlazeFace's view) on
/// WIDER dev.
const BLAZEFACE_FRAMING_SIDE: f32 = 0.93;
const BLAZEFACE_FRAMING_DROP: f32 = 0.05;

/// CenterFace's box of a face, framed as BlazeFace frames faces.
pub(crate) fn blazeface_framing(centerface_box: [f32; 4]) -> [f32; 4] {
    let [x0, y0, x1, y1] = centerface_box;
    let height = y1 - y0;
    let side = height * BLAZEFACE_FRAMING_SIDE;
    let (cx, cy) = (
        (x0 + x1) / 2.0,
        (y0 + y1) / 2.0 + height * BLAZEFACE_FRAMING_DROP,
    );
    [
        cx - side / 2.0,
        cy - side / 2.0,
        cx + side / 2.0,
        cy + side / 2.0,
    ]
}

/// A whole-frame box that overlaps the fine scan's placement of its face by this much stays.
const REFINE_AGREE_IOU: f32 = 0.5;

/// Where both networks found a face too small in the `preferred` network's view to place it
/// well (box shorter than `resolved_height`), its place and keypoints are taken from the
/// surest `finer` detection of it (same face: overlap above `iou_threshold`, or nested), kept in
/// the preferred network's framing, unless its own box agrees with that placement; its score is
/// the higher one. Returns, per preferred detection, whether it was refined (two networks saw
/// that face).
pub(crate) fn refine_small_faces(
    preferred: &mut [Detection],
    finer: &[Detection],
    iou_threshold: f32,
    resolved_height: f32,
) -> Vec<bool> {
    preferred
        .iter_mut()
        .map(|p| {
            if p.bbox[3] - p.bbox[1] >= resolved_height {
                return false;
            }
            let seen = finer
                .iter()
                .filter(|f| p.iou(f) > iou_threshold || p.same_face_nested(f))
                .max_by(|a, b| a.score.total_cmp(&b.score));
            let Some(f) = seen else {
                return false;
            };
            let placed = blazeface_framing(f.bbox);
            // Boxed well enough: the face keeps its box, as on frames without the scan.
            if boxes_agree(p.bbox, placed, REFINE_AGREE_IOU) {
                return false;
            }
            p.bbox = placed;
            p.keypoints = f.keypoints;
            p.score = p.score.max(f.score);
            true
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: [f32; 4], score: f32) -> Detection {
        let kp = [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0];
        Detection {
            bbox,
            score,
            keypoints: [kp; 6],
        }
    }

    #[test]
    fn a_small_face_boxed_roughly_is_placed_by_the_finer_network() {
        // CenterFace's brow-to-chin box of a 50 px face, and BlazeFace's of it from a view where
        // it is a few pixels high: 12 px too low and too large.
        let scan = det([600.0, 238.0, 644.0, 288.0], 0.69);
        let rough = det([577.0, 250.0, 639.0, 312.0], 0.52);
        let mut preferred = vec![rough];
        let refined = refine_small_faces(&mut preferred, &[scan], 0.3, 128.0);
        assert_eq!(refined, [true]);
        assert_eq!(preferred[0].bbox, blazeface_framing(scan.bbox));
        assert_eq!(preferred[0].keypoints, scan.keypoints);
        assert_eq!(preferred[0].score, 0.69);
        // BlazeFace's framing: a square 0.93 of the height, a little lower.
        let [x0, y0, x1, y1] = preferred[0].bbox;
        assert!((x1 - x0 - 46.5).abs() < 1e-3 && (y1 - y0 - 46.5).abs() < 1e-3);
        assert!(((y0 + y1) / 2.0 - 265.5).abs() < 1e-3);
    }

    #[test]
    fn a_face_boxed_well_or_resolved_or_seen_once_keeps_its_box() {
        let scan = det([600.0, 238.0, 644.0, 288.0], 0.69);
        // Boxed as BlazeFace boxes it: it agrees with the scan's placement.
        let well = det([599.0, 242.0, 645.0, 288.0], 0.5);
        // Resolved in the whole-frame view (taller than 40 px there): its own box stands.
        let resolved = det([577.0, 250.0, 639.0, 312.0], 0.5);
        // Elsewhere: no finer detection of it.
        let alone = det([100.0, 100.0, 140.0, 140.0], 0.5);
        for (face, resolved_height) in [(well, 128.0), (resolved, 40.0), (alone, 128.0)] {
            let mut preferred = vec![face];
            assert_eq!(
                refine_small_faces(&mut preferred, &[scan], 0.3, resolved_height),
                [false]
            );
            assert_eq!(preferred[0].bbox, face.bbox);
            assert_eq!(preferred[0].score, 0.5);
        }
    }

    #[test]
    fn boxes_framed_differently_still_agree() {
        let inner = [10.0, 14.0, 30.0, 34.0];
        // Taller (brow to chin) around the same face: IoU 0.67 below 0.7, but it holds it.
        assert!(boxes_agree(inner, [10.0, 9.0, 30.0, 39.0], 0.7));
        // A box four times as large holding it: another scale, another face.
        assert!(!boxes_agree(inner, [0.0, 4.0, 40.0, 44.0], 0.7));
        // Beside it.
        assert!(!boxes_agree(inner, [25.0, 14.0, 45.0, 34.0], 0.5));
    }

    #[test]
    fn small_faces_inside_a_large_box_are_other_faces() {
        // A confident false box over a group of heads, and two faces inside it a ninth of its
        // area each: both faces survive suppression and the merge.
        let group = det([0.0, 0.0, 90.0, 90.0], 0.9);
        let faces = [
            det([5.0, 5.0, 35.0, 35.0], 0.7),
            det([50.0, 50.0, 80.0, 80.0], 0.6),
        ];
        let kept = weighted_nms(vec![group, faces[0], faces[1]], 0.3);
        assert_eq!(kept.len(), 3, "{kept:?}");
        let merged = merge_preferring(vec![group], faces.to_vec(), 0.3);
        assert_eq!(merged.len(), 3, "{merged:?}");
        // The same face boxed a little larger by the other network is still one face.
        let turned = det([10.0, 10.0, 50.0, 50.0], 0.8);
        let inner = det([15.0, 15.0, 36.0, 36.0], 0.6);
        assert_eq!(weighted_nms(vec![turned, inner], 0.3).len(), 1);
        assert_eq!(merge_preferring(vec![turned], vec![inner], 0.3).len(), 1);
    }

    #[test]
    fn a_face_both_networks_found_keeps_the_preferred_box() {
        let preferred = vec![det([10.0, 10.0, 30.0, 30.0], 0.6)];
        let other = vec![
            det([11.0, 9.0, 31.0, 33.0], 0.9), // the same face, boxed differently
            det([14.0, 14.0, 24.0, 24.0], 0.8), // nested in it
            det([60.0, 10.0, 80.0, 30.0], 0.5), // another face
        ];
        let merged = merge_preferring(preferred, other, 0.3);
        let boxes: Vec<[f32; 4]> = merged.iter().map(|d| d.bbox).collect();
        assert_eq!(boxes, [[10.0, 10.0, 30.0, 30.0], [60.0, 10.0, 80.0, 30.0]]);
    }

    #[test]
    fn anchor_counts_and_positions_match_mediapipe() {
        let short = DetectorModel::ShortRange.anchors();
        assert_eq!(short.len(), 896);
        // First feature map: 16x16 cells, 2 anchors each.
        assert_eq!(short[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(short[1], short[0]);
        assert_eq!(short[2], [1.5 / 16.0, 0.5 / 16.0]);
        // Second feature map: 8x8 cells, 6 anchors each, starting at index 512.
        assert_eq!(short[512], [0.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(short[517], short[512]);
        assert_eq!(short[518], [1.5 / 8.0, 0.5 / 8.0]);
        assert_eq!(short[895], [7.5 / 8.0, 7.5 / 8.0]);

        let full = DetectorModel::FullRange.anchors();
        assert_eq!(full.len(), 2304);
        assert_eq!(full[0], [0.5 / 48.0, 0.5 / 48.0]);
        assert_eq!(full[49], [1.5 / 48.0, 1.5 / 48.0]);
    }

    #[test]
    fn decode_applies_anchor_scale_and_sigmoid() {
        let anchors = [[0.25, 0.75], [0.5, 0.5]];
        let mut raw = vec![0.0f32; 32];
        // Anchor 0: centre offset (+12.8, -6.4) px of a 128 input, box 32x64 px.
        raw[..4].copy_from_slice(&[12.8, -6.4, 32.0, 64.0]);
        raw[4] = 6.4; // right eye x: +0.05
        raw[5] = 0.0;
        let scores = [0.0, -3.0]; // sigmoid 0.5 and 0.047
        let dets = decode(&raw, &scores, &anchors, 128, 0.5);
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert!((d.score - 0.5).abs() < 1e-6);
        let expect = [0.35 - 0.125, 0.7 - 0.25, 0.35 + 0.125, 0.7 + 0.25];
        for (got, want) in d.bbox.iter().zip(expect) {
            assert!((got - want).abs() < 1e-6, "{:?}", d.bbox);
        }
        assert!((d.keypoints[0][0] - 0.30).abs() < 1e-6 && (d.keypoints[0][1] - 0.75).abs() < 1e-6);
        assert_eq!(
            d.keypoints[1],
            [0.25, 0.75],
            "zero offset keypoints sit on the anchor"
        );
    }

    #[test]
    fn decode_survives_extreme_logits() {
        let anchors = [[0.5, 0.5]];
        let mut raw = vec![0.0f32; 16];
        raw[2] = 10.0;
        raw[3] = 10.0;
        let dets = decode(&raw, &[1.0e30], &anchors, 128, 0.5);
        assert_eq!(dets.len(), 1);
        assert!(dets[0].score.is_finite() && dets[0].score <= 1.0);
        assert!(decode(&raw, &[-1.0e30], &anchors, 128, 0.5).is_empty());
    }

    #[test]
    fn iou_by_hand() {
        let a = det([0.0, 0.0, 2.0, 2.0], 1.0);
        let b = det([1.0, 1.0, 3.0, 3.0], 1.0);
        // Intersection 1, union 4 + 4 - 1 = 7.
        assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-6);
        assert_eq!(a.iou(&det([5.0, 5.0, 6.0, 6.0], 1.0)), 0.0);
    }

    #[test]
    fn weighted_nms_merges_overlaps_by_score() {
        let a = det([0.0, 0.0, 1.0, 1.0], 0.9);
        let b = det([0.1, 0.0, 1.1, 1.0], 0.6); // IoU 0.818 with a
        let c = det([3.0, 3.0, 4.0, 4.0], 0.7); // separate face
        let kept = weighted_nms(vec![b, c, a], 0.3);
        assert_eq!(kept.len(), 2);
        // The group {a, b}: x weighted 0.9/1.5 and 0.6/1.5.
        let m = kept[0];
        assert!((m.score - 0.9).abs() < 1e-6, "the best score is kept");
        assert!((m.bbox[0] - 0.04).abs() < 1e-6, "{:?}", m.bbox);
        assert!((m.bbox[2] - 1.04).abs() < 1e-6, "{:?}", m.bbox);
        assert!((m.keypoints[0][0] - 0.54).abs() < 1e-6);
        assert_eq!(kept[1], c, "a lone detection passes unchanged");
    }

    #[test]
    fn weighted_nms_drops_a_box_nested_in_a_better_one() {
        let big = det([0.0, 0.0, 1.0, 1.0], 0.6);
        let nested = det([0.3, 0.3, 0.75, 0.75], 0.5); // IoU 0.2, all of it inside `big`
        let kept = weighted_nms(vec![nested, big], 0.3);
        assert_eq!(
            kept,
            vec![big],
            "the nested box is dropped, not averaged in"
        );
        // Half inside is another face.
        let half = det([0.75, 0.0, 1.75, 1.0], 0.5);
        assert_eq!(weighted_nms(vec![big, half], 0.3).len(), 2);
    }

    #[test]
    fn weighted_nms_keeps_barely_overlapping_faces() {
        let a = det([0.0, 0.0, 1.0, 1.0], 0.9);
        let b = det([0.6, 0.0, 1.6, 1.0], 0.8); // IoU 0.25 < 0.3
        assert_eq!(weighted_nms(vec![a, b], 0.3).len(), 2);
        assert!(weighted_nms(Vec::new(), 0.3).is_empty());
    }
}
