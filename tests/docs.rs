//! The reference in docs/ stays true to the code: docs/configuration.md is generated from the
//! commented `config/default.toml` (the defaults compiled into the binary), and this test fails
//! when the two differ. `UPDATE_DOCS=1 cargo test --test docs` rewrites it.

use std::fmt::Write as _;
use std::path::Path;

const INTRO: &str = "\
# Configuration reference

Generated from [`config/default.toml`](../config/default.toml), the defaults compiled into the
binary, by `tests/docs.rs` (`UPDATE_DOCS=1 cargo test --test docs` rewrites it; `make test` fails
when it drifts). Do not edit by hand: edit the comments in `config/default.toml`.

`introspectd --config FILE` (or `INTROSPECTD_CONFIG=FILE`) layers FILE (TOML) over these
defaults; environment variables `INTROSPECTD__SECTION__KEY` override both, and lists are
comma-separated there (`INTROSPECTD__JWT__AUDIENCE=api,web`). Tables and arrays of tables
(`[[jwt.issuers]]`, `[auth.claim_headers]`, `[[clients]]`) are set in the file only. Unknown keys
are errors, and any bad value stops start-up before a port is bound, with one line naming the
key:

```
config error: jwt.hmac_secret: must be at least 32 bytes
```
";

/// One piece of the reference, in file order.
enum Item {
    Heading(String),
    /// A key with its default (None: unset by default) and its comment.
    Key {
        key: String,
        default: Option<String>,
        about: String,
    },
    /// A comment paragraph that documents no single key, kept as it is.
    Note(Vec<String>),
    /// A commented-out example table (`# [[jwt.issuers]]` and the lines after it).
    Example(Vec<String>),
}

fn parse(toml: &str) -> Vec<Item> {
    let mut items = Vec::new();
    let mut section = String::new();
    let mut comments: Vec<String> = Vec::new();
    let mut example: Option<Vec<String>> = None;
    let flush = |comments: &mut Vec<String>, items: &mut Vec<Item>| {
        if !comments.is_empty() {
            items.push(Item::Note(std::mem::take(comments)));
        }
    };
    for line in toml.lines() {
        let line = line.trim_end();
        if let Some(lines) = example.as_mut() {
            match line.strip_prefix('#') {
                Some(text) => {
                    lines.push(text.strip_prefix(' ').unwrap_or(text).to_owned());
                    continue;
                }
                None => items.push(Item::Example(example.take().unwrap_or_default())),
            }
        }
        if line.starts_with("# [[") {
            flush(&mut comments, &mut items);
            example = Some(vec![line[2..].to_owned()]);
        } else if line.is_empty() {
            flush(&mut comments, &mut items);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut comments, &mut items);
            section = name.to_owned();
            items.push(Item::Heading(name.to_owned()));
        } else if let Some(text) = line.strip_prefix('#') {
            let text = text.strip_prefix(' ').unwrap_or(text);
            // A key left unset by default, written as a commented example below its comment.
            match commented_key(text) {
                // In a sub-table such as [auth.claim_headers] the key names are the user's own.
                Some(_) if !is_plain(&section) => {
                    flush(&mut comments, &mut items);
                    items.push(Item::Example(vec![text.to_owned()]));
                }
                Some((key, _)) if !comments.is_empty() => {
                    items.push(Item::Key {
                        key: format!("{section}.{key}"),
                        default: None,
                        about: std::mem::take(&mut comments).join(" "),
                    });
                }
                _ => comments.push(text.to_owned()),
            }
        } else if let Some((key, value)) = line.split_once(" = ") {
            items.push(Item::Key {
                key: format!("{section}.{}", key.trim()),
                default: Some(value.trim().to_owned()),
                about: std::mem::take(&mut comments).join(" "),
            });
        }
    }
    if let Some(lines) = example {
        items.push(Item::Example(lines));
    }
    flush(&mut comments, &mut items);
    // The file's own opening paragraph says what INTRO says.
    if matches!(items.first(), Some(Item::Note(_))) {
        items.remove(0);
    }
    items
}

/// `name = value` in a comment, for a bare lowercase key name.
fn commented_key(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once(" = ")?;
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    plain.then_some((key, value))
}

/// A section whose keys take environment overrides (not a sub-table such as auth.claim_headers).
fn is_plain(section: &str) -> bool {
    !section.is_empty() && !section.contains('.')
}

fn env_var(key: &str) -> String {
    format!(
        "INTROSPECTD__{}",
        key.replace('.', "__").to_ascii_uppercase()
    )
}

fn render(items: &[Item]) -> String {
    let mut out = String::from(INTRO);
    let mut in_table = false;
    for item in items {
        match item {
            Item::Heading(name) => {
                in_table = false;
                let _ = write!(out, "\n## `[{name}]`\n");
            }
            Item::Key {
                key,
                default,
                about,
            } => {
                if !in_table {
                    out.push_str(
                        "\n| key | default | environment | description |\n|---|---|---|---|\n",
                    );
                    in_table = true;
                }
                let (section, _) = key.split_once('.').unwrap_or((key, ""));
                let env = if is_plain(section) {
                    format!("`{}`", env_var(key))
                } else {
                    "file only".to_owned()
                };
                let default = default
                    .as_ref()
                    .map_or("unset".to_owned(), |d| format!("`{d}`"));
                let about = about.replace('|', "\\|");
                let _ = writeln!(out, "| `{key}` | {default} | {env} | {about} |");
            }
            Item::Note(lines) => {
                in_table = false;
                let _ = write!(out, "\n{}\n", lines.join(" "));
            }
            Item::Example(lines) => {
                in_table = false;
                let _ = write!(out, "\n```toml\n{}\n```\n", lines.join("\n"));
            }
        }
    }
    out
}

#[test]
fn configuration_reference_is_generated_from_the_defaults() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
    let expected = render(&parse(&toml));
    let path = root.join("docs/configuration.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/configuration.md differs from config/default.toml: run `UPDATE_DOCS=1 cargo test --test docs`"
    );
}

#[test]
fn every_default_key_is_in_the_reference() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(root.join("config/default.toml")).unwrap();
    let keys: Vec<String> = parse(&toml)
        .into_iter()
        .filter_map(|i| match i {
            Item::Key { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    // Every key the service reads with a default, and the documented optional ones.
    for key in [
        "server.listen",
        "jwt.hmac_secret",
        "jwt.issuer",
        "store.redis_url",
        "store.min_replica_acks",
        "store.replica_ack_timeout_ms",
        "store.data_loss_unready_secs",
        "client_auth.window_secs",
        "log.format",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}
