//! The browser binding: `AudienceEngine` for JavaScript. The only module that touches
//! wasm-bindgen; everything it does is delegated to [`crate::engine`], [`crate::vision`] and
//! their plain Rust types.
//!
//! Concurrency: one `processFrame` at a time. A second call while one is in flight rejects at
//! once with `EngineBusyError` (nothing is queued and no frame is kept); `engine.busy` lets a
//! frame loop skip frames instead. The other methods are synchronous and may run meanwhile.
//! Frame timestamps that go backwards are clamped, never rejected (`timestampClamped: true`).
//!
//! Disclosure: `create` renders the notice (`banner` option, required) and every frame first
//! checks that it can be read; while it cannot, `processFrame` rejects with
//! `DisclosureHiddenError` and reads no pixels.
//!
//! In a Worker there is no page to render into: the entry module shows the notice on the page's
//! thread ([`DisclosureNotice`]), measures it before it takes each frame, and creates the
//! worker's engine with `hostNotice: true`, which analyses a frame only after
//! `setHostNotice(verdict)` said the notice was readable; one verdict serves one frame.

mod banner;
mod errors;
mod frames;
mod models;
mod tools;
mod types;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use js_sys::{Object, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::audience::ReportOptions;
use crate::disclosure::{BannerOptions, DisclosureStatus};
use crate::engine::{Backend, BackendChoice, BackendSetup, Engine, EngineOptions, EngineState};
use crate::error::{ErrorName, GlanceError};
use crate::frame::Frame;
use crate::vision::detector::Detection;
use crate::vision::fine_scan::FineScanBand;
use crate::vision::networks::CenterFace;
use crate::vision::timings::{Instant, elapsed_ms};
use crate::vision::{ModelWeights, Pipeline, PipelineOptions};
use banner::Banner;
use errors::{config_error, named_error, to_js_error};
use frames::{Scratch, read_rgba};
use models::{CENTERFACE, ModelSource};
pub use tools::{report_from_state, report_to_csv, rules_schema, simulate_rules, validate_rules};

static PANICKED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    /// wasm-ld's function running the static constructors (burn's kernel registries use the
    /// `inventory` crate). When a module never calls it, wasm-ld wraps *every* export in a call
    /// to it, which re-ran all registrations on each call into the engine (~20 % of a frame).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
fn start() {
    // SAFETY: called once, first thing after instantiation, before any other export runs.
    unsafe { __wasm_call_ctors() };
    std::panic::set_hook(Box::new(|info| {
        // After a panic no state can be trusted: every later call rejects (EngineCrashedError).
        PANICKED.store(true, Ordering::SeqCst);
        console_error_panic_hook::hook(info);
    }));
}

pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| {
            named_error(
                ErrorName::GlanceError,
                &format!("cannot convert a result: {e}"),
            )
        })
}

fn js(error: GlanceError) -> JsValue {
    to_js_error(&error)
}

#[cfg(feature = "webgpu")]
mod webgpu {
    use std::cell::RefCell;

    use burn::tensor::Device;
    use burn::tensor::wgpu::WgpuBackend;
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::{JsFuture, future_to_promise};

    thread_local! {
        static INIT: RefCell<Option<js_sys::Promise>> = const { RefCell::new(None) };
        static DEVICE: RefCell<Option<Result<Device, String>>> = const { RefCell::new(None) };
    }

    /// The page's one WebGPU device: burn's runtime can be initialised only once, so concurrent
    /// engines share a single initialisation.
    pub(super) async fn device() -> Result<Device, String> {
        let promise = INIT.with(|slot| {
            slot.borrow_mut()
                .get_or_insert_with(|| {
                    future_to_promise(async {
                        let result = Device::wgpu_options()
                            .graphics_api(WgpuBackend::WebGpu)
                            .init_async()
                            .await
                            .map_err(|e| format!("{e:?}"));
                        DEVICE.with(|d| *d.borrow_mut() = Some(result));
                        Ok(JsValue::UNDEFINED)
                    })
                })
                .clone()
        });
        let _ = JsFuture::from(promise).await;
        DEVICE
            .with(|d| d.borrow().clone())
            .unwrap_or_else(|| Err("WebGPU initialisation did not finish".into()))
    }
}

/// The engine and what only a browser has: the notice, the in-flight flag, the canvas.
struct Inner {
    engine: Engine,
    notice: RefCell<Notice>,
    busy: Cell<bool>,
    scratch: Scratch,
}

/// Where the disclosure notice is measured.
enum Notice {
    /// Rendered into this page and measured here before every frame.
    Page(Banner),
    /// Shown and measured on the page's thread while this engine runs in a Worker: the verdict
    /// for the next frame, which that frame consumes (no verdict: no analysis).
    Host(Option<DisclosureStatus>),
    Closed,
}

const NO_HOST_VERDICT: &str =
    "the page did not say that the disclosure notice is readable for this frame";

/// Clears the in-flight flag however the frame ends.
struct InFlight<'a>(&'a Cell<bool>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Inner {
    /// Why the disclosure notice cannot be read now (`None`: it can).
    fn disclosure_hidden(&self) -> Option<String> {
        match &*self.notice.borrow() {
            Notice::Page(banner) => banner.hidden_reason(),
            Notice::Host(Some(verdict)) => verdict_hidden_reason(verdict),
            Notice::Host(None) => Some(NO_HOST_VERDICT.into()),
            Notice::Closed => Some("the engine was closed".into()),
        }
    }

    /// As [`Self::disclosure_hidden`], for analysing a frame: a verdict from the page's thread
    /// is used up by it.
    fn disclosure_hidden_for_frame(&self) -> Option<String> {
        if let Notice::Host(verdict) = &mut *self.notice.borrow_mut() {
            return match verdict.take() {
                Some(verdict) => verdict_hidden_reason(&verdict),
                None => Some(NO_HOST_VERDICT.into()),
            };
        }
        self.disclosure_hidden()
    }

    fn check_alive(&self) -> Result<(), JsValue> {
        if PANICKED.load(Ordering::SeqCst) {
            return Err(named_error(
                ErrorName::EngineCrashedError,
                "the engine crashed earlier; reload the page",
            ));
        }
        if self.engine.is_closed() {
            return Err(js(GlanceError::Closed));
        }
        Ok(())
    }
}

/// Splits the JS options into the JSON document and the parts JSON cannot carry (model bytes
/// and callbacks).
/// The options document, the model sources and the banner's container: the parts that are JS
/// objects rather than JSON; and whether the notice is on the page's thread (`hostNotice`).
struct SplitOptions {
    options: EngineOptions,
    models: JsValue,
    banner_container: Option<web_sys::Element>,
    host_notice: bool,
}

fn split_options(options: &JsValue) -> Result<SplitOptions, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(SplitOptions {
            options: EngineOptions::default(),
            models: JsValue::UNDEFINED,
            banner_container: None,
            host_notice: false,
        });
    }
    let models = Reflect::get(options, &"models".into()).unwrap_or(JsValue::UNDEFINED);
    let host_notice = Reflect::get(options, &"hostNotice".into()).is_ok_and(|v| v.is_truthy());
    let data = Object::assign(&Object::new(), options.unchecked_ref());
    let _ = Reflect::delete_property(&data, &"models".into());
    let _ = Reflect::delete_property(&data, &"hostNotice".into());
    let mut banner_container = None;
    let banner = Reflect::get(&data, &"banner".into()).unwrap_or(JsValue::UNDEFINED);
    if banner.is_object() {
        let banner = Object::assign(&Object::new(), banner.unchecked_ref());
        let container = Reflect::get(&banner, &"container".into()).unwrap_or(JsValue::UNDEFINED);
        if !container.is_undefined() && !container.is_null() {
            banner_container =
                Some(container.dyn_into::<web_sys::Element>().map_err(|_| {
                    config_error("banner.container", "must be an element of the page")
                })?);
        }
        let _ = Reflect::delete_property(&banner, &"container".into());
        let _ = Reflect::set(&data, &"banner".into(), &banner);
    }
    let json = js_sys::JSON::stringify(&data)
        .map_err(|_| named_error(ErrorName::ConfigError, "options must be a plain object"))?
        .as_string()
        .unwrap_or_else(|| "{}".into());
    Ok(SplitOptions {
        options: EngineOptions::from_json(&json).map_err(js)?,
        models,
        banner_container,
        host_notice,
    })
}

/// `setOptions`' argument (a JSON string or object) as a merge patch.
fn options_patch(partial: &JsValue) -> Result<serde_json::Value, JsValue> {
    serde_json::from_str(&json_text(partial)?)
        .map_err(|e| named_error(ErrorName::ConfigError, &e.to_string()))
}

fn verdict_hidden_reason(verdict: &DisclosureStatus) -> Option<String> {
    match verdict {
        DisclosureStatus { visible: true, .. } => None,
        DisclosureStatus { reason, .. } => Some(
            reason
                .clone()
                .unwrap_or_else(|| "the disclosure notice cannot be read".into()),
        ),
    }
}

/// The banner options, required by every engine: checked before anything downloads.
fn required_banner(options: &EngineOptions) -> Result<BannerOptions, JsValue> {
    options.banner.clone().ok_or_else(|| {
        config_error(
            "banner",
            "the disclosure banner is required: give at least controller { name, contact } and noticeUrl",
        )
    })
}

fn now_or(now_ms: Option<f64>) -> f64 {
    now_ms.unwrap_or_else(js_sys::Date::now)
}

fn json_text(value: &JsValue) -> Result<String, JsValue> {
    match value.as_string() {
        Some(text) => Ok(text),
        None => js_sys::JSON::stringify(value)
            .map_err(|_| {
                named_error(
                    ErrorName::ConfigError,
                    "expected a JSON string or a plain object",
                )
            })?
            .as_string()
            .ok_or_else(|| {
                named_error(
                    ErrorName::ConfigError,
                    "expected a JSON string or a plain object",
                )
            }),
    }
}

/// The first backend of `order` that works, its pipeline, and why the ones before it failed.
async fn first_working_backend(
    order: &[Backend],
    weights: &ModelWeights,
    options: &PipelineOptions,
    source: &ModelSource,
) -> Result<(Backend, Pipeline, Vec<String>), JsValue> {
    let mut reasons = Vec::new();
    for &backend in order {
        match start_backend(backend, weights, options, source).await {
            Ok(pipeline) => return Ok((backend, pipeline, reasons)),
            Err(reason) => reasons.push(format!("{}: {reason}", backend.name())),
        }
    }
    Err(js(GlanceError::BackendUnavailable(reasons.join("; "))))
}

/// The pipeline on `backend`'s device. On WebGPU one blank frame compiles the shaders and
/// proves the backend works. The CPU has nothing to compile and is the last resort, so its
/// first frame is the first real one.
async fn start_backend(
    backend: Backend,
    weights: &ModelWeights,
    options: &PipelineOptions,
    source: &ModelSource,
) -> Result<Pipeline, String> {
    let device = match backend {
        Backend::Cpu => Ok(Device::flex()),
        #[cfg(feature = "webgpu")]
        Backend::WebGpu => webgpu::device().await,
        #[cfg(not(feature = "webgpu"))]
        Backend::WebGpu => Err("this build of Glance has no WebGPU backend".to_string()),
    }?;
    let pipeline = Pipeline::new(&device, weights, options.clone()).map_err(|e| e.to_string())?;
    let on = [("backend", JsValue::from_str(backend.name()))];
    source.progress("load", &on);
    if backend == Backend::WebGpu {
        let blank = vec![0u8; 64 * 64 * 4];
        let frame = Frame::from_rgba(64, 64, &blank).map_err(|e| e.to_string())?;
        pipeline
            .analyze(&frame, 0.0)
            .await
            .map_err(|e| e.to_string())?;
        source.progress("warmup", &on);
    }
    Ok(pipeline)
}

/// The audience engine: faces → audience → next ad, all on the device.
#[wasm_bindgen]
pub struct AudienceEngine {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl AudienceEngine {
    /// Loads the models, sets up the backend (`auto`: WebGPU, else CPU) and warms it up.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "GlanceOptions")] options: JsValue,
    ) -> Result<AudienceEngine, JsValue> {
        if PANICKED.load(Ordering::SeqCst) {
            return Err(named_error(
                ErrorName::EngineCrashedError,
                "the engine crashed earlier; reload the page",
            ));
        }
        let SplitOptions {
            options,
            models,
            banner_container,
            host_notice,
        } = split_options(&options)?;
        // Bad audience options or rules fail now, before the models download.
        EngineState::new(&options).map_err(js)?;
        let banner_options = required_banner(&options)?;
        // Shown from the start, also while the models load; removed again if creation fails.
        let notice = if host_notice {
            Notice::Host(None)
        } else {
            Notice::Page(Banner::mount(banner_options, banner_container)?)
        };
        let source = ModelSource::from_options(&models);
        let weights = source.load().await.map_err(js)?;
        let order: &[Backend] = match options.backend {
            BackendChoice::Auto => &[Backend::WebGpu, Backend::Cpu],
            BackendChoice::Webgpu => &[Backend::WebGpu],
            BackendChoice::Cpu => &[Backend::Cpu],
        };
        let (backend, pipeline, reasons) =
            first_working_backend(order, &weights, &options.pipeline, &source).await?;
        let setup = BackendSetup {
            backend,
            // A GPU engine keeps the weights to continue on the CPU if the GPU is lost.
            cpu_fallback_weights: (backend == Backend::WebGpu).then_some(weights),
            fallback_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        };
        let engine = Engine::new(pipeline, setup, options).map_err(js)?;
        let inner = Inner {
            engine,
            notice: RefCell::new(notice),
            busy: Cell::new(false),
            scratch: Scratch::default(),
        };
        Ok(AudienceEngine {
            inner: Rc::new(inner),
        })
    }

    /// Analyses one frame and adds it to the audience. Rejects with `EngineBusyError` while
    /// another frame is in flight. The frame's pixels are dropped before this resolves.
    #[wasm_bindgen(js_name = processFrame, unchecked_return_type = "FrameResult")]
    pub async fn process_frame(
        &self,
        #[wasm_bindgen(unchecked_param_type = "FrameSource")] source: JsValue,
        timestamp_ms: f64,
    ) -> Result<JsValue, JsValue> {
        let inner = self.inner.clone();
        inner.check_alive()?;
        if let Some(reason) = inner.disclosure_hidden_for_frame() {
            return Err(named_error(ErrorName::DisclosureHiddenError, &reason));
        }
        if inner.busy.replace(true) {
            return Err(named_error(
                ErrorName::EngineBusyError,
                "a frame is already being processed; skip this one",
            ));
        }
        let _in_flight = InFlight(&inner.busy);
        let read_started = Instant::now();
        let (width, height, rgba) = read_rgba(&source, &inner.scratch).map_err(js)?;
        let read_pixels_ms = elapsed_ms(read_started);
        let frame = Frame::from_rgba(width, height, &rgba).map_err(js)?;
        let mut result = inner
            .engine
            .process_frame(&frame, timestamp_ms)
            .await
            .map_err(js)?;
        // The pixels are gone before the result is handed over.
        drop(rgba);
        result.timings = result.timings.with_read_pixels(read_pixels_ms);
        to_js(&result)
    }

    /// The events since the last call (visit start/end, audience change), oldest first: the
    /// entry module dispatches them after every frame.
    #[wasm_bindgen(js_name = takeEvents, unchecked_return_type = "EngineEvent[]")]
    pub fn take_events(&self) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        to_js(&self.inner.engine.take_events())
    }

    /// Who is in front of the screen now.
    #[wasm_bindgen(unchecked_return_type = "AudienceSnapshot")]
    pub fn snapshot(&self) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        to_js(&self.inner.engine.snapshot())
    }

    /// The ad to play next, with the reason (which rule, which conditions held, what was skipped).
    #[wasm_bindgen(js_name = nextAd, unchecked_return_type = "Decision")]
    pub fn next_ad(&self, now_ms: Option<f64>) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        let decision = self.inner.engine.next_ad(now_or(now_ms)).map_err(js)?;
        to_js(&decision)
    }

    /// A rule that should interrupt the ad on screen now, or `null`.
    #[wasm_bindgen(js_name = shouldInterrupt, unchecked_return_type = "Decision | null")]
    pub fn should_interrupt(&self, now_ms: Option<f64>) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        let decision = self.inner.engine.interrupt(now_or(now_ms)).map_err(js)?;
        to_js(&decision)
    }

    /// Proof of play: an ad started. `playId` defaults to the ad id.
    #[wasm_bindgen(js_name = adStarted)]
    pub fn ad_started(
        &self,
        ad_id: &str,
        play_id: Option<String>,
        now_ms: Option<f64>,
    ) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        let play_id = play_id.unwrap_or_else(|| ad_id.to_string());
        self.inner
            .engine
            .ad_started(&play_id, ad_id, now_or(now_ms))
            .map_err(js)
    }

    /// Proof of play: an ad ended (`completed` false when it was interrupted).
    #[wasm_bindgen(js_name = adEnded)]
    pub fn ad_ended(
        &self,
        ad_id: &str,
        completed: bool,
        play_id: Option<String>,
        now_ms: Option<f64>,
    ) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        let play_id = play_id.unwrap_or_else(|| ad_id.to_string());
        self.inner
            .engine
            .ad_ended(&play_id, ad_id, now_or(now_ms), completed)
            .map_err(js)
    }

    /// Replaces the rules (a JSON string or object). Throws `RulesValidationError` with
    /// `issues` (JSON paths) and keeps the running rules when the document is not valid.
    #[wasm_bindgen(js_name = setRules)]
    pub fn set_rules(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | object")] rules: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        let text = json_text(&rules)?;
        self.inner.engine.set_rules(&text).map_err(js)
    }

    /// Changes options (a JSON merge patch: `null` restores a default). Pipeline options apply
    /// from the next frame; `backend` and `audience` are fixed at `create()`.
    #[wasm_bindgen(js_name = setOptions)]
    pub fn set_options(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Partial<GlanceOptions>")] partial: JsValue,
    ) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        let patch = options_patch(&partial)?;
        self.inner.engine.set_options(&patch).map_err(js)?;
        if patch.get("banner").is_some()
            && let (Notice::Page(banner), Some(options)) = (
                &mut *self.inner.notice.borrow_mut(),
                self.inner.engine.options().banner,
            )
        {
            banner.update(options);
        }
        Ok(())
    }

    /// For an engine created with `hostNotice: true` (in a Worker): whether the notice on the
    /// page's thread was readable just before the page took the next frame. Used by that frame.
    #[wasm_bindgen(js_name = setHostNotice, skip_typescript)]
    pub fn set_host_notice(&self, verdict: JsValue) -> Result<(), JsValue> {
        let verdict: DisclosureStatus = serde_wasm_bindgen::from_value(verdict)
            .map_err(|e| config_error("", format!("not a disclosure verdict: {e}")))?;
        if let Notice::Host(next) = &mut *self.inner.notice.borrow_mut() {
            *next = Some(verdict);
        }
        Ok(())
    }

    /// The audience report (k-anonymous); without `options`, everything up to now by hour.
    #[wasm_bindgen(unchecked_return_type = "AudienceReport")]
    pub fn report(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "ReportOptions")] options: Option<Object>,
    ) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        let options: ReportOptions = match options {
            None => ReportOptions::default(),
            Some(options) => serde_json::from_str(&json_text(&options.into())?)
                .map_err(|e| named_error(ErrorName::ConfigError, &e.to_string()))?,
        };
        to_js(&self.inner.engine.report(&options))
    }

    /// The fleet records that became final since the last call (audience minutes, proof of
    /// play; aggregates only), for the page's outbox. `flush` closes every minute up to now
    /// (after `endVisits`). Take them just before `saveState()` and persist both together: the
    /// state remembers which records were made.
    #[wasm_bindgen(js_name = takeRecords, unchecked_return_type = "FleetRecord[]")]
    pub fn take_records(&self, screen_id: &str, flush: Option<bool>) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        let records = self
            .inner
            .engine
            .take_records(screen_id, flush.unwrap_or(false))
            .map_err(js)?;
        to_js(&records)
    }

    /// Ends every visit now, as if everyone had left (before a final flush of the records, or
    /// when analysis stops for good); their `visitend` events follow with the next frame's.
    #[wasm_bindgen(js_name = endVisits)]
    pub fn end_visits(&self, now_ms: Option<f64>) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        self.inner.engine.finish(now_or(now_ms));
        Ok(())
    }

    /// Aggregates only (JSON), for the page to persist; never per-person data or pixels.
    #[wasm_bindgen(js_name = saveState)]
    pub fn save_state(&self) -> Result<String, JsValue> {
        self.inner.check_alive()?;
        Ok(self.inner.engine.save_state())
    }

    /// Restores what `saveState` returned (after a reload).
    #[wasm_bindgen(js_name = restoreState)]
    pub fn restore_state(&self, state: &str) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        self.inner.engine.restore_state(state).map_err(js)
    }

    /// The backend running the networks: `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter, unchecked_return_type = "\"webgpu\" | \"cpu\"")]
    pub fn backend(&self) -> String {
        self.inner.engine.backend().name().to_string()
    }

    /// Why the preferred backend is not the one running, if it is not.
    #[wasm_bindgen(getter, js_name = fallbackReason)]
    pub fn fallback_reason(&self) -> Option<String> {
        self.inner.engine.fallback_reason()
    }

    /// Bytes of WebAssembly memory the engine's module holds (in the worker, where it runs
    /// there). It grows to the largest frame's and crowd's need and is never given back, so it
    /// levels off: one that keeps growing over a steady camera is a leak.
    #[wasm_bindgen(getter, js_name = memoryBytes)]
    pub fn memory_bytes(&self) -> f64 {
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length() as f64
    }

    /// A frame is being processed.
    #[wasm_bindgen(getter)]
    pub fn busy(&self) -> bool {
        self.inner.busy.get()
    }

    /// Whether the disclosure notice can be read now, and if not, why.
    #[wasm_bindgen(getter, unchecked_return_type = "DisclosureStatus")]
    pub fn disclosure(&self) -> Result<JsValue, JsValue> {
        let reason = self.inner.disclosure_hidden();
        to_js(&DisclosureStatus {
            visible: reason.is_none(),
            reason,
        })
    }

    /// The engine's worker only: the fine scan's bands go to a second worker's
    /// [`FineScanner`] (`true`), or are scanned here after each frame (`false`, the default).
    #[wasm_bindgen(js_name = handOutFineScan, skip_typescript)]
    pub fn hand_out_fine_scan(&self, on: bool) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        self.inner.engine.hand_out_fine_scan(on);
        Ok(())
    }

    /// The engine's worker only: the band cut from the last frame for the [`FineScanner`] (its
    /// fields, and `pixels`, a `Uint8Array` of its own to transfer), or `undefined`.
    #[wasm_bindgen(js_name = takeFineScanBand, skip_typescript)]
    pub fn take_fine_scan_band(&self) -> Result<JsValue, JsValue> {
        self.inner.check_alive()?;
        let Some(band) = self.inner.engine.take_fine_scan_band() else {
            return Ok(JsValue::UNDEFINED);
        };
        let value = to_js(&band)?;
        let pixels = js_sys::Uint8Array::from(band.pixels.as_slice());
        Reflect::set(&value, &"pixels".into(), &pixels)?;
        Ok(value)
    }

    /// The engine's worker only: the detections the [`FineScanner`] found in the band cut from
    /// the frame at `timestampMs`, before the frame they join (`joinsAtMs`).
    #[wasm_bindgen(js_name = joinFineScan, skip_typescript)]
    pub fn join_fine_scan(&self, timestamp_ms: f64, detections: JsValue) -> Result<(), JsValue> {
        self.inner.check_alive()?;
        let detections: Vec<Detection> =
            serde_wasm_bindgen::from_value(detections).map_err(|e| {
                js(GlanceError::InvalidFrame(format!(
                    "fine scan detections: {e}"
                )))
            })?;
        let sane = detections.len() <= MAX_SCANNED_DETECTIONS
            && detections.iter().all(|d| {
                d.score.is_finite()
                    && d.bbox.iter().all(|v| v.is_finite())
                    && d.keypoints.iter().flatten().all(|v| v.is_finite())
            });
        if !sane {
            return Err(js(GlanceError::InvalidFrame(format!(
                "fine scan detections must be at most {MAX_SCANNED_DETECTIONS}, with finite numbers"
            ))));
        }
        self.inner.engine.join_fine_scan(timestamp_ms, detections);
        Ok(())
    }

    /// Releases the networks and removes the notice. Later calls reject with `EngineClosedError`.
    pub fn close(&self) {
        self.inner.engine.close();
        *self.inner.notice.borrow_mut() = Notice::Closed;
    }
}

/// Most detections a band's scan may return (a crowd of 100 faces is `maxFaces`'s limit).
const MAX_SCANNED_DETECTIONS: usize = 4096;

/// The fine scan alone, in a second worker beside the engine's (see `worker.js`): CenterFace
/// on the CPU, scanning the bands the engine hands out, so that a frame never waits for them.
#[wasm_bindgen(skip_typescript)]
pub struct FineScanner {
    scanner: crate::vision::fine_scan::FineScanner,
}

#[wasm_bindgen]
impl FineScanner {
    /// Loads CenterFace's weights from `options.models` (as `AudienceEngine.create` does).
    pub async fn create(options: JsValue) -> Result<FineScanner, JsValue> {
        let models = Reflect::get(&options, &"models".into()).unwrap_or(JsValue::UNDEFINED);
        let source = ModelSource::from_options(&models);
        let bytes = source.file(CENTERFACE).await.map_err(js)?;
        #[cfg(feature = "embed-models")]
        let bytes = match bytes.is_empty() {
            true => ModelWeights::embedded().centerface,
            false => burn::tensor::Bytes::from_bytes_vec(bytes),
        };
        #[cfg(not(feature = "embed-models"))]
        let bytes = burn::tensor::Bytes::from_bytes_vec(bytes);
        let network = CenterFace::load(&Device::flex(), &bytes).map_err(js)?;
        Ok(FineScanner {
            scanner: crate::vision::fine_scan::FineScanner::new(network),
        })
    }

    /// The band's detections (`takeFineScanBand`'s object, its pixels included), in frame
    /// pixels. The pixels are dropped before this resolves.
    pub async fn scan(&self, band: JsValue) -> Result<JsValue, JsValue> {
        let mut parsed: FineScanBand = serde_wasm_bindgen::from_value(band.clone())
            .map_err(|e| js(GlanceError::InvalidFrame(format!("fine scan band: {e}"))))?;
        let pixels = Reflect::get(&band, &"pixels".into())?;
        let pixels = pixels.dyn_ref::<js_sys::Uint8Array>().ok_or_else(|| {
            js(GlanceError::InvalidFrame(
                "fine scan band: its pixels must be a Uint8Array".into(),
            ))
        })?;
        parsed.pixels = pixels.to_vec();
        let detections = self.scanner.scan(&parsed).await.map_err(js)?;
        drop(parsed);
        to_js(&detections)
    }
}

/// The disclosure notice alone, on the page's thread, for an engine running in a Worker (the
/// entry module's worker path): checks the options as `AudienceEngine.create` does, shows the
/// notice and measures it before each frame is taken.
#[wasm_bindgen(skip_typescript)]
pub struct DisclosureNotice {
    options: RefCell<EngineOptions>,
    banner: RefCell<Option<Banner>>,
}

#[wasm_bindgen]
impl DisclosureNotice {
    /// Shows the notice the engine `options` describe (all of them checked, so that a bad
    /// option fails here, before a worker starts).
    pub fn mount(options: JsValue) -> Result<DisclosureNotice, JsValue> {
        let SplitOptions {
            options,
            banner_container,
            ..
        } = split_options(&options)?;
        EngineState::new(&options).map_err(js)?;
        let banner = Banner::mount(required_banner(&options)?, banner_container)?;
        Ok(DisclosureNotice {
            options: RefCell::new(options),
            banner: RefCell::new(Some(banner)),
        })
    }

    /// Whether the notice can be read now, and if not, why.
    pub fn status(&self) -> Result<JsValue, JsValue> {
        let reason = match self.banner.borrow().as_ref() {
            Some(banner) => banner.hidden_reason(),
            None => Some("the engine was closed".into()),
        };
        to_js(&DisclosureStatus {
            visible: reason.is_none(),
            reason,
        })
    }

    /// The same options patch the engine took: re-rendered when it changes the banner.
    #[wasm_bindgen(js_name = setOptions)]
    pub fn set_options(&self, partial: JsValue) -> Result<(), JsValue> {
        let patch = options_patch(&partial)?;
        let updated = self.options.borrow().patched(&patch).map_err(js)?;
        if patch.get("banner").is_some()
            && let (Some(banner), Some(options)) =
                (self.banner.borrow_mut().as_mut(), updated.banner.clone())
        {
            banner.update(options);
        }
        *self.options.borrow_mut() = updated;
        Ok(())
    }

    /// Removes the notice.
    pub fn close(&self) {
        self.banner.borrow_mut().take();
    }
}
