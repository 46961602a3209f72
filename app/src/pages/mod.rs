//! One module per screen.

pub mod agents;
pub mod approvals;
pub mod auth;
pub mod chat;
pub mod knowledge;
pub mod mcp;
pub mod preflight;
pub mod run;
pub mod settings;
