//! JOSE compact serialization, parsed strictly: exactly three segments, and header and claims
//! as JSON objects with unique names (every string validated).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The three segments of a JWS compact token: the signed message (`header.payload`), its
/// header and payload segments, and the signature segment.
pub struct Segments<'a> {
    pub message: &'a str,
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
}

impl<'a> Segments<'a> {
    /// Exactly three segments: header.payload.signature.
    pub fn split(token: &'a str) -> Option<Segments<'a>> {
        let (message, signature) = token.rsplit_once('.')?;
        let (header, payload) = message.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        Some(Segments {
            message,
            header,
            payload,
            signature,
        })
    }
}

/// A JSON object whose names are unique, parsed in full (every string validated, nesting
/// bounded by serde_json's recursion limit). RFC 7515 §5.2 and RFC 7519 §4 let a parser reject
/// duplicate names or keep the last; rejecting leaves no doubt about which `alg`, `jti` or `sub`
/// a token carries.
pub struct UniqueObject(Map<String, Value>);

impl UniqueObject {
    /// Decodes a base64url segment into an object.
    pub fn from_segment(segment: &str) -> Option<Map<String, Value>> {
        let json = URL_SAFE_NO_PAD.decode(segment).ok()?;
        serde_json::from_slice::<UniqueObject>(&json)
            .ok()
            .map(|o| o.0)
    }
}

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with unique names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueObject, A::Error> {
                let mut claims = Map::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if claims.contains_key(&name) {
                        return Err(serde::de::Error::custom("duplicate name"));
                    }
                    claims.insert(name, value);
                }
                Ok(UniqueObject(claims))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}
