//! Shared helpers for the integration tests: the fixture picture and frames composed from it.

#![allow(dead_code)]

use std::path::PathBuf;

use glance::analysis::FrameAnalysis;
use glance::media::{RgbImage, load_image};
use glance::vision::Pipeline;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `pipeline.analyze` on `image` at `timestamp_ms`, which must succeed.
pub fn analyze(pipeline: &Pipeline, image: &RgbImage, timestamp_ms: f64) -> FrameAnalysis {
    pollster::block_on(pipeline.analyze(&image.frame().unwrap(), timestamp_ms)).unwrap()
}

pub fn astronaut() -> RgbImage {
    load_image(&fixture("astronaut.jpg")).expect("fixture decodes")
}

/// A `width` x `height` grey frame with the astronaut picture pasted, scaled to `side` pixels,
/// at each of `positions` (top-left corners). Nearest-neighbour scaling keeps this dependency-free.
pub fn compose(width: u32, height: u32, side: u32, positions: &[(u32, u32)]) -> RgbImage {
    let signed: Vec<(i32, i32)> = positions
        .iter()
        .map(|&(x, y)| (x as i32, y as i32))
        .collect();
    compose_clipped(width, height, side, &signed)
}

/// [`compose`] with pictures that may stick out of the frame (negative or far corners): only
/// the part inside the frame is drawn, as a camera sees someone at the edge of its view.
pub fn compose_clipped(width: u32, height: u32, side: u32, positions: &[(i32, i32)]) -> RgbImage {
    let src = astronaut();
    let mut pixels = vec![128u8; (width * height * 3) as usize];
    for &(ox, oy) in positions {
        for y in 0..side {
            for x in 0..side {
                let (tx, ty) = (ox + x as i32, oy + y as i32);
                if tx < 0 || ty < 0 || tx >= width as i32 || ty >= height as i32 {
                    continue;
                }
                let (tx, ty) = (tx as u32, ty as u32);
                let sx = x * src.width / side;
                let sy = y * src.height / side;
                let s = ((sy * src.width + sx) * 3) as usize;
                let t = ((ty * width + tx) * 3) as usize;
                pixels[t..t + 3].copy_from_slice(&src.pixels[s..s + 3]);
            }
        }
    }
    RgbImage {
        width,
        height,
        pixels,
    }
}

/// `image` with its grey background (the pixels [`compose`] leaves at 128) painted `colour`.
pub fn repaint_background(mut image: RgbImage, colour: [u8; 3]) -> RgbImage {
    for pixel in image.pixels.chunks_exact_mut(3) {
        if pixel == [128, 128, 128] {
            pixel.copy_from_slice(&colour);
        }
    }
    image
}
