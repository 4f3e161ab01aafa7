//! The adversarial token corpus: over 10,000 tokens in over 40 mutation classes, generated from a
//! fixed seed. Every one must be inactive on /introspect (byte-exact), 401 invalid_token on
//! /auth, and cost zero Redis commands; no `jku`/`x5u` URL may ever be fetched. Algorithm
//! confusion (an HMAC token keyed with the server's public key) is tested against RS256 and
//! ES256 servers.

use std::net::TcpListener;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use introspectd::clock::unix_now;
use introspectd::config::Backend;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::header::HeaderValue;
use serde_json::{json, Value};

use crate::helpers::{test_settings, TestApp, ISSUER, SECRET};

const PER_CLASS: usize = 230;
const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// xorshift64*: deterministic, so a failure names a reproducible token.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(alg: Algorithm, message: &str, key: &[u8]) -> String {
    jsonwebtoken::crypto::sign(message.as_bytes(), &EncodingKey::from_secret(key), alg)
        .expect("HMAC signing works")
}

/// header and payload given as raw bytes (so they may be anything), HS256-signed with `key`.
fn raw(header: impl AsRef<[u8]>, payload: impl AsRef<[u8]>, key: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = sign_with(Algorithm::HS256, &message, key);
    format!("{message}.{signature}")
}

fn claims(rng: &mut Rng) -> Value {
    let now = unix_now();
    json!({
        "sub": format!("user-{}", rng.below(1000)),
        "jti": format!("{:016x}", rng.next()),
        "iat": now - 10,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": "api",
        "scope": "read",
    })
}

/// A valid token with `claims` changed by `edit`.
fn valid_with(rng: &mut Rng, edit: impl FnOnce(&mut Value, &mut Rng)) -> String {
    let mut c = claims(rng);
    edit(&mut c, rng);
    raw(HS256, c.to_string(), SECRET.as_bytes())
}

fn valid(rng: &mut Rng) -> String {
    valid_with(rng, |_, _| {})
}

fn split(token: &str) -> (String, String, String) {
    let mut parts = token.splitn(3, '.');
    let mut next = || parts.next().unwrap_or("").to_owned();
    (next(), next(), next())
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

type Generator = Box<dyn Fn(&mut Rng) -> String>;

fn classes(listener_port: u16) -> Vec<(&'static str, Generator)> {
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
            raw(HS256, claims(rng).to_string(), &key)
        }),
    ));
    c.push((
        "signed with an empty key",
        Box::new(|rng| raw(HS256, claims(rng).to_string(), b"")),
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
                1 => [&b"\xef\xbb\xbf"[..], HS256.as_bytes()].concat(),
                _ => HS256.encode_utf16().flat_map(u16::to_le_bytes).collect(),
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
            raw(HS256, c, secret)
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
            raw(HS256, payload, secret)
        }),
    ));
    c.push((
        "payload with trailing garbage",
        Box::new(move |rng| raw(HS256, format!("{}garbage", claims(rng)), secret)),
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
            raw(HS256, body, secret)
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
            raw(HS256, body, secret)
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

#[tokio::test]
async fn every_corpus_token_is_inactive_on_both_endpoints_and_costs_no_redis_command() {
    let app = TestApp::spawn(Backend::Redis).await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let classes = classes(listener.local_addr().unwrap().port());
    assert!(classes.len() >= 40, "only {} classes", classes.len());
    let mut rng = Rng(0x1d5e_c7a1_0000_0001);
    let mut corpus = Vec::new();
    for (class, generate) in &classes {
        for _ in 0..PER_CLASS {
            corpus.push((*class, generate(&mut rng)));
        }
    }
    assert!(corpus.len() >= 10_000);
    // Warm the shared connection, then count from zero.
    app.assert_active(&valid(&mut rng)).await;
    app.redis().reset_stats();

    let mut not_sendable_as_header = 0;
    for chunk in corpus.chunks(64) {
        let mut set = tokio::task::JoinSet::new();
        for (class, token) in chunk {
            let (class, token) = (*class, token.clone());
            let (client, base) = (app.client.clone(), app.address.clone());
            set.spawn(async move {
                let res = client
                    .post(format!("{base}/introspect"))
                    .basic_auth(
                        crate::helpers::CLIENT_ID,
                        Some(crate::helpers::CLIENT_SECRET),
                    )
                    .form(&[("token", token.as_str())])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200, "{class}: {token}");
                assert_eq!(
                    res.text().await.unwrap(),
                    r#"{"active":false}"#,
                    "{class}: {token}"
                );
                // Tokens with CR, LF or other control characters cannot travel in a header.
                let Ok(header) = HeaderValue::from_bytes(format!("Bearer {token}").as_bytes())
                else {
                    return false;
                };
                let res = client
                    .get(format!("{base}/auth"))
                    .header("authorization", header)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 401, "{class}: {token}");
                assert_eq!(
                    res.headers()["www-authenticate"],
                    r#"Bearer realm="introspectd", error="invalid_token""#,
                    "{class}: {token}"
                );
                true
            });
        }
        while let Some(sent) = set.join_next().await {
            if !sent.expect("corpus request task") {
                not_sendable_as_header += 1;
            }
        }
    }
    assert_eq!(
        app.redis().command_calls(),
        0,
        "a corpus token reached Redis"
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a jku/x5u URL was fetched"
    );
    println!(
        "corpus: {} tokens in {} classes, all inactive on /introspect, {} also 401 on /auth \
         ({not_sendable_as_header} hold characters no header can carry), 0 Redis commands",
        corpus.len(),
        classes.len(),
        corpus.len() - not_sendable_as_header
    );
}

/// HS256 tokens keyed with the public key an RS256 or ES256 server verifies with.
#[tokio::test]
async fn hmac_tokens_keyed_with_the_public_key_are_refused() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (alg, file) in [("RS256", "rs256-public.pem"), ("ES256", "es256-public.pem")] {
        let pem_path = fixtures.join(file);
        let mut settings = test_settings(Backend::Memory, None);
        settings.jwt.algorithms = vec![alg.into()];
        settings.jwt.hmac_secret = None;
        settings.jwt.public_key_file = Some(pem_path.clone());
        let app = TestApp::spawn_settings(settings).await;
        let pem = std::fs::read_to_string(&pem_path).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body).unwrap();
        let keys: Vec<Vec<u8>> = vec![
            pem.clone().into_bytes(),
            format!("  {pem}").into_bytes(),
            pem.trim_end().as_bytes().to_vec(),
            der,
            json!({"kty": "RSA", "n": "x", "e": "AQAB"})
                .to_string()
                .into_bytes(),
        ];
        let mut rng = Rng(7);
        for (i, key) in keys.iter().enumerate() {
            for header in [
                r#"{"alg":"HS256"}"#,
                r#"{"alg":"HS512"}"#,
                r#"{"alg":"PS256"}"#,
            ] {
                let token = raw(header, claims(&mut rng).to_string(), key);
                app.assert_inactive(&token).await;
                let res = app
                    .client
                    .get(format!("{}/auth", app.address))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 401, "{alg} server, key {i}, header {header}");
            }
        }
    }
}

/// ES256 signature tricks (CVE-2022-21449 and friends) against an ES256 server.
#[tokio::test]
async fn es256_signature_tricks_are_refused() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut settings = test_settings(Backend::Memory, None);
    settings.jwt.algorithms = vec!["ES256".into()];
    settings.jwt.hmac_secret = None;
    settings.jwt.public_key_file = Some(fixtures.join("es256-public.pem"));
    let app = TestApp::spawn_settings(settings).await;
    let key = EncodingKey::from_ec_pem(&std::fs::read(fixtures.join("es256-private.pem")).unwrap())
        .unwrap();
    let mut rng = Rng(11);
    let message = format!(
        "{}.{}",
        b64(r#"{"alg":"ES256"}"#),
        b64(claims(&mut rng).to_string())
    );
    let good = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::ES256).unwrap();
    app.assert_active(&format!("{message}.{good}")).await;
    let raw_sig = URL_SAFE_NO_PAD.decode(&good).unwrap();
    let (r, s) = raw_sig.split_at(32);
    // The P-256 group order.
    let n = hex_bytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let der_int = |v: &[u8]| {
        let v: Vec<u8> = v.iter().copied().skip_while(|b| *b == 0).collect();
        let v = if v[0] & 0x80 != 0 {
            [&[0u8][..], &v].concat()
        } else {
            v
        };
        [&[0x02, v.len() as u8][..], &v].concat()
    };
    let body = [der_int(r), der_int(s)].concat();
    let der = [&[0x30, body.len() as u8][..], &body].concat();
    for (what, signature) in [
        ("r = s = 0", vec![0u8; 64]),
        ("r = s = n", [n.clone(), n.clone()].concat()),
        ("r = n, valid s", [n.clone(), s.to_vec()].concat()),
        ("DER instead of raw R||S", der),
        ("truncated", raw_sig[..63].to_vec()),
        ("P-384 length", [raw_sig.clone(), vec![0u8; 32]].concat()),
    ] {
        let res = app
            .introspect(&format!("{message}.{}", b64(signature)))
            .await;
        assert_eq!(res.text().await.unwrap(), r#"{"active":false}"#, "{what}");
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 7515 §4: header parameters that are not understood (and not in `crit`) are ignored.
#[tokio::test]
async fn unknown_header_parameters_are_ignored() {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut rng = Rng(13);
    for header in [
        r#"{"alg":"HS256","foo":"bar"}"#,
        r#"{"alg":"HS256","typ":"at+jwt","kid":"k1","x-tenant":{"a":[1,2]}}"#,
        r#"{"alg":"HS256","jku":"https://keys.example/jwks"}"#,
    ] {
        app.assert_active(&raw(
            header,
            claims(&mut rng).to_string(),
            SECRET.as_bytes(),
        ))
        .await;
    }
}
