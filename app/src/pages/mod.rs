//! One module per screen.

pub mod agents;
pub mod auth;
pub mod chat;
pub mod run;
pub mod settings;
