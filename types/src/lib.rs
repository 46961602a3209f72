//! Autonoma's records as they travel on the wire and sit in the store: tenants and members,
//! provider connections, agents and their versions, runs and their events, knowledge bases,
//! and the request bodies of the operations that create them.
//!
//! Everything here is plain data with serde derives, string forms (`as_str` / `parse`) and
//! wire rules (e.g. which run states are final). Domain rules (validation, authorization)
//! live in `autonoma-core`, which re-exports these types under their historical paths
//! (`autonoma_core::model`, `autonoma_core::knowledge`, `autonoma_core::llm::ToolCall`,
//! `autonoma_core::service::{SignUp, …}`).
//!
//! The crate builds for the server and for `wasm32-unknown-unknown` (the web UI's browser
//! build deserialises the same types the server functions return). Feature `openapi` adds
//! `utoipa::ToSchema` to every record for the REST API's OpenAPI document; the browser
//! build leaves it off. Identifiers are UUIDv7 (time-ordered), timestamps are UTC.

pub mod audit;
pub mod de;
pub mod governance;
pub mod knowledge;
pub mod llm;
pub mod mcp;
pub mod model;
pub mod preflight;
pub mod requests;

pub use knowledge::*;
pub use llm::*;
pub use model::*;
pub use requests::*;

/// Re-exported so that users of the records name the same versions.
pub use chrono;
/// Re-exported so that users of the records name the same versions.
pub use uuid;
