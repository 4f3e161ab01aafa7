//! The key scheme, shared by both stores.
//!
//! ```text
//! generation:     {prefix}generation                        value: "<id> <not_before>", no TTL
//! stream:         {prefix}{{prefix}generation}revocations   a Redis Stream of revocations
//! mirror acks:    {prefix}{{prefix}generation}mirror_acks   hash: replica id -> position, lease
//! subject entry:  {prefix}{<subject tag>}s                 value: not_before (unix seconds)
//! token entry:    {prefix}{<subject tag>}j<hash of jti>     value: 1
//!                 {prefix}{<subject tag>}t<hash of token>   (token without jti)
//! disabled flag:  {prefix}{<subject tag>}d                 value: 1 (0 once enabled again)
//! session entry:  {prefix}{<session tag>}e                 value: not_before (unix seconds)
//! email entry:    {prefix}{<email tag>}m                   value: not_before (unix seconds)
//! replay marker:  {prefix}{<its entry's tag>}r<hash of iss, jti>   value: 1
//! ```
//! Tags and hashes are truncated SHA-256 in base64url (subject tag 96 bits, token hash 128 bits), so
//! a key's size never depends on claim size. The subject tag is a Redis hash tag: a token's entry
//! and its subject's entry always share a cluster slot, so one check stays one `MGET`. The stream
//! and the acknowledgements carry the generation marker's whole name as their hash tag (the
//! prefix has no braces, so the marker is hashed whole): in cluster mode all three share a slot,
//! so one script or pipeline reads them together, and the shard that loses the stream loses the
//! marker with it, which is how the loss is noticed.
//!
//! A session entry (issuer and `sid`) carries its own tag, not its subject's: a session is
//! revoked by `/revoke/session` or by a logout token that may carry only `sid`, neither of which
//! knows the subject, while `/revoke/subject` knows no session; no tag is known to all three. So
//! outside cluster mode the session's entry simply joins the check's MGET, and in cluster mode a
//! token that carries `sid` reads two slots, pipelined (one round trip, two commands; none at all
//! once the mirror holds its lease, which is the default). Tagging by session spreads sessions
//! over the cluster, as subjects are. A replay marker (a logout or security event applied once)
//! takes the tag of the entry it guards, so the script that checks it writes that entry too.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::token::TokenId;

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The generation marker (no TTL): see generation.rs.
    pub fn generation(&self) -> String {
        format!("{}generation", self.prefix)
    }

    /// The stream of revocations (every revocation appends to it, in the same script as its
    /// entry), from which replicas keep their local mirror of the blocklist.
    pub fn stream(&self) -> String {
        self.beside_generation("revocations")
    }

    /// The replicas' acknowledgements of the stream: replica id → "<stream id> <valid until, ms
    /// on the Redis clock>".
    pub fn mirror_acks(&self) -> String {
        self.beside_generation("mirror_acks")
    }

    /// A readiness probe key (see store/redis/probe.rs).
    pub fn readiness_probe(&self, kind: &str) -> String {
        self.beside_generation(&format!("readiness_{kind}"))
    }

    /// A key in the generation marker's cluster slot.
    fn beside_generation(&self, name: &str) -> String {
        format!("{}{{{}}}{name}", self.prefix, self.generation())
    }

    /// Entry holding a subject's `not_before`.
    pub fn subject(&self, sub: &str) -> String {
        let mut key = self.tagged(Some(sub));
        key.push('s');
        key
    }

    /// Entry marking one token revoked. `sub` is the token's subject claim, if any.
    pub fn token(&self, sub: Option<&str>, id: &TokenId) -> String {
        let mut key = self.tagged(sub);
        match id {
            TokenId::Jti(jti) => {
                key.push('j');
                push_hash(&mut key, &digest(b"jti\0", jti.as_bytes())[..16]);
            }
            TokenId::TokenHash(hash) => {
                key.push('t');
                push_hash(&mut key, &hash[..16]);
            }
        }
        key
    }

    /// A subject's disabled flag (a security event disabled the account).
    pub fn disabled(&self, sub: &str) -> String {
        let mut key = self.tagged(Some(sub));
        key.push('d');
        key
    }

    /// Entry holding the not-before of tokens carrying an `email` claim (a security event named
    /// the subject by email); compared without regard to ASCII case.
    pub fn email(&self, email: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 20);
        key.push_str(&self.prefix);
        key.push('{');
        let lower = email.to_ascii_lowercase();
        push_hash(&mut key, &digest_parts(b"email\0", &[&lower])[..12]);
        key.push_str("}m");
        key
    }

    /// Entry holding a session's not-before: the issuer (`iss`, or "" when no issuer is
    /// configured) and the session id.
    pub fn session(&self, iss: &str, sid: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 20);
        key.push_str(&self.prefix);
        key.push('{');
        push_hash(&mut key, &digest_parts(b"sid\0", &[iss, sid])[..12]);
        key.push_str("}e");
        key
    }

    /// A replay marker for what `iss` identified as `jti` (a logout token, a security event),
    /// beside `entry`, the entry it guards: the same hash tag.
    pub fn replay(&self, entry: &str, iss: &str, jti: &str) -> String {
        let tag_end = entry.find('}').map_or(entry.len(), |end| end + 1);
        let mut key = String::with_capacity(tag_end + 23);
        key.push_str(&entry[..tag_end]);
        key.push('r');
        push_hash(&mut key, &digest_parts(b"replay\0", &[iss, jti])[..16]);
        key
    }

    fn tagged(&self, sub: Option<&str>) -> String {
        let mut key = String::with_capacity(self.prefix.len() + 48);
        key.push_str(&self.prefix);
        key.push('{');
        push_hash(
            &mut key,
            &digest(b"sub\0", sub.unwrap_or("").as_bytes())[..12],
        );
        key.push('}');
        key
    }
}

fn digest(domain: &[u8], value: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(value);
    h.finalize().into()
}

/// A digest of several strings, each prefixed with its length, so ("a", "bc") and ("ab", "c")
/// never collide.
fn digest_parts(domain: &[u8], parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

fn push_hash(key: &mut String, bytes: &[u8]) {
    URL_SAFE_NO_PAD.encode_string(bytes, key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_and_share_the_subject_hash_tag() {
        let keys = Keys::new("introspectd:");
        let long = "x".repeat(16 * 1024);
        let subject = keys.subject(&long);
        let token = keys.token(Some(&long), &TokenId::Jti(long.clone()));
        assert_eq!(subject.len(), "introspectd:".len() + 16 + 2 + 1);
        assert_eq!(token.len(), "introspectd:".len() + 16 + 2 + 1 + 22);
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_string();
        assert_eq!(tag(&subject), tag(&token));
    }

    #[test]
    fn namespaces_do_not_collide() {
        let keys = Keys::new("p:");
        let jti = keys.token(Some("alice"), &TokenId::Jti("x".into()));
        assert_ne!(jti, keys.token(Some("jti:x"), &TokenId::Jti("x".into())));
        assert_ne!(jti, keys.token(Some("alice"), &TokenId::Jti("y".into())));
        assert_ne!(keys.subject("alice"), keys.subject("bob"));
        assert_ne!(keys.subject("a:b"), keys.subject("a"));
        // A subject named like a key never lands on a token entry.
        assert!(keys.subject("x").ends_with('s'));
        assert!(jti.contains("}j"));
        let hash = TokenId::TokenHash([7; 32]);
        assert!(keys.token(None, &hash).contains("}t"));
    }

    /// Redis's hash-tag rule: the slot is computed from the text between the first `{` and the
    /// first `}` after it, when that text is not empty; otherwise from the whole key.
    fn hashed_part(key: &str) -> &str {
        key.find('{')
            .and_then(|open| {
                let rest = &key[open + 1..];
                rest.find('}')
                    .filter(|&close| close > 0)
                    .map(|close| &rest[..close])
            })
            .unwrap_or(key)
    }

    #[test]
    fn session_keys_are_bounded_distinct_and_guarded_in_their_own_slot() {
        let keys = Keys::new("p:");
        let long = "x".repeat(16 * 1024);
        let session = keys.session(&long, &long);
        assert_eq!(session.len(), "p:".len() + 16 + 3);
        assert!(session.ends_with("}e"));
        assert_ne!(keys.session("a", "bc"), keys.session("ab", "c"));
        assert_ne!(keys.session("", "s"), keys.session("https://idp", "s"));
        // Neither a subject's nor a token's entry, whatever the strings.
        assert_ne!(
            hashed_part(&keys.session("", "alice")),
            hashed_part(&keys.subject("alice"))
        );
        assert_eq!(
            keys.email("Alice@Example.com"),
            keys.email("alice@example.com")
        );
        assert!(keys.email("a").ends_with("}m"));
        let disabled = keys.disabled("alice");
        assert!(disabled.ends_with("}d"));
        assert_eq!(hashed_part(&disabled), hashed_part(&keys.subject("alice")));
        let replay = keys.replay(&session, "https://idp", "jti-1");
        assert_eq!(hashed_part(&replay), hashed_part(&session));
        assert_ne!(replay, keys.replay(&session, "https://idp", "jti-2"));
        assert_ne!(replay, keys.replay(&session, "https://other", "jti-1"));
        let subject = keys.subject("alice");
        assert_eq!(
            hashed_part(&keys.replay(&subject, "i", "j")),
            hashed_part(&subject)
        );
    }

    #[test]
    fn the_stream_and_the_acknowledgements_share_the_markers_slot() {
        let keys = Keys::new("introspectd:");
        assert_eq!(
            keys.stream(),
            "introspectd:{introspectd:generation}revocations"
        );
        for key in [keys.stream(), keys.mirror_acks()] {
            assert_eq!(hashed_part(&key), hashed_part(&keys.generation()));
        }
        assert_ne!(
            hashed_part(&keys.subject("a")),
            hashed_part(&keys.generation())
        );
    }
}
