//! Blob storage: opaque bytes under string keys namespaced by organization.
//!
//! One implementation per real backend: `autonoma_storage::LocalBlobStore` (a folder under
//! the data dir, atomic writes) today; S3 in the cloud shape.

use async_trait::async_trait;
use uuid::Uuid;

use crate::{Error, Result};

/// A validated blob key: `<org_id>/<segment>/<segment>…`.
///
/// Segments are 1..=128 characters of ASCII letters, digits, `-`, `_` and `.` (never `.` or
/// `..` alone), so a key maps to a relative file path without escaping its root. The first
/// segment is always the owning organization's id: two organizations never share a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    /// `org_id/path`, where `path` is `/`-separated segments.
    /// Errors: [`Error::Internal`] for an empty path or a bad segment (keys are built by code,
    /// never from user input).
    pub fn new(org_id: Uuid, path: &str) -> Result<BlobKey> {
        let key = format!("{org_id}/{path}");
        BlobKey::parse(&key)
    }

    /// Parses a stored key, checking the rules above.
    pub fn parse(key: &str) -> Result<BlobKey> {
        let mut segments = key.split('/');
        let org = segments.next().unwrap_or("");
        if Uuid::parse_str(org).is_err() {
            return Err(Error::internal(format!(
                "blob key {key:?} does not start with an organization id"
            )));
        }
        let mut rest = 0;
        for s in segments {
            rest += 1;
            let ok = !s.is_empty()
                && s.len() <= 128
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(Error::internal(format!(
                    "bad blob key segment {s:?} in {key:?}"
                )));
            }
        }
        if rest == 0 {
            return Err(Error::internal(format!(
                "blob key {key:?} has no path after the organization"
            )));
        }
        Ok(BlobKey(key.to_string()))
    }

    /// The key as text (`org_id/…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owning organization (the first segment).
    pub fn org_id(&self) -> Uuid {
        Uuid::parse_str(self.0.split('/').next().unwrap_or_default())
            .expect("validated at construction")
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stores whole blobs by key. Writes are atomic: a reader sees the old blob, the new blob,
/// or none, never a partial one.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Writes `bytes` under `key`, replacing any blob there.
    /// Errors: [`Error::Internal`] on I/O failure (then nothing is left under the key that was
    /// not there before).
    async fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<()>;
    /// The blob's bytes. Errors: [`Error::NotFound`] (`"blob"`) when absent.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>>;
    /// Removes the blob; removing a missing blob succeeds (idempotent).
    async fn delete(&self, key: &BlobKey) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_cannot_escape() {
        let org = Uuid::now_v7();
        let k = BlobKey::new(org, "knowledge/kb/doc-1.bin").unwrap();
        assert_eq!(k.org_id(), org);
        assert!(k.as_str().starts_with(&org.to_string()));
        for bad in ["", "../x", "a//b", "a/./b", "a/b c", "/abs"] {
            assert!(BlobKey::new(org, bad).is_err(), "{bad:?} accepted");
        }
        assert!(BlobKey::parse("not-an-org/x").is_err());
        assert!(BlobKey::parse(&org.to_string()).is_err());
    }
}
