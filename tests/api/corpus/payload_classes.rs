//! Mutation classes of the payload: claims of the wrong type or value, JSON oddities, sizes.

use introspectd::clock::unix_now;
use serde_json::json;

use super::generate::{b64, claims, hs256, nested, raw, split, valid, valid_with, Generator};
use crate::helpers::{ISSUER, SECRET};

pub(super) fn payload_classes() -> Vec<(&'static str, Generator)> {
    let secret = SECRET.as_bytes();
    let mut c: Vec<(&'static str, Generator)> = Vec::new();
    c.push((
        "standard base64 alphabet",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            let mut p: Vec<char> = p.chars().collect();
            let i = rng.below(p.len());
            p[i] = *rng.pick(&['+', '/']);
            format!("{h}.{}.{s}", p.into_iter().collect::<String>())
        }),
    ));
    c.push((
        "non-canonical trailing bits in the signature",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            // 43 characters: the last one carries 2 unused bits, which must be zero.
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut s = s.into_bytes();
            let last = s.len() - 1;
            let v = ALPHABET.iter().position(|c| *c == s[last]).unwrap();
            s[last] = ALPHABET[v | (1 + rng.below(3))];
            format!("{h}.{p}.{}", String::from_utf8(s).unwrap())
        }),
    ));
    c.push((
        "whitespace inside",
        Box::new(|rng| {
            let mut t: Vec<char> = valid(rng).chars().collect();
            let i = 1 + rng.below(t.len() - 2);
            t.insert(i, *rng.pick(&[' ', '\t', '\n', '\r']));
            t.into_iter().collect()
        }),
    ));
    c.push((
        "empty segments",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            match rng.below(4) {
                0 => format!("{h}..{s}"),
                1 => format!(".{p}.{s}"),
                2 => "..".to_owned(),
                _ => "...".to_owned(),
            }
        }),
    ));
    c.push((
        "two segments",
        Box::new(|rng| {
            let (h, p, _) = split(&valid(rng));
            format!("{h}.{p}")
        }),
    ));
    c.push((
        "four or five segments",
        Box::new(|rng| {
            let t = valid(rng);
            let (_, _, s) = split(&t);
            match rng.below(3) {
                0 => format!("{t}.{s}"),
                1 => format!("{t}."),
                _ => format!(
                    "{}.{}.{}.{}.{}",
                    b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#),
                    b64(rng.bytes(40)),
                    b64(rng.bytes(12)),
                    b64(rng.bytes(60)),
                    b64(rng.bytes(16))
                ),
            }
        }),
    ));
    c.push(("double base64", Box::new(|rng| b64(valid(rng)))));
    c.push((
        "junk characters in the signature",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            let junk = rng.pick(&["!", "@", "$", "%", "*", "~"]);
            let i = rng.below(s.len());
            format!("{h}.{p}.{}{junk}{}", &s[..i], &s[i..])
        }),
    ));
    c.push((
        "unicode in a segment",
        Box::new(|rng| {
            let (h, p, s) = split(&valid(rng));
            let u = rng.pick(&["é", "ü", "\u{1f600}", "\u{202e}"]);
            format!("{h}.{p}{u}.{s}")
        }),
    ));
    c.push((
        "header not UTF-8, with a BOM, or UTF-16",
        Box::new(move |rng| {
            let header: Vec<u8> = match rng.below(3) {
                0 => vec![0xff, 0xfe, b'{', b'}'],
                1 => [&b"\xef\xbb\xbf"[..], hs256().as_bytes()].concat(),
                _ => hs256().encode_utf16().flat_map(u16::to_le_bytes).collect(),
            };
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "header with a lone surrogate or trailing garbage",
        Box::new(move |rng| {
            let header = rng.pick(&[
                r#"{"alg":"HS256","x":"\ud800"}"#,
                r#"{"alg":"HS256"}xyz"#,
                r#"{"alg":"HS256"}{}"#,
            ]);
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "header not an object",
        Box::new(move |rng| {
            let header = rng.pick(&["[]", r#""x""#, "1", "null", "true"]);
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "deeply nested header",
        Box::new(move |rng| {
            let header = format!(r#"{{"alg":"HS256","x":{}}}"#, nested(200 + rng.below(2000)));
            raw(header, claims(rng).to_string(), secret)
        }),
    ));
    c.push((
        "deeply nested payload, validly signed",
        Box::new(move |rng| {
            let mut c = claims(rng).to_string();
            c.insert_str(1, &format!(r#""x":{},"#, nested(200 + rng.below(2000))));
            raw(hs256(), c, secret)
        }),
    ));
    c.push((
        "payload not JSON or not an object",
        Box::new(move |rng| {
            let payload: Vec<u8> = match rng.below(4) {
                0 => rng.bytes(40),
                1 => b"[]".to_vec(),
                2 => b"\"exp\"".to_vec(),
                _ => b"null".to_vec(),
            };
            raw(hs256(), payload, secret)
        }),
    ));
    c.push((
        "payload with trailing garbage",
        Box::new(move |rng| raw(hs256(), format!("{}garbage", claims(rng)), secret)),
    ));
    c.push((
        "duplicate claim names",
        Box::new(move |rng| {
            let c = claims(rng).to_string();
            let dup = rng.pick(&[
                r#""exp":1,"#,
                r#""sub":"root","#,
                r#""jti":"other","#,
                r#""iss":"https://evil","#,
            ]);
            let body = format!("{{{dup}{}", &c[1..]);
            raw(hs256(), body, secret)
        }),
    ));
    c.push((
        "exp of the wrong type",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let now = unix_now() + 600;
                c["exp"] = rng
                    .pick(&[
                        json!(now.to_string()),
                        json!(null),
                        json!(true),
                        json!([now]),
                        json!({"v": now}),
                    ])
                    .clone();
            })
        }),
    ));
    c.push((
        "nbf or iat of the wrong type",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let name = *rng.pick(&["nbf", "iat"]);
                c[name] = rng
                    .pick(&[json!("0"), json!("now"), json!(null), json!([])])
                    .clone();
            })
        }),
    ));
    c.push((
        "string claims of the wrong type",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let name = *rng.pick(&["iss", "sub", "jti", "client_id", "username"]);
                c[name] = rng
                    .pick(&[json!(123), json!(["a"]), json!({"a": 1}), json!(false)])
                    .clone();
            })
        }),
    ));
    c.push((
        "aud of the wrong type",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                c["aud"] = rng
                    .pick(&[
                        json!(123),
                        json!(["api", 1]),
                        json!({"api": true}),
                        json!(null),
                    ])
                    .clone();
            })
        }),
    ));
    c.push((
        "huge, negative or out-of-range exp",
        Box::new(move |rng| {
            let exp = *rng.pick(&[
                "-1",
                "-9223372036854775808",
                "18446744073709551616",
                "1e300",
                "1e400",
                "9999999999999",
            ]);
            let mut c = claims(rng);
            c.as_object_mut().unwrap().remove("exp");
            let body = format!("{{\"exp\":{exp},{}", &c.to_string()[1..]);
            raw(hs256(), body, secret)
        }),
    ));
    c.push((
        "no exp",
        Box::new(|rng| {
            valid_with(rng, |c, _| {
                c.as_object_mut().unwrap().remove("exp");
            })
        }),
    ));
    c.push((
        "expired",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                c["exp"] = json!(unix_now() - 1 - rng.below(1_000_000) as i64);
            })
        }),
    ));
    c.push((
        "not yet valid (nbf or iat in the future)",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let name = *rng.pick(&["nbf", "iat"]);
                c[name] = json!(unix_now() + 1 + rng.below(100_000) as i64);
            })
        }),
    ));
    c.push((
        "wrong issuer",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let iss = rng
                    .pick(&[
                        json!("https://ISSUER.test"),
                        json!("https://issuer.test/"),
                        json!("https://evil.test"),
                        json!(["evil", ISSUER]),
                        json!(null),
                    ])
                    .clone();
                if iss.is_null() {
                    c.as_object_mut().unwrap().remove("iss");
                } else {
                    c["iss"] = iss;
                }
            })
        }),
    ));
    c.push((
        "wrong audience",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                let aud = rng
                    .pick(&[
                        json!("web"),
                        json!([]),
                        json!(["web"]),
                        json!("API"),
                        json!(null),
                    ])
                    .clone();
                if aud.is_null() {
                    c.as_object_mut().unwrap().remove("aud");
                } else {
                    c["aud"] = aud;
                }
            })
        }),
    ));
    c.push((
        "lifetime longer than allowed",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                c["exp"] = json!(unix_now() + 86_401 + rng.below(10_000_000) as i64);
            })
        }),
    ));
    c.push((
        "oversized, validly signed",
        Box::new(|rng| {
            valid_with(rng, |c, rng| {
                c["pad"] = json!("x".repeat(6200 + rng.below(4000)));
            })
        }),
    ));
    c
}
