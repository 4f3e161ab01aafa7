//! The adversarial token corpus: over 10,000 tokens in over 40 mutation classes, generated from a
//! fixed seed. Every one must be inactive on /introspect (byte-exact), 401 invalid_token on
//! /auth and over Envoy's gRPC ext_authz, and cost zero Redis commands; no `jku`/`x5u` URL may ever be fetched. Algorithm
//! confusion (an HMAC token keyed with the server's public key) is tested against RS256 and
//! ES256 servers.

mod generate;
mod header_classes;
mod payload_classes;
mod pushed;

use std::net::TcpListener;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use introspectd::config::Backend;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::header::HeaderValue;
use serde_json::json;

use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;

use crate::grpc::check_request;
use crate::helpers::{test_settings, TestApp, SECRET};
use generate::{b64, claims, raw, valid, Generator, Rng, PER_CLASS};

/// Every class, header and signature first, then payload.
fn classes(listener_port: u16) -> Vec<(&'static str, Generator)> {
    let mut c = header_classes::header_classes(listener_port);
    c.extend(payload_classes::payload_classes());
    c
}

#[tokio::test]
async fn every_corpus_token_is_inactive_on_both_endpoints_and_costs_no_redis_command() {
    // The MGET path, where any store lookup would show as a Redis command.
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        crate::helpers::mirror_off(s);
        crate::grpc::grpc_on(s);
    })
    .await;
    let grpc = AuthorizationClient::new(app.grpc_channel().await);
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
            let mut grpc = grpc.clone();
            set.spawn(async move {
                // Envoy over gRPC carries any string: every token, even those no HTTP header
                // can carry, gets the /auth answer.
                let bearer = format!("Bearer {token}");
                let request = check_request(&[("authorization", &bearer)], &[], false);
                let checked = grpc.check(request).await.expect("a decision").into_inner();
                assert_eq!(checked.status.unwrap().code, 16, "{class}: {token}");
                let Some(HttpResponse::DeniedResponse(denied)) = checked.http_response else {
                    panic!("{class}: not denied");
                };
                assert_eq!(denied.status.unwrap().code, 401, "{class}");
                let mut challenge = denied.headers.iter().filter_map(|h| h.header.as_ref());
                let challenge = challenge.find(|h| h.key == "www-authenticate").unwrap();
                assert_eq!(
                    challenge.value, r#"Bearer realm="introspectd", error="invalid_token""#,
                    "{class}: {token}"
                );
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
    // The one valid token of the warm-up is the only entry: no corpus token was cached.
    assert_eq!(app.metric("introspectd_token_cache_entries").await, 1.0);
    assert_eq!(app.metric("introspectd_token_cache_hits_total").await, 0.0);
    println!(
        "corpus: {} tokens in {} classes, all inactive on /introspect, {} also 401 on /auth \
         ({not_sendable_as_header} hold characters no header can carry), all 401 over gRPC, \
         0 Redis commands",
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
