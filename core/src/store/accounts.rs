//! Users, organizations, memberships and login sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{Membership, Organization, Role, User};
#[allow(unused_imports)]
use crate::Error;
use crate::Result;

/// A login session (cookie). The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub org_id: Uuid,
    /// Token the browser must echo in `X-CSRF-Token` on cookie-authenticated API writes.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Users, organizations, memberships and sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    // ---- users, organizations, memberships
    /// Creates a user, an organization named `org_name`, and an `owner` membership, atomically.
    /// Errors: [`Error::Conflict`] if the e-mail is taken.
    async fn create_user_with_org(
        &self,
        email: &str,
        name: &str,
        password_hash: &str,
        org_name: &str,
    ) -> Result<(User, Organization)>;
    /// The user and their argon2 PHC hash, by e-mail (case-insensitive).
    async fn find_user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    /// All organizations the user belongs to.
    async fn memberships(&self, user_id: Uuid) -> Result<Vec<Membership>>;
    /// The user's role in `org_id`, if a member.
    async fn role_of(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<Role>>;
    /// Adds or changes a membership. Errors: [`Error::NotFound`] if no user has that e-mail;
    /// [`Error::Conflict`] (nothing changed) if it would demote the organization's last owner.
    async fn upsert_member(&self, org_id: Uuid, email: &str, role: Role) -> Result<Membership>;
    /// Members of an organization.
    async fn list_members(&self, org_id: Uuid) -> Result<Vec<Membership>>;

    // ---- sessions
    /// Stores a session under the SHA-256 of its token.
    async fn create_session(&self, token_hash: &[u8], session: &Session) -> Result<()>;
    /// A session that has not expired.
    async fn get_session(&self, token_hash: &[u8]) -> Result<Option<Session>>;
    /// Deletes the session (a missing one is not an error).
    async fn delete_session(&self, token_hash: &[u8]) -> Result<()>;
}
