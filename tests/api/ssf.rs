//! `POST /ssf/events`: the Shared Signals push receiver. SETs are signed in the test with the
//! fake identity provider's key (made per test), for every event introspectd maps and for every
//! error code of RFC 8935.

use introspectd::clock::unix_now;
use introspectd::config::{Backend, Settings};
use serde_json::{json, Map, Value};

use crate::backchannel::IdpApp;
use crate::helpers::TempDir;
use crate::idp::{IdpKey, IDP};

const AUDIENCE: &str = "https://introspectd.example/ssf";
const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
const RISC: &str = "https://schemas.openid.net/secevent/risc/event-type/";

fn ssf_on(s: &mut Settings) {
    s.ssf.enabled = true;
    s.ssf.audience = vec![AUDIENCE.into()];
}

async fn start(backend: Backend) -> IdpApp {
    IdpApp::start_with(backend, ssf_on).await
}

/// A SET's claims: one event of `event_type` with `members`, about `sub_id`.
fn set_claims(event_type: &str, members: Value, sub_id: Value) -> Map<String, Value> {
    json!({"iss": IDP, "aud": AUDIENCE, "iat": unix_now(), "jti": uuid::Uuid::new_v4().to_string(),
           "sub_id": sub_id, "events": {event_type: members}})
    .as_object()
    .unwrap()
    .clone()
}

fn set(key: &IdpKey, claims: &Map<String, Value>) -> String {
    key.sign(json!({"typ": "secevent+jwt"}), claims)
}

fn alice() -> Value {
    json!({"format": "iss_sub", "iss": IDP, "sub": "alice"})
}

async fn push(app: &IdpApp, token: &str) -> reqwest::Response {
    push_with(app, token, "application/secevent+jwt", None).await
}

async fn push_with(
    app: &IdpApp,
    token: &str,
    content_type: &str,
    bearer: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .app
        .post("/ssf/events")
        .header("content-type", content_type)
        .body(token.to_owned());
    if let Some(bearer) = bearer {
        req = req.bearer_auth(bearer);
    }
    req.send().await.expect("an answer")
}

async fn assert_accepted(res: reqwest::Response) {
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.unwrap(), "");
}

async fn assert_refused(res: reqwest::Response, err: &str) {
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["err"], err, "{body}");
    assert!(body["description"].is_string(), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

async fn events(app: &IdpApp, event: &str, result: &str) -> f64 {
    app.app
        .metric(&format!(
            r#"introspectd_security_events_total{{event="{event}",result="{result}"}}"#
        ))
        .await
}

async fn revocations(app: &IdpApp) -> f64 {
    app.app.metric_sum("introspectd_revocations_total").await
}

/// Waits (bounded) for the next second of the clock: not-befores have one-second resolution.
async fn next_second() {
    let now = unix_now();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while unix_now() <= now {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// An access token of the provider for `sub` with extra claims, issued `age` seconds ago.
fn access(app: &IdpApp, sub: &str, age: i64, extra: Value) -> String {
    let now = unix_now();
    let mut claims = json!({"iss": IDP, "aud": "api", "sub": sub, "iat": now - age,
                            "exp": now + 600, "jti": uuid::Uuid::new_v4().to_string()});
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    app.key.sign(json!({}), claims.as_object().unwrap())
}

async fn session_revoked_ends_the_session_or_the_subject(backend: Backend) {
    let l = start(backend).await;
    let s1 = access(&l, "alice", 5, json!({"sid": "s1"}));
    let s2 = access(&l, "alice", 5, json!({"sid": "s2"}));
    let complex = json!({"format": "complex", "user": alice(),
                         "session": {"format": "opaque", "id": "s1"}});
    let event = format!("{CAEP}session-revoked");
    assert_accepted(push(&l, &set(&l.key, &set_claims(&event, json!({}), complex))).await).await;
    l.app.assert_inactive(&s1).await;
    l.app.assert_active(&s2).await;
    assert_eq!(events(&l, "session-revoked", "applied").await, 1.0);
    // Without a session: the subject.
    assert_accepted(push(&l, &set(&l.key, &set_claims(&event, json!({}), alice()))).await).await;
    l.app.assert_inactive(&s2).await;
    assert_eq!(l.app.requests_total("ssf_events", "revoked").await, 2.0);
}

async fn every_subject_wide_event_revokes_the_subject(backend: Backend) {
    let l = start(backend).await;
    for (i, event) in [
        format!("{CAEP}credential-change"),
        format!("{RISC}sessions-revoked"),
        format!("{RISC}credential-compromise"),
        format!("{RISC}account-purged"),
    ]
    .iter()
    .enumerate()
    {
        let sub = format!("user-{i}");
        let before = access(&l, &sub, 5, json!({}));
        let bystander = access(&l, "bystander", 5, json!({}));
        let subject = json!({"format": "opaque", "id": sub});
        let res = push(&l, &set(&l.key, &set_claims(event, json!({}), subject))).await;
        assert_accepted(res).await;
        l.app.assert_inactive(&before).await;
        l.app.assert_active(&bystander).await;
    }
    // A token issued afterwards (the next second: not-befores have one-second resolution) is
    // good: a revoked subject is not a disabled account.
    next_second().await;
    l.app
        .assert_active(&access(&l, "user-3", 0, json!({})))
        .await;
    assert_eq!(revocations(&l).await, 4.0);
    for name in [
        "credential-change",
        "sessions-revoked",
        "credential-compromise",
        "account-purged",
    ] {
        assert_eq!(events(&l, name, "applied").await, 1.0, "{name}");
    }
}

async fn an_email_subject_ends_the_tokens_that_carry_it(backend: Backend) {
    let l = start(backend).await;
    let with_email = access(&l, "alice", 5, json!({"email": "Alice@Example.com"}));
    let other_email = access(&l, "alice", 5, json!({"email": "alice@work.example"}));
    let no_email = access(&l, "alice", 5, json!({}));
    let subject = json!({"format": "email", "email": "alice@example.com"});
    let event = format!("{CAEP}credential-change");
    assert_accepted(push(&l, &set(&l.key, &set_claims(&event, json!({}), subject))).await).await;
    l.app.assert_inactive(&with_email).await;
    l.app.assert_active(&other_email).await;
    l.app.assert_active(&no_email).await;
}

async fn a_disabled_account_has_no_active_token_until_it_is_enabled(backend: Backend) {
    let l = start(backend).await;
    let before = access(&l, "alice", 5, json!({}));
    let disabled = format!("{RISC}account-disabled");
    let enabled = format!("{RISC}account-enabled");
    assert_accepted(push(&l, &set(&l.key, &set_claims(&disabled, json!({}), alice()))).await).await;
    l.app.assert_inactive(&before).await;
    // A token issued while the account is disabled (in a later second than the disabling: the
    // not-before of the tokens before it has one-second resolution) is refused too.
    next_second().await;
    let during = access(&l, "alice", 0, json!({}));
    l.app.assert_inactive(&during).await;
    assert_eq!(
        l.app.requests_total("introspect", "account_disabled").await,
        2.0
    );
    l.app.assert_active(&access(&l, "bob", 5, json!({}))).await;
    assert_accepted(push(&l, &set(&l.key, &set_claims(&enabled, json!({}), alice()))).await).await;
    l.app.assert_active(&during).await;
    l.app.assert_inactive(&before).await;
    assert_eq!(events(&l, "account-disabled", "applied").await, 1.0);
    assert_eq!(events(&l, "account-enabled", "applied").await, 1.0);
}

async fn an_event_introspectd_does_not_act_on_is_accepted_and_counted(backend: Backend) {
    let l = start(backend).await;
    let t = access(&l, "alice", 5, json!({}));
    let event = format!("{CAEP}token-claims-change");
    let claims = set_claims(&event, json!({"claims": {"role": "ro"}}), alice());
    assert_accepted(push(&l, &set(&l.key, &claims)).await).await;
    l.app.assert_active(&t).await;
    assert_eq!(events(&l, "other", "ignored").await, 1.0);
    assert_eq!(revocations(&l).await, 0.0);
}

async fn a_replayed_set_is_accepted_and_written_once(backend: Backend) {
    let l = start(backend).await;
    let token = set(
        &l.key,
        &set_claims(&format!("{RISC}sessions-revoked"), json!({}), alice()),
    );
    assert_accepted(push(&l, &token).await).await;
    assert_accepted(push(&l, &token).await).await;
    assert_eq!(revocations(&l).await, 1.0);
    assert_eq!(events(&l, "sessions-revoked", "replayed").await, 1.0);
}

crate::on_both_backends! {
    ssf_session_revoked => session_revoked_ends_the_session_or_the_subject;
    ssf_subject_events => every_subject_wide_event_revokes_the_subject;
    ssf_email_subject => an_email_subject_ends_the_tokens_that_carry_it;
    ssf_disable_enable => a_disabled_account_has_no_active_token_until_it_is_enabled;
    ssf_other_event => an_event_introspectd_does_not_act_on_is_accepted_and_counted;
    ssf_replay => a_replayed_set_is_accepted_and_written_once;
}

/// The not-before is the event's time when it says when it happened.
#[tokio::test]
async fn the_not_before_is_the_events_timestamp() {
    let l = start(Backend::Memory).await;
    let old = access(&l, "alice", 200, json!({"sid": "s"}));
    let newer = access(&l, "alice", 50, json!({"sid": "s"}));
    let complex = json!({"format": "complex", "session": {"format": "opaque", "id": "s"}});
    let event = format!("{CAEP}session-revoked");
    let members = json!({"event_timestamp": unix_now() - 100});
    assert_accepted(push(&l, &set(&l.key, &set_claims(&event, members, complex))).await).await;
    l.app.assert_inactive(&old).await;
    l.app.assert_active(&newer).await;
}

/// Every RFC 8935 error code, each with nothing written.
#[tokio::test]
async fn each_error_code_refuses_and_writes_nothing() {
    let dir = TempDir::new();
    let bearer_file = dir.0.join("bearer");
    std::fs::write(&bearer_file, "transmitter-secret\n").unwrap();
    let l = IdpApp::start_with(Backend::Memory, |s| {
        ssf_on(s);
        s.ssf.bearer_token_file = bearer_file.clone();
    })
    .await;
    let t = access(&l, "alice", 5, json!({}));
    let event = format!("{RISC}sessions-revoked");
    let good = || set_claims(&event, json!({}), alice());
    let send = |token: String| {
        let l = &l;
        async move {
            push_with(
                l,
                &token,
                "application/secevent+jwt",
                Some("transmitter-secret"),
            )
            .await
        }
    };
    let mut stranger = good();
    stranger.insert("iss".into(), json!("https://stranger.test"));
    let mut other_aud = good();
    other_aud.insert("aud".into(), json!("https://someone-else.example"));
    let mut two = good();
    two.insert(
        "events".into(),
        json!({format!("{RISC}sessions-revoked"): {}, format!("{RISC}account-purged"): {}}),
    );
    let mut none = good();
    none.insert("events".into(), json!({}));
    let mut no_jti = good();
    no_jti.remove("jti");
    let mut phone = good();
    phone.insert(
        "sub_id".into(),
        json!({"format": "phone_number", "phone_number": "+1"}),
    );
    let forger = IdpKey::generated("logout-key");
    let cases = [
        (
            send(forger.sign(json!({"typ": "secevent+jwt"}), &good())).await,
            "invalid_key",
        ),
        (send(set(&l.key, &stranger)).await, "invalid_issuer"),
        (send(set(&l.key, &other_aud)).await, "invalid_audience"),
        (send(set(&l.key, &two)).await, "invalid_request"),
        (send(set(&l.key, &none)).await, "invalid_request"),
        (send(set(&l.key, &no_jti)).await, "invalid_request"),
        (send(set(&l.key, &phone)).await, "invalid_request"),
        (
            send(l.key.sign(json!({"typ": "JWT"}), &good())).await,
            "invalid_request",
        ),
        (
            send(l.key.sign(json!({}), &good())).await,
            "invalid_request",
        ),
        (
            push_with(
                &l,
                &set(&l.key, &good()),
                "application/jwt",
                Some("transmitter-secret"),
            )
            .await,
            "invalid_request",
        ),
        (
            push_with(&l, &set(&l.key, &good()), "application/secevent+jwt", None).await,
            "authentication_failed",
        ),
        (
            push_with(
                &l,
                &set(&l.key, &good()),
                "application/secevent+jwt",
                Some("guess"),
            )
            .await,
            "authentication_failed",
        ),
    ];
    for (res, err) in cases {
        assert_refused(res, err).await;
    }
    l.app.assert_active(&t).await;
    assert_eq!(revocations(&l).await, 0.0);
    // With the bearer token, the same SET is applied.
    assert_accepted(send(set(&l.key, &good())).await).await;
    l.app.assert_inactive(&t).await;
}

#[tokio::test]
async fn a_store_failure_is_503_so_the_transmitter_retries() {
    let mut l = IdpApp::start_with(Backend::Redis, |s| {
        ssf_on(s);
        crate::helpers::mirror_off(s);
    })
    .await;
    let t = access(&l, "alice", 5, json!({}));
    let token = set(
        &l.key,
        &set_claims(&format!("{RISC}credential-compromise"), json!({}), alice()),
    );
    l.app.redis_mut().stop();
    let res = push(&l, &token).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(
        events(&l, "credential-compromise", "unavailable").await,
        1.0
    );
    l.app.redis_mut().restart();
    assert_accepted(push(&l, &token).await).await;
    l.app.assert_inactive(&t).await;
}

#[tokio::test]
async fn the_receiver_is_off_unless_enabled() {
    let l = IdpApp::start(Backend::Memory).await;
    let token = set(
        &l.key,
        &set_claims(&format!("{RISC}account-purged"), json!({}), alice()),
    );
    assert_eq!(push(&l, &token).await.status(), 404);
    assert!(
        !l.app
            .metrics()
            .await
            .contains("introspectd_security_events_total"),
        "no security event series while [ssf] is off"
    );
}

/// A disabled account and its enabling reach a replica answering from its mirror at once.
#[tokio::test]
async fn disabling_and_enabling_reach_every_replica_at_once() {
    let l = start(Backend::Redis).await;
    let issuer = crate::idp::issuer_settings(IDP, &["ES256"], "api");
    let jwks = l.app_issuer_jwks_url();
    let replica = l
        .app
        .replica_with(|s| {
            s.jwt.hmac_secret = None;
            s.jwt.issuer = None;
            s.jwt.audience.clear();
            s.jwt.issuers = vec![introspectd::config::IssuerSettings {
                jwks_url: Some(jwks),
                allow_http: true,
                ..issuer
            }];
            ssf_on(s);
        })
        .await;
    // Issued a second before the disabling at least: its not-before outlives the flag.
    let before = access(&l, "alice", 1, json!({}));
    replica.assert_active(&before).await;
    let disabled = format!("{RISC}account-disabled");
    assert_accepted(push(&l, &set(&l.key, &set_claims(&disabled, json!({}), alice()))).await).await;
    replica.assert_inactive(&before).await;
    // Issued in a later second than the disabling (see `next_second`): only the flag holds it.
    next_second().await;
    let during = access(&l, "alice", 0, json!({}));
    replica.assert_inactive(&during).await;
    let enabled = format!("{RISC}account-enabled");
    assert_accepted(push(&l, &set(&l.key, &set_claims(&enabled, json!({}), alice()))).await).await;
    replica.assert_active(&during).await;
    replica.assert_inactive(&before).await;
    assert_eq!(
        replica
            .requests_total("introspect", "account_disabled")
            .await,
        2.0
    );
}
