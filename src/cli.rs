//! Command-line parsing: `introspectd [--config FILE]` serves; `introspectd mint ...` prints a
//! signed token. `--config` falls back to `INTROSPECTD_CONFIG`.

use std::path::PathBuf;

use crate::token::signer::MintRequest;

pub const USAGE: &str = "usage:
  introspectd [--config FILE]
  introspectd mint [--config FILE] --sub SUBJECT [--scope \"a b\"] [--ttl SECS] [--claim k=v]...
  introspectd healthcheck [--config FILE] [--ready]
  introspectd --version

--config defaults to $INTROSPECTD_CONFIG; INTROSPECTD__SECTION__KEY variables override the file.";

#[derive(Debug, PartialEq)]
pub enum Command {
    Serve {
        config: Option<PathBuf>,
    },
    Mint {
        config: Option<PathBuf>,
        request: MintRequest,
    },
    /// Probe the running service: `/healthz`, or `/readyz` with `ready`.
    Healthcheck {
        config: Option<PathBuf>,
        ready: bool,
    },
    Help,
    Version,
}

/// Parses the arguments after the program name. `env_config` is `$INTROSPECTD_CONFIG`.
pub fn parse(args: &[String], env_config: Option<String>) -> Result<Command, String> {
    let mut args = args.iter().map(String::as_str).peekable();
    let mint = args.next_if_eq(&"mint").is_some();
    let healthcheck = !mint && args.next_if_eq(&"healthcheck").is_some();
    let mut ready = false;
    let mut config: Option<PathBuf> = None;
    let mut request = MintRequest {
        ttl_secs: 3600,
        ..MintRequest::default()
    };
    let mut sub = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .map(str::to_owned)
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--ready" if healthcheck => ready = true,
            "--sub" if mint => sub = Some(value("--sub")?),
            "--scope" if mint => request.scope = Some(value("--scope")?),
            "--ttl" if mint => {
                request.ttl_secs = value("--ttl")?
                    .parse()
                    .ok()
                    .filter(|t: &i64| *t > 0)
                    .ok_or("--ttl must be a positive number of seconds")?;
            }
            "--claim" if mint => {
                let claim = value("--claim")?;
                let (k, v) = claim
                    .split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .ok_or("--claim takes NAME=VALUE")?;
                request.extra.push((k.to_owned(), v.to_owned()));
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let config = config.or_else(|| env_config.filter(|c| !c.is_empty()).map(PathBuf::from));
    if healthcheck {
        return Ok(Command::Healthcheck { config, ready });
    }
    if mint {
        request.sub = sub.filter(|s| !s.is_empty()).ok_or("mint needs --sub")?;
        Ok(Command::Mint { config, request })
    } else {
        Ok(Command::Serve { config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn serve_takes_config_from_flag_or_env() {
        assert_eq!(
            parse(&args(&["--config", "a.toml"]), Some("b.toml".into())),
            Ok(Command::Serve {
                config: Some("a.toml".into())
            })
        );
        assert_eq!(
            parse(&[], Some("b.toml".into())),
            Ok(Command::Serve {
                config: Some("b.toml".into())
            })
        );
    }

    #[test]
    fn mint_parses_its_options() {
        let cmd = parse(
            &args(&[
                "mint", "--sub", "alice", "--scope", "a b", "--ttl", "60", "--claim", "n=1",
            ]),
            None,
        )
        .unwrap();
        let Command::Mint { request, .. } = cmd else {
            panic!("not mint: {cmd:?}")
        };
        assert_eq!(request.sub, "alice");
        assert_eq!(request.scope.as_deref(), Some("a b"));
        assert_eq!(request.ttl_secs, 60);
        assert_eq!(request.extra, vec![("n".to_string(), "1".to_string())]);
    }

    #[test]
    fn healthcheck_takes_config_and_ready() {
        assert_eq!(
            parse(&args(&["healthcheck", "--ready"]), Some("c.toml".into())),
            Ok(Command::Healthcheck {
                config: Some("c.toml".into()),
                ready: true
            })
        );
    }

    #[test]
    fn bad_arguments_are_errors() {
        for bad in [
            &["mint"][..],
            &["mint", "--sub"],
            &["mint", "--sub", "a", "--ttl", "0"],
            &["mint", "--sub", "a", "--claim", "=x"],
            &["--sub", "a"],
            &["serve"],
            &["healthcheck", "--sub", "a"],
            &["mint", "--sub", "a", "--ready"],
        ] {
            assert!(parse(&args(bad), None).is_err(), "{bad:?}");
        }
    }
}
