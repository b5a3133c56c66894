//! Standard Webhooks signatures (<https://www.standardwebhooks.com/>): the
//! secret's form (`whsec_` and base64), and `v1,` HMAC-SHA256 over
//! `id.timestamp.body`. Pure: the time is passed in.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix Standard Webhooks gives a secret's text form.
pub const PREFIX: &str = "whsec_";
/// Random bytes in a new secret (Standard Webhooks allows 24 to 64).
const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Its text form is shown once, at creation or
/// rotation; it is stored sealed. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

/// The text is not `whsec_` followed by base64 of 24 to 64 bytes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is `whsec_` followed by base64 of 24 to 64 bytes")]
pub struct BadSecret;

impl SigningSecret {
    /// A fresh secret from the operating system's random source.
    pub fn generate() -> Self {
        let key = events::personal::DataKey::generate();
        SigningSecret(key.as_bytes()[..SECRET_BYTES].to_vec())
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, BadSecret> {
        let bytes = BASE64.decode(text.strip_prefix(PREFIX).ok_or(BadSecret)?).map_err(|_| BadSecret)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(BadSecret);
        }
        Ok(SigningSecret(bytes))
    }

    /// `whsec_<base64>`: what the partner configures in its receiver.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", BASE64.encode(&self.0))
    }

    /// One `v1,<base64>` signature of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// The `webhook-signature` header: one signature per live secret, the newest
/// first, separated by spaces (during a rotation's overlap, two).
pub fn signature_header(secrets: &[&SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let signatures: Vec<String> = secrets.iter().map(|s| s.sign(id, timestamp, body)).collect();
    signatures.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_of_the_standard_webhooks_example_is_the_one_the_specification_gives() {
        // The example of the Standard Webhooks specification (and of Svix's docs).
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("the example secret");
        let signed = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_generated_secret_reads_back_from_its_text_form() {
        let secret = SigningSecret::generate();
        let text = secret.expose();
        assert!(text.starts_with(PREFIX));
        assert_eq!(SigningSecret::parse(&text), Ok(secret.clone()));
        assert_ne!(SigningSecret::generate(), secret, "two secrets are different");
    }

    #[test]
    fn text_that_is_not_a_secret_is_refused() {
        for bad in ["", "whsec_", "whsec_!!!", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAAA"] {
            assert_eq!(SigningSecret::parse(bad), Err(BadSecret), "{bad}");
        }
    }

    #[test]
    fn during_an_overlap_the_header_carries_one_signature_per_secret_newest_first() {
        let (new, old) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header(&[&new, &old], "msg_1", 10, b"{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts, vec![new.sign("msg_1", 10, b"{}"), old.sign("msg_1", 10, b"{}")]);
    }

    #[test]
    fn a_secret_never_prints() {
        assert_eq!(format!("{:?}", SigningSecret::generate()), "SigningSecret(<redacted>)");
    }
}
