//! The introspectd configurations shipped in config/ and deploy/ load as they are (with the
//! environment their deployment gives them), so the examples cannot rot.

use std::path::{Path, PathBuf};

use introspectd::config::{Backend, Settings, Sources};

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
    let dir = std::env::temp_dir().join(format!("introspectd-deploy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret_dir = PathBuf::from("/var/run/secrets/introspectd/client-secret");
    let client_secret = dir.join("client-secret");
    std::fs::write(&client_secret, "from-the-secret\n").unwrap();
    let toml = configmap_toml().replace(
        secret_dir.to_str().unwrap(),
        client_secret.to_str().unwrap(),
    );
    let file = dir.join("introspectd.toml");
    std::fs::write(&file, toml).unwrap();
    let s = load(
        &file,
        &[
            (
                "INTROSPECTD__JWT__HMAC_SECRET",
                "REPLACE-ME-with-at-least-32-random-bytes-000000",
            ),
            ("INTROSPECTD__STORE__REDIS_URL", "redis://redis:6379/0"),
        ],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(s.store.backend, Backend::Redis);
    assert_eq!(s.server.listen, "0.0.0.0:8080");
    assert_eq!(
        s.clients[0].secret.as_ref().unwrap().expose(),
        "from-the-secret"
    );
    introspectd::token::Verifier::from_settings(&s.jwt).expect("the configured keys are usable");
}

/// Every fenced block of docs/integrations.md stands in a file under deploy/ (compared line by
/// line, ignoring indentation, since snippets are shown dedented).
#[test]
fn integration_snippets_are_copied_from_deploy() {
    let section = std::fs::read_to_string(root().join("docs/integrations.md")).unwrap();
    let mut deploy_files = Vec::new();
    let mut stack = vec![root().join("deploy")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                deploy_files.push(text);
            }
        }
    }
    let trimmed =
        |text: &str| -> Vec<String> { text.lines().map(|l| l.trim().to_owned()).collect() };
    let files: Vec<Vec<String>> = deploy_files.iter().map(|t| trimmed(t)).collect();
    let mut blocks = 0;
    for block in section.split("```").skip(1).step_by(2) {
        let body = block.split_once('\n').map_or("", |(_, b)| b);
        let lines = trimmed(body.trim_end());
        assert!(
            files
                .iter()
                .any(|f| f.windows(lines.len()).any(|w| w == lines.as_slice())),
            "docs/integrations.md snippet not found verbatim in deploy/:\n{body}"
        );
        blocks += 1;
    }
    assert!(
        blocks >= 5,
        "expected the nginx, Envoy, Kubernetes and Prometheus snippets"
    );
}

/// Every TOML example in docs/identity-providers.md is valid configuration.
#[test]
fn identity_provider_examples_load() {
    let section = std::fs::read_to_string(root().join("docs/identity-providers.md")).unwrap();
    let mut examples = 0;
    for block in section.split("```toml\n").skip(1) {
        let toml = block.split("```").next().unwrap();
        let dir = std::env::temp_dir().join(format!("introspectd-readme-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
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
        let settings = loaded.unwrap_or_else(|e| panic!("example does not load: {e}\n{toml}"));
        assert!(!settings.jwt.issuers.is_empty());
        examples += 1;
    }
    assert_eq!(examples, 3);
}

/// deploy/kubernetes/redis-cluster.env.yaml switches the shipped sidecar configuration to
/// cluster mode through INTROSPECTD__ variables.
#[test]
fn kubernetes_redis_cluster_overlay_switches_to_cluster_mode() {
    let yaml =
        std::fs::read_to_string(root().join("deploy/kubernetes/redis-cluster.env.yaml")).unwrap();
    let mut env: Vec<(String, String)> = Vec::new();
    let mut lines = yaml
        .lines()
        .skip_while(|l| *l != "data:")
        .skip(1)
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
    let dir = std::env::temp_dir().join(format!("introspectd-overlay-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("client-secret");
    std::fs::write(&secret, "s\n").unwrap();
    let toml = configmap_toml().replace(
        "/var/run/secrets/introspectd/client-secret",
        secret.to_str().unwrap(),
    );
    let file = dir.join("introspectd.toml");
    std::fs::write(&file, toml).unwrap();
    env.push(("INTROSPECTD__JWT__HMAC_SECRET".into(), "x".repeat(40)));
    let settings = Settings::load(&Sources {
        file: Some(&file),
        env,
    });
    std::fs::remove_dir_all(&dir).unwrap();
    let settings = settings.unwrap();
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
