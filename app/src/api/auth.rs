//! Session server functions: who is signed in, log in, sign up, log out.

use autonoma_types::Role;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use super::ssr;
use crate::error::AppError;

/// The signed-in user and the organization of their session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// The user's e-mail address.
    pub email: String,
    /// Name of the session's organization.
    pub org_name: String,
    /// Role in that organization.
    pub role: Role,
}

/// The signed-in user, or `None` without a valid session.
#[server(prefix = "/sfn", endpoint = "me")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    let svc = ssr::service()?;
    let Some(token) = ssr::session_token() else {
        return Ok(None);
    };
    let actor = match svc.actor_from_session(&token).await {
        Ok((actor, _)) => actor,
        Err(autonoma_core::Error::Unauthenticated) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let memberships = svc.me(&actor).await?;
    let m = memberships
        .iter()
        .find(|m| m.org_id == actor.org_id)
        .or(memberships.first());
    Ok(Some(Me {
        email: m.map(|m| m.email.clone()).unwrap_or_default(),
        org_name: m.map(|m| m.org_name.clone()).unwrap_or_default(),
        role: actor.role,
    }))
}

/// Logs in with e-mail and password, sets the session cookie and goes to `next`.
#[server(prefix = "/sfn", endpoint = "login")]
pub async fn log_in(
    #[doc = "E-mail address."] email: String,
    #[doc = "Password."] password: String,
    #[doc = "Local path to open afterwards."] next: Option<String>,
) -> Result<(), AppError> {
    let svc = ssr::service()?;
    if email.trim().is_empty() {
        return Err(AppError::field("email", "enter your e-mail address"));
    }
    let session = svc
        .log_in(&email, &password, ssr::client_ip())
        .await
        .map_err(|e| match e {
            autonoma_core::Error::Unauthenticated => {
                AppError::new("unauthenticated", "Wrong e-mail or password.")
            }
            autonoma_core::Error::RateLimited { retry_after_secs } => {
                AppError::rate_limited("login attempts", retry_after_secs)
            }
            e => e.into(),
        })?;
    ssr::set_session_cookie(&session.token);
    leptos_axum::redirect(&ssr::safe_next(next));
    Ok(())
}

/// Creates an account with its own organization, logs in and goes to `/agents`.
#[server(prefix = "/sfn", endpoint = "signup")]
pub async fn sign_up(
    #[doc = "E-mail address."] email: String,
    #[doc = "Password, 10 to 256 characters."] password: String,
    #[doc = "Display name (defaults to the e-mail's local part)."] name: Option<String>,
    #[doc = "Organization name (defaults to \"<name>'s organization\")."] org_name: Option<String>,
) -> Result<(), AppError> {
    let svc = ssr::service()?;
    let input = autonoma_core::service::SignUp {
        email,
        password,
        name: name.unwrap_or_default(),
        org_name: org_name.filter(|o| !o.trim().is_empty()),
    };
    let session = svc
        .sign_up(input, ssr::client_ip())
        .await
        .map_err(|e| match e {
            autonoma_core::Error::RateLimited { retry_after_secs } => {
                AppError::rate_limited("sign-ups from your address", retry_after_secs)
            }
            e => e.into(),
        })?;
    ssr::set_session_cookie(&session.token);
    leptos_axum::redirect("/agents");
    Ok(())
}

/// Ends the session, clears the cookie and goes to `/login`.
#[server(prefix = "/sfn", endpoint = "logout")]
pub async fn log_out() -> Result<(), AppError> {
    let svc = ssr::service()?;
    if let Some(token) = ssr::session_token() {
        svc.log_out(&token).await?;
    }
    ssr::set_cookie(autonoma_core::service::SESSION_COOKIE, "", "/", 0, "Lax");
    leptos_axum::redirect("/login");
    Ok(())
}
