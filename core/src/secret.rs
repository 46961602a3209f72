//! Secrets at rest and bearer secrets: [`SecretBox`] seals provider API keys under the
//! instance key; session tokens and API keys are random 256-bit strings of which only the
//! SHA-256 ([`hash_secret`]) is stored.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Seals secrets at rest with XChaCha20-Poly1305 (RFC 8439 construction, 24-byte nonce).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    /// From a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        SecretBox {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }
    /// Returns `nonce (24 bytes) || ciphertext+tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(XNonce::from_slice(&nonce), plaintext)
                .expect("encryption cannot fail"),
        );
        out
    }
    /// Inverse of [`SecretBox::seal`]. Errors: [`Error::Internal`] if tampered or wrong key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 24 {
            return Err(Error::internal("sealed secret too short"));
        }
        let (nonce, ct) = sealed.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| Error::internal("cannot decrypt secret (wrong key?)"))
    }
}

/// SHA-256 of a bearer secret (session token or API key), as stored.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// `prefix` followed by 32 random bytes in unpadded base64url (43 characters).
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}
