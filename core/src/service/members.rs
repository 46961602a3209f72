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
    /// only an owner may grant `owner`).
    pub async fn set_member(&self, actor: &Actor, email: &str, role: Role) -> Result<Membership> {
        require(actor, Role::Admin, "managing members needs admin")?;
        if role == Role::Owner {
            require(actor, Role::Owner, "granting owner needs owner")?;
        }
        self.store
            .upsert_member(actor.org_id, &email.trim().to_lowercase(), role)
            .await
    }

    /// Members of the caller's organization (any role).
    pub async fn list_members(&self, actor: &Actor) -> Result<Vec<Membership>> {
        self.store.list_members(actor.org_id).await
    }
}
