//! What one instance asks another is signed: `Ledger-Peer: <unix seconds>.<mac>`,
//! HMAC-SHA256 over the time and the path with the key every instance shares
//! (`CONSISTENCY_TOKEN_KEY`), valid for a minute. A client's token opens the
//! public API; only a peer can read another client's account currency or a
//! transfer's legs through the internal routes.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Refusal;

pub const PEER: HeaderName = HeaderName::from_static("ledger-peer");
/// How far a peer's clock may be from ours, in seconds.
const SKEW_SECS: i64 = 60;

fn mac(key: &[u8], secs: i64, path: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("peer.{secs}.{path}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The header value that signs a request for `path`.
pub fn sign(key: &[u8], path: &str) -> Option<HeaderValue> {
    let secs = chrono::Utc::now().timestamp();
    HeaderValue::from_str(&format!("{secs}.{}", mac(key, secs, path))).ok()
}

/// 403 unless the request for `path` carries a valid peer signature.
pub fn require(key: &[u8], headers: &HeaderMap, path: &str) -> Result<(), Refusal> {
    let denied = || Refusal::Forbidden("internal route: for command-service instances only");
    let value = headers.get(&PEER).and_then(|v| v.to_str().ok()).ok_or_else(denied)?;
    let (secs, given) = value.split_once('.').ok_or_else(denied)?;
    let secs: i64 = secs.parse().map_err(|_| denied())?;
    if (chrono::Utc::now().timestamp() - secs).abs() > SKEW_SECS {
        return Err(denied());
    }
    let expected = mac(key, secs, path);
    let same = expected.len() == given.len()
        && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same.then_some(()).ok_or_else(denied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_path_is_accepted_and_another_path_or_key_is_not() {
        let mut headers = HeaderMap::new();
        headers.insert(PEER, sign(b"key", "/v1/internal/x").expect("header"));
        assert!(require(b"key", &headers, "/v1/internal/x").is_ok());
        assert!(require(b"key", &headers, "/v1/internal/y").is_err());
        assert!(require(b"other", &headers, "/v1/internal/x").is_err());
        assert!(require(b"key", &HeaderMap::new(), "/v1/internal/x").is_err());
    }
}
