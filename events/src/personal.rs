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
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// Whose key seals it: a pseudonymous id, not the person's name.
    pub subject: Uuid,
    /// [`SCHEME`].
    pub scheme: String,
    /// Base64 of the nonce followed by the ciphertext and its tag.
    pub data: String,
}

/// A personal field of an event: clear text (commands on their way in, and
/// every commit written before sealing) or [`Sealed`]. Serde tells them apart
/// by shape (a string or an object), so old logs read unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal {
    Clear(String),
    Sealed(Sealed),
}

impl Personal {
    /// The text, if it is in clear.
    pub fn clear(&self) -> Option<&str> {
        match self {
            Personal::Clear(text) => Some(text),
            Personal::Sealed(_) => None,
        }
    }

    /// The subject whose key seals it.
    pub fn subject(&self) -> Option<Uuid> {
        match self {
            Personal::Clear(_) => None,
            Personal::Sealed(sealed) => Some(sealed.subject),
        }
    }
}

impl Default for Personal {
    fn default() -> Self {
        Personal::Clear(String::new())
    }
}

impl From<String> for Personal {
    fn from(text: String) -> Self {
        Personal::Clear(text)
    }
}

impl From<&str> for Personal {
    fn from(text: &str) -> Self {
        Personal::Clear(text.to_owned())
    }
}

/// The names of every personal field an event's `data` (or a commit's
/// `metadata`) may hold. `docs/personal-data.md` lists what each one is.
pub const FIELDS: [&str; 4] = ["owner", "reference", "reason", "actor"];

/// Seals every clear field of `fields` for `subject`, as fields of `aggregate`.
pub fn seal_all<'a>(
    fields: impl IntoIterator<Item = (&'static str, &'a mut Personal)>,
    key: &DataKey,
    subject: Uuid,
    aggregate: Uuid,
) {
    for (name, field) in fields {
        if let Personal::Clear(text) = field {
            *field = Personal::Sealed(seal(key, subject, aggregate, name, text));
        }
    }
}

/// The subjects whose keys the sealed personal fields of a JSON object need.
pub fn subjects_in(data: &serde_json::Value) -> Vec<Uuid> {
    FIELDS
        .iter()
        .filter_map(|name| data.get(*name))
        .filter_map(|value| serde_json::from_value::<Sealed>(value.clone()).ok())
        .map(|sealed| sealed.subject)
        .collect()
}

/// Opens, in place, the sealed personal fields of a JSON object (an event's
/// `data`, a commit's `metadata`) that belong to `aggregate`. A field whose key
/// `key_of` does not give (erased), or that does not open, becomes `null`.
/// Returns whether any field was left `null` that way.
pub fn open_in(data: &mut serde_json::Value, aggregate: Uuid, key_of: &dyn Fn(Uuid) -> Option<DataKey>) -> bool {
    let mut erased = false;
    let Some(object) = data.as_object_mut() else { return false };
    for name in FIELDS {
        let Some(value) = object.get_mut(name) else { continue };
        let Ok(sealed) = serde_json::from_value::<Sealed>(value.clone()) else { continue };
        let opened = key_of(sealed.subject).and_then(|key| open(&key, aggregate, name, &sealed).ok());
        erased |= opened.is_none();
        *value = opened.map_or(serde_json::Value::Null, serde_json::Value::String);
    }
    erased
}

/// Opens a sealed `field` of `from` and seals it again as the same field of
/// `to`, for the same subject: a transfer's reference, written by the source's
/// owner, copied onto the destination's credit. `None` if it does not open.
pub fn rebind(key: &DataKey, sealed: &Sealed, from: Uuid, to: Uuid, field: &str) -> Option<Sealed> {
    let text = open(key, from, field, sealed).ok()?;
    Some(seal(key, sealed.subject, to, field, &text))
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
