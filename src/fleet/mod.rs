//! The fleet path: what a screen sends to its network's store, and how a batch of it is read.
//! The plan and the operator's guide are in `docs/fleet.md`.
//!
//! - [`records`]: the record types (per-minute audience, proof of play, heartbeats), their ids
//!   and the batch reader the ingest service validates with.
//! - The engine makes the records ([`crate::engine::EngineState::take_records`]); hosts queue
//!   them (the kiosk's outbox, the CLI's `--push` by [`push`]) and send them as NDJSON batches.

#[cfg(not(target_arch = "wasm32"))]
pub mod push;
pub mod records;

pub use records::{
    AudienceCell, AudienceMinute, CameraState, CellGender, HealthBackend, Heartbeat, ProofOfPlay,
    RECORD_SCHEMA_VERSION, Record, RecordError, RulesHealth, RulesSource, ScreenHealth,
    parse_batch,
};
