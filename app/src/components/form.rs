//! Form helpers: field-level validation messages.

use leptos::prelude::*;

use crate::error::AppError;

/// Field-level message of a failed action, if it concerns `field`.
pub fn field_error<T: Clone + Send + Sync + 'static>(
    value: Option<Result<T, AppError>>,
    field: &str,
) -> Option<String> {
    value.and_then(|r| r.err()).and_then(|e| e.for_field(field))
}

/// The validation message under a form field, when there is one.
#[component]
pub fn FieldHint<F>(
    /// Returns the message for this field.
    err: F,
) -> impl IntoView
where
    F: Fn() -> Option<String> + Send + Sync + 'static,
{
    view! { {move || err().map(|m| view! { <p class="field-error">{m}</p> })} }
}
