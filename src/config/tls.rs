//! `[store]` TLS and credentials for managed Redis: the files are checked at start-up (readable,
//! PEM of the right kind, a key that matches its certificate) so that a mistake stops start-up
//! with one line naming the key; they are read again for every new connection (rotation).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::store::{RedisMode, StoreSettings};
use super::ConfigError;

/// The URLs introspectd connects to: the server, or the seed nodes or sentinels.
fn urls(store: &StoreSettings) -> Vec<&str> {
    match store.redis_mode {
        RedisMode::Standalone => vec![store.redis_url.expose()],
        _ => store.redis_urls.iter().map(|u| u.expose()).collect(),
    }
}

fn is_tls(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("rediss"))
}

/// Whether a URL carries a user or a password.
fn has_userinfo(url: &str) -> bool {
    redis::IntoConnectionInfo::into_connection_info(url).is_ok_and(|info| {
        info.redis_settings().username().is_some() || info.redis_settings().password().is_some()
    })
}

fn certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {path}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ConfigError::new(key, format!("{path} is not a PEM certificate file")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            key,
            format!("{path} holds no PEM certificate"),
        ));
    }
    Ok(certs)
}

fn private_key(key: &str, path: &str) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {path}: {e}")))?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|_| ConfigError::new(key, format!("{path} holds no PEM private key")))
}

fn password_file(key: &str, path: &str) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {path}: {e}")))?;
    if text.trim_end_matches(['\r', '\n']).is_empty() {
        return Err(ConfigError::new(key, format!("{path} is empty")));
    }
    Ok(())
}

pub fn validate(store: &StoreSettings) -> Result<(), ConfigError> {
    let urls = urls(store);
    let tls = urls.iter().any(|u| is_tls(u));
    if tls && urls.iter().any(|u| !is_tls(u)) {
        return Err(ConfigError::new(
            "store.redis_urls",
            "mixes rediss:// and redis://; use one scheme for every node",
        ));
    }
    let tls_keys = [
        ("store.tls_ca_file", !store.tls_ca_file.is_empty()),
        ("store.tls_cert_file", !store.tls_cert_file.is_empty()),
        ("store.tls_key_file", !store.tls_key_file.is_empty()),
        (
            "store.tls_insecure_skip_verify",
            store.tls_insecure_skip_verify,
        ),
    ];
    if let Some((key, _)) = tls_keys.iter().find(|(_, set)| *set).filter(|_| !tls) {
        return Err(ConfigError::new(
            *key,
            "is set, but the Redis URL is not rediss:// (TLS)",
        ));
    }
    if store.tls_insecure_skip_verify && !store.tls_ca_file.is_empty() {
        return Err(ConfigError::new(
            "store.tls_insecure_skip_verify",
            "contradicts store.tls_ca_file (a CA to verify the server with); remove one",
        ));
    }
    match (
        store.tls_cert_file.is_empty(),
        store.tls_key_file.is_empty(),
    ) {
        (false, true) => {
            return Err(ConfigError::new(
                "store.tls_key_file",
                "must be set with store.tls_cert_file (a client certificate needs its key)",
            ))
        }
        (true, false) => {
            return Err(ConfigError::new(
                "store.tls_cert_file",
                "must be set with store.tls_key_file (a client key needs its certificate)",
            ))
        }
        _ => {}
    }
    if !store.tls_ca_file.is_empty() {
        certificates("store.tls_ca_file", &store.tls_ca_file)?;
    }
    if !store.tls_cert_file.is_empty() {
        let certs = certificates("store.tls_cert_file", &store.tls_cert_file)?;
        let key = private_key("store.tls_key_file", &store.tls_key_file)?;
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|_| ConfigError::new("store.tls_key_file", "is not a usable private key"))?;
        let matches = rustls::sign::CertifiedKey::new(certs, signing)
            .keys_match()
            .is_ok();
        if !matches {
            return Err(ConfigError::new(
                "store.tls_key_file",
                "does not match the certificate in store.tls_cert_file",
            ));
        }
    }
    for (key, path) in [
        ("store.redis_password_file", &store.redis_password_file),
        (
            "store.sentinel_password_file",
            &store.sentinel_password_file,
        ),
    ] {
        if !path.is_empty() {
            password_file(key, path)?;
        }
    }
    let data_credentials =
        !store.redis_username.is_empty() || !store.redis_password_file.is_empty();
    if store.redis_mode != RedisMode::Sentinel {
        for (key, value) in [
            ("store.sentinel_username", &store.sentinel_username),
            (
                "store.sentinel_password_file",
                &store.sentinel_password_file,
            ),
        ] {
            if !value.is_empty() {
                return Err(ConfigError::new(
                    key,
                    "is only for redis_mode = \"sentinel\"",
                ));
            }
        }
        if data_credentials && urls.iter().any(|u| has_userinfo(u)) {
            return Err(ConfigError::new(
                "store.redis_password_file",
                "credentials are also in the Redis URL; give them in one place",
            ));
        }
    } else {
        // Sentinel URLs' userinfo is the sentinels' credentials.
        let sentinel_credentials =
            !store.sentinel_username.is_empty() || !store.sentinel_password_file.is_empty();
        if sentinel_credentials && urls.iter().any(|u| has_userinfo(u)) {
            return Err(ConfigError::new(
                "store.sentinel_password_file",
                "credentials are also in the sentinel URLs; give them in one place",
            ));
        }
    }
    Ok(())
}
