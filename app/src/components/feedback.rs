//! Loading placeholders, error panels and the not-found page.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::AppError;

/// The page for unknown paths (status 404 on the server); pages also show it for a
/// record that does not exist (or belongs to another organization).
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <div class="auth-page">
            <div class="card auth-card center">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address."</p>
                <a class="btn btn-primary" href="/agents">
                    "Go to your agents"
                </a>
            </div>
        </div>
    }
}

/// A "Loading…" placeholder for lists and pages.
#[component]
pub fn Loading(
    /// What is loading, e.g. "agents".
    #[prop(optional, into)]
    what: Option<String>,
) -> impl IntoView {
    view! {
        <div class="loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            {format!("Loading {}…", what.unwrap_or_default()).replace("  ", " ").replace(" …", "…")}
        </div>
    }
}

/// An error panel; for an ended session it links to the login page.
#[component]
pub fn ErrorBox(
    /// The error to show.
    err: AppError,
) -> impl IntoView {
    let login = err.is_unauthenticated();
    view! {
        <div class="alert alert-error" role="alert">
            {err.headline()}
            {login.then(|| view! { " " <a href="/login">"Log in"</a> })}
        </div>
    }
}
