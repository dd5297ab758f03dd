//! The engine in plain Rust, so it is tested natively: [`Engine`], the frame loop every host
//! shares (the CLI's `audience`, the browser binding): clamp the clock, apply pending options,
//! plan the attribute models, analyse, fall back to the CPU when the GPU is lost, observe.
//! Hosts only turn their input into a [`Frame`] and the outcome into their output; the DOM,
//! devices and JS conversion stay in `web`.
//!
//! Every method takes `&self`: a host's other calls (snapshot, rules, options) may run while a
//! frame is being analysed, so the state is borrowed only for moments, never across an await,
//! and only here: hosts call the engine's methods.
//!
//! Files: this one (the engine), `options` (the options document), `state` (frame clock,
//! audience and rules; the events and results a host is given), `tools` (rules and reports
//! without an engine).

mod options;
mod state;
#[cfg(test)]
mod tests;
mod tools;

pub use options::{BackendChoice, EngineOptions};
pub use state::{EngineEvent, EngineState, MAX_QUEUED_EVENTS, VisitEnd, VisitStart};
pub use tools::{report_from_state, simulate_rules, validate_rules};

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;

use crate::analysis::FrameAnalysis;
use crate::audience::{AudienceReport, AudienceSnapshot, CompletedVisit, ReportOptions};
use crate::error::{GlanceError, Result};
use crate::fleet::Record;
use crate::frame::Frame;
use crate::rules::Decision;
use crate::vision::detector::Detection;
use crate::vision::fine_scan::FineScanBand;
use crate::vision::timings::{FrameTimings, Instant, elapsed_ms};
use crate::vision::{ModelWeights, Pipeline};

/// The compute backend a pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    /// The name hosts report: `"webgpu"` or `"cpu"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

/// The backend an engine starts on, and what it falls back with.
#[derive(Debug)]
pub struct BackendSetup {
    pub backend: Backend,
    /// What a CPU pipeline is built from if the GPU is lost (a GPU engine's; `None` on the CPU).
    pub cpu_fallback_weights: Option<ModelWeights>,
    /// Why the preferred backend is not the one running, if it is not.
    pub fallback_reason: Option<String>,
}

impl BackendSetup {
    /// The CPU, chosen: nothing to fall back to, and nothing to explain.
    pub fn cpu() -> Self {
        BackendSetup {
            backend: Backend::Cpu,
            cpu_fallback_weights: None,
            fallback_reason: None,
        }
    }
}

/// What one frame gave, as every host gets it (the browser's `processFrame` result).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameResult {
    /// The faces, at the frame's time after clamping (`timestampMs`).
    #[serde(flatten)]
    pub analysis: FrameAnalysis,
    /// The backend that analysed this frame.
    pub backend: Backend,
    /// The host's timestamp went backwards (or was not a number) and was replaced.
    pub timestamp_clamped: bool,
    /// The GPU was lost on this frame and the CPU backend analysed it instead.
    pub backend_changed: bool,
    /// Where this frame's time went, milliseconds by stage (a host adds its own `readPixels`).
    #[serde(rename = "timingsMs")]
    pub timings: FrameTimings,
}

/// The engine: networks, options and audience state, for every host.
pub struct Engine {
    /// `None` once closed. Shared with a frame in flight, so closing never waits for one.
    pipeline: RefCell<Option<Rc<Pipeline>>>,
    /// What a CPU pipeline is built from when the GPU is lost (`None` on the CPU already).
    fallback_weights: Option<ModelWeights>,
    options: RefCell<EngineOptions>,
    /// The pipeline options changed; applied before the next frame.
    options_pending: Cell<bool>,
    backend: Cell<Backend>,
    fallback_reason: RefCell<Option<String>>,
    state: RefCell<EngineState>,
}

impl Engine {
    /// An engine around a pipeline already set up on `setup.backend`.
    pub fn new(pipeline: Pipeline, setup: BackendSetup, options: EngineOptions) -> Result<Self> {
        let state = EngineState::new(&options)?;
        Ok(Engine {
            pipeline: RefCell::new(Some(Rc::new(pipeline))),
            fallback_weights: setup.cpu_fallback_weights,
            options: RefCell::new(options),
            options_pending: Cell::new(false),
            backend: Cell::new(setup.backend),
            fallback_reason: RefCell::new(setup.fallback_reason),
            state: RefCell::new(state),
        })
    }

    /// Analyses one frame and adds it to the audience.
    pub async fn process_frame(&self, frame: &Frame<'_>, timestamp_ms: f64) -> Result<FrameResult> {
        let pipeline = self.pipeline.borrow().clone().ok_or(GlanceError::Closed)?;
        let time = self.state.borrow_mut().clamp_timestamp(timestamp_ms);
        let pipeline = self.apply_pending_options(pipeline)?;
        let ts = time.timestamp_ms;
        // Stable tracks get the age/gender model only at the audience's attribute cadence.
        let plan = |faces: &[crate::analysis::FaceAnalysis], eligible: &[bool]| {
            self.state.borrow().plan_attributes(ts, faces, eligible)
        };
        let (analysis, backend_changed, timings) =
            match pipeline.analyze_scheduled(frame, ts, plan).await {
                Err(GlanceError::BackendUnavailable(reason))
                    if self.backend.get() == Backend::WebGpu && self.fallback_weights.is_some() =>
                {
                    let cpu = self.fall_back_to_cpu(reason)?;
                    let analysis = cpu.analyze_scheduled(frame, ts, plan).await?;
                    (analysis, true, cpu.last_timings())
                }
                other => (other?, false, pipeline.last_timings()),
            };
        let audience_started = Instant::now();
        self.state.borrow_mut().observe(&analysis);
        Ok(FrameResult {
            analysis,
            backend: self.backend.get(),
            timestamp_clamped: time.clamped,
            backend_changed,
            timings: timings.with_audience(elapsed_ms(audience_started)),
        })
    }

    /// Changes options (a JSON merge patch: `null` restores a default). Pipeline options apply
    /// from the next frame; `backend` and `audience` are fixed. On any error nothing changes.
    pub fn set_options(&self, patch: &serde_json::Value) -> Result<()> {
        let updated = self.options.borrow().patched(patch)?;
        if let Some(rules) = patch.get("rules").filter(|r| !r.is_null()) {
            self.state.borrow_mut().set_rules(&rules.to_string())?;
        }
        *self.options.borrow_mut() = updated;
        self.options_pending.set(true);
        Ok(())
    }

    /// The options now (a copy: hosts never hold the engine's cells).
    pub fn options(&self) -> EngineOptions {
        self.options.borrow().clone()
    }

    /// Who is in front of the screen now.
    pub fn snapshot(&self) -> AudienceSnapshot {
        self.state.borrow().snapshot()
    }

    /// The events since the last call (visit start and end, audience change), oldest first.
    pub fn take_events(&self) -> Vec<EngineEvent> {
        self.state.borrow_mut().take_events()
    }

    /// The ad to play next, with the reason.
    pub fn next_ad(&self, now_ms: f64) -> Result<Decision> {
        self.state.borrow_mut().next_ad(now_ms)
    }

    /// A rule that should interrupt the ad on screen now, if any.
    pub fn interrupt(&self, now_ms: f64) -> Result<Option<Decision>> {
        self.state.borrow_mut().interrupt(now_ms)
    }

    /// Proof of play: an ad started.
    pub fn ad_started(&self, play_id: &str, ad_id: &str, now_ms: f64) -> Result<()> {
        self.state.borrow_mut().ad_started(play_id, ad_id, now_ms)
    }

    /// Proof of play: an ad ended (`completed` false when it was interrupted).
    pub fn ad_ended(&self, play_id: &str, ad_id: &str, now_ms: f64, completed: bool) -> Result<()> {
        self.state
            .borrow_mut()
            .ad_ended(play_id, ad_id, now_ms, completed)
    }

    /// Replaces the rules; on an invalid document the running rules stay.
    pub fn set_rules(&self, json: &str) -> Result<()> {
        self.state.borrow_mut().set_rules(json)
    }

    /// The audience report (k-anonymous).
    pub fn report(&self, options: &ReportOptions) -> AudienceReport {
        self.state.borrow().report(options)
    }

    /// The fleet records that became final since the last call; `flush` closes every minute.
    pub fn take_records(&self, screen_id: &str, flush: bool) -> Result<Vec<Record>> {
        self.state.borrow_mut().take_records(screen_id, flush)
    }

    /// Ends every visit at `end_ms`, as if everyone had left.
    pub fn finish(&self, end_ms: f64) {
        self.state.borrow_mut().finish(end_ms)
    }

    /// Keeps each completed visit for [`Engine::take_completed_visits`] (evaluation only).
    pub fn keep_completed_visits(&self) {
        self.state.borrow_mut().keep_completed_visits()
    }

    /// The visits completed since the last call, if they are kept.
    pub fn take_completed_visits(&self) -> Vec<CompletedVisit> {
        self.state.borrow_mut().take_completed_visits()
    }

    /// The aggregates (JSON), for the host to persist.
    pub fn save_state(&self) -> String {
        self.state.borrow().save_state()
    }

    /// Restores what [`Engine::save_state`] returned.
    pub fn restore_state(&self, saved: &str) -> Result<()> {
        self.state.borrow_mut().restore_state(saved)
    }

    pub fn backend(&self) -> Backend {
        self.backend.get()
    }

    /// Why the preferred backend is not the one running, if it is not.
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.borrow().clone()
    }

    /// Bands of the fine scan go to the host to scan (see [`Pipeline::hand_out_fine_scan`]).
    pub fn hand_out_fine_scan(&self, on: bool) {
        if let Some(pipeline) = self.pipeline.borrow().as_ref() {
            pipeline.hand_out_fine_scan(on);
        }
    }

    /// The band cut from the last frame for the host to scan, if any.
    pub fn take_fine_scan_band(&self) -> Option<FineScanBand> {
        self.pipeline.borrow().as_ref()?.take_fine_scan_band()
    }

    /// A band's detections, scanned by the host (see [`Pipeline::join_fine_scan`]).
    pub fn join_fine_scan(&self, timestamp_ms: f64, detections: Vec<Detection>) {
        if let Some(pipeline) = self.pipeline.borrow().as_ref() {
            pipeline.join_fine_scan(timestamp_ms, detections);
        }
    }

    /// Releases the networks; later frames fail with [`GlanceError::Closed`].
    pub fn close(&self) {
        self.pipeline.borrow_mut().take();
    }

    pub fn is_closed(&self) -> bool {
        self.pipeline.borrow().is_none()
    }

    /// The pipeline with the latest options. Options are changed in place when no frame holds
    /// the pipeline; otherwise (a frame in flight, which `web` prevents) the change waits.
    fn apply_pending_options(&self, pipeline: Rc<Pipeline>) -> Result<Rc<Pipeline>> {
        if !self.options_pending.get() {
            return Ok(pipeline);
        }
        drop(pipeline);
        let options = self.options.borrow().pipeline.clone();
        let mut slot = self.pipeline.borrow_mut();
        let current = slot.as_mut().ok_or(GlanceError::Closed)?;
        if let Some(pipeline) = Rc::get_mut(current) {
            pipeline.set_options(options)?;
            self.options_pending.set(false);
        }
        Ok(current.clone())
    }

    /// The GPU failed at run time: continue on the CPU for good (burn's WebGPU runtime cannot
    /// be set up again in this page).
    fn fall_back_to_cpu(&self, reason: String) -> Result<Rc<Pipeline>> {
        let weights = self
            .fallback_weights
            .as_ref()
            .ok_or_else(|| GlanceError::BackendUnavailable(reason.clone()))?;
        let options = self.options.borrow().pipeline.clone();
        let pipeline = Rc::new(Pipeline::new(&Device::flex(), weights, options)?);
        *self.pipeline.borrow_mut() = Some(pipeline.clone());
        self.backend.set(Backend::Cpu);
        *self.fallback_reason.borrow_mut() = Some(reason);
        Ok(pipeline)
    }
}
