//! Personal data in commits, sealed per data subject (crypto-shredding).
//!
//! A personal field (an owner's name, a free-text reference, a freeze reason)
//! is stored in a commit as a [`Sealed`] value: XChaCha20-Poly1305 under the
//! data subject's own [`DataKey`], with a fresh random 192-bit nonce per
//! field, and as associated data the aggregate, the subject and the field's
//! name. A ciphertext therefore opens only as the field of the account it was
//! written for: moved to another field, another account or another subject,
//! it fails, as it does when any byte of it changes. Destroying a subject's
//! key erases every field sealed with it, in every copy of the log.
//!
//! Amounts, ids, types and versions are never sealed: the fold rule and every
//! balance need no key. Pure: no I/O; keys come from the caller.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The only sealing scheme so far: XChaCha20-Poly1305, base64 of nonce ‖ ciphertext.
pub const SCHEME: &str = "xchacha20poly1305";
const NONCE_LEN: usize = 24;
const AAD_DOMAIN: &[u8] = b"ledgerline/personal/v1\0";

/// A data subject's 256-bit key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl DataKey {
    /// A new random key (the operating system's generator).
    pub fn generate() -> Self {
        DataKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DataKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// A personal field as a commit stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Whose key seals it: a pseudonymous id, not the person's name.
    pub subject: Uuid,
    /// [`SCHEME`].
    pub scheme: String,
    /// Base64 of the nonce followed by the ciphertext and its tag.
    pub data: String,
}

/// Why a sealed field does not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("unknown sealing scheme {0:?}")]
    Scheme(String),
    #[error("the sealed field is malformed")]
    Malformed,
    #[error("the sealed field does not open with this key here (wrong key, field or account, or tampered)")]
    Rejected,
}

/// What binds a ciphertext to its place: the aggregate, the subject, the field.
fn associated_data(aggregate: Uuid, subject: Uuid, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 32 + field.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.extend_from_slice(aggregate.as_bytes());
    aad.extend_from_slice(subject.as_bytes());
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Seals `plaintext` as the field `field` of `aggregate`, for `subject`.
pub fn seal(key: &DataKey, subject: Uuid, aggregate: Uuid, field: &str, plaintext: &str) -> Sealed {
    let aad = associated_data(aggregate, subject, field);
    let data = seal_bytes(&key.cipher(), &aad, plaintext.as_bytes());
    Sealed { subject, scheme: SCHEME.to_owned(), data: BASE64.encode(data) }
}

/// Nonce ‖ ciphertext ‖ tag, under a fresh random nonce.
fn seal_bytes(cipher: &XChaCha20Poly1305, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(&nonce, Payload { msg: plaintext, aad })
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
    let mut data = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    data.extend_from_slice(&nonce);
    data.extend_from_slice(&ciphertext);
    data
}

/// Opens the field `field` of `aggregate`.
pub fn open(key: &DataKey, aggregate: Uuid, field: &str, sealed: &Sealed) -> Result<String, SealError> {
    if sealed.scheme != SCHEME {
        return Err(SealError::Scheme(sealed.scheme.clone()));
    }
    let data = BASE64.decode(&sealed.data).map_err(|_| SealError::Malformed)?;
    if data.len() < NONCE_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = data.split_at(NONCE_LEN);
    let aad = associated_data(aggregate, sealed.subject, field);
    let plain = key
        .cipher()
        .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
        .map_err(|_| SealError::Rejected)?;
    String::from_utf8(plain).map_err(|_| SealError::Malformed)
}

#[cfg(test)]
#[path = "personal_tests.rs"]
mod tests;
