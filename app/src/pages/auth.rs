//! Log in and sign up.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{LogIn, SignUp};
use crate::components::form::{field_error, FieldHint};

/// `/login`: e-mail and password; goes to `?next=` (or `/agents`) on success.
#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<LogIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let pending = action.pending();
    view! {
        <Title text="Log in"/>
        <div class="auth-page">
            <div class="auth-brand">
                <span class="brand-mark" aria-hidden="true"></span>
                "Autonoma"
            </div>
            <div class="card auth-card">
                <h1>"Log in"</h1>
                <p class="muted">"Welcome back. Your agents are waiting."</p>
                {move || {
                    action
                        .value()
                        .get()
                        .and_then(|r| r.err())
                        .map(|e| view! { <div class="alert alert-error" role="alert">{e.headline()}</div> })
                }}
                <ActionForm action=action>
                    <input type="hidden" name="next" value=next/>
                    <div class="field">
                        <label for="email">"E-mail"</label>
                        <input id="email" type="email" name="email" required autocomplete="email" autofocus/>
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input id="password" type="password" name="password" required autocomplete="current-password"/>
                    </div>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || pending.get()>
                        {move || if pending.get() { "Logging in…" } else { "Log in" }}
                    </button>
                </ActionForm>
            </div>
            <p class="auth-switch muted">"New to Autonoma? " <a href="/signup">"Create an account"</a></p>
        </div>
    }
}

/// `/signup`: creates a user and their organization, then logs in.
#[component]
pub fn SignupPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let pending = action.pending();
    let err = move |field: &'static str| move || field_error(action.value().get(), field);
    view! {
        <Title text="Sign up"/>
        <div class="auth-page">
            <div class="auth-brand">
                <span class="brand-mark" aria-hidden="true"></span>
                "Autonoma"
            </div>
            <div class="card auth-card">
                <h1>"Create your account"</h1>
                <p class="muted">"You get your own organization; invite your team later."</p>
                {move || {
                    action
                        .value()
                        .get()
                        .and_then(|r| r.err())
                        .map(|e| view! { <div class="alert alert-error" role="alert">{e.headline()}</div> })
                }}
                <ActionForm action=action>
                    <div class="field">
                        <label for="name">"Your name"</label>
                        <input id="name" type="text" name="name" autocomplete="name" maxlength="100"/>
                        <FieldHint err=err("name")/>
                    </div>
                    <div class="field">
                        <label for="org_name">"Organization" <span class="optional">"optional"</span></label>
                        <input id="org_name" type="text" name="org_name" autocomplete="organization" maxlength="100" placeholder="Defaults to “<your name>'s organization”"/>
                        <FieldHint err=err("org_name")/>
                    </div>
                    <div class="field">
                        <label for="email">"E-mail"</label>
                        <input id="email" type="email" name="email" required autocomplete="email"/>
                        <FieldHint err=err("email")/>
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input id="password" type="password" name="password" required minlength="10" autocomplete="new-password"/>
                        <p class="hint">"At least 10 characters."</p>
                        <FieldHint err=err("password")/>
                    </div>
                    <button type="submit" class="btn btn-primary btn-block" disabled=move || pending.get()>
                        {move || if pending.get() { "Creating…" } else { "Create account" }}
                    </button>
                </ActionForm>
            </div>
            <p class="auth-switch muted">"Already have an account? " <a href="/login">"Log in"</a></p>
        </div>
    }
}
