//! Frames as the host hands them over, and the one image operation the networks need: sampling
//! a rotated rectangle of the frame into a fixed-size planar (CHW) f32 tensor. Plain Rust, so the
//! same code prepares inputs natively and in the browser.

use crate::error::{GlanceError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    Rgba8,
    Rgb8,
}

impl PixelFormat {
    pub(crate) fn bytes_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgba8 => 4,
            PixelFormat::Rgb8 => 3,
        }
    }
}

/// A borrowed, validated image: `width * height` pixels, rows top to bottom, no padding.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    width: u32,
    height: u32,
    format: PixelFormat,
    pixels: &'a [u8],
}

/// The longest side a frame may have: twice an 8K camera's, room for any real camera or still.
pub const MAX_FRAME_SIDE: u32 = 16_384;
/// The most a frame's long side may exceed its short one (a 32:9 panorama is 3.6): a thinner
/// frame is no camera's picture, and would make the far-field scan's input huge for nothing.
pub const MAX_FRAME_ASPECT: u32 = 16;
/// The most pixels a frame may have: twice an 8K camera's (7680x4320). Checked before a host's
/// pixels are copied, so that a huge frame is a refused frame, not a failed allocation.
pub const MAX_FRAME_PIXELS: u64 = 2 * 7680 * 4320;

/// Whether a frame of this shape is accepted: sides of 1 to [`MAX_FRAME_SIDE`], at most
/// [`MAX_FRAME_ASPECT`] to one, at most [`MAX_FRAME_PIXELS`]. Nothing is allocated.
pub fn check_frame_shape(width: u32, height: u32) -> Result<()> {
    let refuse = |why: String| {
        Err(GlanceError::InvalidFrame(format!(
            "frame is {width}x{height}; {why}"
        )))
    };
    if width == 0 || height == 0 {
        return refuse("both sides must be at least 1 pixel".into());
    }
    if width.max(height) > MAX_FRAME_SIDE {
        return refuse(format!("its sides must be at most {MAX_FRAME_SIDE} pixels"));
    }
    if width.max(height) > width.min(height).saturating_mul(MAX_FRAME_ASPECT) {
        return refuse(format!(
            "its long side must be at most {MAX_FRAME_ASPECT} times its short side"
        ));
    }
    if width as u64 * height as u64 > MAX_FRAME_PIXELS {
        return refuse(format!("it must have at most {MAX_FRAME_PIXELS} pixels"));
    }
    Ok(())
}

/// An empty buffer with room for `len` items of a frame's pixels, or an `InvalidFrame` error
/// when that memory cannot be had (a wasm engine near its 4 GiB, a machine out of memory): the
/// frame is refused and the engine goes on, instead of aborting on a failed allocation.
pub(crate) fn try_buffer<T>(len: usize) -> Result<Vec<T>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| {
        GlanceError::InvalidFrame(format!(
            "not enough memory for its pixels: {} MB could not be allocated",
            (len * std::mem::size_of::<T>()).div_ceil(1 << 20)
        ))
    })?;
    Ok(buffer)
}

impl<'a> Frame<'a> {
    pub fn new(width: u32, height: u32, format: PixelFormat, pixels: &'a [u8]) -> Result<Self> {
        check_frame_shape(width, height)?;
        let expected = (width as usize)
            .checked_mul(height as usize)
            .and_then(|n| n.checked_mul(format.bytes_per_pixel()))
            .ok_or_else(|| {
                GlanceError::InvalidFrame(format!("frame {width}x{height} is too large"))
            })?;
        if pixels.len() != expected {
            return Err(GlanceError::InvalidFrame(format!(
                "a {width}x{height} {format:?} frame needs {expected} bytes, got {}",
                pixels.len()
            )));
        }
        Ok(Frame {
            width,
            height,
            format,
            pixels,
        })
    }

    pub fn from_rgba(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self> {
        Self::new(width, height, PixelFormat::Rgba8, pixels)
    }

    pub fn from_rgb(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self> {
        Self::new(width, height, PixelFormat::Rgb8, pixels)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// About `count` of the frame's pixels (RGB) with their places (x, y), on an even grid.
    pub(crate) fn sample_pixels(
        &self,
        count: usize,
    ) -> impl Iterator<Item = ([usize; 2], [u8; 3])> + '_ {
        let (w, h) = (self.width as usize, self.height as usize);
        let step = ((w * h) as f64 / count.max(1) as f64)
            .sqrt()
            .ceil()
            .max(1.0) as usize;
        let bytes = self.format.bytes_per_pixel();
        (0..h).step_by(step).flat_map(move |y| {
            (0..w).step_by(step).map(move |x| {
                let i = (y * w + x) * bytes;
                (
                    [x, y],
                    [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]],
                )
            })
        })
    }

    /// The pixels of `cut` (x, y, width, height; inside the frame) as RGBA rows.
    pub(crate) fn cut_rgba(&self, cut: [u32; 4]) -> Result<Vec<u8>> {
        let [x, y, w, h] = cut.map(|v| v as usize);
        let bpp = self.format.bytes_per_pixel();
        let stride = self.width as usize * bpp;
        let mut out = try_buffer(w * h * 4)?;
        for row in y..y + h {
            let line = &self.pixels[row * stride + x * bpp..][..w * bpp];
            match self.format {
                PixelFormat::Rgba8 => out.extend_from_slice(line),
                PixelFormat::Rgb8 => {
                    for p in line.chunks_exact(3) {
                        out.extend_from_slice(&[p[0], p[1], p[2], 255]);
                    }
                }
            }
        }
        Ok(out)
    }

    #[cfg(test)]
    fn pixel(&self, x: usize, y: usize) -> [f32; 3] {
        let i = (y * self.width as usize + x) * self.format.bytes_per_pixel();
        let p = &self.pixels[i..i + 3];
        [p[0] as f32, p[1] as f32, p[2] as f32]
    }

    /// Samples `rect` into a `[3, out_h, out_w]` tensor (RGB planes) with values mapped from
    /// 0..255 to `range`. When the rectangle is much larger than the output, several samples per
    /// output pixel are averaged so that small far faces are not lost to aliasing.
    pub fn warp_to_chw(
        &self,
        rect: &RotatedRect,
        out_w: usize,
        out_h: usize,
        options: WarpOptions,
    ) -> Vec<f32> {
        let step_x = rect.width / out_w as f32;
        let step_y = rect.height / out_h as f32;
        let taps = (step_x.max(step_y) / 1.5).ceil().clamp(1.0, 4.0) as usize;
        if taps > 1 && rect.rotation == 0.0 && !options.flip_horizontal {
            if let Some(k) = self.whole_pixel_cells(rect, out_w, out_h, options.border) {
                return self.box_average_chw(rect, k, out_w, out_h, options);
            }
            return self.area_average_chw(rect, out_w, out_h, options);
        }
        match self.format {
            PixelFormat::Rgba8 => self.supersample_chw::<4>(rect, out_w, out_h, taps, options),
            PixelFormat::Rgb8 => self.supersample_chw::<3>(rect, out_w, out_h, taps, options),
        }
    }

    /// `warp_to_chw` of any rectangle: `taps` x `taps` bilinear samples per output pixel,
    /// averaged. `BPP` (bytes per pixel) is a constant so the pixel reads compile to plain loads.
    fn supersample_chw<const BPP: usize>(
        &self,
        rect: &RotatedRect,
        out_w: usize,
        out_h: usize,
        taps: usize,
        options: WarpOptions,
    ) -> Vec<f32> {
        let plane = out_w * out_h;
        let (lo, hi) = options.range;
        let norm = (hi - lo) / 255.0 / (taps * taps) as f32;
        let mut out = vec![0.0f32; 3 * plane];
        // Output coordinates (su, sv) map to origin + su·du + sv·dv in the frame: the
        // rectangle's local axes, scaled to output pixels, its x mirrored when flipped.
        let (sin, cos) = rect.rotation.sin_cos();
        let mirror = if options.flip_horizontal { -1.0 } else { 1.0 };
        let (sx, sy) = (
            mirror * rect.width / out_w as f32,
            rect.height / out_h as f32,
        );
        let (du, dv) = ([sx * cos, sx * sin], [-sy * sin, sy * cos]);
        let (lx0, ly0) = (-mirror * rect.width / 2.0, -rect.height / 2.0);
        let origin = [
            rect.cx + lx0 * cos - ly0 * sin,
            rect.cy + lx0 * sin + ly0 * cos,
        ];
        let offsets: Vec<f32> = (0..taps).map(|i| (i as f32 + 0.5) / taps as f32).collect();
        let (w, h) = (self.width as f32, self.height as f32);
        let (last_x, last_y) = (self.width as usize - 1, self.height as usize - 1);
        let stride = self.width as usize * BPP;
        let zero_border = options.border == Border::Zero;
        for v in 0..out_h {
            for u in 0..out_w {
                let mut acc = [0.0f32; 3];
                for &oy in &offsets {
                    let sv = v as f32 + oy;
                    for &ox in &offsets {
                        let su = u as f32 + ox;
                        let x = origin[0] + su * du[0] + sv * dv[0];
                        let y = origin[1] + su * du[1] + sv * dv[1];
                        // Outside the frame: zero, or the nearest edge pixel (by the clamps).
                        if zero_border && !(x >= 0.0 && y >= 0.0 && x < w && y < h) {
                            continue;
                        }
                        // Pixel centres sit at +0.5; clamped at 0, `as` truncates as floor.
                        let fx = (x - 0.5).clamp(0.0, w - 1.0);
                        let fy = (y - 0.5).clamp(0.0, h - 1.0);
                        let (x0, y0) = (fx as usize, fy as usize);
                        let (x1, y1) = ((x0 + 1).min(last_x), (y0 + 1).min(last_y));
                        let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
                        let (top, bottom) = (
                            &self.pixels[y0 * stride..][..stride],
                            &self.pixels[y1 * stride..][..stride],
                        );
                        let (a, b) = (&top[x0 * BPP..][..3], &top[x1 * BPP..][..3]);
                        let (c, d) = (&bottom[x0 * BPP..][..3], &bottom[x1 * BPP..][..3]);
                        for k in 0..3 {
                            let upper = a[k] as f32 + (b[k] as f32 - a[k] as f32) * tx;
                            let lower = c[k] as f32 + (d[k] as f32 - c[k] as f32) * tx;
                            acc[k] += upper + (lower - upper) * ty;
                        }
                    }
                }
                let idx = v * out_w + u;
                for k in 0..3 {
                    out[k * plane + idx] = lo + acc[k] * norm;
                }
            }
        }
        out
    }
}

impl Frame<'_> {
    /// `warp_to_chw` for an upright rectangle shrunk by more than 1.5x (the detectors' letterbox
    /// of the whole frame): each output pixel is the exact area average of the source pixels it
    /// covers, computed separably (rows, then columns). About 10x cheaper than supersampling and
    /// free of aliasing.
    /// The side `k` of the output cells when each covers exactly k x k whole pixels and the
    /// border needs no replication (a 640 or 1280 px wide frame letterboxed into 128 px); k is
    /// at most 257 so that k rows of bytes sum in 16 bits.
    fn whole_pixel_cells(
        &self,
        rect: &RotatedRect,
        out_w: usize,
        out_h: usize,
        border: Border,
    ) -> Option<usize> {
        let (x0, y0) = (rect.cx - rect.width / 2.0, rect.cy - rect.height / 2.0);
        let (sx, sy) = (rect.width / out_w as f32, rect.height / out_h as f32);
        let k = sx.round();
        let whole = |v: f32| (v - v.round()).abs() < 1e-4;
        let inside = x0 >= 0.0
            && y0 >= 0.0
            && x0 + rect.width <= self.width as f32
            && y0 + rect.height <= self.height as f32;
        ((2.0..=257.0).contains(&k) && whole(sx) && whole(sy) && sx == sy && whole(x0) && whole(y0))
            .then_some(k as usize)
            .filter(|_| border == Border::Zero || inside)
    }

    /// [`Frame::area_average_chw`] for whole-pixel cells: integer sums of k x k pixels, pixels
    /// outside the frame black. Same values, a third of the time.
    fn box_average_chw(
        &self,
        rect: &RotatedRect,
        k: usize,
        out_w: usize,
        out_h: usize,
        options: WarpOptions,
    ) -> Vec<f32> {
        let (lo, hi) = options.range;
        let norm = (hi - lo) / 255.0 / (k * k) as f32;
        let (x0, y0) = (
            (rect.cx - rect.width / 2.0).round() as isize,
            (rect.cy - rect.height / 2.0).round() as isize,
        );
        let (w, h) = (self.width as isize, self.height as isize);
        let bpp = self.format.bytes_per_pixel();
        let row_len = self.width as usize * bpp;
        let plane = out_w * out_h;
        let mut out = vec![lo; 3 * plane];
        // Rows first (byte-wise widening adds, which vectorise), then k pixels across.
        let mut column_sums = vec![0u16; row_len];
        for v in 0..out_h {
            column_sums.fill(0);
            let mut any = false;
            for j in 0..k {
                let y = y0 + (v * k + j) as isize;
                if !(0..h).contains(&y) {
                    continue;
                }
                any = true;
                let row = &self.pixels[y as usize * row_len..][..row_len];
                for (sum, &byte) in column_sums.iter_mut().zip(row) {
                    *sum += byte as u16;
                }
            }
            if !any {
                continue;
            }
            for u in 0..out_w {
                let first = x0 + (u * k) as isize;
                let xs = first.max(0)..(first + k as isize).min(w);
                let mut sum = [0u32; 3];
                for x in xs {
                    let p = &column_sums[x as usize * bpp..][..3];
                    sum[0] += p[0] as u32;
                    sum[1] += p[1] as u32;
                    sum[2] += p[2] as u32;
                }
                for (c, total) in sum.into_iter().enumerate() {
                    out[c * plane + v * out_w + u] = lo + total as f32 * norm;
                }
            }
        }
        out
    }

    fn area_average_chw(
        &self,
        rect: &RotatedRect,
        out_w: usize,
        out_h: usize,
        options: WarpOptions,
    ) -> Vec<f32> {
        let (lo, hi) = options.range;
        let x_weights = area_weights(
            rect.cx - rect.width / 2.0,
            rect.width / out_w as f32,
            out_w,
            self.width as usize,
            options.border,
        );
        let y_weights = area_weights(
            rect.cy - rect.height / 2.0,
            rect.height / out_h as f32,
            out_h,
            self.height as usize,
            options.border,
        );
        let bpp = self.format.bytes_per_pixel();
        let row_len = self.width as usize * bpp;
        // Horizontal pass over the rows some output row needs: [row][u][channel].
        let first_row = y_weights.iter().map(|w| w.0).min().unwrap_or(0);
        let last_row = y_weights.iter().map(|w| w.0 + w.1.len()).max().unwrap_or(0);
        let mut rows = vec![0.0f32; (last_row - first_row) * out_w * 3];
        for (r, y) in (first_row..last_row).enumerate() {
            let src = &self.pixels[y * row_len..(y + 1) * row_len];
            let dst = &mut rows[r * out_w * 3..(r + 1) * out_w * 3];
            for (u, (start, weights)) in x_weights.iter().enumerate() {
                let mut acc = [0.0f32; 3];
                for (i, &w) in weights.iter().enumerate() {
                    let p = &src[(start + i) * bpp..(start + i) * bpp + 3];
                    acc[0] += w * p[0] as f32;
                    acc[1] += w * p[1] as f32;
                    acc[2] += w * p[2] as f32;
                }
                dst[u * 3..u * 3 + 3].copy_from_slice(&acc);
            }
        }
        let plane = out_w * out_h;
        let mut out = vec![0.0f32; 3 * plane];
        let scale = (hi - lo) / 255.0;
        for (v, (start, weights)) in y_weights.iter().enumerate() {
            for u in 0..out_w {
                let mut acc = [0.0f32; 3];
                for (j, &w) in weights.iter().enumerate() {
                    let i = ((start + j - first_row) * out_w + u) * 3;
                    acc[0] += w * rows[i];
                    acc[1] += w * rows[i + 1];
                    acc[2] += w * rows[i + 2];
                }
                for k in 0..3 {
                    out[k * plane + v * out_w + u] = lo + acc[k] * scale;
                }
            }
        }
        out
    }
}

/// For each of `n` output cells of size `step` starting at `origin` (source pixel units), the
/// first source index it overlaps and the normalised overlap of each source pixel from there.
/// With [`Border::Zero`] the part outside the source counts as black; with
/// [`Border::Replicate`] it repeats the edge pixel.
fn area_weights(
    origin: f32,
    step: f32,
    n: usize,
    len: usize,
    border: Border,
) -> Vec<(usize, Vec<f32>)> {
    (0..n)
        .map(|i| {
            let a = origin + i as f32 * step;
            let b = a + step;
            let first = a.floor().max(0.0) as usize;
            let last = (b.ceil().max(0.0) as usize).min(len);
            let first = first.min(len.saturating_sub(1));
            let mut weights: Vec<f32> = (first..last.max(first + 1))
                .map(|x| {
                    let overlap = (b.min(x as f32 + 1.0) - a.max(x as f32)).max(0.0);
                    overlap / step
                })
                .collect();
            if border == Border::Replicate {
                let before = (0.0f32.min(b) - a).max(0.0) / step;
                let after = (b - (len as f32).max(a)).max(0.0) / step;
                weights[0] += before;
                *weights.last_mut().expect("at least one weight") += after;
            }
            (first, weights)
        })
        .collect()
}

/// What sampling outside the frame yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Black (the detector's letterbox padding).
    Zero,
    /// The nearest edge pixel (crops that reach past the frame edge).
    Replicate,
}

#[derive(Debug, Clone, Copy)]
pub struct WarpOptions {
    pub border: Border,
    /// Output value for pixel value 0 and for 255.
    pub range: (f32, f32),
    /// Mirror the crop left-right (the iris model only knows one eye).
    pub flip_horizontal: bool,
}

/// A rectangle in frame pixels, rotated by `rotation` radians (clockwise in image coordinates,
/// where y points down) about its centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub cx: f32,
    pub cy: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

impl RotatedRect {
    /// The square that letterboxes the whole frame (the detector's view of it).
    pub fn letterbox(width: u32, height: u32) -> Self {
        let side = width.max(height) as f32;
        RotatedRect {
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
            width: side,
            height: side,
            rotation: 0.0,
        }
    }

    /// Maps a point given in the rectangle's own normalised coordinates ([0, 1] across, [0, 1]
    /// down, before rotation) to frame pixels. `flip_horizontal` mirrors as the warp did.
    pub fn to_frame(&self, u: f32, v: f32, flip_horizontal: bool) -> [f32; 2] {
        let (sin, cos) = self.rotation.sin_cos();
        let mut lx = (u - 0.5) * self.width;
        if flip_horizontal {
            lx = -lx;
        }
        let ly = (v - 0.5) * self.height;
        [self.cx + lx * cos - ly * sin, self.cy + lx * sin + ly * cos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_no_camera_gives_are_refused_before_anything_is_allocated() {
        // The pixels are never looked at: the shape is refused first.
        let too_thin = Frame::from_rgba(1, 120_000, &[]).unwrap_err();
        assert!(too_thin.to_string().contains("1x120000"), "{too_thin}");
        assert!(matches!(too_thin, GlanceError::InvalidFrame(_)));
        let too_large = Frame::from_rgba(20_000, 20_000, &[]).unwrap_err();
        assert!(
            too_large.to_string().contains("at most 16384"),
            "{too_large}"
        );
        // Sides and aspect within bounds, but four times an 8K camera's pixels.
        let too_many = Frame::from_rgba(16_384, 8_192, &[]).unwrap_err();
        assert!(
            too_many.to_string().contains("at most 66355200 pixels"),
            "{too_many}"
        );
        assert!(check_frame_shape(7680 * 2, 4320).is_ok());
        // The limits themselves are accepted: a 16:1 strip, the largest side.
        let strip = vec![0u8; 16 * 256 * 4];
        assert!(Frame::from_rgba(256, 16, &strip).is_ok());
        assert!(Frame::from_rgba(16, 256, &strip).is_ok());
        assert!(Frame::from_rgba(17 * 16, 16, &[]).is_err());
    }

    fn gradient(width: u32, height: u32) -> Vec<u8> {
        let mut px = Vec::new();
        for y in 0..height {
            for x in 0..width {
                px.extend_from_slice(&[(x * 10) as u8, (y * 10) as u8, 7, 255]);
            }
        }
        px
    }

    #[test]
    fn whole_pixel_box_average_equals_the_area_average() {
        // Letterboxing 640x480 and 1280x720 into 128 px: cells of 5 and 10 whole pixels, the
        // bands above and below black.
        for (w, h) in [(640u32, 480u32), (1280, 720), (640, 640)] {
            let px: Vec<u8> = (0..w * h * 4)
                .map(|i| (u64::from(i) * 7919 % 251) as u8)
                .collect();
            let frame = Frame::from_rgba(w, h, &px).unwrap();
            let rect = RotatedRect::letterbox(w, h);
            let options = WarpOptions {
                border: Border::Zero,
                range: (-1.0, 1.0),
                flip_horizontal: false,
            };
            let k = frame.whole_pixel_cells(&rect, 128, 128, Border::Zero);
            assert_eq!(k, Some(w as usize / 128));
            let fast = frame.box_average_chw(&rect, k.unwrap(), 128, 128, options);
            let general = frame.area_average_chw(&rect, 128, 128, options);
            let worst = fast
                .iter()
                .zip(&general)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-4, "{w}x{h}: differs by {worst}");
        }
        // Not whole pixels (192 px), or a border to replicate: the general path.
        let black = vec![0; 640 * 480 * 4];
        let frame = Frame::from_rgba(640, 480, &black).unwrap();
        let rect = RotatedRect::letterbox(640, 480);
        assert_eq!(frame.whole_pixel_cells(&rect, 192, 192, Border::Zero), None);
        assert_eq!(
            frame.whole_pixel_cells(&rect, 128, 128, Border::Replicate),
            None
        );
    }

    #[test]
    fn rejects_zero_size_and_wrong_length() {
        assert!(matches!(
            Frame::from_rgba(0, 10, &[]),
            Err(GlanceError::InvalidFrame(_))
        ));
        let err = Frame::from_rgba(2, 2, &[0; 15]).unwrap_err();
        assert!(err.to_string().contains("needs 16 bytes, got 15"), "{err}");
        assert!(Frame::from_rgb(2, 2, &[0; 12]).is_ok());
    }

    #[test]
    fn identity_warp_reproduces_pixels() {
        let px = gradient(8, 6);
        let frame = Frame::from_rgba(8, 6, &px).unwrap();
        let rect = RotatedRect {
            cx: 4.0,
            cy: 3.0,
            width: 8.0,
            height: 6.0,
            rotation: 0.0,
        };
        let opts = WarpOptions {
            border: Border::Zero,
            range: (0.0, 255.0),
            flip_horizontal: false,
        };
        let out = frame.warp_to_chw(&rect, 8, 6, opts);
        for y in 0..6 {
            for x in 0..8 {
                assert!((out[y * 8 + x] - (x * 10) as f32).abs() < 1e-3);
                assert!((out[48 + y * 8 + x] - (y * 10) as f32).abs() < 1e-3);
                assert!((out[96 + y * 8 + x] - 7.0).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn rotation_and_flip_map_points_consistently() {
        let rect = RotatedRect {
            cx: 10.0,
            cy: 20.0,
            width: 4.0,
            height: 2.0,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        // The rectangle's right edge centre, rotated a quarter turn clockwise, points down.
        let [x, y] = rect.to_frame(1.0, 0.5, false);
        assert!(
            (x - 10.0).abs() < 1e-5 && (y - 22.0).abs() < 1e-5,
            "{x} {y}"
        );
        let [x, y] = rect.to_frame(1.0, 0.5, true);
        assert!(
            (x - 10.0).abs() < 1e-5 && (y - 18.0).abs() < 1e-5,
            "{x} {y}"
        );
    }

    #[test]
    fn area_average_matches_dense_supersampling() {
        // A 300x200 gradient shrunk to 60x60 through the letterbox: the separable area average
        // equals a brute-force 16x16 supersampled average within rounding.
        let (w, h) = (300u32, 200u32);
        let px: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x + y) % 256) as u8,
                    255,
                ]
            })
            .collect();
        let frame = Frame::from_rgba(w, h, &px).unwrap();
        let rect = RotatedRect::letterbox(w, h);
        let opts = WarpOptions {
            border: Border::Zero,
            range: (0.0, 255.0),
            flip_horizontal: false,
        };
        let fast = frame.warp_to_chw(&rect, 60, 60, opts);
        let step = rect.width / 60.0;
        let top = rect.cy - rect.height / 2.0;
        for (v, u) in [(0, 0), (10, 5), (30, 30), (45, 59), (59, 59)] {
            for k in 0..3 {
                let mut acc = 0.0;
                for j in 0..16 {
                    for i in 0..16 {
                        let x = (u as f32 + (i as f32 + 0.5) / 16.0) * step;
                        let y = top + (v as f32 + (j as f32 + 0.5) / 16.0) * step;
                        if x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32 {
                            acc += frame.pixel(x as usize, y as usize)[k];
                        }
                    }
                }
                let dense = acc / 256.0;
                let got = fast[k * 3600 + v * 60 + u];
                assert!(
                    (got - dense).abs() < 2.0,
                    "({u},{v}) ch{k}: {got} vs {dense}"
                );
            }
        }
    }

    #[test]
    fn letterbox_pads_with_black_and_maps_range() {
        let px = vec![255u8; 4 * 4 * 2];
        let frame = Frame::from_rgba(4, 2, &px).unwrap();
        let opts = WarpOptions {
            border: Border::Zero,
            range: (-1.0, 1.0),
            flip_horizontal: false,
        };
        let out = frame.warp_to_chw(&RotatedRect::letterbox(4, 2), 4, 4, opts);
        assert_eq!(out[0], -1.0, "top row is padding");
        assert!((out[4 + 1] - 1.0).abs() < 1e-5, "second row is image");
        assert_eq!(out[12], -1.0, "bottom row is padding");
    }
}
