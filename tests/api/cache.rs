//! The verified-token cache (on by default): a token presented again skips verification only.
//! Expiry, revocation and subject revocation still apply at once; a token one byte away from a
//! cached one is verified on its own; the cache stays within `cache.max_bytes`. A miss is a
//! verification, so the hit and miss counters show which path a request took.

use std::sync::Arc;
use std::time::{Duration, Instant};

use introspectd::clock::unix_now;
use introspectd::config::Backend;
use introspectd::metrics::Metrics;
use introspectd::token::cache::TokenCache;
use introspectd::token::{Inactive, Verifier};
use serde_json::json;

use crate::helpers::{test_settings, token, token_with, TestApp};
use crate::on_both_backends;

async fn hits(app: &TestApp) -> f64 {
    app.metric("introspectd_token_cache_hits_total").await
}

async fn misses(app: &TestApp) -> f64 {
    app.metric("introspectd_token_cache_misses_total").await
}

#[tokio::test]
async fn a_presented_again_token_is_served_from_the_cache_and_leaves_it_with_its_exp() {
    let app = TestApp::spawn(Backend::Memory).await;
    let exp = unix_now() + 2;
    let t = token_with("alice", json!({ "exp": exp }));
    app.assert_active(&t).await;
    assert_eq!((hits(&app).await, misses(&app).await), (0.0, 1.0));
    assert_eq!(app.metric("introspectd_token_cache_entries").await, 1.0);
    app.assert_active(&t).await;
    assert_eq!((hits(&app).await, misses(&app).await), (1.0, 1.0));

    // From exp on the token is inactive, and its entry is gone with it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.introspect_json(&t).await["active"] == true {
        assert!(
            Instant::now() < deadline,
            "an expired cached token stays active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unix_now() >= exp);
    assert_eq!(app.requests_total("introspect", "expired").await, 1.0);
    // The entry is never served past exp; the cache's timer wheel (about 1 s ticks) then
    // removes it from memory.
    while app.metric("introspectd_token_cache_entries").await != 0.0 {
        assert!(
            Instant::now() < deadline,
            "an expired token stays in the cache"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hit path itself checks the time: a cached entry is never trusted past its token's exp,
/// whatever the cache's own expiry does. (Through the library, to set the verifier's clock.)
#[test]
fn a_cache_hit_past_exp_is_expired_without_a_new_verification() {
    let settings = test_settings(Backend::Memory, None);
    let metrics = Arc::new(Metrics::new(Backend::Memory));
    let verifier = Verifier::from_settings(&settings.jwt)
        .unwrap()
        .with_cache(TokenCache::new(1 << 20, Arc::clone(&metrics)));
    let exp = unix_now() + 600;
    let t = token_with("alice", json!({ "exp": exp }));
    assert!(verifier.verify(&t, unix_now()).is_ok());
    let rejection = verifier.verify(&t, exp).unwrap_err();
    assert_eq!(rejection.reason, Inactive::Expired);
    let nbf = token_with("bob", json!({ "nbf": unix_now() }));
    assert!(verifier.verify(&nbf, unix_now()).is_ok());
    let rejection = verifier.verify(&nbf, unix_now() - 5).unwrap_err();
    assert_eq!(rejection.reason, Inactive::NotYetValid);
    let scrape = metrics.render();
    assert!(
        scrape.contains("introspectd_token_cache_hits_total 2\n"),
        "{scrape}"
    );
    assert!(
        scrape.contains("introspectd_token_cache_misses_total 2\n"),
        "{scrape}"
    );
}

/// The revocation lookup runs on every request, cached or not.
async fn revocations_apply_to_cached_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let revoked = token("alice");
    let other = token("bob");
    for t in [&revoked, &other] {
        app.assert_active(t).await;
        app.assert_active(t).await;
    }
    assert_eq!(hits(&app).await, 2.0);
    assert_eq!(app.revoke(&revoked).await.status(), 200);
    app.assert_inactive(&revoked).await;
    assert_eq!(app.auth_bearer(&revoked, &[]).await.status(), 401);
    app.assert_active(&other).await;
    assert_eq!(app.auth_bearer(&other, &[]).await.status(), 200);

    // A subject revocation after caching applies to bob's token issued before it.
    let older = token_with("bob", json!({ "iat": unix_now() - 10 }));
    app.assert_active(&older).await;
    assert_eq!(app.revoke_subject("bob").await.status(), 200);
    app.assert_inactive(&older).await;
    assert_eq!(app.auth_bearer(&older, &[]).await.status(), 401);
}

on_both_backends! {
    cached_tokens_are_revoked_at_once => revocations_apply_to_cached_tokens;
}

#[tokio::test]
async fn a_token_one_signature_byte_away_from_a_cached_one_is_verified_and_refused() {
    let app = TestApp::spawn(Backend::Memory).await;
    let t = token("alice");
    app.assert_active(&t).await;
    let mut forged = t.clone().into_bytes();
    // The last base64url character of the signature, changed to another valid one.
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    app.assert_inactive(&forged).await;
    assert_eq!(misses(&app).await, 2.0, "the forged token was verified");
    assert_eq!(app.requests_total("introspect", "signature").await, 1.0);
    assert_eq!(app.metric("introspectd_token_cache_entries").await, 1.0);
    app.assert_active(&t).await;
}

#[tokio::test]
async fn the_cache_stays_within_max_bytes_and_answers_stay_right() {
    let max_bytes = 64 * 1024;
    let app = TestApp::spawn_with(Backend::Memory, |s| s.cache.max_bytes = max_bytes).await;
    // About 3 KiB of claims each: a few dozen fit, 150 do not.
    let tokens: Vec<String> = (0..150)
        .map(|i| token_with(&format!("user-{i}"), json!({ "pad": "x".repeat(3000) })))
        .collect();
    for t in &tokens {
        app.assert_active(t).await;
    }
    let bytes = app.metric("introspectd_token_cache_bytes").await;
    assert!(
        bytes > 0.0 && bytes <= max_bytes as f64,
        "{bytes} bytes cached"
    );
    assert!(app.metric("introspectd_token_cache_evictions_total").await > 0.0);
    let entries = app.metric("introspectd_token_cache_entries").await;
    assert!(entries < 150.0, "{entries} entries");
    // Evicted or not, every token still gets the right answer.
    for t in &tokens {
        app.assert_active(t).await;
    }
    assert_eq!(app.revoke(&tokens[0]).await.status(), 200);
    app.assert_inactive(&tokens[0]).await;
}

#[tokio::test]
async fn max_bytes_zero_turns_the_cache_and_its_metrics_off() {
    let app = TestApp::spawn_with(Backend::Memory, |s| s.cache.max_bytes = 0).await;
    let t = token("alice");
    app.assert_active(&t).await;
    app.assert_active(&t).await;
    assert_eq!(
        app.metric_if_exported("introspectd_token_cache_hits_total")
            .await,
        None
    );
}
