//! Glance: on-device, privacy-first audience measurement for digital signage.
//!
//! - [`vision`]: faces, age, gender, head pose, gaze and distance from a frame (burn networks).
//! - [`analysis`]: the plain per-frame result types everything downstream consumes.
//! - [`frame`]: validated frames and the crop/resize used to feed the networks.
//! - [`audience`]: anonymous tracking, attention geometry, DOOH metrics and reports (no burn).
//! - [`rules`]: the marketers' rule language, decisions with reasons, and the simulator (no burn).
//! - [`engine`]: options, frame clock, audience and rules together, as the browser engine uses them.
//! - [`fleet`]: the records a screen sends to its network's store (audience minutes, proof of
//!   play, heartbeats) and the batch reader the ingest service checks them with.
//!
//! # What hosts use
//!
//! The crate's hosts are the browser binding (`web`, in this crate), the `glance` CLI, the
//! fleet's ingest service (`fleet/ingest`) and the benches and tools. What they name:
//! - running the engine: [`engine::Engine`] with [`engine::EngineOptions`] and
//!   [`engine::BackendSetup`]; [`vision::Pipeline`], [`vision::PipelineOptions`],
//!   [`vision::ModelWeights`] (and `vision::cpu_pipeline` with the embedded weights);
//!   [`frame::Frame`], and natively `media::load_image` and `media::Y4mReader` (a clip's frames
//!   with their times);
//! - results: [`analysis::FrameAnalysis`] and [`analysis::FaceAnalysis`];
//!   [`audience::AudienceSnapshot`], [`audience::AudienceReport`] with
//!   [`audience::ReportOptions`], [`audience::CompletedVisit`], the engine's
//!   [`engine::EngineEvent`]s; [`rules::Decision`] with its reason;
//! - rules without an engine: [`rules::parse_rules`], [`rules::ValidationIssue`],
//!   [`engine::validate_rules`], [`engine::simulate_rules`], `rules::run_simulate_cli`;
//! - the fleet: [`fleet::Record`] and its kinds, [`fleet::parse_batch`], `fleet::push::Pusher`;
//!   exports of plays ([`audience::ExportScreen`] and the vendors' formats);
//! - [`schema::api_schema`], from which the package's TypeScript declarations are generated;
//! - errors: [`GlanceError`] and [`error::ErrorName`].
//!
//! The vision kernels, networks and post-processing (`vision::conv`, `vision::networks`,
//! `vision::detector`, `vision::centerface`, ...) are public for the speed benches and the
//! evaluation tools only.

pub mod analysis;
pub mod audience;
pub mod disclosure;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod frame;
pub mod json_shape;
#[cfg(not(target_arch = "wasm32"))]
pub mod media;
pub mod rules;
pub mod schema;
pub mod vision;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{GlanceError, Result};
