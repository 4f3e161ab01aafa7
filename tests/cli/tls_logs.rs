//! Secret hygiene with managed Redis: the whole flow at trace level over mutual TLS with an ACL
//! user whose password is in a file. Neither the password nor the private key's contents appear
//! in any log line.

use crate::redis_support::{free_port, TestRedis};
use crate::support::*;
use crate::tls_support::Pki;

#[tokio::test]
async fn mutual_tls_and_a_password_file_never_reach_the_logs() {
    let dir = Dir::new();
    let pki = Pki::generate(&dir.0);
    let tls_port = free_port();
    let redis = TestRedis::start_with_args(false, pki.redis_args(tls_port, "server", true));
    let password = "pw-only-in-a-file-7c1e";
    let _: () = redis.cmd(&[
        "ACL",
        "SETUSER",
        "introspectd",
        "on",
        &format!(">{password}"),
        "~introspectd:*",
        "+@all",
    ]);
    let password_file = dir.write("password", &format!("{password}\n"));
    let config = dir.write(
        "c.toml",
        &(hs_config()
            + &format!(
                "[store]\nbackend = \"redis\"\nredis_url = \"rediss://127.0.0.1:{tls_port}/0\"\n\
                 tls_ca_file = \"{}\"\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n\
                 redis_username = \"introspectd\"\nredis_password_file = \"{}\"\n",
                pki.file("ca.crt"),
                pki.file("client.crt"),
                pki.file("client.key"),
                password_file.display()
            )),
    );
    let server = serve(&config, &[("INTROSPECTD__LOG__LEVEL", "trace")]);
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let token = mint(&config, "alice");
    for path in ["/introspect", "/revoke", "/introspect"] {
        let res = http
            .post(format!("{}{path}", server.base))
            .basic_auth("gw", Some(CLIENT_SECRET))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let logs = server.stop();
    assert!(
        logs.lines().count() > 10,
        "trace logging produced too little: {logs}"
    );
    assert!(!logs.contains(password), "the password reached the logs");
    let key = std::fs::read_to_string(pki.file("client.key")).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "the private key reached the logs");
    }
    assert!(
        !logs.contains("PRIVATE KEY"),
        "a private key reached the logs"
    );
    assert!(!logs.contains(&token), "the token reached the logs");
}
