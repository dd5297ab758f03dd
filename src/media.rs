//! Reading images and `.y4m` video from files (native only: the browser hands over frames).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{GlanceError, Result};

/// An owned RGB8 picture.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

impl RgbImage {
    pub fn frame(&self) -> Result<crate::frame::Frame<'_>> {
        crate::frame::Frame::from_rgb(self.width, self.height, &self.pixels)
    }
}

fn decode_error(path: &Path, message: impl ToString) -> GlanceError {
    GlanceError::Decode {
        source_name: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Decodes a JPEG or PNG file.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| decode_error(path, e))?
        .with_guessed_format()
        .map_err(|e| decode_error(path, e))?;
    let rgb = reader
        .decode()
        .map_err(|e| decode_error(path, e))?
        .into_rgb8();
    let (width, height) = rgb.dimensions();
    Ok(RgbImage {
        width,
        height,
        pixels: rgb.into_raw(),
    })
}

/// Whether a path names a YUV4MPEG2 video (by its first bytes, not its name).
pub fn is_y4m(path: &Path) -> bool {
    let mut magic = [0u8; 9];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"YUV4MPEG2"
}

/// Frames of a `.y4m` file (8-bit 4:2:0, 4:2:2, 4:4:4 or mono), converted to RGB with BT.601
/// limited-range coefficients as ffmpeg writes them by default.
pub struct Y4mReader {
    path: String,
    decoder: y4m::Decoder<BufReader<File>>,
    frame_rate: f64,
    file_len: u64,
    header_len: u64,
    frames_read: u64,
    frame_params_seen: bool,
}

impl Y4mReader {
    pub fn open(path: &Path) -> Result<Self> {
        let bytes_head = {
            let mut head = Vec::new();
            File::open(path)
                .and_then(|f| f.take(4096).read_to_end(&mut head))
                .map_err(|e| decode_error(path, e))?;
            head
        };
        let header_len = bytes_head
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p as u64 + 1)
            .unwrap_or(0);
        let file = File::open(path).map_err(|e| decode_error(path, e))?;
        let file_len = file.metadata().map_err(|e| decode_error(path, e))?.len();
        let decoder = y4m::Decoder::new(BufReader::new(file))
            .map_err(|e| decode_error(path, format!("{e:?}")))?;
        if decoder.get_bit_depth() != 8 {
            return Err(decode_error(
                path,
                format!(
                    "{}-bit video is not supported; use 8-bit",
                    decoder.get_bit_depth()
                ),
            ));
        }
        let rate = decoder.get_framerate();
        let frame_rate = if rate.den == 0 || rate.num == 0 {
            25.0
        } else {
            rate.num as f64 / rate.den as f64
        };
        Ok(Y4mReader {
            path: path.display().to_string(),
            decoder,
            frame_rate,
            file_len,
            header_len,
            frames_read: 0,
            frame_params_seen: false,
        })
    }

    /// Bytes of one frame's planes.
    fn frame_len(&self) -> Option<u64> {
        let (w, h) = (
            self.decoder.get_width() as u64,
            self.decoder.get_height() as u64,
        );
        let (sx, sy) = chroma_subsampling(self.decoder.get_colorspace())?;
        let chroma = if matches!(self.decoder.get_colorspace(), y4m::Colorspace::Cmono) {
            0
        } else {
            w.div_ceil(sx) * h.div_ceil(sy)
        };
        Some(w * h + 2 * chroma)
    }

    /// The y4m crate reports a frame cut short as a clean end of file; with fixed-size frames
    /// (and no per-frame parameters) the file length tells the two apart.
    fn truncated_tail(&self) -> Option<u64> {
        if self.frame_params_seen {
            return None;
        }
        let whole =
            self.header_len + self.frames_read * (b"FRAME\n".len() as u64 + self.frame_len()?);
        (self.file_len > whole).then(|| self.file_len - whole)
    }

    pub fn frame_rate(&self) -> f64 {
        self.frame_rate
    }

    pub fn width(&self) -> u32 {
        self.decoder.get_width() as u32
    }

    pub fn height(&self) -> u32 {
        self.decoder.get_height() as u32
    }

    /// The next frame, `Ok(None)` at a clean end of file, an error for a truncated frame.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>> {
        let (w, h) = (self.decoder.get_width(), self.decoder.get_height());
        let colorspace = self.decoder.get_colorspace();
        let frame = match self.decoder.read_frame() {
            Ok(frame) => frame,
            Err(y4m::Error::EOF) => {
                return match self.truncated_tail() {
                    None => Ok(None),
                    Some(extra) => Err(GlanceError::Decode {
                        source_name: self.path.clone(),
                        message: format!(
                            "truncated frame {}: {extra} bytes after the last whole frame",
                            self.frames_read
                        ),
                    }),
                };
            }
            Err(e) => {
                return Err(GlanceError::Decode {
                    source_name: self.path.clone(),
                    message: format!("truncated or corrupt frame: {e:?}"),
                });
            }
        };
        self.frames_read += 1;
        self.frame_params_seen |= frame.get_raw_params().is_some();
        let Some((sx, sy)) = chroma_subsampling(colorspace).map(|(x, y)| (x as usize, y as usize))
        else {
            return Err(GlanceError::Decode {
                source_name: self.path.clone(),
                message: format!("unsupported colour space {colorspace:?}"),
            });
        };
        let mono = matches!(colorspace, y4m::Colorspace::Cmono);
        let (yp, up, vp) = (
            frame.get_y_plane(),
            frame.get_u_plane(),
            frame.get_v_plane(),
        );
        let cw = w.div_ceil(sx);
        let mut pixels = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let luma = (yp[y * w + x] as f32 - 16.0) * 1.164;
                let (u, v) = if mono {
                    (0.0, 0.0)
                } else {
                    let ci = (y / sy) * cw + x / sx;
                    (up[ci] as f32 - 128.0, vp[ci] as f32 - 128.0)
                };
                let r = luma + 1.596 * v;
                let g = luma - 0.392 * u - 0.813 * v;
                let b = luma + 2.017 * u;
                pixels.extend([r, g, b].map(|c| c.round().clamp(0.0, 255.0) as u8));
            }
        }
        Ok(Some(RgbImage {
            width: w as u32,
            height: h as u32,
            pixels,
        }))
    }
}

/// Horizontal and vertical chroma subsampling of the 8-bit colour spaces we read.
fn chroma_subsampling(colorspace: y4m::Colorspace) -> Option<(u64, u64)> {
    match colorspace {
        y4m::Colorspace::C420
        | y4m::Colorspace::C420jpeg
        | y4m::Colorspace::C420paldv
        | y4m::Colorspace::C420mpeg2 => Some((2, 2)),
        y4m::Colorspace::C422 => Some((2, 1)),
        y4m::Colorspace::C444 | y4m::Colorspace::Cmono => Some((1, 1)),
        _ => None,
    }
}
