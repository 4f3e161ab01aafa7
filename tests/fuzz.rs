//! Fuzzing of the parsers that see hostile input: the token verifier, form bodies, Basic
//! credentials and `X-Required-Scope`. (cargo-fuzz needs a nightly toolchain, which these
//! machines do not have, so this is proptest.) `make test` runs each as a property test;
//! `make fuzz` runs `fuzz_for_a_while` in release mode for FUZZ_SECONDS per target and reports
//! any input slower than 10 ms.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use introspectd::client_auth::parse_basic;
use introspectd::clock::unix_now;
use introspectd::config::{JwtSettings, Secret};
use introspectd::form::Form;
use introspectd::scope::{is_scope_token, RequiredScopes};
use std::sync::Arc;

use introspectd::config::Backend;
use introspectd::metrics::Metrics;
use introspectd::token::cache::TokenCache;
use introspectd::token::Verifier;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

const SECRET: &str = "fuzz-secret-0123456789-abcdefghijklmnop";

fn verifier() -> Verifier {
    Verifier::from_settings(&JwtSettings {
        algorithms: vec!["HS256".into()],
        hmac_secret: Some(Secret::new(SECRET)),
        public_key_file: None,
        private_key_file: None,
        issuer: Some("https://issuer.fuzz".into()),
        audience: vec!["api".into()],
        leeway_secs: 0,
        max_lifetime_secs: 86_400,
        max_token_bytes: 8192,
        issuers: vec![],
    })
    .expect("fuzz verifier builds")
}

fn sign(header: &[u8], payload: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
    .expect("HMAC signs");
    format!("{message}.{signature}")
}

/// JSON-ish text: real JSON values, with some non-JSON mixed in.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "[a-zA-Z0-9 \\\\\"\u{0}-\u{1f}\u{d7ff}\u{e000}-\u{10ffff}]{0,12}"
            .prop_map(|s| format!("{:?}", s)),
        ".{0,8}",
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("alg".to_owned()),
                        Just("exp".to_owned()),
                        Just("crit".to_owned()),
                        "[a-z]{1,5}".prop_map(String::from)
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|v| format!(
                "{{{}}}",
                v.into_iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

/// Tokens: noise, three random segments, validly signed random JSON, and mutated valid tokens.
fn tokens() -> impl Strategy<Value = String> {
    let now = unix_now();
    let valid = sign(
        br#"{"alg":"HS256"}"#,
        format!(
            r#"{{"sub":"a","exp":{},"iss":"https://issuer.fuzz","aud":"api"}}"#,
            now + 600
        )
        .as_bytes(),
    );
    let v2 = valid.clone();
    prop_oneof![
        ".{0,300}",
        "[A-Za-z0-9._~+/=-]{0,300}",
        (any::<Vec<u8>>(), any::<Vec<u8>>(), any::<Vec<u8>>()).prop_map(|(a, b, c)| format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(a),
            URL_SAFE_NO_PAD.encode(b),
            URL_SAFE_NO_PAD.encode(c)
        )),
        (json_text(), json_text()).prop_map(|(h, p)| sign(h.as_bytes(), p.as_bytes())),
        (json_text(), json_text()).prop_map(|(h, p)| sign(
            format!(r#"{{"alg":"HS256","x":{h}}}"#).as_bytes(),
            p.as_bytes()
        )),
        (0..valid.len(), any::<u8>()).prop_map(move |(i, b)| {
            let mut bytes = valid.clone().into_bytes();
            bytes[i] = b;
            String::from_utf8_lossy(&bytes).into_owned()
        }),
        (0..v2.len(), ".{0,5}").prop_map(move |(i, s)| {
            let mut t = v2.clone();
            let i = (0..=i).rev().find(|i| t.is_char_boundary(*i)).unwrap_or(0);
            t.insert_str(i, &s);
            t
        }),
    ]
}

fn basic_values() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<Vec<u8>>(),
        ".{0,60}".prop_map(|s| format!("Basic {}", STANDARD.encode(s)).into_bytes()),
        any::<Vec<u8>>().prop_map(|b| [&b"basic "[..], &STANDARD.encode(b).into_bytes()].concat()),
        ("[ -~]{0,20}", "[ -~]{0,20}").prop_map(|(a, b)| format!(
            "Basic {}",
            STANDARD.encode(format!("{a}:{b}"))
        )
        .into_bytes()),
    ]
}

fn scope_headers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            any::<Vec<u8>>(),
            "[ -~]{0,40}".prop_map(String::into_bytes),
            "[a-z ]{0,20}".prop_map(String::into_bytes)
        ],
        0..4,
    )
}

fn check_token(verifier: &Verifier, token: &str) {
    let now = unix_now();
    if let Ok(t) = verifier.verify(token, now) {
        // Anything accepted really is one of ours: signed with our key and currently valid.
        assert!(t.checked().exp > now, "{token}");
        assert_eq!(
            t.claims().get("iss").and_then(|v| v.as_str()),
            Some("https://issuer.fuzz")
        );
    }
}

fn check_form(body: &[u8]) {
    if let Ok(form) = Form::parse(body) {
        let _ = form.get("token");
    }
}

/// Whatever parses, parses the same again once re-encoded as a client would send it: every
/// byte percent-encoded inside Basic, the two parts split on the first ':'.
fn check_basic(value: &[u8]) {
    if let Ok(Some((id, secret))) = parse_basic(value) {
        let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let again = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", encode(&id), encode(&secret)))
        );
        assert_eq!(
            parse_basic(again.as_bytes()).ok().flatten(),
            Some((id, secret))
        );
    }
}

fn check_scopes(headers: &[Vec<u8>], granted: &str) {
    let required = RequiredScopes::parse(headers.iter().map(Vec::as_slice));
    assert!(required.valid().all(is_scope_token));
    if required.is_satisfied_by(Some(granted)) {
        assert!(required.valid().all(|s| granted.split(' ').any(|g| g == s)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn verifier_never_panics_and_accepts_only_valid_tokens(token in tokens()) {
        check_token(&verifier(), &token);
    }

    /// A token that fails verification never enters the verified-token cache.
    #[test]
    fn no_rejected_token_enters_the_cache(token in tokens()) {
        let metrics = Arc::new(Metrics::new(Backend::Memory));
        let verifier = verifier().with_cache(TokenCache::new(1 << 20, Arc::clone(&metrics)));
        let accepted = verifier.verify(&token, unix_now()).is_ok();
        let entries = if accepted { 1 } else { 0 };
        let scrape = metrics.render();
        prop_assert!(
            scrape.contains(&format!("introspectd_token_cache_entries {entries}\n")),
            "{token}"
        );
    }

    #[test]
    fn form_parser_never_panics(body in any::<Vec<u8>>()) {
        check_form(&body);
    }

    #[test]
    fn form_parser_round_trips(pairs in prop::collection::vec(("[a-z_]{1,8}", ".{0,20}"), 0..6)) {
        let body = pairs
            .iter()
            .map(|(k, v)| {
                let enc: String = v.bytes().map(|b| format!("%{b:02X}")).collect();
                format!("{k}={enc}")
            })
            .collect::<Vec<_>>()
            .join("&");
        let form = Form::parse(body.as_bytes()).unwrap();
        for (k, v) in &pairs {
            if pairs.iter().filter(|(k2, _)| k2 == k).count() == 1 {
                let expected = Some(v.as_str()).filter(|v| !v.is_empty());
                prop_assert_eq!(form.get(k).unwrap(), expected);
            }
        }
    }

    #[test]
    fn basic_parser_never_panics(value in basic_values()) {
        check_basic(&value);
    }

    #[test]
    fn scope_parser_echoes_only_scope_tokens(headers in scope_headers(), granted in "[a-z ]{0,20}") {
        check_scopes(&headers, &granted);
    }
}

/// Runs `check` on generated inputs for `budget`; returns (inputs, slowest input and its time).
fn fuzz<S: Strategy>(
    budget: Duration,
    strategy: S,
    check: impl Fn(&S::Value),
) -> (u64, Duration, String)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::deterministic();
    let deadline = Instant::now() + budget;
    let (mut count, mut slowest, mut slowest_input) = (0u64, Duration::ZERO, String::new());
    while Instant::now() < deadline {
        let value = strategy
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        let start = Instant::now();
        check(&value);
        let took = start.elapsed();
        if took > slowest {
            slowest = took;
            slowest_input = format!("{value:?}");
        }
        count += 1;
    }
    (count, slowest, slowest_input)
}

#[test]
#[ignore = "make fuzz: bounded-time fuzzing in release mode"]
fn fuzz_for_a_while() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let budget = Duration::from_secs(seconds);
    let verifier = verifier();
    let results = [
        (
            "token verifier",
            fuzz(budget, tokens(), |t| check_token(&verifier, t)),
        ),
        (
            "form parser",
            fuzz(budget, any::<Vec<u8>>(), |b| check_form(b)),
        ),
        (
            "Basic credentials",
            fuzz(budget, basic_values(), |v| check_basic(v)),
        ),
        (
            "X-Required-Scope",
            fuzz(budget, (scope_headers(), "[a-z ]{0,20}"), |(h, g)| {
                check_scopes(h, g)
            }),
        ),
    ];
    let mut slow = Vec::new();
    for (target, (count, slowest, input)) in &results {
        println!("fuzz {target}: {count} inputs in {seconds} s, no panic, slowest {slowest:?}");
        if *slowest > Duration::from_millis(10) {
            slow.push(format!("{target}: {slowest:?} for {input}"));
        }
    }
    assert!(slow.is_empty(), "inputs slower than 10 ms: {slow:#?}");
}
