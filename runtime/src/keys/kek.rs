//! The key-encryption key (KEK): data keys are stored sealed by it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use events::personal::{open, seal, DataKey, Sealed};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::KeyError;
use crate::secret::Secret;

/// What a sealed data key is bound to besides its subject.
const FIELD: &str = "data-key";

/// The KEK of this process, and its id (stored beside every key it seals).
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: DataKey,
}

impl Kek {
    /// From `KEY_ENCRYPTION_KEY`: base64 of 32 random bytes (`openssl rand -base64 32`).
    pub fn from_secret(secret: &Secret) -> Result<Kek, KeyError> {
        let bytes = BASE64
            .decode(secret.expose().trim())
            .map_err(|_| KeyError::Config("not base64 (try: openssl rand -base64 32)".into()))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|_| KeyError::Config("must be 32 bytes (try: openssl rand -base64 32)".into()))?;
        Ok(Kek::from_key(DataKey::from_bytes(bytes)))
    }

    /// The development KEK: fine on a laptop, never in a deployment.
    pub fn development() -> Kek {
        let digest: [u8; 32] = Sha256::digest(b"ledgerline-development-key-encryption-key").into();
        Kek::from_key(DataKey::from_bytes(digest))
    }

    fn from_key(key: DataKey) -> Kek {
        let digest = Sha256::digest(key.as_bytes());
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Kek { id, key }
    }

    /// A short fingerprint of the KEK, never the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `key` sealed for `subject`, as stored.
    pub fn seal_key(&self, subject: Uuid, key: &DataKey) -> String {
        self.seal_text(subject, FIELD, &BASE64.encode(key.as_bytes()))
    }

    /// Opens a key stored by [`Kek::seal_key`] under the KEK `kek_id`.
    pub fn open_key(&self, subject: Uuid, kek_id: &str, stored: &str) -> Result<DataKey, KeyError> {
        let text = self.open_text(subject, FIELD, kek_id, stored)?;
        let wrong = || KeyError::WrongKek(kek_id.to_owned());
        let bytes: [u8; 32] = BASE64.decode(text).map_err(|_| wrong())?.try_into().map_err(|_| wrong())?;
        Ok(DataKey::from_bytes(bytes))
    }
}

impl Kek {
    /// `text` (a secret of a record `id`, such as a webhook endpoint's signing
    /// secret) sealed as `field` under the KEK, as stored.
    pub fn seal_text(&self, id: Uuid, field: &str, text: &str) -> String {
        serde_json::to_string(&seal(&self.key, id, Uuid::nil(), field, text)).expect("a sealed value serialises")
    }

    /// Opens what [`Kek::seal_text`] sealed for `id` and `field` under the KEK `kek_id`.
    pub fn open_text(&self, id: Uuid, field: &str, kek_id: &str, stored: &str) -> Result<String, KeyError> {
        let wrong = || KeyError::WrongKek(kek_id.to_owned());
        if kek_id != self.id {
            return Err(wrong());
        }
        let sealed: Sealed = serde_json::from_str(stored).map_err(|_| wrong())?;
        if sealed.subject != id {
            // A row copied onto another record: the associated data would still open it.
            return Err(wrong());
        }
        open(&self.key, Uuid::nil(), field, &sealed).map_err(|_| wrong())
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({}, <redacted>)", self.id)
    }
}
