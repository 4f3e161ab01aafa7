//! Mutation classes of the header and the signature: algorithms, keys, key-selection headers,
//! segment structure.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::json;

use super::generate::{b64, claims, hs256, raw, sign_with, split, valid, Generator, Rng};
use crate::helpers::SECRET;

pub(super) fn header_classes(listener_port: u16) -> Vec<(&'static str, Generator)> {
    let secret = SECRET.as_bytes();
    let attacker = |rng: &mut Rng| {
        let n = 32 + rng.below(32);
        rng.bytes(n)
    };
    let local = format!("http://127.0.0.1:{listener_port}/keys");
    let local2 = local.clone();
    let mut c: Vec<(&'static str, Generator)> = Vec::new();
    c.push((
        "alg none, any spelling",
        Box::new(|rng| {
            let alg = rng.pick(&["none", "None", "NONE", "nOnE", "noNE"]);
            let (_, p, s) = split(&valid(rng));
            let h = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            match rng.below(3) {
                0 => format!("{h}.{p}."),
                1 => format!("{h}.{p}.{s}"),
                _ => format!("{h}.{p}"),
            }
        }),
    ));
    c.push((
        "alg empty, missing, null, number or array",
        Box::new(move |rng| {
            let header = rng.pick(&[
                r#"{"alg":""}"#,
                r#"{"typ":"JWT"}"#,
                r#"{"alg":null}"#,
                r#"{"alg":256}"#,
                r#"{"alg":["HS256"]}"#,
                r#"{"alg":{"name":"HS256"}}"#,
            ]);
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "algorithm not allowed (HS384, HS512)",
        Box::new(move |rng| {
            let (alg, name) =
                *rng.pick(&[(Algorithm::HS384, "HS384"), (Algorithm::HS512, "HS512")]);
            let message = format!(
                "{}.{}",
                b64(format!(r#"{{"alg":"{name}"}}"#)),
                b64(claims(rng).to_string())
            );
            format!("{message}.{}", sign_with(alg, &message, secret))
        }),
    ));
    c.push((
        "empty signature",
        Box::new(|rng| {
            let (h, p, _) = split(&valid(rng));
            format!("{h}.{p}.")
        }),
    ));
    c.push((
        "short signature",
        Box::new(|rng| {
            let (h, p, _) = split(&valid(rng));
            let n = 1 + rng.below(16);
            format!("{h}.{p}.{}", b64(rng.bytes(n)))
        }),
    ));
    c.push((
        "all-zero signature",
        Box::new(|rng| {
            let (h, p, _) = split(&valid(rng));
            format!("{h}.{p}.{}", b64(vec![0u8; *rng.pick(&[32, 48, 64])]))
        }),
    ));
    c.push((
        "signature moved onto another payload",
        Box::new(|rng| {
            let (h, _, s) = split(&valid(rng));
            let (_, p, _) = split(&valid(rng));
            format!("{h}.{p}.{s}")
        }),
    ));
    c.push((
        "signed with another secret",
        Box::new(move |rng| {
            let key = attacker(rng);
            raw(hs256(), claims(rng).to_string(), &key)
        }),
    ));
    c.push((
        "signed with an empty key",
        Box::new(|rng| raw(hs256(), claims(rng).to_string(), b"")),
    ));
    c.push((
        "embedded jwk with the attacker's key",
        Box::new(move |rng| {
            let key = attacker(rng);
            let header = json!({"alg":"HS256","jwk":{"kty":"oct","k":b64(&key)}});
            raw(header.to_string(), claims(rng).to_string(), &key)
        }),
    ));
    c.push((
        "jku pointing at a local listener",
        Box::new(move |rng| {
            let key = attacker(rng);
            raw(
                json!({"alg":"HS256","jku":local}).to_string(),
                claims(rng).to_string(),
                &key,
            )
        }),
    ));
    c.push((
        "x5u pointing at a local listener",
        Box::new(move |rng| {
            let key = attacker(rng);
            raw(
                json!({"alg":"HS256","x5u":local2}).to_string(),
                claims(rng).to_string(),
                &key,
            )
        }),
    ));
    c.push((
        "self-made x5c chain",
        Box::new(move |rng| {
            let key = attacker(rng);
            let chain = vec![
                STANDARD.encode(rng.bytes(300)),
                STANDARD.encode(rng.bytes(300)),
            ];
            raw(
                json!({"alg":"HS256","x5c":chain}).to_string(),
                claims(rng).to_string(),
                &key,
            )
        }),
    ));
    c.push((
        "kid tricks with a foreign key",
        Box::new(move |rng| {
            let kid = rng
                .pick(&[
                    "../../../../dev/null",
                    "/proc/sys/kernel/randomize_va_space",
                    "' OR '1'='1",
                    "$(id)",
                    "`id`",
                    "..\\..\\key",
                ])
                .to_string();
            let key = if rng.below(2) == 0 {
                Vec::new()
            } else {
                attacker(rng)
            };
            raw(
                json!({"alg":"HS256","kid":kid}).to_string(),
                claims(rng).to_string(),
                &key,
            )
        }),
    ));
    c.push((
        "kid of the wrong type, validly signed",
        Box::new(move |rng| {
            let kid = rng
                .pick(&[json!(123), json!({"a":1}), json!(["k"]), json!(true)])
                .clone();
            raw(
                json!({"alg":"HS256","kid":kid}).to_string(),
                claims(rng).to_string(),
                secret,
            )
        }),
    ));
    c.push((
        "typ or cty of the wrong type, validly signed",
        Box::new(move |rng| {
            let header = rng
                .pick(&[
                    json!({"alg":"HS256","typ":1}),
                    json!({"alg":"HS256","cty":[]}),
                    json!({"alg":"HS256","typ":null,"cty":{}}),
                ])
                .clone();
            raw(header.to_string(), claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "crit header, validly signed",
        Box::new(move |rng| {
            let header = rng
                .pick(&[
                    json!({"alg":"HS256","crit":["exp"]}),
                    json!({"alg":"HS256","crit":["x-foo"],"x-foo":1}),
                    json!({"alg":"HS256","crit":[]}),
                    json!({"alg":"HS256","crit":["b64"],"b64":false}),
                ])
                .clone();
            raw(header.to_string(), claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "duplicate alg in the header, validly signed",
        Box::new(move |rng| {
            let header = rng.pick(&[
                r#"{"alg":"none","alg":"HS256"}"#,
                r#"{"alg":"HS256","alg":"none"}"#,
                r#"{"alg":"HS256","alg":"HS256"}"#,
            ]);
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "padded base64 segments",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            let pad = rng.pick(&["=", "=="]);
            match rng.below(3) {
                0 => format!("{h}{pad}.{p}.{s}"),
                1 => format!("{h}.{p}{pad}.{s}"),
                _ => format!("{h}.{p}.{s}{pad}"),
            }
        }),
    ));
    c
}
