//! Pixels from whatever the page hands over. Video frames and bitmaps are drawn into one reused
//! offscreen canvas, read back, and the canvas is cleared at once: no pixels outlive the call.

use std::cell::RefCell;

use js_sys::Uint8ClampedArray;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    ContextAttributes2d, HtmlVideoElement, ImageBitmap, ImageData, OffscreenCanvas,
    OffscreenCanvasRenderingContext2d, VideoFrame,
};

use crate::error::GlanceError;
use crate::frame::check_frame_shape;

#[derive(Default)]
pub(crate) struct Scratch(RefCell<Option<(OffscreenCanvas, OffscreenCanvasRenderingContext2d)>>);

fn invalid(message: String) -> GlanceError {
    GlanceError::InvalidFrame(message)
}

fn new_canvas() -> Result<(OffscreenCanvas, OffscreenCanvasRenderingContext2d), JsValue> {
    let canvas = OffscreenCanvas::new(1, 1)?;
    let attributes = ContextAttributes2d::new();
    // We read every frame back: keep the canvas in CPU memory.
    attributes.set_will_read_frequently(true);
    let context = canvas
        .get_context_with_context_options("2d", &attributes)?
        .ok_or_else(|| JsValue::from_str("no 2d context"))?
        .dyn_into::<OffscreenCanvasRenderingContext2d>()?;
    Ok((canvas, context))
}

/// RGBA pixels of `source`: `ImageData`, `HTMLVideoElement`, `VideoFrame` or `ImageBitmap`.
pub(crate) fn read_rgba(
    source: &JsValue,
    scratch: &Scratch,
) -> Result<(u32, u32, Vec<u8>), GlanceError> {
    if let Some(data) = source.dyn_ref::<ImageData>() {
        // The shape first: the pixels of a frame that is refused are never copied.
        check_frame_shape(data.width(), data.height())?;
        return Ok((data.width(), data.height(), copy_pixels(data)?));
    }
    let (width, height) = if let Some(video) = source.dyn_ref::<HtmlVideoElement>() {
        if video.ready_state() < 2 {
            return Err(invalid(
                "the video has no current frame yet (readyState < 2)".into(),
            ));
        }
        (video.video_width(), video.video_height())
    } else if let Some(frame) = source.dyn_ref::<VideoFrame>() {
        (frame.display_width(), frame.display_height())
    } else if let Some(bitmap) = source.dyn_ref::<ImageBitmap>() {
        (bitmap.width(), bitmap.height())
    } else {
        return Err(invalid(
            "expected ImageData, HTMLVideoElement, VideoFrame or ImageBitmap".into(),
        ));
    };
    if width == 0 || height == 0 {
        return Err(invalid(format!(
            "the source is {width}x{height} (closed or not loaded?)"
        )));
    }
    check_frame_shape(width, height)?;
    let mut slot = scratch.0.borrow_mut();
    if slot.is_none() {
        *slot = Some(new_canvas().map_err(|e| invalid(format!("no offscreen 2d canvas: {e:?}")))?);
    }
    let (canvas, context) = slot.as_ref().expect("created above");
    if canvas.width() != width || canvas.height() != height {
        canvas.set_width(width);
        canvas.set_height(height);
    }
    let drawn = if let Some(video) = source.dyn_ref::<HtmlVideoElement>() {
        context.draw_image_with_html_video_element(video, 0.0, 0.0)
    } else if let Some(frame) = source.dyn_ref::<VideoFrame>() {
        context.draw_image_with_video_frame(frame, 0.0, 0.0)
    } else {
        context.draw_image_with_image_bitmap(source.unchecked_ref(), 0.0, 0.0)
    };
    drawn.map_err(|e| invalid(format!("cannot draw the source: {e:?}")))?;
    let image = context
        .get_image_data(0.0, 0.0, width as f64, height as f64)
        .map_err(|e| {
            invalid(format!(
                "cannot read the pixels (cross-origin video?): {e:?}"
            ))
        });
    context.clear_rect(0.0, 0.0, width as f64, height as f64);
    Ok((width, height, copy_pixels(&image?)?))
}

/// The RGBA bytes of `data` in wasm memory, or a refused frame when that memory cannot be had
/// (`ImageData::data` would abort the engine on a failed allocation).
fn copy_pixels(data: &ImageData) -> Result<Vec<u8>, GlanceError> {
    let array: Uint8ClampedArray = js_sys::Reflect::get(data, &JsValue::from_str("data"))
        .map_err(|e| invalid(format!("the ImageData has no pixels: {e:?}")))?
        .unchecked_into();
    let mut pixels = crate::frame::try_buffer(array.length() as usize)?;
    pixels.resize(array.length() as usize, 0);
    array.copy_to(&mut pixels);
    Ok(pixels)
}
