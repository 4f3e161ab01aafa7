//! Bad configuration stops start-up with exactly one line naming the key.

use crate::support::*;

#[test]
fn bad_configuration_exits_with_one_line_naming_the_key() {
    let ec_public = fixture("es256-public.pem");
    let rsa_public = fixture("rs256-public.pem");
    let not_a_key = fixture("README.md");
    type Env = Vec<(&'static str, &'static str)>;
    let cases: Vec<(String, Env, &str)> = vec![
        (format!("{}[jwt]\nleway_secs = 1\n", ""), vec![], "jwt.leway_secs"),
        (hs_config().replace("[jwt]", "[jwt]\nisuer = \"x\""), vec![], "jwt.isuer"),
        (format!("[stor]\nbackend = \"redis\"\n{}", hs_config()), vec![], "stor"),
        (hs_config() + "[store]\nbackend = \"mongo\"\n", vec![], "store.backend"),
        (hs_config() + "[store]\non_error = \"sometimes\"\n", vec![], "store.on_error"),
        (hs_config() + "[store]\nredis_url = \"not a url\"\n", vec![], "store.redis_url"),
        (hs_config().replace("127.0.0.1:0", "localhost"), vec![], "server.listen"),
        (hs_config().replace("[server]", "[server]\ngrpc_listen = \"localhost:9191\""), vec![], "server.grpc_listen"),
        (hs_config().replace("[server]", "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]"), vec![], "server.trusted_proxies[1]"),
        (hs_config(), vec![("INTROSPECTD__JWT__LEEWAY_SECS", "abc")], "jwt.leeway_secs"),
        (hs_config() + "[backchannel_logout]\nenabled = true\n", vec![], "backchannel_logout.audience"),
        (hs_config() + "[backchannel_logout]\nenabled = true\naudience = [\"web\"]\nmax_age_secs = 0\n", vec![], "backchannel_logout.max_age_secs"),
        (hs_config().replace("issuer = \"https://issuer.test\"\n", "") + "[backchannel_logout]\nenabled = true\naudience = [\"web\"]\n", vec![], "backchannel_logout.enabled"),
        (hs_config() + "[backchannel_logout]\nenabeld = true\n", vec![], "backchannel_logout.enabeld"),
        (hs_config() + "[ssf]\nenabled = true\n", vec![], "ssf.audience"),
        (hs_config() + "[store]\nbackend = \"file\"\npath = \"\"\n", vec![], "store.path"),
        (hs_config() + "[store]\nbackend = \"disk\"\n", vec![], "store.backend"),
        (hs_config() + "[ssf]\nenabled = true\naudience = [\"a\"]\nbearer_token_file = \"/nonexistent/bearer\"\n", vec![], "ssf.bearer_token_file"),
        (hs_config().replace("issuer = \"https://issuer.test\"\n", "") + "[ssf]\nenabled = true\naudience = [\"a\"]\n", vec![], "ssf.enabled"),
        (hs_config() + "[[clients]]\nid = \"gw\"\nsecret = \"x\"\n", vec![], "clients[1].id"),
        (base_config(&format!("hmac_secret = \"{SECRET}\"")).replace("[[clients]]\nid = \"gw\"\nsecret = \"cli-client-secret-xyz\"\n", ""), vec![], "clients"),
        (base_config("algorithms = [\"none\"]"), vec![], "jwt.algorithms"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{}\"", fixture("rs1024-public.pem"))), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{}\"", fixture("rs2047-public.pem"))), vec![], "jwt.public_key_file"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"http://idp/jwks\""), vec![], "jwt.issuers[0].jwks_url"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://idp/jwks\"\ndiscovery_url = \"https://idp/.well-known/openid-configuration\""), vec![], "jwt.issuers[0].issuer"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"none\"]\njwks_url = \"https://idp/jwks\""), vec![], "jwt.issuers[0].algorithms"),
        (base_config(&format!("hmac_secret = \"{SECRET}\"\n[[jwt.issuers]]\nissuer = \"https://idp\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://idp/jwks\"")), vec![], "jwt.hmac_secret"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"HS256\"]\nhmac_secret = \"short\""), vec![], "jwt.issuers[0].hmac_secret"),
        (base_config("[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://a/jwks\"\n[[jwt.issuers]]\nissuer = \"https://a\"\nalgorithms = [\"RS256\"]\njwks_url = \"https://a/jwks\""), vec![], "jwt.issuers[1].issuer"),
        (hs_config() + "[auth.claim_headers]\ntenant = \"bad header\"\n", vec![], "auth.claim_headers.tenant"),
        (hs_config() + "[auth.claim_headers]\nowner = \"X-Auth-Subject\"\n", vec![], "auth.claim_headers.owner"),
        (hs_config() + "[auth]\ncookie_name = \"a b\"\n", vec![], "auth.cookie_name"),
        (base_config(&format!("algorithms = [\"HS256\", \"NoNe\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.algorithms"),
        (base_config("algorithms = [\"XS256\"]"), vec![], "jwt.algorithms"),
        (base_config("algorithms = []"), vec![], "jwt.algorithms"),
        (base_config(&format!("algorithms = [\"HS256\", \"RS256\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.algorithms"),
        (base_config("hmac_secret = \"too-short\""), vec![], "jwt.hmac_secret"),
        (base_config(""), vec![], "jwt.hmac_secret"),
        (base_config(&format!("algorithms = [\"HS512\"]\nhmac_secret = \"{SECRET}\"")), vec![], "jwt.hmac_secret"),
        (base_config("algorithms = [\"RS256\"]"), vec![], "jwt.public_key_file"),
        (base_config("algorithms = [\"RS256\"]\npublic_key_file = \"/nonexistent/key.pem\""), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{not_a_key}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"RS256\"]\npublic_key_file = \"{ec_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES384\"]\npublic_key_file = \"{ec_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES256\"]\npublic_key_file = \"{rsa_public}\"")), vec![], "jwt.public_key_file"),
        (base_config(&format!("algorithms = [\"ES256\"]\npublic_key_file = \"{ec_public}\"\nprivate_key_file = \"{}\"", fixture("rs256-private.pem"))), vec![], "jwt.private_key_file"),
    ];
    // The self-test signs a probe with the private key and verifies it with the public one.
    let mismatched = base_config(&format!(
        "algorithms = [\"ES256\"]\npublic_key_file = \"{ec_public}\"\nprivate_key_file = \"{}\"",
        fixture("es256-other-private.pem")
    ));
    let (out, stderr) = start_and_fail(&mismatched, &[]);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("config error: jwt.private_key_file: start-up self-test failed"),
        "{stderr}"
    );
    for (config, env, key) in cases {
        let (out, stderr) = start_and_fail(&config, &env);
        assert!(!out.status.success(), "{key}: started with {config}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{key}: expected one line, got {stderr:?}");
        assert!(
            lines[0].starts_with(&format!("config error: {key}: ")),
            "{key}: got {:?}",
            lines[0]
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains(CLIENT_SECRET),
            "{stderr}"
        );
    }
}

#[test]
fn missing_config_file_is_named_with_the_reason() {
    let out = run(&["--config", "/nonexistent/introspectd.toml"], &[]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "config error: --config: cannot read /nonexistent/introspectd.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_redis_url_without_a_scheme_is_not_called_a_tls_problem() {
    let (out, stderr) = start_and_fail(
        &(hs_config() + "[store]\nbackend = \"redis\"\nredis_url = \"localhost:6379\"\n"),
        &[],
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr.trim_end(),
        "config error: store.redis_url: must be a URL with a scheme, e.g. redis://localhost:6379/0"
    );
}

/// TLS and credential settings for managed Redis: each mistake stops start-up with one line
/// naming the key.
#[test]
fn tls_and_credential_mistakes_name_their_key() {
    let dir = Dir::new();
    let pki = crate::tls_support::Pki::generate(&dir.0);
    let password = dir.write("password", "s3cret\n");
    let password = password.to_str().unwrap();
    let store = |lines: &str| {
        hs_config()
            + "[store]\nbackend = \"redis\"\nredis_url = \"rediss://127.0.0.1:6380/0\"\n"
            + lines
    };
    let plain = |lines: &str| {
        hs_config()
            + "[store]\nbackend = \"redis\"\nredis_url = \"redis://127.0.0.1:6379/0\"\n"
            + lines
    };
    let ca = pki.file("ca.crt");
    let cases: Vec<(String, &str)> = vec![
        (plain(&format!("tls_ca_file = \"{ca}\"\n")), "store.tls_ca_file"),
        (plain("tls_insecure_skip_verify = true\n"), "store.tls_insecure_skip_verify"),
        (store(&format!("tls_cert_file = \"{}\"\n", pki.file("client.crt"))), "store.tls_key_file"),
        (store(&format!("tls_key_file = \"{}\"\n", pki.file("client.key"))), "store.tls_cert_file"),
        (store("tls_ca_file = \"/nonexistent/ca.pem\"\n"), "store.tls_ca_file"),
        (store(&format!("tls_ca_file = \"{}\"\n", fixture("README.md"))), "store.tls_ca_file"),
        (store(&format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", pki.file("client.key"), pki.file("client.key"))), "store.tls_cert_file"),
        (store(&format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", pki.file("client.crt"), pki.file("client.crt"))), "store.tls_key_file"),
        (store(&format!("tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n", pki.file("client.crt"), pki.file("stranger.key"))), "store.tls_key_file"),
        (store(&format!("tls_ca_file = \"{ca}\"\ntls_insecure_skip_verify = true\n")), "store.tls_insecure_skip_verify"),
        (store("redis_password_file = \"/nonexistent/password\"\n"), "store.redis_password_file"),
        (store("sentinel_username = \"s\"\n"), "store.sentinel_username"),
        (hs_config() + &format!("[store]\nbackend = \"redis\"\nredis_url = \"rediss://app:pw@127.0.0.1:6380/0\"\nredis_password_file = \"{password}\"\n"), "store.redis_password_file"),
    ];
    for (config, key) in cases {
        let (out, stderr) = start_and_fail(&config, &[]);
        assert!(!out.status.success(), "{key}: started");
        assert_eq!(stderr.lines().count(), 1, "{key}: {stderr}");
        assert!(
            stderr.starts_with(&format!("config error: {key}: ")),
            "{key}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret") && !stderr.contains(":pw@"),
            "{stderr}"
        );
    }
}
