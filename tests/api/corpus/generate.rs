//! What the corpus is made of: a deterministic random generator, and helpers that build tokens
//! with HMAC signatures over any header and payload bytes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use introspectd::clock::unix_now;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use crate::helpers::{ISSUER, SECRET};

pub(super) const PER_CLASS: usize = 230;

/// What the corpus mutates: access tokens, or the tokens identity providers push (logout tokens,
/// security event tokens), each from a valid one of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Access,
    Logout,
    SecurityEvent,
}

thread_local! {
    static KIND: std::cell::Cell<Kind> = const { std::cell::Cell::new(Kind::Access) };
}

/// Generates the corpus of `kind` on this thread from now on.
pub(super) fn set_kind(kind: Kind) {
    KIND.with(|k| k.set(kind));
}

/// The audience of the pushed tokens' receivers in the corpus tests.
pub(super) const RECEIVER: &str = "corpus-receiver";

/// The header of a valid token of the current kind, HS256.
pub(super) fn hs256() -> &'static str {
    match KIND.with(|k| k.get()) {
        Kind::Access => r#"{"alg":"HS256","typ":"JWT"}"#,
        Kind::Logout => r#"{"alg":"HS256","typ":"logout+jwt"}"#,
        Kind::SecurityEvent => r#"{"alg":"HS256","typ":"secevent+jwt"}"#,
    }
}

/// xorshift64*: deterministic, so a failure names a reproducible token.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub(super) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub(super) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn sign_with(alg: Algorithm, message: &str, key: &[u8]) -> String {
    jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(key), alg)
        .expect("HMAC signing works")
}

/// header and payload given as raw bytes (so they may be anything), HS256-signed with `key`.
pub(super) fn raw(header: impl AsRef<[u8]>, payload: impl AsRef<[u8]>, key: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = sign_with(Algorithm::HS256, &message, key);
    format!("{message}.{signature}")
}

/// The claims of a valid token of the current kind.
pub(super) fn claims(rng: &mut Rng) -> Value {
    let now = unix_now();
    let sub = format!("user-{}", rng.below(1000));
    let jti = format!("{:016x}", rng.next());
    match KIND.with(|k| k.get()) {
        Kind::Access => json!({
            "sub": sub, "jti": jti, "iat": now - 10, "exp": now + 600, "iss": ISSUER,
            "aud": "api", "scope": "read",
        }),
        Kind::Logout => json!({
            "sub": sub, "sid": format!("s-{}", rng.below(1000)), "jti": jti, "iat": now - 10,
            "exp": now + 120, "iss": ISSUER, "aud": RECEIVER,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }),
        // RFC 8417 allows `sub` beside the subject identifier; the duplicate-claim class needs
        // a claim the corpus knows to repeat.
        Kind::SecurityEvent => json!({
            "sub": sub, "jti": jti, "iat": now - 10, "iss": ISSUER, "aud": RECEIVER,
            "sub_id": {"format": "iss_sub", "iss": ISSUER, "sub": sub},
            "events": {"https://schemas.openid.net/secevent/risc/event-type/sessions-revoked": {}},
        }),
    }
}

/// A valid token with `claims` changed by `edit`.
pub(super) fn valid_with(rng: &mut Rng, edit: impl FnOnce(&mut Value, &mut Rng)) -> String {
    let mut c = claims(rng);
    edit(&mut c, rng);
    raw(hs256(), c.to_string(), SECRET.as_bytes())
}

pub(super) fn valid(rng: &mut Rng) -> String {
    valid_with(rng, |_, _| {})
}

pub(super) fn split(token: &str) -> (String, String, String) {
    let mut parts = token.splitn(3, '.');
    let mut next = || parts.next().unwrap_or("").to_owned();
    (next(), next(), next())
}

pub(super) fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

pub(super) type Generator = Box<dyn Fn(&mut Rng) -> String>;
