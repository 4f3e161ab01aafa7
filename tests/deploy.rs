//! The introspectd configurations shipped in config/ and deploy/ load as they are (with the
//! environment their deployment gives them), so the examples cannot rot.

use std::path::Path;

use introspectd::config::{Backend, Settings, Sources};

#[path = "support/tls.rs"]
#[allow(dead_code)]
mod tls_support;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn load(file: &Path, env: &[(&str, &str)]) -> Settings {
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::load(&Sources {
        file: Some(file),
        env,
    })
    .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[test]
fn example_config_runs_the_memory_store() {
    let s = load(&root().join("config/example.toml"), &[]);
    assert_eq!(s.store.backend, Backend::Memory);
    assert_eq!(s.clients.len(), 1);
    // For development: Ctrl-C stops at once (the drain delay is for Kubernetes).
    assert_eq!(s.server.shutdown_delay_secs, 0);
    introspectd::token::Verifier::from_settings(&s.jwt).expect("example keys are usable");
}

#[test]
fn compose_config_uses_redis_through_its_environment() {
    let s = load(
        &root().join("deploy/compose/introspectd.toml"),
        &[
            ("INTROSPECTD__STORE__BACKEND", "redis"),
            ("INTROSPECTD__STORE__REDIS_URL", "redis://redis:6379/0"),
        ],
    );
    assert_eq!(s.store.backend, Backend::Redis);
    introspectd::token::Verifier::from_settings(&s.jwt).expect("compose keys are usable");
}

/// The TOML block of the ConfigMap's `introspectd.toml: |` entry.
fn configmap_toml() -> String {
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/configmap.yaml")).unwrap();
    let mut lines = yaml
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("introspectd.toml: |"));
    lines.next().expect("the ConfigMap has introspectd.toml");
    lines
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kubernetes_configmap_loads_with_the_secret_mounted() {
    let s = sidecar_settings(
        vec![],
        &[("introspectd/client-secret", b"from-the-secret\n")],
    );
    assert_eq!(s.store.backend, Backend::Redis);
    assert_eq!(s.server.listen, "0.0.0.0:8080");
    assert_eq!(
        s.clients[0].secret.as_ref().unwrap().expose(),
        "from-the-secret"
    );
    introspectd::token::Verifier::from_settings(&s.jwt).expect("the configured keys are usable");
}

/// The text of every file under deploy/, each as trimmed lines.
fn deploy_files() -> Vec<(String, Vec<String>)> {
    let mut files = Vec::new();
    let mut stack = vec![root().join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let name = path.strip_prefix(root()).unwrap().display().to_string();
                files.push((name, trimmed(&text)));
            }
        }
    }
    files.sort();
    files
}

fn trimmed(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim().to_owned()).collect()
}

/// For each fenced block of `text`, the deploy/ file it stands in verbatim (compared line by
/// line, ignoring indentation, since snippets are shown dedented); panics naming `what` when a
/// block stands in none.
fn snippet_sources(what: &str, text: &str) -> Vec<String> {
    let files = deploy_files();
    text.split("```")
        .skip(1)
        .step_by(2)
        .map(|block| {
            let body = block.split_once('\n').map_or("", |(_, b)| b);
            let lines = trimmed(body.trim_end());
            files
                .iter()
                .find(|(_, f)| f.windows(lines.len()).any(|w| w == lines.as_slice()))
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| panic!("{what} snippet not found verbatim in deploy/:\n{body}"))
        })
        .collect()
}

#[test]
fn integration_snippets_are_copied_from_deploy() {
    let docs = std::fs::read_to_string(root().join("docs/integrations.md")).unwrap();
    let sources = snippet_sources("docs/integrations.md", &docs);
    for file in [
        "deploy/nginx/introspectd.conf",
        "deploy/envoy/envoy.yaml",
        "deploy/envoy/envoy-grpc.yaml",
        "deploy/istio/mesh-config.yaml",
        "deploy/istio/authorization-policy.yaml",
        "deploy/traefik/dynamic.yml",
        "deploy/caddy/Caddyfile",
        "deploy/kubernetes/ingress-nginx.yaml",
        "deploy/kubernetes/deployment.yaml",
        "deploy/prometheus/alerts.yml",
    ] {
        assert!(
            sources.iter().any(|s| s == file),
            "docs/integrations.md shows nothing of {file}"
        );
    }
}

/// The README's section under `heading`, up to the next one.
fn readme_section(heading: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .split_once(&format!("\n## {heading}\n"))
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .unwrap_or_else(|| panic!("the README has a section {heading:?}"))
        .to_owned()
}

/// The README's "Integrations" section shows a snippet of every gateway's shipped
/// configuration, each copied from deploy/.
#[test]
fn readme_integration_snippets_are_copied_from_deploy() {
    let section = readme_section("Integrations");
    let sources = snippet_sources("README Integrations", &section);
    for file in [
        "deploy/envoy/envoy-grpc.yaml",
        "deploy/istio/mesh-config.yaml",
        "deploy/traefik/dynamic.yml",
        "deploy/caddy/Caddyfile",
        "deploy/kubernetes/ingress-nginx.yaml",
    ] {
        assert!(
            sources.iter().any(|s| s == file),
            "the README's Integrations section shows nothing of {file}"
        );
    }
}

/// Loads a documented TOML example (with one client added, which every configuration needs)
/// from a temporary directory; `prepare` may put files there and returns the example.
fn load_example(
    prepare: impl FnOnce(&Path) -> String,
) -> Result<Settings, introspectd::config::ConfigError> {
    let dir = std::env::temp_dir().join(format!("introspectd-readme-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = prepare(&dir);
    let file = dir.join("c.toml");
    std::fs::write(
        &file,
        format!("{toml}\n[[clients]]\nid = \"gw\"\nsecret = \"s\"\n"),
    )
    .unwrap();
    let loaded = Settings::load(&Sources {
        file: Some(&file),
        env: vec![],
    });
    std::fs::remove_dir_all(&dir).unwrap();
    loaded
}

/// Every TOML example in docs/identity-providers.md is valid configuration.
#[test]
fn identity_provider_examples_load() {
    let section = std::fs::read_to_string(root().join("docs/identity-providers.md")).unwrap();
    let mut examples = 0;
    for block in section.split("```toml\n").skip(1) {
        let toml = block.split("```").next().unwrap();
        let settings = load_example(|_| toml.to_owned())
            .unwrap_or_else(|e| panic!("example does not load: {e}\n{toml}"));
        assert!(!settings.jwt.issuers.is_empty());
        examples += 1;
    }
    assert_eq!(examples, 3);
}

/// The README's identity-provider section: its configuration loads with both receivers on, and
/// the stream it tells people to register asks only for events introspectd acts on.
#[test]
fn the_readme_configures_both_receivers_and_a_stream_of_events_it_acts_on() {
    let section = readme_section("Revocations from your identity provider");
    let toml = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a TOML block");
    let settings = load_example(|dir| {
        let bearer = dir.join("ssf-bearer");
        std::fs::write(&bearer, "s3cret\n").unwrap();
        toml.replace(
            "/var/run/secrets/introspectd/ssf-bearer",
            bearer.to_str().unwrap(),
        )
    })
    .unwrap_or_else(|e| panic!("the README's example does not load: {e}"));
    assert!(settings.backchannel_logout.enabled && settings.ssf.enabled);
    assert_eq!(settings.backchannel_logout.audience, ["orders-web"]);
    let json = section
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a JSON block");
    let stream: serde_json::Value = serde_json::from_str(json).expect("the stream is JSON");
    assert_eq!(stream["delivery"]["method"], "urn:ietf:rfc:8935");
    let events = stream["events_requested"].as_array().unwrap();
    assert!(!events.is_empty());
    for event in events {
        let name = introspectd::idp::events::label(event.as_str().unwrap());
        assert_ne!(name, "other", "{event} is not an event introspectd acts on");
    }
}

/// The `INTROSPECTD__` variables of the first ConfigMap in `file` (an env overlay).
fn overlay_env(file: &str) -> Vec<(String, String)> {
    let yaml = std::fs::read_to_string(root().join(file)).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut lines = yaml
        .lines()
        .skip_while(|l| *l != "data:")
        .skip(1)
        .take_while(|l| *l != "---")
        .peekable();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.trim().split_once(": ") else {
            continue;
        };
        if !key.starts_with("INTROSPECTD__") {
            continue;
        }
        let value = if value == ">-" {
            lines.next().unwrap().trim().to_owned()
        } else {
            value.trim_matches('"').to_owned()
        };
        env.push((key.to_owned(), value));
    }
    env
}

/// The sidecar's configuration as deployment.yaml starts it: the ConfigMap's TOML, the
/// Secret-fed variables (secret.yaml's example values unless `env` gives them), `env`, and the
/// files the kubelet mounts (`mounted`: path under /var/run/secrets/ and contents; the client
/// secret unless given), with /var/run/secrets/ moved into a temporary directory in the TOML and
/// the variables alike.
fn sidecar_settings(mut env: Vec<(String, String)>, mounted: &[(&str, &[u8])]) -> Settings {
    let dir = std::env::temp_dir().join(format!("introspectd-sidecar-{}", uuid::Uuid::new_v4()));
    let secrets = format!("{}/", dir.join("secrets").display());
    let client_secret: (&str, &[u8]) = ("introspectd/client-secret", b"s\n");
    // Written first, so a mounted client secret replaces it.
    for (path, contents) in std::iter::once(&client_secret).chain(mounted) {
        let file = dir.join("secrets").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, contents).unwrap();
    }
    let file = dir.join("introspectd.toml");
    std::fs::write(
        &file,
        configmap_toml().replace("/var/run/secrets/", &secrets),
    )
    .unwrap();
    for (key, value) in [
        (
            "INTROSPECTD__JWT__HMAC_SECRET",
            "REPLACE-ME-with-at-least-32-random-bytes-000000",
        ),
        ("INTROSPECTD__STORE__REDIS_URL", "redis://redis:6379/0"),
    ] {
        if !env.iter().any(|(k, _)| k == key) {
            env.push((key.into(), value.into()));
        }
    }
    for (_, value) in &mut env {
        *value = value.replace("/var/run/secrets/", &secrets);
    }
    let settings = Settings::load(&Sources {
        file: Some(&file),
        env,
    });
    std::fs::remove_dir_all(&dir).unwrap();
    settings.unwrap_or_else(|e| panic!("the sidecar's configuration does not load: {e}"))
}

/// deploy/kubernetes/redis-cluster.env.yaml switches the shipped sidecar configuration to
/// cluster mode through INTROSPECTD__ variables.
#[test]
fn kubernetes_redis_cluster_overlay_switches_to_cluster_mode() {
    let env = overlay_env("deploy/kubernetes/redis-cluster.env.yaml");
    let settings = sidecar_settings(env, &[]);
    assert_eq!(
        settings.store.redis_mode,
        introspectd::config::RedisMode::Cluster
    );
    assert_eq!(settings.store.redis_urls.len(), 3);
    assert_eq!(settings.store.connect_timeout_ms, 500);
}

/// docs/integrations.md names every alert rule deploy/prometheus/alerts.yml has, and no other.
#[test]
fn the_alert_rules_named_in_the_docs_are_the_shipped_ones() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/integrations.md")).unwrap();
    let shipped: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(shipped.len(), 7);
    for name in &shipped {
        assert!(
            docs.contains(&format!("`{name}`")),
            "{name} is not described"
        );
    }
    let described = docs.matches("`Introspectd").count();
    assert_eq!(
        described,
        shipped.len(),
        "the docs name an alert that is not shipped"
    );
}

/// deploy/kubernetes/managed-redis.yaml: with the redis-url Secret set to a rediss:// address and
/// the two Secrets mounted where deployment.yaml mounts them (a real CA, client certificate and
/// key), the sidecar's configuration loads and names each mounted file. Start-up validation reads
/// them, so a PEM in the wrong place would stop this load.
#[test]
fn kubernetes_managed_redis_overlay_loads_with_its_secrets_mounted() {
    let dir = std::env::temp_dir().join(format!("introspectd-pki-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = tls_support::Pki::generate(&dir);
    let read = |name: &str| std::fs::read(pki.file(name)).unwrap();
    let (ca, cert, key) = (read("ca.crt"), read("client.crt"), read("client.key"));
    std::fs::remove_dir_all(&dir).unwrap();
    let mut env = overlay_env("deploy/kubernetes/managed-redis.yaml");
    env.push((
        "INTROSPECTD__STORE__REDIS_URL".into(),
        "rediss://redis.example:6380/0".into(),
    ));
    let s = sidecar_settings(
        env,
        &[
            ("introspectd-redis/password", b"pw\n"),
            ("introspectd-redis-tls/ca.crt", &ca),
            ("introspectd-redis-tls/tls.crt", &cert),
            ("introspectd-redis-tls/tls.key", &key),
        ],
    );
    assert_eq!(s.store.redis_username, "introspectd");
    for (file, mounted) in [
        (&s.store.redis_password_file, "introspectd-redis/password"),
        (&s.store.tls_ca_file, "introspectd-redis-tls/ca.crt"),
        (&s.store.tls_cert_file, "introspectd-redis-tls/tls.crt"),
        (&s.store.tls_key_file, "introspectd-redis-tls/tls.key"),
    ] {
        assert!(file.ends_with(&format!("/secrets/{mounted}")), "{file}");
    }
    assert_eq!(s.store.connect_timeout_ms, 500);
}

/// deploy/redis/managed/*.toml: the [store] settings for ElastiCache, Azure Cache for Redis and
/// Upstash load with the rest of a configuration and the password file they name.
#[test]
fn managed_redis_provider_examples_load() {
    let dir = std::env::temp_dir().join(format!("introspectd-managed-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let password = dir.join("password");
    std::fs::write(&password, "from-the-secret\n").unwrap();
    let mut loaded = Vec::new();
    for (example, host, user) in [
        ("elasticache", "cache.amazonaws.com:6379", "introspectd"),
        ("azure-cache", "redis.cache.windows.net:6380", ""),
        ("upstash", "upstash.io:6379", "default"),
    ] {
        let path = root().join(format!("deploy/redis/managed/{example}.toml"));
        let store = std::fs::read_to_string(&path).unwrap().replace(
            "/var/run/secrets/introspectd-redis/password",
            password.to_str().unwrap(),
        );
        let file = dir.join(format!("{example}.toml"));
        std::fs::write(
            &file,
            format!(
                "{store}\n[jwt]\nalgorithms = [\"HS256\"]\nhmac_secret = \"{}\"\n\
                 [[clients]]\nid = \"gw\"\nsecret = \"s\"\n",
                "x".repeat(40)
            ),
        )
        .unwrap();
        let s = load(&file, &[]);
        assert_eq!(s.store.backend, Backend::Redis, "{example}");
        let url = s.store.redis_url.expose();
        assert!(
            url.starts_with("rediss://") && url.contains(host),
            "{example}: {url}"
        );
        assert_eq!(s.store.redis_username, user, "{example}");
        assert!(
            s.store.tls_ca_file.is_empty(),
            "{example}: public CAs verify it"
        );
        assert!(!s.store.tls_insecure_skip_verify, "{example}");
        loaded.push(example);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(loaded.len(), 3);
}

/// deploy/istio/introspectd-grpc.env.yaml turns on the sidecar's gRPC ext_authz listener, on
/// loopback, at the address Istio's provider and deploy/envoy/envoy-grpc.yaml call.
#[test]
fn the_grpc_overlay_turns_on_ext_authz_on_loopback() {
    let settings = sidecar_settings(overlay_env("deploy/istio/introspectd-grpc.env.yaml"), &[]);
    assert_eq!(settings.server.grpc_listen, "127.0.0.1:9191");
    let plain = sidecar_settings(vec![], &[]);
    assert_eq!(plain.server.grpc_listen, "", "off unless configured");
}

/// deploy/kubernetes/file-store.yaml switches the shipped configuration to the file store on
/// its volume: one replica, recreated (never two processes on the file).
#[test]
fn the_single_replica_example_runs_the_file_store_on_its_volume() {
    let settings = sidecar_settings(overlay_env("deploy/kubernetes/file-store.yaml"), &[]);
    assert_eq!(settings.store.backend, Backend::File);
    let yaml = std::fs::read_to_string(root().join("deploy/kubernetes/file-store.yaml")).unwrap();
    let mount = "mountPath: /var/lib/introspectd\n";
    assert!(
        yaml.contains(mount),
        "the volume is mounted where the file is"
    );
    assert_eq!(
        settings.store.path,
        std::path::Path::new("/var/lib/introspectd/revocations.redb")
    );
    for line in [
        "replicas: 1",
        "type: Recreate",
        "claimName: introspectd-revocations",
    ] {
        assert!(yaml.contains(line), "missing {line}");
    }
}
