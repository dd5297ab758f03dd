//! The frame loop every host shares (the CLI's `audience`, the browser binding): clamp the
//! clock, apply pending options, plan the attribute models, analyse, fall back to the CPU when
//! the GPU is lost, observe. Hosts only turn their input into a [`Frame`] and the outcome into
//! their output; the DOM, devices and JS conversion stay in `web`.
//!
//! Every method takes `&self`: a host's other calls (snapshot, rules, options) may run while a
//! frame is being analysed, so the state is borrowed only for moments, never across an await.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;

use burn::tensor::Device;

use super::{EngineOptions, EngineState, FrameTime};
use crate::analysis::FrameAnalysis;
use crate::error::{GlanceError, Result};
use crate::frame::Frame;
use crate::vision::timings::{FrameTimings, Instant, elapsed_ms};
use crate::vision::{ModelWeights, Pipeline};

/// The compute backend a pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What one frame gave.
#[derive(Debug)]
pub struct ProcessedFrame {
    pub analysis: FrameAnalysis,
    /// The backend that analysed the frame.
    pub backend: Backend,
    /// The timestamp used, after clamping.
    pub time: FrameTime,
    /// The GPU was lost on this frame and the CPU analysed it instead.
    pub backend_changed: bool,
    /// Where the frame's time went (the host adds its own `readPixels`).
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
    /// An engine around a pipeline already set up on `backend`. `fallback_weights` lets a GPU
    /// engine continue on the CPU when the GPU is lost; `fallback_reason` says why the preferred
    /// backend is not the one running, if it is not.
    pub fn new(
        pipeline: Pipeline,
        backend: Backend,
        fallback_weights: Option<ModelWeights>,
        options: EngineOptions,
        fallback_reason: Option<String>,
    ) -> Result<Self> {
        let state = EngineState::new(&options)?;
        Ok(Engine {
            pipeline: RefCell::new(Some(Rc::new(pipeline))),
            fallback_weights,
            options: RefCell::new(options),
            options_pending: Cell::new(false),
            backend: Cell::new(backend),
            fallback_reason: RefCell::new(fallback_reason),
            state: RefCell::new(state),
        })
    }

    /// Analyses one frame and adds it to the audience.
    pub async fn process_frame(
        &self,
        frame: &Frame<'_>,
        timestamp_ms: f64,
    ) -> Result<ProcessedFrame> {
        let pipeline = self.pipeline.borrow().clone().ok_or(GlanceError::Closed)?;
        let time = self.state.borrow_mut().clamp_timestamp(timestamp_ms);
        let pipeline = self.apply_pending_options(pipeline)?;
        let ts = time.timestamp_ms;
        // Stable tracks get the age/gender model only at the audience's attribute cadence.
        let plan = |faces: &[crate::analysis::FaceAnalysis]| {
            self.state.borrow().plan_attributes(ts, faces)
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
        Ok(ProcessedFrame {
            analysis,
            backend: self.backend.get(),
            time,
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

    pub fn options(&self) -> Ref<'_, EngineOptions> {
        self.options.borrow()
    }

    /// The audience and rules, for reading (snapshot, report, decisions need `state_mut`).
    pub fn state(&self) -> Ref<'_, EngineState> {
        self.state.borrow()
    }

    pub fn state_mut(&self) -> RefMut<'_, EngineState> {
        self.state.borrow_mut()
    }

    pub fn backend(&self) -> Backend {
        self.backend.get()
    }

    /// Why the preferred backend is not the one running, if it is not.
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.borrow().clone()
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

#[cfg(all(test, feature = "flex", feature = "embed-models"))]
mod tests {
    use super::*;
    use crate::vision::cpu_pipeline;

    fn engine(options: EngineOptions) -> Engine {
        let pipeline = cpu_pipeline(options.pipeline.clone()).unwrap();
        Engine::new(pipeline, Backend::Cpu, None, options, None).unwrap()
    }

    fn grey(width: u32, height: u32) -> Vec<u8> {
        vec![128; (width * height * 4) as usize]
    }

    #[test]
    fn a_frame_is_clamped_analysed_and_observed() {
        let engine = engine(EngineOptions::default());
        let px = grey(64, 48);
        let frame = Frame::from_rgba(64, 48, &px).unwrap();
        let first = pollster::block_on(engine.process_frame(&frame, 1000.0)).unwrap();
        assert_eq!(first.backend, Backend::Cpu);
        assert!(!first.time.clamped && !first.backend_changed);
        assert!(first.analysis.faces.is_empty());
        // A clock that goes backwards is clamped to the last time, never rejected.
        let second = pollster::block_on(engine.process_frame(&frame, 500.0)).unwrap();
        assert!(second.time.clamped);
        assert_eq!(second.time.timestamp_ms, 1000.0);
        assert_eq!(engine.state().snapshot().present, 0);
    }

    #[test]
    fn options_apply_from_the_next_frame_and_a_bad_patch_changes_nothing() {
        let engine = engine(EngineOptions::default());
        let px = grey(64, 48);
        let frame = Frame::from_rgba(64, 48, &px).unwrap();
        engine
            .set_options(&serde_json::json!({"pipeline": {"maxFaces": 2}}))
            .unwrap();
        assert_eq!(engine.options().pipeline.max_faces, 2);
        pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap();
        assert!(!engine.options_pending.get(), "applied before the frame");
        let err = engine
            .set_options(&serde_json::json!({"pipeline": {"maxFaces": "many"}}))
            .unwrap_err();
        assert_eq!(err.kind(), "ConfigError");
        assert_eq!(engine.options().pipeline.max_faces, 2);
        assert!(!engine.options_pending.get());
    }

    #[test]
    fn a_frame_says_where_its_time_went() {
        let astronaut =
            image::load_from_memory(include_bytes!("../../tests/fixtures/astronaut.jpg"))
                .unwrap()
                .into_rgba8();
        let (width, height) = astronaut.dimensions();
        let frame = Frame::from_rgba(width, height, astronaut.as_raw()).unwrap();
        // Video mode: the detectors run on the first frame and rest on the next.
        let engine = engine(EngineOptions {
            pipeline: crate::vision::PipelineOptions {
                detection_interval_ms: 1000.0,
                ..Default::default()
            },
            ..Default::default()
        });
        let first = pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap();
        assert_eq!(first.analysis.faces.len(), 1);
        let t = first.timings;
        assert!(
            t.detection > 0.0 && t.mesh > 0.0 && t.irises > 0.0 && t.age_gender > 0.0,
            "{t:?}"
        );
        let stages = t.detection
            + t.fine_scan
            + t.confirmation
            + t.mesh
            + t.irises
            + t.age_gender
            + t.other
            + t.audience;
        assert!((t.total - stages).abs() < 1e-9, "{t:?}");
        assert_eq!(t.read_pixels, 0.0, "the host's to add");
        let second = pollster::block_on(engine.process_frame(&frame, 66.0)).unwrap();
        assert_eq!(second.analysis.faces.len(), 1);
        assert_eq!(second.timings.detection, 0.0, "the detectors rest");
        assert!(
            second.timings.mesh > 0.0,
            "the face is followed by its mesh"
        );
    }

    #[test]
    fn a_closed_engine_analyses_nothing() {
        let engine = engine(EngineOptions::default());
        engine.close();
        assert!(engine.is_closed());
        let px = grey(8, 8);
        let frame = Frame::from_rgba(8, 8, &px).unwrap();
        let err = pollster::block_on(engine.process_frame(&frame, 0.0)).unwrap_err();
        assert_eq!(err.kind(), "EngineClosedError");
    }
}
