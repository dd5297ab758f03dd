//! The vision core: networks (burn), their pre- and post-processing, and the face geometry.

pub mod attributes;
pub mod centerface;
pub mod conv;
pub mod detector;
pub mod fine_scan;
pub mod geometry;
pub mod models;
pub mod networks;
pub mod pipeline;
pub mod pool;
pub(crate) mod timings;
pub mod weights;

pub use detector::{DetectorChoice, DetectorModel};
pub use networks::{ModelWeights, Networks};
#[cfg(all(feature = "flex", feature = "embed-models"))]
pub use pipeline::cpu_pipeline;
pub use pipeline::{Pipeline, PipelineOptions};
pub use timings::FrameTimings;
