//! `POST /backchannel-logout`: OpenID Connect Back-Channel Logout 1.0. The fake identity
//! provider of idp.rs publishes a key generated for each test; logout tokens and access tokens
//! are signed with it. Every rule of §2.6 has its own test; a refused token writes nothing.

use introspectd::clock::unix_now;
use introspectd::config::{Backend, IssuerSettings, Settings};
use serde_json::{json, Map, Value};

use crate::helpers::TestApp;
use crate::idp::{Idp, IdpKey, IDP};

/// The client id registered at the identity provider with introspectd's logout URL.
const CLIENT: &str = "orders-web";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// An identity provider with a fresh key, and introspectd trusting it, the receiver on.
pub struct IdpApp {
    pub app: TestApp,
    pub key: IdpKey,
    issuer: IssuerSettings,
    _idp: Idp,
}

/// introspectd trusting `issuer` only, with the back-channel logout receiver on.
fn trust(s: &mut Settings, issuer: &IssuerSettings) {
    s.jwt.hmac_secret = None;
    s.jwt.issuer = None;
    s.jwt.audience.clear();
    s.jwt.issuers = vec![issuer.clone()];
    s.backchannel_logout.enabled = true;
    s.backchannel_logout.audience = vec![CLIENT.into()];
}

impl IdpApp {
    pub async fn start(backend: Backend) -> IdpApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> IdpApp {
        let key = IdpKey::generated("logout-key");
        let idp = Idp::start(&[&key]).await;
        let redis = (backend == Backend::Redis).then(crate::support::TestRedis::start);
        let issuer = idp.issuer(&["ES256"], "api");
        let app = TestApp::spawn_on(redis, backend, |s| {
            trust(s, &issuer);
            tweak(s);
        })
        .await;
        IdpApp {
            app,
            key,
            issuer,
            _idp: idp,
        }
    }

    /// The JWKS address of the fake identity provider (for replicas' settings).
    pub fn app_issuer_jwks_url(&self) -> String {
        self.issuer.jwks_url.clone().expect("a JWKS issuer")
    }

    /// An access token of the identity provider for `sub`, in session `sid` (none: no sid),
    /// issued `age` seconds ago.
    pub fn access_token(&self, sub: &str, sid: Option<&str>, age: i64) -> String {
        let now = unix_now();
        let mut claims = json!({"iss": IDP, "aud": "api", "sub": sub, "iat": now - age,
                                "exp": now + 600, "jti": uuid::Uuid::new_v4().to_string()});
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        self.key.sign(json!({}), claims.as_object().unwrap())
    }

    /// A logout token with `changes` to the valid claims (null removes one) and to the header.
    pub fn logout_token(&self, header: Value, changes: Value) -> String {
        self.key.sign(header, &logout_claims(changes))
    }

    pub async fn deliver(&self, token: &str) -> reqwest::Response {
        self.deliver_to(&self.app, token).await
    }

    pub async fn deliver_to(&self, app: &TestApp, token: &str) -> reqwest::Response {
        app.post("/backchannel-logout")
            .form(&[("logout_token", token)])
            .send()
            .await
            .expect("an answer")
    }

    async fn session_revocations(&self) -> f64 {
        self.app
            .metric(r#"introspectd_revocations_total{kind="session"}"#)
            .await
    }
}

/// The claims of a valid logout token for alice's session s1, with `changes`.
pub fn logout_claims(changes: Value) -> Map<String, Value> {
    let now = unix_now();
    let mut claims = json!({"iss": IDP, "aud": CLIENT, "iat": now, "exp": now + 120,
                            "jti": uuid::Uuid::new_v4().to_string(), "sub": "alice", "sid": "s1",
                            "events": {EVENT: {}}});
    for (k, v) in changes.as_object().expect("changes are an object") {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims.as_object().unwrap().clone()
}

async fn assert_refused(res: reqwest::Response, why: &str) {
    assert_eq!(res.status(), 400, "{why}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(body["error_description"], why);
}

/// One rule: the token is refused with its reason, nothing is written, alice's session lives.
async fn refused(header: Value, changes: Value, why: &str) {
    let l = IdpApp::start(Backend::Memory).await;
    let alice = l.access_token("alice", Some("s1"), 5);
    assert_refused(l.deliver(&l.logout_token(header, changes)).await, why).await;
    l.app.assert_active(&alice).await;
    assert_eq!(l.session_revocations().await, 0.0);
    assert_eq!(
        l.app
            .requests_total("backchannel_logout", "invalid_request")
            .await,
        1.0
    );
}

macro_rules! logout_rule {
    ($($name:ident: $header:expr, $changes:expr => $why:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                refused($header, $changes, $why).await;
            }
        )*
    };
}

logout_rule! {
    iss_must_be_a_configured_issuer: json!({}), json!({"iss": "https://stranger.test"})
        => "the logout token's iss is not a configured issuer";
    aud_must_name_a_configured_client: json!({}), json!({"aud": "someone-else"})
        => "aud names no client of backchannel_logout.audience";
    iat_is_required: json!({}), json!({"iat": null}) => "the iat claim is required";
    iat_must_not_be_in_the_future: json!({}), json!({"iat": unix_now() + 3600})
        => "iat is in the future";
    iat_older_than_max_age_is_refused: json!({}), json!({"iat": unix_now() - 3600, "exp": null})
        => "the token is too old (iat)";
    exp_is_honoured_when_present: json!({}), json!({"iat": unix_now() - 300, "exp": unix_now() - 200})
        => "the logout token has expired";
    jti_is_required: json!({}), json!({"jti": null}) => "the jti claim is required";
    events_must_hold_the_logout_event: json!({}), json!({"events": {"http://other.example": {}}})
        => "events must hold http://schemas.openid.net/event/backchannel-logout as an object";
    the_logout_event_must_be_an_object: json!({}), json!({"events": {EVENT: "yes"}})
        => "events must hold http://schemas.openid.net/event/backchannel-logout as an object";
    sid_or_sub_is_required: json!({}), json!({"sid": null, "sub": null})
        => "a sid or sub claim is required";
    nonce_must_be_absent: json!({}), json!({"nonce": "n-0S6_WzA2Mj"})
        => "a logout token must not contain nonce";
    typ_when_present_must_be_logout_jwt: json!({"typ": "JWT"}), json!({})
        => "the typ header must be logout+jwt";
    an_algorithm_outside_the_allowlist_is_refused: json!({"alg": "ES384"}), json!({})
        => "the logout token's signature does not verify";
    alg_none_is_refused: json!({"alg": "none"}), json!({}) => "the logout token is malformed";
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let l = IdpApp::start(Backend::Memory).await;
    let alice = l.access_token("alice", Some("s1"), 5);
    let forger = IdpKey::generated("logout-key");
    let forged = forger.sign(json!({}), &logout_claims(json!({})));
    assert_refused(
        l.deliver(&forged).await,
        "the logout token's signature does not verify",
    )
    .await;
    l.app.assert_active(&alice).await;
    assert_eq!(l.session_revocations().await, 0.0);
}

async fn a_sid_logout_ends_that_session_only(backend: Backend) {
    let l = IdpApp::start(backend).await;
    let s1 = l.access_token("alice", Some("s1"), 5);
    let s2 = l.access_token("alice", Some("s2"), 5);
    let no_sid = l.access_token("alice", None, 5);
    l.app.assert_active(&s1).await;
    let res = l
        .deliver(&l.logout_token(json!({"typ": "logout+jwt"}), json!({})))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.text().await.unwrap(), "");
    l.app.assert_inactive(&s1).await;
    assert_eq!(l.app.auth_bearer(&s1, &[]).await.status(), 401);
    l.app.assert_active(&s2).await;
    l.app.assert_active(&no_sid).await;
    // A new login in a new session is unaffected.
    l.app
        .assert_active(&l.access_token("alice", Some("s3"), 0))
        .await;
    assert_eq!(l.session_revocations().await, 1.0);
    assert_eq!(
        l.app
            .metric(r#"introspectd_revocations_total{kind="subject"}"#)
            .await,
        0.0
    );
    assert_eq!(
        l.app.requests_total("backchannel_logout", "revoked").await,
        1.0
    );
}

async fn a_sub_only_logout_ends_every_session_of_the_subject(backend: Backend) {
    let l = IdpApp::start(backend).await;
    let s1 = l.access_token("alice", Some("s1"), 5);
    let no_sid = l.access_token("alice", None, 5);
    let bob = l.access_token("bob", Some("s9"), 5);
    let res = l
        .deliver(&l.logout_token(json!({}), json!({"sid": null})))
        .await;
    assert_eq!(res.status(), 200);
    l.app.assert_inactive(&s1).await;
    l.app.assert_inactive(&no_sid).await;
    l.app.assert_active(&bob).await;
    assert_eq!(
        l.app
            .metric(r#"introspectd_revocations_total{kind="subject"}"#)
            .await,
        1.0
    );
    assert_eq!(l.session_revocations().await, 0.0);
}

async fn a_replay_is_accepted_and_written_once(backend: Backend) {
    let l = IdpApp::start(backend).await;
    let token = l.logout_token(json!({}), json!({}));
    assert_eq!(l.deliver(&token).await.status(), 200);
    let res = l.deliver(&token).await;
    assert_eq!(res.status(), 200, "a replay is accepted");
    assert_eq!(l.session_revocations().await, 1.0, "and written once");
    assert_eq!(
        l.app.requests_total("backchannel_logout", "replayed").await,
        1.0
    );
    // The same session logged out again by a new token is a new revocation.
    let again = l.logout_token(json!({}), json!({}));
    assert_eq!(l.deliver(&again).await.status(), 200);
    assert_eq!(l.session_revocations().await, 2.0);
}

crate::on_both_backends! {
    sid_logout => a_sid_logout_ends_that_session_only;
    sub_logout => a_sub_only_logout_ends_every_session_of_the_subject;
    logout_replay => a_replay_is_accepted_and_written_once;
}

/// The replay leaves Redis as the first delivery left it: one stream entry, the same
/// not-before, even a second later.
#[tokio::test]
async fn a_replay_writes_nothing_to_redis() {
    let l = IdpApp::start(Backend::Redis).await;
    let token = l.logout_token(json!({}), json!({}));
    assert_eq!(l.deliver(&token).await.status(), 200);
    let redis = l.app.redis();
    let key = introspectd::store::Keys::new("introspectd:").session(IDP, "s1");
    let first: String = redis.cmd(&["GET", &key]);
    let stream = introspectd::store::Keys::new("introspectd:").stream();
    let entries: i64 = redis.cmd(&["XLEN", &stream]);
    // The next second: a second write would move the not-before.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while unix_now() <= first.parse::<i64>().unwrap() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(l.deliver(&token).await.status(), 200);
    let after: String = redis.cmd(&["GET", &key]);
    assert_eq!(after, first);
    assert_eq!(redis.cmd::<i64>(&["XLEN", &stream]), entries);
}

#[tokio::test]
async fn a_store_failure_is_503_and_the_retry_takes_effect() {
    let mut l = IdpApp::start_with(Backend::Redis, crate::helpers::mirror_off).await;
    let alice = l.access_token("alice", Some("s1"), 5);
    let token = l.logout_token(json!({}), json!({}));
    l.app.redis_mut().stop();
    let res = l.deliver(&token).await;
    assert_eq!(res.status(), 503, "the identity provider retries");
    assert_eq!(res.headers()["retry-after"], "1");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    l.app.redis_mut().restart();
    // Nothing was half-written: no replay marker swallows the retry.
    let res = l.deliver(&token).await;
    assert_eq!(res.status(), 200);
    l.app.assert_inactive(&alice).await;
    assert_eq!(l.session_revocations().await, 1.0);
}

#[tokio::test]
async fn a_logout_on_one_replica_is_seen_on_another_at_once() {
    let l = IdpApp::start(Backend::Redis).await;
    let alice = l.access_token("alice", Some("s1"), 5);
    let replica = l.app.replica_with(|s| trust(s, &l.issuer)).await;
    replica.assert_active(&alice).await;
    let res = l.deliver(&l.logout_token(json!({}), json!({}))).await;
    assert_eq!(res.status(), 200);
    replica.assert_inactive(&alice).await;
}

#[tokio::test]
async fn the_receiver_is_off_unless_enabled_and_the_token_is_required() {
    let l = IdpApp::start_with(Backend::Memory, |s| s.backchannel_logout.enabled = false).await;
    let res = l.deliver(&l.logout_token(json!({}), json!({}))).await;
    assert_eq!(res.status(), 404);
    let l = IdpApp::start(Backend::Memory).await;
    let res = l
        .app
        .post("/backchannel-logout")
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_refused(res, "the logout_token parameter is required").await;
    // Over the body limit: 413, nothing read.
    let big = "x".repeat(64 * 1024);
    let res = l
        .app
        .post("/backchannel-logout")
        .form(&[("logout_token", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

/// A logout token is never an access token, however it is presented.
#[tokio::test]
async fn a_logout_token_is_not_an_access_token() {
    let l = IdpApp::start(Backend::Memory).await;
    let mut claims = logout_claims(json!({"aud": "api", "exp": unix_now() + 600}));
    claims.insert("scope".into(), json!("read"));
    let token = l.key.sign(json!({"typ": "logout+jwt"}), &claims);
    l.app.assert_inactive(&token).await;
    assert_eq!(l.app.auth_bearer(&token, &[]).await.status(), 401);
}

/// Failures are limited per source and per (configured) issuer, as client authentication.
#[tokio::test]
async fn repeated_failures_are_limited_per_source_and_per_issuer() {
    let l = IdpApp::start_with(Backend::Memory, |s| s.client_auth.max_failures = 3).await;
    let from = |ip: &str| crate::helpers::client_from(ip);
    let (a, b) = (from("127.0.0.2"), from("127.0.0.3"));
    let bad = l.logout_token(json!({}), json!({"aud": "nobody"}));
    let post = |client: &reqwest::Client, token: &str| {
        client
            .post(format!("{}/backchannel-logout", l.app.address))
            .form(&[("logout_token", token.to_owned())])
            .send()
    };
    for _ in 0..3 {
        assert_eq!(post(&a, &bad).await.unwrap().status(), 400);
    }
    // Source a is locked, even for a good token; so is the issuer it failed for.
    let good = l.logout_token(json!({}), json!({}));
    let res = post(&a, &good).await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        post(&b, &good).await.unwrap().status(),
        429,
        "issuer locked"
    );
    // A token claiming no configured issuer from another source is judged (and refused).
    let stranger = l.logout_token(json!({}), json!({"iss": "https://stranger.test"}));
    let res = post(&b, &stranger).await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        l.app
            .requests_total("backchannel_logout", "rate_limited")
            .await,
        2.0
    );
}
