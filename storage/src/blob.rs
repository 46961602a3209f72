//! [`LocalBlobStore`]: blobs as files under a root folder (`<data_dir>/blobs` in
//! `autonoma serve`), one file per key at `<root>/<key>`.
//!
//! Writes are atomic: the bytes go to a temporary file in the destination folder
//! (`.tmp-<uuid>`), are flushed to disk, and the file is renamed over the destination, so a
//! crash leaves either the old blob or the new one. A failed write removes its temporary file.

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use autonoma_core::knowledge::blob::{BlobKey, BlobStore};
use autonoma_core::{Error, Result};
use uuid::Uuid;

/// Blobs in a local folder.
#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    /// A store rooted at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobStore { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `key` lives. Keys are validated by [`BlobKey`] (no `..`, no absolute paths).
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |p, s| p.join(s))
    }
}

/// A full disk (`ENOSPC`, `EDQUOT`) or a file-size limit (`EFBIG`, with `SIGXFSZ` ignored)
/// is [`Error::InsufficientStorage`]; any other I/O error is internal.
fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    ) {
        tracing::error!(path = %path.display(), error = %e, "blob store: {what}: out of space");
        return Error::InsufficientStorage;
    }
    Error::internal(format!("blob store: {what} {}: {e}", path.display()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal("blob path has no parent"))?;
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let tmp = dir.join(format!(".tmp-{}", Uuid::new_v4()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        f.write_all(bytes).map_err(|e| io("writing", &tmp, e))?;
        f.sync_all().map_err(|e| io("syncing", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("renaming into", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &BlobKey, bytes: &[u8]) -> Result<()> {
        let path = self.path_of(key);
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || write_atomic(&path, &bytes))
            .await
            .map_err(Error::internal)?
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        let path = self.path_of(key);
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound("blob")),
            Err(e) => Err(io("reading", &path, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<()> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("deleting", &path, e)),
        }
    }
}
