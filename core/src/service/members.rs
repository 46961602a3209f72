//! Members of an organization: the caller's memberships, adding members, changing roles.

use super::Service;
use crate::guard::require;
use crate::model::*;
use crate::Result;

impl Service {
    /// The caller's user record and memberships.
    pub async fn me(&self, actor: &Actor) -> Result<Vec<Membership>> {
        self.store.memberships(actor.user_id).await
    }

    /// Adds an existing user to the caller's organization or changes their role (admin+;
    /// only an owner may grant `owner` or change an owner's role). Errors:
    /// [`crate::Error::Forbidden`], [`crate::Error::NotFound`] (no such user), [`crate::Error::Conflict`] when the
    /// change would leave the organization without an owner (nothing is changed).
    pub async fn set_member(&self, actor: &Actor, email: &str, role: Role) -> Result<Membership> {
        require(actor, Role::Admin, "managing members needs admin")?;
        if role == Role::Owner {
            require(actor, Role::Owner, "granting owner needs owner")?;
        }
        let email = email.trim().to_lowercase();
        let before = match self.store.find_user_by_email(&email).await? {
            Some((user, _)) => self.store.role_of(actor.org_id, user.id).await?,
            None => None,
        };
        if before == Some(Role::Owner) && role != Role::Owner {
            require(actor, Role::Owner, "changing an owner's role needs owner")?;
        }
        // The store refuses (409) a change that would leave the organization without an
        // owner, in the same statement as the change.
        let m = self.store.upsert_member(actor.org_id, &email, role).await?;
        if before != Some(role) {
            let action = if before.is_some() {
                crate::audit::actions::MEMBER_ROLE_CHANGE
            } else {
                crate::audit::actions::MEMBER_ADD
            };
            self.audit_after(
                actor.org_id,
                super::audit::audit_actor(actor),
                action,
                Some(m.user_id.to_string()),
                serde_json::json!({
                    "role": role.as_str(),
                    "previous_role": before.map(|r| r.as_str()),
                }),
            )
            .await;
        }
        Ok(m)
    }

    /// Members of the caller's organization (any role).
    pub async fn list_members(&self, actor: &Actor) -> Result<Vec<Membership>> {
        self.store.list_members(actor.org_id).await
    }
}
