//! Autonoma's web UI: Leptos 0.8 pages rendered on the server and hydrated in the browser.
//!
//! - Feature `ssr` (server): [`router`] serves the pages, the server functions under
//!   `/sfn` and the built assets under `/pkg`; it needs an
//!   [`autonoma_core::service::Service`].
//! - Feature `hydrate` (browser, `wasm32-unknown-unknown`): [`hydrate`] attaches to the
//!   server-rendered page. Build it with `cargo run -p xtask -- build-site`.
//!
//! The browser build does not link `autonoma-core`: the server functions return the records
//! of `autonoma-types` (built without its `openapi` feature), and the browser deserialises
//! the same types.
//!
//! Layout: [`app`] holds the shell and the route table; [`pages`] one module per screen;
//! [`api`] the server functions, one module per area of the UI; [`components`] the widgets
//! the pages share (they never import pages or the route table).

#![recursion_limit = "256"]
#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod components;
pub mod error;
pub mod pages;

#[cfg(feature = "ssr")]
mod server;

pub use app::{shell, App};
pub use error::AppError;
#[cfg(feature = "ssr")]
pub use server::router;

/// Entry point called by the generated JS once the wasm is loaded: hydrates `<body>`,
/// then marks `<html data-hydrated>` (for tests and for CSS that needs interactivity).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    if let Some(html) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = html.set_attribute("data-hydrated", "");
    }
}
