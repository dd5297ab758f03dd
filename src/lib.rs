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
