//! Reading images and `.y4m` video from files (native only: the browser hands over frames).

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
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

/// Decodes a JPEG or PNG file; one larger than a frame may be is refused before it is decoded,
/// and one cut short is refused (JPEG decoders fill a missing end with grey).
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| decode_error(path, e))?;
    let reader = || {
        image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| decode_error(path, e))
    };
    if reader()?.format() == Some(image::ImageFormat::Jpeg) && !jpeg_is_whole(&bytes) {
        return Err(decode_error(
            path,
            "the JPEG is cut short: no end-of-image marker after its last scan",
        ));
    }
    let (width, height) = reader()?
        .into_dimensions()
        .map_err(|e| decode_error(path, e))?;
    crate::frame::check_frame_shape(width, height).map_err(|e| decode_error(path, e))?;
    let reader = reader()?;
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

/// Whether a JPEG holds its end-of-image marker (FF D9) after the start of its last scan (FF DA;
/// entropy-coded data never holds FF DA, and an embedded thumbnail's end comes before it).
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let marker = |m: u8| move |w: &[u8]| w == [0xFF, m];
    bytes
        .windows(2)
        .rposition(marker(0xDA))
        .is_some_and(|last_scan| bytes[last_scan..].windows(2).any(marker(0xD9)))
}

/// Whether a path names a YUV4MPEG2 video: by its first bytes, or by its `.y4m` name (so a
/// broken clip is reported as a broken clip, not as an unknown image format).
pub fn is_y4m(path: &Path) -> bool {
    let mut magic = [0u8; 9];
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("y4m"));
    named
        || File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"YUV4MPEG2"
}

/// Frames of a `.y4m` file (8-bit 4:2:0, 4:2:2, 4:4:4 or mono), converted to RGB with BT.601
/// limited-range coefficients as ffmpeg writes them by default.
pub struct Y4mReader {
    path: String,
    decoder: y4m::Decoder<Box<dyn Read>>,
    frame_rate: f64,
    file_len: u64,
    /// Bytes of the header and of the whole frames read so far.
    bytes_read: u64,
    frames_read: u64,
}

/// Frame rates a y4m clip may give, frames per second: a time-lapse camera's one frame in ten
/// seconds to a high-speed camera's thousand (a rate outside makes nonsense timestamps).
pub(crate) const Y4M_FRAME_RATES: std::ops::RangeInclusive<f64> = 0.1..=1000.0;

/// What went wrong in a y4m header, in words (the crate's own errors are debug text).
fn y4m_header_error(e: y4m::Error) -> String {
    match e {
        y4m::Error::EOF => "the file ends inside its header".into(),
        y4m::Error::ParseError(y4m::ParseError::InvalidY4M) => {
            "no YUV4MPEG2 header: the file must begin with \"YUV4MPEG2 \"".into()
        }
        y4m::Error::ParseError(y4m::ParseError::Int) => {
            "a number in the header (W, H, F or A) is not a whole number".into()
        }
        y4m::Error::ParseError(y4m::ParseError::Utf8) => "the header is not text".into(),
        y4m::Error::ParseError(y4m::ParseError::General) => {
            "the header is malformed: it needs W<width> H<height> F<num>:<den>".into()
        }
        y4m::Error::BadInput | y4m::Error::UnknownColorspace => {
            "unsupported colour space: C420, C422, C444 and Cmono are read".into()
        }
        y4m::Error::OutOfMemory => "the header's frame size is larger than a frame may be".into(),
        y4m::Error::IoError(e) => e.to_string(),
    }
}

impl Y4mReader {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| decode_error(path, e))?;
        let file_len = file.metadata().map_err(|e| decode_error(path, e))?.len();
        Self::from_reader(&path.display().to_string(), BufReader::new(file), file_len)
    }

    /// Reads a clip of `len` bytes from `reader`; `name` names it in errors.
    pub fn from_reader(name: &str, mut reader: impl Read + 'static, len: u64) -> Result<Self> {
        let error = |message: String| GlanceError::Decode {
            source_name: name.to_string(),
            message,
        };
        if len == 0 {
            return Err(error("the file is empty".into()));
        }
        let mut head = Vec::new();
        (&mut reader)
            .take(4096)
            .read_to_end(&mut head)
            .map_err(|e| error(e.to_string()))?;
        if !head.starts_with(b"YUV4MPEG2 ") {
            return Err(error(y4m_header_error(y4m::Error::ParseError(
                y4m::ParseError::InvalidY4M,
            ))));
        }
        let header_len = head
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| p as u64 + 1)
            .unwrap_or(0);
        // The frame's shape before the decoder sizes its buffer from it.
        if let Some((width, height)) = header_dimensions(&head) {
            let side = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
            let shape = crate::frame::check_frame_shape(side(width), side(height));
            if let Err(GlanceError::InvalidFrame(why)) = shape {
                // The header's own numbers, also where they exceed a u32.
                let why = why.split_once("; ").map_or(why.as_str(), |(_, why)| why);
                return Err(error(format!(
                    "the header gives {width}x{height} frames; {why}"
                )));
            }
        }
        let limits = y4m::Limits {
            bytes: 3 * crate::frame::MAX_FRAME_PIXELS as usize,
        };
        let stream: Box<dyn Read> = Box::new(Cursor::new(head).chain(reader));
        let decoder = y4m::Decoder::new_with_limits(stream, limits)
            .map_err(|e| error(y4m_header_error(e)))?;
        if decoder.get_bit_depth() != 8 {
            return Err(error(format!(
                "{}-bit video is not supported; use 8-bit",
                decoder.get_bit_depth()
            )));
        }
        let rate = decoder.get_framerate();
        let frame_rate = rate.num as f64 / rate.den as f64;
        if rate.den == 0 || !Y4M_FRAME_RATES.contains(&frame_rate) {
            return Err(error(format!(
                "frame rate F{}:{} in the header: it must be between {} and {} frames a second",
                rate.num,
                rate.den,
                Y4M_FRAME_RATES.start(),
                Y4M_FRAME_RATES.end()
            )));
        }
        Ok(Y4mReader {
            path: name.to_string(),
            decoder,
            frame_rate,
            file_len: len,
            bytes_read: header_len,
            frames_read: 0,
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

    /// The y4m crate reports a frame cut short as a clean end of file; the bytes of the whole
    /// frames read against the file's length tell the two apart.
    fn truncated_tail(&self) -> Option<u64> {
        (self.file_len > self.bytes_read).then(|| self.file_len - self.bytes_read)
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

    /// The next frame with its time, as a camera started at `start_ms` would give it: frame `i`
    /// at `start_ms + i / frame rate` (ms). The one clock of the CLI and the benches.
    pub fn next_timed_frame(&mut self, start_ms: f64) -> Result<Option<(f64, RgbImage)>> {
        let index = self.frames_read;
        let timestamp_ms = start_ms + index as f64 * 1000.0 / self.frame_rate;
        Ok(self.next_frame()?.map(|image| (timestamp_ms, image)))
    }

    /// When the frames read so far end: the last one's time plus one frame (`start_ms` before
    /// the first).
    pub fn end_ms(&self, start_ms: f64) -> f64 {
        match self.frames_read.checked_sub(1) {
            Some(last) => {
                start_ms + last as f64 * 1000.0 / self.frame_rate + 1000.0 / self.frame_rate
            }
            None => start_ms,
        }
    }

    /// The next frame, `Ok(None)` at a clean end of file, an error for a truncated frame.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>> {
        let (w, h) = (self.decoder.get_width(), self.decoder.get_height());
        let colorspace = self.decoder.get_colorspace();
        let frame_len = self.frame_len().unwrap_or(0);
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
                let why = match e {
                    y4m::Error::ParseError(_) => "no FRAME marker where it begins".to_string(),
                    other => y4m_header_error(other),
                };
                return Err(GlanceError::Decode {
                    source_name: self.path.clone(),
                    message: format!("corrupt frame {}: {why}", self.frames_read),
                });
            }
        };
        self.frames_read += 1;
        // "FRAME", its parameters after a space, the newline, then the planes.
        let params = frame.get_raw_params().map_or(0, |p| p.len() as u64 + 1);
        self.bytes_read += b"FRAME\n".len() as u64 + params + frame_len;
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
        let mut pixels = crate::frame::try_buffer(w * h * 3).map_err(|e| GlanceError::Decode {
            source_name: self.path.clone(),
            message: format!("frame {}: {e}", self.frames_read),
        })?;
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

/// The width and height a y4m header gives (`W<n>` and `H<n>`), where both are whole numbers;
/// the decoder reports any other fault in the header.
fn header_dimensions(head: &[u8]) -> Option<(u64, u64)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let field = |tag: u8| {
        line.split(|&b| b == b' ')
            .rfind(|f| f.first() == Some(&tag))
            .and_then(|f| std::str::from_utf8(&f[1..]).ok()?.parse::<u64>().ok())
    };
    Some((field(b'W')?, field(b'H')?))
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
