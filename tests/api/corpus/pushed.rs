//! The corpus's mutation classes applied to the tokens identity providers push: logout tokens to
//! `/backchannel-logout` and security event tokens to `/ssf/events`, each class mutating a valid
//! token of that kind. Every one is refused (400), and none costs a Redis command.

use introspectd::config::Backend;

use super::generate::{set_kind, valid, Kind, Rng, PER_CLASS, RECEIVER};
use crate::helpers::TestApp;

/// Classes whose mutation only breaks a rule of access tokens (nbf, the lifetime bound, a
/// required exp, the types of claims a logout token does not carry): applied to a logout token
/// or a SET, some of their tokens are valid.
const ACCESS_ONLY: [&str; 6] = [
    "no exp",
    "huge, negative or out-of-range exp",
    "lifetime longer than allowed",
    "not yet valid (nbf or iat in the future)",
    "nbf or iat of the wrong type",
    "string claims of the wrong type",
];

async fn post(client: &reqwest::Client, base: &str, kind: Kind, token: &str) -> reqwest::Response {
    let req = match kind {
        Kind::Logout => client
            .post(format!("{base}/backchannel-logout"))
            .form(&[("logout_token", token)]),
        _ => client
            .post(format!("{base}/ssf/events"))
            .header("content-type", "application/secevent+jwt")
            .body(token.to_owned()),
    };
    req.send().await.expect("an answer")
}

#[tokio::test]
async fn every_malformed_logout_token_and_set_is_refused_without_a_redis_command() {
    let app = TestApp::spawn_with(Backend::Redis, |s| {
        crate::helpers::mirror_off(s);
        // Thousands of failures from one address: the limiter would answer 429 instead.
        s.client_auth.max_failures = 0;
        s.backchannel_logout.enabled = true;
        s.backchannel_logout.audience = vec![RECEIVER.into()];
        s.ssf.enabled = true;
        s.ssf.audience = vec![RECEIVER.into()];
    })
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut total = 0;
    for (kind, accepted) in [(Kind::Logout, 200), (Kind::SecurityEvent, 202)] {
        set_kind(kind);
        let classes = super::classes(listener.local_addr().unwrap().port());
        let mut rng = Rng(0x5e7_10c0_0000_0001);
        // A valid token of this kind is accepted: the refusals below are the mutations'.
        let first = post(&app.client, &app.address, kind, &valid(&mut rng)).await;
        assert_eq!(first.status(), accepted);
        let corpus: Vec<(&str, String)> = classes
            .iter()
            .filter(|(class, _)| !ACCESS_ONLY.contains(class))
            .flat_map(|(class, generate)| {
                let tokens: Vec<String> = (0..PER_CLASS).map(|_| generate(&mut rng)).collect();
                tokens.into_iter().map(move |t| (*class, t))
            })
            .collect();
        app.redis().reset_stats();
        for chunk in corpus.chunks(64) {
            let mut set = tokio::task::JoinSet::new();
            for (class, token) in chunk {
                let (class, token) = (*class, token.clone());
                let (client, base) = (app.client.clone(), app.address.clone());
                set.spawn(async move {
                    let res = post(&client, &base, kind, &token).await;
                    assert_eq!(res.status(), 400, "{kind:?} {class}: {token}");
                });
            }
            while let Some(done) = set.join_next().await {
                done.expect("corpus request task");
            }
        }
        assert_eq!(
            app.redis().command_calls(),
            0,
            "a malformed {kind:?} reached Redis"
        );
        total += corpus.len();
    }
    set_kind(Kind::Access);
    assert!(total >= 10_000, "only {total} tokens");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a jku/x5u URL was fetched"
    );
    // Only the two valid tokens wrote anything.
    assert_eq!(app.metric_sum("introspectd_revocations_total").await, 2.0);
    println!(
        "pushed corpus: {total} malformed logout tokens and SETs, all refused, 0 Redis commands"
    );
}
