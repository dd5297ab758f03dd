//! The fine scan as a piece of work that can leave the frame's thread: in video mode the
//! pipeline cuts the band it scans out of a frame ([`FineScanBand`]), and the band's detections
//! join a later frame (see `pipeline::video`). The band is scanned by the pipeline itself right
//! after the frame, or, where the host has a second worker, by a [`FineScanner`] there while the
//! engine goes on with the next frame. Both run [`scan_band`] on the same cut, so the results
//! are the same either way; only where the time is spent differs.

use serde::{Deserialize, Serialize};

use super::centerface::{self, ScanInput};
use super::detector::{self, Detection};
use super::networks::CenterFace;
use super::pipeline::BAND_JOIN_DELAY_MS;
use crate::error::{GlanceError, Result};
use crate::frame::Frame;

/// Pixels of margin around the scan's view, so that sampling at the view's edge reads the
/// same neighbours in the cut as in the frame.
const CUT_MARGIN_PX: f32 = 2.0;

/// A band of a frame to scan for small faces, cut out of the frame (RGBA rows): the only
/// pixels that outlive the frame's analysis, and only until the band is scanned.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FineScanBand {
    /// The frame the band was cut from: its size, and its timestamp (ms).
    pub frame_width: u32,
    pub frame_height: u32,
    pub timestamp_ms: f64,
    /// The first frame at or after this time (ms) takes the band's detections: the host must
    /// return them before it hands that frame over.
    pub joins_at_ms: f64,
    /// What to scan: the input, placed in frame pixels.
    pub input: ScanInput,
    /// The cut's place in the frame (x, y) and size (width, height), frame pixels.
    pub cut: [u32; 4],
    /// Also scan the band's mirror image (`mirroredFineScan`).
    pub mirrored: bool,
    /// Detections scoring below this are not reported.
    pub min_score: f32,
    /// The cut's pixels, RGBA, `cut[2] * cut[3] * 4` bytes (sent apart from the rest to a
    /// worker, as a transferred buffer).
    #[serde(skip)]
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for FineScanBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FineScanBand")
            .field("input", &self.input)
            .field("cut", &self.cut)
            .field("timestamp_ms", &self.timestamp_ms)
            .finish_non_exhaustive()
    }
}

impl FineScanBand {
    /// The part of `frame` that `input` shows, with a small margin, cut out.
    pub(crate) fn cut(
        frame: &Frame<'_>,
        timestamp_ms: f64,
        input: ScanInput,
        mirrored: bool,
        min_score: f32,
    ) -> Result<Self> {
        let (fw, fh) = (frame.width(), frame.height());
        let [x0, y0, x1, y1] = input.extent();
        let clamp = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
        let (cx0, cy0) = (
            clamp((x0 - CUT_MARGIN_PX).floor(), fw),
            clamp((y0 - CUT_MARGIN_PX).floor(), fh),
        );
        let (cx1, cy1) = (
            clamp((x1 + CUT_MARGIN_PX).ceil(), fw).max(cx0 + 1).min(fw),
            clamp((y1 + CUT_MARGIN_PX).ceil(), fh).max(cy0 + 1).min(fh),
        );
        let cut = [cx0, cy0, cx1 - cx0, cy1 - cy0];
        Ok(FineScanBand {
            frame_width: fw,
            frame_height: fh,
            timestamp_ms,
            joins_at_ms: timestamp_ms + BAND_JOIN_DELAY_MS,
            input,
            cut,
            mirrored,
            min_score,
            pixels: frame.cut_rgba(cut)?,
        })
    }

    /// The band's fields checked, as a band from a host must be before it is scanned: a cut
    /// inside a frame of an accepted shape, holding its pixels, and an input of the scan's own
    /// kind.
    pub fn check(&self) -> Result<()> {
        let invalid = |why: &str| Err(GlanceError::InvalidFrame(format!("fine scan band: {why}")));
        crate::frame::check_frame_shape(self.frame_width, self.frame_height)?;
        let [x, y, w, h] = self.cut;
        let inside = x.checked_add(w).is_some_and(|r| r <= self.frame_width)
            && y.checked_add(h).is_some_and(|b| b <= self.frame_height);
        if w == 0 || h == 0 || !inside {
            return invalid("the cut must lie inside the frame");
        }
        if self.pixels.len() != w as usize * h as usize * 4 {
            return invalid("the pixels must be the cut's RGBA rows");
        }
        let expected = ScanInput::for_frame(self.frame_width, self.frame_height, 1.0);
        let i = &self.input;
        let sane = i.width.is_multiple_of(centerface::INPUT_MULTIPLE)
            && i.height.is_multiple_of(centerface::INPUT_MULTIPLE)
            && i.width > 0
            && i.height > 0
            && i.width <= expected.width * 2
            && i.height <= expected.height * 2
            && i.scale.is_finite()
            && i.scale > 0.0
            && i.scale <= centerface::MAX_UPSCALE
            && i.origin.iter().all(|o| o.is_finite());
        if !sane || !self.min_score.is_finite() || !self.timestamp_ms.is_finite() {
            return invalid("its input is not one the fine scan makes");
        }
        Ok(())
    }
}

/// CenterFace on the band (and its mirror image if asked): the faces it shows, in frame pixels,
/// less those cut at an edge of the band inside the frame (the neighbouring band sees them
/// whole).
pub async fn scan_band(network: &CenterFace, band: &FineScanBand) -> Result<Vec<Detection>> {
    let [cx, cy, cw, ch] = band.cut;
    let frame = Frame::from_rgba(cw, ch, &band.pixels)?;
    let (dx, dy) = (cx as f32, cy as f32);
    let local = ScanInput {
        origin: [band.input.origin[0] - dx, band.input.origin[1] - dy],
        ..band.input
    };
    let found = scan(network, &frame, local, band.mirrored, band.min_score).await?;
    Ok(found
        .into_iter()
        .map(|mut d| {
            (d.bbox, d.keypoints) = detector::translated(d.bbox, d.keypoints, [dx, dy]);
            d
        })
        .filter(|d| {
            !band
                .input
                .cut_at_band_edge(d.bbox, band.frame_width, band.frame_height)
        })
        .collect())
}

/// CenterFace on `frame` at `input` (and mirrored): detections scoring `min_score` or more, in
/// the frame's pixels.
pub(crate) async fn scan(
    network: &CenterFace,
    frame: &Frame<'_>,
    input: ScanInput,
    mirrored: bool,
    min_score: f32,
) -> Result<Vec<Detection>> {
    let view = input.view();
    let mut chw = frame.warp_to_chw(&view, input.width, input.height, centerface::WARP);
    if mirrored {
        chw.extend(frame.warp_to_chw(&view, input.width, input.height, centerface::MIRRORED_WARP));
    }
    let looks = 1 + usize::from(mirrored);
    let maps = network.maps(chw, looks, input.height, input.width).await?;
    Ok(maps
        .iter()
        .enumerate()
        .flat_map(|(look, maps)| {
            centerface::decode(maps, min_score)
                .into_iter()
                .map(move |d| match look {
                    0 => input.to_frame(d),
                    _ => input.mirrored_to_frame(d),
                })
        })
        .collect())
}

/// The fine scan alone, for a worker beside the engine's: CenterFace's weights only.
#[derive(Debug)]
pub struct FineScanner {
    network: CenterFace,
}

impl FineScanner {
    pub fn new(network: CenterFace) -> Self {
        FineScanner { network }
    }

    /// A scanner on burn's CPU backend with the weights compiled into the binary.
    #[cfg(all(feature = "flex", feature = "embed-models"))]
    pub fn cpu() -> Result<Self> {
        let weights = super::ModelWeights::embedded();
        let device = burn::tensor::Device::flex();
        Ok(Self::new(CenterFace::load(&device, &weights.centerface)?))
    }

    /// The band's faces (see [`scan_band`]), once the band is checked.
    pub async fn scan(&self, band: &FineScanBand) -> Result<Vec<Detection>> {
        band.check()?;
        scan_band(&self.network, band).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band_of(width: u32, height: u32, input: ScanInput) -> FineScanBand {
        let pixels: Vec<u8> = (0..width * height * 4).map(|i| (i % 251) as u8).collect();
        let frame = Frame::from_rgba(width, height, &pixels).unwrap();
        FineScanBand::cut(&frame, 0.0, input, false, 0.3).unwrap()
    }

    #[test]
    fn a_band_is_cut_with_a_margin_and_kept_inside_the_frame() {
        let input = ScanInput::band(640, 480, 20.0, 1, 4, 80.0);
        let band = band_of(640, 480, input);
        let [x0, _, x1, _] = input.extent();
        assert_eq!(band.cut[0] as f32, (x0 - CUT_MARGIN_PX).floor());
        assert!((band.cut[0] + band.cut[2]) as f32 >= (x1 + CUT_MARGIN_PX).min(640.0));
        assert_eq!((band.cut[1], band.cut[3]), (0, 480));
        assert_eq!(band.pixels.len(), (band.cut[2] * band.cut[3] * 4) as usize);
        assert!(band.check().is_ok());
    }

    #[test]
    fn a_band_from_a_host_is_checked_before_it_is_scanned() {
        let band = band_of(640, 480, ScanInput::for_frame(640, 480, 20.0));
        let mut short = band.clone();
        short.pixels.pop();
        let mut outside = band.clone();
        outside.cut[2] = 641;
        let mut huge = band.clone();
        huge.input.width = 1 << 20;
        let mut nan = band.clone();
        nan.input.scale = f32::NAN;
        for bad in [short, outside, huge, nan] {
            let error = bad.check().unwrap_err().to_string();
            assert!(error.contains("fine scan band"), "{error}");
        }
    }
}
