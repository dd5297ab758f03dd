//! Far-field detection: the windows of a frame the full-range detector looks through so that
//! faces too small for the whole-frame view are seen at a scale it resolves. Plain geometry,
//! tested without a model.
//!
//! Shrunk into the detector's 192 px input, a 1280 px frame turns a 33 px face (5 m away with a
//! 60° camera) into 5 px; the network needs about [`MIN_FACE_INPUT_PX`]. Windows of side `T`
//! therefore find faces from `MIN_FACE_INPUT_PX * T / 192` frame pixels up; each level doubles
//! `T` until the whole-frame view takes over. Neighbouring windows overlap by more than the
//! largest face a level is responsible for (the next level's smallest), so every face lies
//! whole in at least one window; detections cut by a window's inner edge are dropped.

use crate::frame::RotatedRect;

/// Smallest face height, in detector input pixels, that the full-range network finds reliably
/// (measured on WIDER FACE dev: see the accuracy bench).
pub const MIN_FACE_INPUT_PX: f32 = 16.0;

/// One window of the fine scan: an upright square in frame pixels (it may reach past the frame,
/// which the warp pads with black), and which of its edges lie inside the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tile {
    pub rect: RotatedRect,
    /// Left, top, right, bottom: whether a detection touching that edge may be a cut face.
    pub inner_edges: [bool; 4],
    /// The largest face (frame pixels) this window's level is responsible for; larger ones
    /// come from coarser levels or the whole-frame view.
    pub max_face_px: f32,
}

impl Tile {
    /// Whether a detection box (frame pixels, xmin, ymin, xmax, ymax) is a whole face of this
    /// window: not cut by an inner edge, and not larger than its level looks for.
    pub fn keeps(&self, bbox: [f32; 4]) -> bool {
        let r = &self.rect;
        let (x0, y0) = (r.cx - r.width / 2.0, r.cy - r.height / 2.0);
        let edges = [x0, y0, x0 + r.width, y0 + r.height];
        // A face touching an inner edge within 2 % of the window is taken as cut.
        let margin = 0.02 * r.width;
        let cut = [
            bbox[0] <= edges[0] + margin,
            bbox[1] <= edges[1] + margin,
            bbox[2] >= edges[2] - margin,
            bbox[3] >= edges[3] - margin,
        ];
        let size = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
        !(0..4).any(|k| cut[k] && self.inner_edges[k]) && size <= self.max_face_px
    }
}

/// Starts of windows of side `side` covering `0..extent` with at most `stride` between them,
/// spread evenly; one centred window where the extent is not longer than the side.
fn starts(extent: f32, side: f32, stride: f32) -> Vec<f32> {
    if extent <= side {
        return vec![(extent - side) / 2.0];
    }
    let steps = ((extent - side) / stride).ceil() as usize;
    let step = (extent - side) / steps as f32;
    (0..=steps).map(|i| i as f32 * step).collect()
}

/// The fine-scan windows of a `width` x `height` frame for faces down to `min_face_px` high,
/// finest level first, given the detector's input side. Empty when the whole-frame view already
/// resolves such faces (or `min_face_px` is 0).
pub fn layout(width: u32, height: u32, min_face_px: f32, input_px: usize) -> Vec<Tile> {
    let (w, h) = (width as f32, height as f32);
    let whole = w.max(h);
    let input = input_px as f32;
    let mut tiles = Vec::new();
    if min_face_px <= 0.0 {
        return tiles;
    }
    let mut side = min_face_px * input / MIN_FACE_INPUT_PX;
    // Each level hands faces of twice its smallest to the next one.
    while side < whole {
        let max_face_px = 2.0 * MIN_FACE_INPUT_PX * side / input;
        // Overlap of 1.5x the largest face the level keeps: every such face lies whole, with a
        // margin, inside some window.
        let stride = side - 1.5 * max_face_px;
        let xs = starts(w, side, stride);
        let ys = starts(h, side, stride);
        for &y in &ys {
            for &x in &xs {
                tiles.push(Tile {
                    rect: RotatedRect {
                        cx: x + side / 2.0,
                        cy: y + side / 2.0,
                        width: side,
                        height: side,
                        rotation: 0.0,
                    },
                    inner_edges: [x > 0.0, y > 0.0, x + side < w, y + side < h],
                    max_face_px,
                });
            }
        }
        side *= 2.0;
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_tiles_when_the_whole_frame_resolves_the_smallest_face() {
        // 640 px frame in a 192 px input: faces of 640 * 16 / 192 = 53 px and up are seen.
        assert!(layout(640, 480, 60.0, 192).is_empty());
        assert!(layout(640, 480, 0.0, 192).is_empty());
        assert!(!layout(640, 480, 16.0, 192).is_empty());
    }

    #[test]
    fn every_small_face_lies_whole_in_a_window_that_keeps_it() {
        for (w, h) in [(640u32, 480u32), (1280, 720), (1024, 819)] {
            let tiles = layout(w, h, 16.0, 192);
            let whole = w.max(h) as f32 * MIN_FACE_INPUT_PX / 192.0;
            // Faces from 16 px to what the whole-frame view resolves, all over the frame.
            let sizes = [16.0f32, 23.0, 31.0, 47.0, 64.0, 90.0];
            for size in sizes.into_iter().filter(|&s| s < whole).chain([whole]) {
                let step = size / 3.0;
                let mut y = 0.0;
                while y + size <= h as f32 {
                    let mut x = 0.0;
                    while x + size <= w as f32 {
                        let face = [x, y, x + size, y + size];
                        let seen = tiles.iter().any(|t| {
                            let scale = 192.0 / t.rect.width;
                            t.keeps(face) && size * scale >= MIN_FACE_INPUT_PX - 1e-3
                        });
                        assert!(seen, "{w}x{h}: face {face:?} is in no window");
                        x += step;
                    }
                    y += step;
                }
            }
        }
    }

    #[test]
    fn a_cut_face_is_dropped_only_at_inner_edges() {
        let tiles = layout(640, 480, 16.0, 192);
        let first = tiles[0];
        assert_eq!(first.rect.width, 192.0);
        assert_eq!(first.inner_edges, [false, false, true, true]);
        // Touching the frame's own left edge: kept. Crossing the window's right edge: cut.
        assert!(first.keeps([0.0, 50.0, 20.0, 70.0]));
        assert!(!first.keeps([180.0, 50.0, 200.0, 70.0]));
        // Larger than the level looks for: left to coarser views.
        assert!(!first.keeps([50.0, 50.0, 90.0, 90.0]));
    }

    #[test]
    fn counts_at_the_kiosk_sizes() {
        // Levels of 192, 384 (and 768 at 1280 px) windows.
        let count = |w, h| layout(w, h, 16.0, 192).len();
        assert_eq!(count(640, 480), 15 + 4);
        assert_eq!(count(1280, 720), 45 + 15 + 2);
    }
}
