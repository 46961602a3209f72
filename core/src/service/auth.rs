//! Accounts and sessions: sign-up, login (rate limited), logout, and resolving a session
//! cookie or an API key to the calling [`Actor`].

use std::net::IpAddr;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use chrono::Utc;
use uuid::Uuid;

use super::{Service, LOCAL_MODEL};
use crate::audit::{actions, AuditActor};
use crate::guard::check_len;
use crate::model::*;
use crate::rate_limit::{self, Quota};
use crate::secret::{hash_secret, random_token};
use crate::store::Session;
use crate::{Error, Result};

/// Name of the session cookie (HttpOnly, SameSite=Lax, Secure behind https).
pub const SESSION_COOKIE: &str = "autonoma_session";
/// Session lifetime: 14 days.
pub const SESSION_TTL: chrono::TimeDelta = chrono::TimeDelta::days(14);
/// counted across every process on the store.
pub const LOGIN_PER_IP: Quota = Quota::per_minute(10);
/// Login attempts allowed per e-mail address: 5 per minute (a burst of 5, then one every
/// 12 s), counted across every process on the store, so spreading password guesses for one
/// account over instances or IPs gains nothing.
pub const LOGIN_PER_EMAIL: Quota = Quota::per_minute(5);
/// Sign-ups allowed per client IP: 10 per hour (a burst of 10, then one every 6 minutes),
/// counted across every process on the store. Each sign-up costs an argon2id hash and
/// creates an organization, so mass sign-ups from one address are cut short.
pub const SIGN_UP_PER_IP: Quota = Quota::per_hour(10);

pub use autonoma_types::requests::SignUp;

/// A newly created session; `token` goes into the cookie, `csrf_token` into pages.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub actor: Actor,
}

impl Service {
    /// Creates a user with their own organization (as owner) and logs them in. Valid
    /// requests count against [`SIGN_UP_PER_IP`] for `client_ip` (checked after validation,
    /// so a typo costs nothing; before the e-mail is looked up).
    /// Errors: [`Error::Validation`] for a bad e-mail or short password,
    /// [`Error::RateLimited`], [`Error::Conflict`] if taken.
    pub async fn sign_up(&self, input: SignUp, client_ip: Option<IpAddr>) -> Result<NewSession> {
        let email = input.email.trim().to_lowercase();
        check_len("email", &email, 3, 254)?;
        let at = email.find('@');
        if !matches!(at, Some(i) if i > 0 && i < email.len() - 1)
            || email.contains(char::is_whitespace)
        {
            return Err(Error::validation("email", "is not an e-mail address"));
        }
        check_len("password", &input.password, 10, 256)?;
        let name = if input.name.trim().is_empty() {
            email[..at.unwrap()].chars().take(100).collect()
        } else {
            input.name.trim().to_string()
        };
        check_len("name", &name, 1, 100)?;
        let org_name = input
            .org_name
            .filter(|s| !s.trim().is_empty())
            // The default fits the limit whatever the name's length.
            .unwrap_or_else(|| {
                let short: String = name.chars().take(100 - "'s organization".len()).collect();
                format!("{short}'s organization")
            });
        check_len("org_name", &org_name, 1, 100)?;
        if let Some(ip) = client_ip {
            self.limit(
                &rate_limit::key("sign-up-ip", &ip.to_string()),
                SIGN_UP_PER_IP,
            )
            .await?;
        }
        let password = input.password.clone();
        let hash = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
        })
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
        let (user, org) = self
            .store
            .create_user_with_org(&email, &name, &hash, &org_name)
            .await?;
        // Every organization starts with the embedded model, so a new user needs no API key.
        let local = ProviderConnection {
            id: Uuid::now_v7(),
            org_id: org.id,
            name: "Local (SmolLM2-135M)".into(),
            kind: ProviderKind::Local,
            base_url: None,
            models: vec![LOCAL_MODEL.to_string()],
            has_api_key: false,
            created_at: Utc::now(),
        };
        self.store.create_provider(&local, None).await?;
        self.audit_after(
            org.id,
            AuditActor::User { user_id: user.id },
            actions::SIGN_UP,
            Some(user.id.to_string()),
            serde_json::json!({ "client_ip": client_ip.map(|ip| ip.to_string()) }),
        )
        .await;
        self.open_session(user.id, org.id, Role::Owner).await
    }

    /// Verifies e-mail and password (argon2id) and opens a session in the user's first
    /// organization. Errors: [`Error::Unauthenticated`] (same for unknown e-mail and wrong
    /// password), [`Error::RateLimited`].
    pub async fn log_in(
        &self,
        email: &str,
        password: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<NewSession> {
        let email = email.trim().to_lowercase();
        if let Some(ip) = client_ip {
            self.limit(&rate_limit::key("login-ip", &ip.to_string()), LOGIN_PER_IP)
                .await?;
        }
        self.limit(&rate_limit::key("login-email", &email), LOGIN_PER_EMAIL)
            .await?;
        let found = self.store.find_user_by_email(&email).await?;
        let password = password.to_string();
        let (user, ok) = match found {
            Some((user, hash)) => {
                let ok = tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&hash)
                        .map(|h| {
                            Argon2::default()
                                .verify_password(password.as_bytes(), &h)
                                .is_ok()
                        })
                        .unwrap_or(false)
                })
                .await
                .map_err(Error::internal)?;
                (Some(user), ok)
            }
            None => (None, false),
        };
        let ip = client_ip.map(|ip| ip.to_string());
        let user = match user {
            Some(user) if ok => user,
            user => {
                match user {
                    // A wrong password for an existing user: recorded in each of their
                    // organizations. An unknown e-mail has no organization to record it in.
                    Some(user) => {
                        for m in self.store.memberships(user.id).await? {
                            self.audit_after(
                                m.org_id,
                                AuditActor::User { user_id: user.id },
                                actions::LOGIN_FAILED,
                                Some(user.id.to_string()),
                                serde_json::json!({ "client_ip": ip, "reason": "wrong_password" }),
                            )
                            .await;
                        }
                    }
                    None => tracing::info!(client_ip = ?ip, "login for an unknown e-mail"),
                }
                return Err(Error::Unauthenticated);
            }
        };
        let m = self.store.memberships(user.id).await?;
        let first = m.first().ok_or(Error::Unauthenticated)?;
        let session = self.open_session(user.id, first.org_id, first.role).await?;
        self.audit_after(
            first.org_id,
            AuditActor::User { user_id: user.id },
            actions::LOGIN,
            Some(user.id.to_string()),
            serde_json::json!({ "client_ip": ip }),
        )
        .await;
        Ok(session)
    }

    /// One attempt against `quota` for `key`; [`Error::RateLimited`] (whole seconds, ≥ 1)
    /// when over it.
    async fn limit(&self, key: &[u8], quota: Quota) -> Result<()> {
        match self.store.rate_limit(key, quota, Utc::now()).await? {
            Ok(()) => Ok(()),
            Err(wait) => Err(Error::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }),
        }
    }

    async fn open_session(&self, user_id: Uuid, org_id: Uuid, role: Role) -> Result<NewSession> {
        let token = random_token("s_");
        let csrf_token = random_token("");
        let session = Session {
            user_id,
            org_id,
            csrf_token: csrf_token.clone(),
            expires_at: Utc::now() + SESSION_TTL,
        };
        self.store
            .create_session(&hash_secret(&token), &session)
            .await?;
        Ok(NewSession {
            token,
            csrf_token,
            actor: Actor {
                user_id,
                org_id,
                role,
                api_key_id: None,
            },
        })
    }

    /// Ends a session (idempotent).
    pub async fn log_out(&self, token: &str) -> Result<()> {
        self.store.delete_session(&hash_secret(token)).await
    }

    /// Resolves a session cookie to the caller and the session's CSRF token.
    /// Errors: [`Error::Unauthenticated`] for unknown/expired sessions or lost membership.
    pub async fn actor_from_session(&self, token: &str) -> Result<(Actor, String)> {
        let s = self
            .store
            .get_session(&hash_secret(token))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let role = self
            .store
            .role_of(s.org_id, s.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok((
            Actor {
                user_id: s.user_id,
                org_id: s.org_id,
                role,
                api_key_id: None,
            },
            s.csrf_token,
        ))
    }

    /// Resolves an `Authorization: Bearer ak_…` key. The key acts with the lower of its own
    /// role and its creator's current role. Errors: [`Error::Unauthenticated`].
    pub async fn actor_from_api_key(&self, secret: &str) -> Result<Actor> {
        let key = self
            .store
            .use_api_key(&hash_secret(secret))
            .await?
            .ok_or(Error::Unauthenticated)?;
        let creator = self
            .store
            .role_of(key.org_id, key.user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(Actor {
            user_id: key.user_id,
            org_id: key.org_id,
            role: key.role.min(creator),
            api_key_id: Some(key.id),
        })
    }
}
