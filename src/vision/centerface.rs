//! Far-field detection with CenterFace: a fully convolutional detector that marks each face's
//! centre on a stride-4 heatmap, so it runs on the whole frame at whatever scale resolves the
//! smallest face asked for (BlazeFace's fixed 128/192 px inputs lose faces under a twelfth of
//! the frame). Plain functions over the network's raw maps, tested without a model.

use crate::frame::RotatedRect;

use crate::frame::{Border, WarpOptions};

use super::detector::Detection;

/// How frames are sampled for CenterFace: RGB 0..255, black past the frame's edge.
pub const WARP: WarpOptions = WarpOptions {
    border: Border::Zero,
    range: (0.0, 255.0),
    flip_horizontal: false,
};
/// The same input, mirrored left-right (see [`ScanInput::mirrored_to_frame`]).
pub const MIRRORED_WARP: WarpOptions = WarpOptions {
    flip_horizontal: true,
    ..WARP
};

/// Output stride of every map.
pub(crate) const STRIDE: usize = 4;
/// Input sides must be multiples of this (five stride-2 stages).
pub const INPUT_MULTIPLE: usize = 32;
/// Face height, in input pixels, that CenterFace still finds reliably (measured on WIDER FACE
/// dev: recall of 16–24 px faces drops from 73 % at scale 1 to 56 % at 0.5 of that height).
pub const MIN_FACE_INPUT_PX: f32 = 16.0;
/// The most a frame is enlarged for small faces: beyond it the network only sees blur.
pub const MAX_UPSCALE: f32 = 2.0;
/// Most pixels of the scan's input: 1080p at twice its size (about 35 MB of f32 input).
pub(crate) const MAX_INPUT_PIXELS: f32 = 3840.0 * 2160.0;

/// CenterFace's four outputs for one input, each `[channels, height, width]` flattened.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub height: usize,
    pub width: usize,
    /// `[1, h, w]`: probability that a face is centred in the cell.
    pub heatmap: Vec<f32>,
    /// `[2, h, w]`: log of the face's height and width over the stride.
    pub scale: Vec<f32>,
    /// `[2, h, w]`: the centre's y and x offset within the cell, in cells.
    pub offset: Vec<f32>,
    /// `[10, h, w]`: five points (y, x pairs) relative to the box, as fractions of its size.
    pub landmarks: Vec<f32>,
}

/// The input a frame is scanned at: the frame scaled by `scale` into `width` x `height` (both
/// multiples of [`INPUT_MULTIPLE`]; the margin past the frame is black), from `origin` (frame
/// pixels: the frame's corner, or a band's for a scan spread over frames).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScanInput {
    pub width: usize,
    pub height: usize,
    pub scale: f32,
    pub origin: [f32; 2],
}

impl ScanInput {
    /// The scale that shows a face `min_face_px` high at [`MIN_FACE_INPUT_PX`], never above
    /// [`MAX_UPSCALE`]: the same cost for the same smallest face at any resolution.
    pub fn for_frame(frame_width: u32, frame_height: u32, min_face_px: f32) -> Self {
        let mut scale = (MIN_FACE_INPUT_PX / min_face_px).min(MAX_UPSCALE);
        // A large frame scanned for small faces: the input keeps to its budget, and the smallest
        // face found grows in proportion.
        let pixels = frame_width as f32 * frame_height as f32 * scale * scale;
        if pixels > MAX_INPUT_PIXELS {
            scale *= (MAX_INPUT_PIXELS / pixels).sqrt();
        }
        ScanInput {
            width: input_side(frame_width as f32, scale),
            height: input_side(frame_height as f32, scale),
            scale,
            origin: [0.0, 0.0],
        }
    }

    /// Band `band` of `bands` across the frame's longer side, at the scale of the whole-frame
    /// scan: each band overlaps its neighbours by `overlap_px` (frame pixels), so a face as large
    /// as that lies whole in one of them. The bands of one sweep together cover the frame.
    pub fn band(
        frame_width: u32,
        frame_height: u32,
        min_face_px: f32,
        band: usize,
        bands: usize,
        overlap_px: f32,
    ) -> Self {
        let whole = Self::for_frame(frame_width, frame_height, min_face_px);
        if bands <= 1 {
            return whole;
        }
        let along_x = frame_width >= frame_height;
        let length = if along_x { frame_width } else { frame_height } as f32;
        let step = length / bands as f32;
        let start = (band as f32 * step - overlap_px / 2.0).max(0.0);
        let end = ((band + 1) as f32 * step + overlap_px / 2.0).min(length);
        let side = input_side(end - start, whole.scale);
        if along_x {
            ScanInput {
                width: side,
                origin: [start, 0.0],
                ..whole
            }
        } else {
            ScanInput {
                height: side,
                origin: [0.0, start],
                ..whole
            }
        }
    }

    /// A detection decoded from this input seen mirrored ([`MIRRORED_WARP`]), in frame pixels.
    pub fn mirrored_to_frame(&self, mut d: Detection) -> Detection {
        let width = self.width as f32;
        d.bbox = [width - d.bbox[2], d.bbox[1], width - d.bbox[0], d.bbox[3]];
        d.keypoints = d.keypoints.map(|[x, y]| [width - x, y]);
        // Mirrored, the person's right eye and tragion are seen as the left.
        d.keypoints.swap(0, 1);
        d.keypoints.swap(4, 5);
        self.to_frame(d)
    }

    /// A detection decoded from this input, in frame pixels.
    pub fn to_frame(&self, mut d: Detection) -> Detection {
        let [ox, oy] = self.origin;
        d.bbox = [
            d.bbox[0] / self.scale + ox,
            d.bbox[1] / self.scale + oy,
            d.bbox[2] / self.scale + ox,
            d.bbox[3] / self.scale + oy,
        ];
        d.keypoints = d
            .keypoints
            .map(|[x, y]| [x / self.scale + ox, y / self.scale + oy]);
        d
    }

    /// The part of the frame the input shows, for the warp: from `origin`, the input's size
    /// over the scale.
    pub fn view(&self) -> RotatedRect {
        let (w, h) = (
            self.width as f32 / self.scale,
            self.height as f32 / self.scale,
        );
        RotatedRect {
            cx: self.origin[0] + w / 2.0,
            cy: self.origin[1] + h / 2.0,
            width: w,
            height: h,
            rotation: 0.0,
        }
    }

    /// Whether a box (x0, y0, x1, y1, frame pixels) reaches an edge of the band that is not an
    /// edge of the frame: a face cut there, which the neighbouring band sees whole.
    pub(crate) fn cut_at_band_edge(
        &self,
        bbox: [f32; 4],
        frame_width: u32,
        frame_height: u32,
    ) -> bool {
        let [x0, y0, x1, y1] = self.extent();
        let margin = 2.0 + 0.1 * (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
        (x0 > 0.0 && bbox[0] <= x0 + margin)
            || (x1 < frame_width as f32 && bbox[2] >= x1 - margin)
            || (y0 > 0.0 && bbox[1] <= y0 + margin)
            || (y1 < frame_height as f32 && bbox[3] >= y1 - margin)
    }

    /// Whether a box (x0, y0, x1, y1, frame pixels) lies within the part of the frame scanned.
    pub(crate) fn covers(&self, bbox: [f32; 4]) -> bool {
        let [x0, y0, x1, y1] = self.extent();
        bbox[0] >= x0 && bbox[1] >= y0 && bbox[2] <= x1 && bbox[3] <= y1
    }

    /// The part of the frame the input shows, as x0, y0, x1, y1 in frame pixels.
    pub(crate) fn extent(&self) -> [f32; 4] {
        let [x0, y0] = self.origin;
        [
            x0,
            y0,
            x0 + self.width as f32 / self.scale,
            y0 + self.height as f32 / self.scale,
        ]
    }
}

/// An input side holding `frame_px` frame pixels at `scale`, rounded up to [`INPUT_MULTIPLE`].
fn input_side(frame_px: f32, scale: f32) -> usize {
    let scaled = (frame_px * scale).ceil() as usize;
    scaled.div_ceil(INPUT_MULTIPLE).max(1) * INPUT_MULTIPLE
}

/// Where a tragion (BlazeFace's ear keypoint, which CenterFace lacks) lies for a frontal face,
/// from the eyes: each eye pushed outwards by this share of the eye distance (tragions are about
/// 14 cm apart, eyes 6.3 cm), and down towards the mouth by [`TRAGION_DROP`] of the eye-to-mouth
/// distance.
const TRAGION_SPREAD: f32 = 0.6;
const TRAGION_DROP: f32 = 0.25;

/// The heatmap peaks scoring at least `min_score` (a cell higher than or equal to its eight
/// neighbours, as CenterNet decodes), as detections in input pixels with BlazeFace's six
/// keypoints: right eye, left eye (the person's), nose tip, mouth centre (between CenterFace's
/// two corners) and both tragions estimated from the eyes.
pub fn decode(maps: &Maps, min_score: f32) -> Vec<Detection> {
    let (h, w) = (maps.height, maps.width);
    let plane = h * w;
    let heat = &maps.heatmap;
    let at = |channel: usize, map: &[f32], y: usize, x: usize| map[channel * plane + y * w + x];
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let score = heat[y * w + x];
            if score < min_score {
                continue;
            }
            let peak = (y.saturating_sub(1)..(y + 2).min(h)).all(|ny| {
                (x.saturating_sub(1)..(x + 2).min(w)).all(|nx| heat[ny * w + nx] <= score)
            });
            if !peak {
                continue;
            }
            let stride = STRIDE as f32;
            let box_h = at(0, &maps.scale, y, x).exp() * stride;
            let box_w = at(1, &maps.scale, y, x).exp() * stride;
            let cy = (y as f32 + at(0, &maps.offset, y, x) + 0.5) * stride;
            let cx = (x as f32 + at(1, &maps.offset, y, x) + 0.5) * stride;
            let (x0, y0) = (cx - box_w / 2.0, cy - box_h / 2.0);
            let point = |k: usize| {
                [
                    x0 + at(2 * k + 1, &maps.landmarks, y, x) * box_w,
                    y0 + at(2 * k, &maps.landmarks, y, x) * box_h,
                ]
            };
            // CenterFace's points: image-left eye, image-right eye, nose, mouth corners.
            let [right_eye, left_eye, nose, mouth_a, mouth_b] = [0, 1, 2, 3, 4].map(point);
            let mouth = [
                (mouth_a[0] + mouth_b[0]) / 2.0,
                (mouth_a[1] + mouth_b[1]) / 2.0,
            ];
            let eyes_mid = [
                (right_eye[0] + left_eye[0]) / 2.0,
                (right_eye[1] + left_eye[1]) / 2.0,
            ];
            let drop = [
                (mouth[0] - eyes_mid[0]) * TRAGION_DROP,
                (mouth[1] - eyes_mid[1]) * TRAGION_DROP,
            ];
            let tragion = |eye: [f32; 2], other: [f32; 2]| {
                [
                    eye[0] + (eye[0] - other[0]) * TRAGION_SPREAD + drop[0],
                    eye[1] + (eye[1] - other[1]) * TRAGION_SPREAD + drop[1],
                ]
            };
            out.push(Detection {
                bbox: [x0, y0, x0 + box_w, y0 + box_h],
                score,
                keypoints: [
                    right_eye,
                    left_eye,
                    nose,
                    mouth,
                    tragion(right_eye, left_eye),
                    tragion(left_eye, right_eye),
                ],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_input_keeps_to_its_budget() {
        // 1080p looking for 8 px faces: twice its size, within the budget.
        let hd = ScanInput::for_frame(1920, 1080, 8.0);
        assert_eq!((hd.width, hd.height, hd.scale), (3840, 2176, 2.0));
        // The largest frame accepted, for the smallest faces: scaled down instead of 6.9 GB.
        let huge = ScanInput::for_frame(16_384, 16_384, 8.0);
        let budget = MAX_INPUT_PIXELS as usize;
        assert!(
            huge.width * huge.height <= budget + 2 * 32 * huge.width.max(huge.height),
            "{}x{}",
            huge.width,
            huge.height
        );
        assert!(huge.scale < 0.2, "{}", huge.scale);
    }

    #[test]
    fn a_face_seen_mirrored_maps_back_to_where_it_is_with_its_sides_kept() {
        let scan = ScanInput::for_frame(640, 480, 16.0);
        assert_eq!((scan.width, scan.scale), (640, 1.0));
        // The person's right eye and tragion are at the picture's left.
        let face = Detection {
            bbox: [100.0, 50.0, 140.0, 100.0],
            score: 0.9,
            keypoints: [
                [110.0, 60.0],
                [130.0, 60.0],
                [120.0, 75.0],
                [120.0, 90.0],
                [95.0, 70.0],
                [145.0, 70.0],
            ],
        };
        // In the mirror image the network names the points by the picture's sides.
        let mirrored = Detection {
            bbox: [500.0, 50.0, 540.0, 100.0],
            score: 0.9,
            keypoints: [
                [510.0, 60.0],
                [530.0, 60.0],
                [520.0, 75.0],
                [520.0, 90.0],
                [495.0, 70.0],
                [545.0, 70.0],
            ],
        };
        assert_eq!(scan.mirrored_to_frame(mirrored), scan.to_frame(face));
    }

    /// Maps of `h` x `w` cells with one face centred in cell (`fy`, `fx`).
    fn one_face(h: usize, w: usize, fy: usize, fx: usize, score: f32) -> Maps {
        let plane = h * w;
        let mut maps = Maps {
            height: h,
            width: w,
            heatmap: vec![0.01; plane],
            scale: vec![0.0; 2 * plane],
            offset: vec![0.0; 2 * plane],
            landmarks: vec![0.0; 10 * plane],
        };
        let i = fy * w + fx;
        maps.heatmap[i] = score;
        // A neighbour lower than the peak: not a second face.
        maps.heatmap[i + 1] = score * 0.8;
        maps.scale[i] = (40.0f32 / 4.0).ln(); // 40 px high
        maps.scale[plane + i] = (32.0f32 / 4.0).ln(); // 32 px wide
        maps.offset[i] = 0.25; // y
        maps.offset[plane + i] = -0.5; // x
        // Points (y, x) as fractions of the box: eyes at 0.35 high, 0.3 / 0.7 across.
        let points = [
            (0.35, 0.3),
            (0.35, 0.7),
            (0.55, 0.5),
            (0.75, 0.35),
            (0.75, 0.65),
        ];
        for (k, (py, px)) in points.into_iter().enumerate() {
            maps.landmarks[2 * k * plane + i] = py;
            maps.landmarks[(2 * k + 1) * plane + i] = px;
        }
        maps
    }

    #[test]
    fn a_peak_decodes_to_its_box_and_keypoints() {
        let found = decode(&one_face(12, 16, 5, 7, 0.9), 0.5);
        assert_eq!(found.len(), 1, "the lower neighbour is no face: {found:?}");
        let d = found[0];
        // Centre: ((7 - 0.5 + 0.5) * 4, (5 + 0.25 + 0.5) * 4) = (28, 23); 32 x 40 px.
        let expected = [12.0, 3.0, 44.0, 43.0];
        for (a, e) in d.bbox.iter().zip(expected) {
            assert!((a - e).abs() < 1e-4, "{:?} vs {expected:?}", d.bbox);
        }
        assert_eq!(d.score, 0.9);
        let [re, le, nose, mouth, rt, lt] = d.keypoints;
        assert!((re[0] - (12.0 + 0.3 * 32.0)).abs() < 1e-4 && (re[1] - 17.0).abs() < 1e-4);
        assert!((le[0] - (12.0 + 0.7 * 32.0)).abs() < 1e-4);
        assert!((nose[1] - (3.0 + 0.55 * 40.0)).abs() < 1e-4);
        // The mouth centre lies between the corners.
        assert!((mouth[0] - 28.0).abs() < 1e-4 && (mouth[1] - 33.0).abs() < 1e-4);
        // Tragions lie outside the eyes, a little lower.
        assert!(rt[0] < re[0] && lt[0] > le[0]);
        assert!(rt[1] > re[1] && lt[1] > le[1]);
    }

    #[test]
    fn weak_cells_and_flat_background_give_nothing() {
        assert!(decode(&one_face(12, 16, 5, 7, 0.3), 0.5).is_empty());
        let mut flat = one_face(12, 16, 5, 7, 0.01);
        flat.heatmap.iter_mut().for_each(|v| *v = 0.01);
        assert!(decode(&flat, 0.5).is_empty());
    }

    #[test]
    fn the_scan_scale_shows_the_smallest_face_at_the_network_scale() {
        // 1280x720 looking for 35 px faces: scaled by 16/35 into 608x352 (multiples of 32).
        let scan = ScanInput::for_frame(1280, 720, 35.0);
        assert!((scan.scale - 16.0 / 35.0).abs() < 1e-6);
        assert_eq!((scan.width, scan.height), (608, 352));
        // The view starts at the frame's corner and covers the whole frame.
        let view = scan.view();
        assert_eq!(
            (view.cx - view.width / 2.0, view.cy - view.height / 2.0),
            (0.0, 0.0)
        );
        assert!(view.width >= 1280.0 && view.height >= 720.0);
        // Small faces enlarge the frame, at most twice.
        let scan = ScanInput::for_frame(640, 480, 4.0);
        assert_eq!((scan.scale, scan.width, scan.height), (2.0, 1280, 960));
        assert_eq!(ScanInput::for_frame(640, 480, 16.0).width, 640);
    }

    #[test]
    fn the_bands_of_a_sweep_cover_the_frame_with_overlaps() {
        let whole = ScanInput::for_frame(1280, 720, 35.0);
        let bands: Vec<_> = (0..4)
            .map(|b| ScanInput::band(1280, 720, 35.0, b, 4, 140.0))
            .collect();
        for band in &bands {
            // The same scale and height: only a band of the width, about a third of the cost.
            assert_eq!((band.scale, band.height), (whole.scale, whole.height));
            assert!(band.width * 5 < whole.width * 2, "{band:?}");
        }
        // Every face up to the overlap lies whole in a band, wherever it is.
        for x in (0..1280 - 140).step_by(7) {
            let face = [x as f32, 300.0, x as f32 + 140.0, 440.0];
            assert!(bands.iter().any(|b| b.covers(face)), "a face at x {x}");
        }
        // A detection comes back to the frame's pixels.
        let d = Detection {
            bbox: [16.0, 16.0, 32.0, 32.0],
            keypoints: [[20.0, 20.0]; 6],
            score: 0.9,
        };
        let third = bands[2];
        let back = third.to_frame(d);
        assert!((back.bbox[0] - (16.0 / third.scale + third.origin[0])).abs() < 1e-3);
        assert!(third.origin[0] > 500.0 && back.bbox[0] > 500.0);
        // A face cut by a band's inner edge is left to the neighbour; the frame's edges cut none.
        let second = bands[1];
        let inner = second.origin[0];
        assert!(second.cut_at_band_edge([inner + 1.0, 300.0, inner + 40.0, 350.0], 1280, 720));
        assert!(!second.cut_at_band_edge([inner + 30.0, 300.0, inner + 70.0, 350.0], 1280, 720));
        assert!(!bands[0].cut_at_band_edge([0.0, 300.0, 40.0, 350.0], 1280, 720));
        assert!(!bands[3].cut_at_band_edge([1240.0, 0.0, 1280.0, 50.0], 1280, 720));
        // A portrait frame is cut across its height; one band is the whole frame.
        assert_eq!(ScanInput::band(480, 640, 16.0, 1, 2, 60.0).origin[0], 0.0);
        assert_eq!(
            ScanInput::band(640, 480, 16.0, 0, 1, 60.0),
            ScanInput::for_frame(640, 480, 16.0)
        );
    }
}
