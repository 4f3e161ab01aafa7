//! Loading and validation, through `Settings::load` as `main` calls it.

use super::*;

fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let dir = std::env::temp_dir().join(format!("introspectd-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.toml");
    std::fs::write(&file, toml).unwrap();
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let result = Settings::load(&Sources {
        file: Some(&file),
        env,
    });
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

/// Appended after each case's own lines, so a case may open any table.
const BASE: &str = r#"
[[clients]]
id = "gw"
secret = "0123456789abcdef"
"#;

#[test]
fn minimal_file_over_defaults_loads() {
    let s = load(BASE, &[]).unwrap();
    assert_eq!(s.server.listen, "127.0.0.1:8080");
    assert_eq!(s.jwt.algorithms, vec!["HS256"]);
    assert_eq!(s.store.backend, Backend::Memory);
    assert_eq!(s.clients[0].id, "gw");
}

#[test]
fn env_overrides_file_and_parses_lists_and_numbers() {
    let s = load(
        BASE,
        &[
            ("INTROSPECTD__STORE__REDIS_URL", "redis://10.0.0.1:6380/2"),
            ("INTROSPECTD__JWT__LEEWAY_SECS", "30"),
            ("INTROSPECTD__JWT__AUDIENCE", "api,web"),
            ("INTROSPECTD_CONFIG", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(s.store.redis_url.expose(), "redis://10.0.0.1:6380/2");
    assert_eq!(s.jwt.leeway_secs, 30);
    assert_eq!(s.jwt.audience, vec!["api", "web"]);
}

#[test]
fn errors_name_the_key() {
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(&str, Env, &str)] = &[
        ("[jwt]\nleway_secs = 1\n", &[], "jwt.leway_secs"),
        ("[stor]\nbackend = \"redis\"\n", &[], "stor"),
        ("[store]\nbackend = \"mongo\"\n", &[], "store.backend"),
        ("[store]\non_error = \"maybe\"\n", &[], "store.on_error"),
        ("[server]\nlisten = \"nowhere\"\n", &[], "server.listen"),
        (
            "[store]\nredis_url = \"http://x\"\n",
            &[],
            "store.redis_url",
        ),
        (
            "",
            &[("INTROSPECTD__JWT__LEEWAY_SECS", "abc")],
            "jwt.leeway_secs",
        ),
        (
            "[[clients]]\nid = \"gw\"\nsecret = \"t\"\n",
            &[],
            "clients[1].id",
        ),
        (
            "[[clients]]\nid = \"x\"\nsecret = \"\"\n",
            &[],
            "clients[0].secret",
        ),
        ("[log]\nlevel = \"loud\"\n", &[], "log.level"),
    ];
    for (extra, env, key) in cases {
        let err = load(&format!("{extra}{BASE}"), env).unwrap_err();
        assert_eq!(&err.key, key, "for {extra:?}: {err}");
        assert!(!err.message.contains("variant"), "{err}");
    }
}

#[test]
fn client_secrets_can_come_from_files() {
    let dir = std::env::temp_dir().join(format!("introspectd-sf-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("gw");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let toml = format!("[[clients]]\nid = \"k8s\"\nsecret_file = {:?}\n", secret);
    let s = load(&toml, &[]).unwrap();
    assert_eq!(
        s.clients[0].secret.as_ref().unwrap().expose(),
        "from-a-file"
    );
    let both = format!("{toml}secret = \"x\"\n");
    assert_eq!(load(&both, &[]).unwrap_err().key, "clients[0].secret_file");
    let missing = "[[clients]]\nid = \"k8s\"\nsecret_file = \"/nonexistent\"\n";
    assert_eq!(
        load(missing, &[]).unwrap_err().key,
        "clients[0].secret_file"
    );
    let neither = "[[clients]]\nid = \"k8s\"\n";
    assert_eq!(load(neither, &[]).unwrap_err().key, "clients[0].secret");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_clients_is_an_error() {
    let err = load("[jwt]\nleeway_secs = 1\n", &[]).unwrap_err();
    assert_eq!(err.key, "clients");
}

#[test]
fn secrets_are_not_debug_printed() {
    let s = load(BASE, &[]).unwrap();
    let dump = format!("{s:?}");
    assert!(!dump.contains("0123456789abcdef"), "{dump}");
    assert!(dump.contains("Secret(***)"));
}
