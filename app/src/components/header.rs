//! The title row of a page.

use leptos::prelude::*;

/// A page title row with optional actions on the right.
#[component]
pub fn PageHeader(
    /// The heading.
    #[prop(into)]
    title: String,
    /// A line under the heading.
    #[prop(optional, into)]
    subtitle: Option<String>,
    /// Buttons on the right.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <div class="page-header">
            <div>
                <h1>{title}</h1>
                {subtitle.map(|s| view! { <p class="muted subtitle">{s}</p> })}
            </div>
            <div class="page-actions">{children.map(|c| c())}</div>
        </div>
    }
}
