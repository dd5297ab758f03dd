//! Where a frame's time goes, stage by stage: the figures the benches print and every frame
//! result carries, so a slow frame can be read for its cause on the machine it ran on.

use serde::Serialize;
pub(crate) use web_time::Instant;

/// One frame's time by stage, in milliseconds; a stage that did not run is 0, and each includes
/// cutting its own crops from the frame and decoding its outputs. Measured on the
/// engine's thread by the platform's clock (`performance.now()` in a browser, which may round to
/// 0.1 ms or coarser); with WebGPU a stage's time includes waiting for its results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameTimings {
    /// Copying the host's frame (video, bitmap or `ImageData`) into the engine.
    pub read_pixels: f64,
    /// The whole-frame face detectors (BlazeFace full and short range).
    pub detection: f64,
    /// CenterFace's fine scan for far faces (a band or the whole frame, on the frames it runs).
    pub fine_scan: f64,
    /// Second looks that confirm small detections, and finding faces followed by their box.
    pub confirmation: f64,
    /// The face mesh (landmarks, presence, head pose) on the analysed faces.
    pub mesh: f64,
    /// The iris network, on both eyes of each analysed face.
    pub irises: f64,
    /// The age/gender network on the faces scheduled for it.
    pub age_gender: f64,
    /// The rest of the pipeline: merging detections, geometry, following faces between frames.
    pub other: f64,
    /// Tracking, attention, aggregation and events.
    pub audience: f64,
    /// The whole frame: the sum of the stages above.
    pub total: f64,
}

/// A stage of the pipeline, timed by [`FrameTimings::add`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage {
    Detection,
    FineScan,
    Confirmation,
    Mesh,
    Irises,
    AgeGender,
}

impl FrameTimings {
    /// Adds the time since `started` to `stage`.
    pub(crate) fn add(&mut self, stage: Stage, started: Instant) {
        let slot = match stage {
            Stage::Detection => &mut self.detection,
            Stage::FineScan => &mut self.fine_scan,
            Stage::Confirmation => &mut self.confirmation,
            Stage::Mesh => &mut self.mesh,
            Stage::Irises => &mut self.irises,
            Stage::AgeGender => &mut self.age_gender,
        };
        *slot += elapsed_ms(started);
    }

    /// Closes the pipeline's part: `other` is what its timed stages leave of `pipeline_ms`.
    pub(crate) fn close_pipeline(&mut self, pipeline_ms: f64) {
        let staged = self.detection
            + self.fine_scan
            + self.confirmation
            + self.mesh
            + self.irises
            + self.age_gender;
        self.other = (pipeline_ms - staged).max(0.0);
        self.total = staged + self.other;
    }

    /// Adds a host's or the audience's share (already measured) to the total.
    pub fn with_read_pixels(mut self, ms: f64) -> Self {
        self.read_pixels = ms;
        self.total += ms;
        self
    }

    pub(crate) fn with_audience(mut self, ms: f64) -> Self {
        self.audience = ms;
        self.total += ms;
        self
    }
}

/// Milliseconds since `started`.
pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
