//! Why Redis would not serve us, in words an operator can act on: the TLS, authentication and
//! ACL failures that only show when connecting or running a command. Bounded (they are the
//! `reason` values of `introspectd_store_errors_total`) and free of secrets: the texts are
//! fixed, never the server's message.

use redis::RedisError;

/// Each command introspectd sends (scripts included), with the text that names it when an ACL
/// user may not run it: one list, so every command named is one introspectd uses.
macro_rules! needed_commands {
    ($($c:literal),*) => {
        const NEEDED: &[(&str, &str)] = &[$((
            $c,
            concat!("the Redis ACL user may not run ", $c, ", which introspectd needs (see the minimal ACL in deploy/redis/README.md)"),
        )),*];
    };
}
needed_commands!(
    "mget", "get", "set", "eval", "xadd", "xinfo", "xread", "xrange", "exists", "hset", "hget",
    "hgetall", "hdel", "info", "time", "wait", "ping"
);

/// The text for a permission Redis refused without naming one of `NEEDED` (a key pattern).
const NO_PERMISSION: &str = "the Redis ACL user lacks a key or command introspectd needs (see the minimal ACL in deploy/redis/README.md)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server's certificate does not chain to a trusted CA (or is expired).
    CertificateNotTrusted,
    /// The server's certificate is not valid for the host in the URL.
    HostnameMismatch,
    /// The server requires a client certificate and none was configured.
    ClientCertificateRequired,
    /// The server refused the client certificate.
    ClientCertificateRejected,
    /// Another TLS failure (protocol, a plain-text server on a rediss:// URL, ...).
    Tls,
    /// Wrong user name or password.
    Credentials,
    /// The ACL user may not run a command or touch a key; the text names the command when Redis
    /// did (one of `NEEDED`).
    NoPermission(&'static str),
    /// A TLS or password file could not be read when connecting.
    UnreadableFile,
}

impl Refusal {
    /// Classifies an error met while connecting or running a command; None for the ordinary
    /// failures (refused connection, timeout, server error) that readiness already names.
    pub fn of(err: &RedisError) -> Option<Refusal> {
        let text = format!("{err:?} {err}");
        let has = |needle: &str| text.contains(needle);
        let lower = text.to_ascii_lowercase();
        if lower.contains("noperm") {
            let text = NEEDED
                .iter()
                .find(|(c, _)| lower.contains(&format!("'{c}'")))
                .map_or(NO_PERMISSION, |(_, text)| *text);
            return Some(Refusal::NoPermission(text));
        }
        if err.kind() == redis::ErrorKind::AuthenticationFailed
            || has("WRONGPASS")
            || has("invalid username-password")
            || has("NOAUTH")
        {
            return Some(Refusal::Credentials);
        }
        if has("cannot read store.") {
            return Some(Refusal::UnreadableFile);
        }
        if has("NotValidForName") || has("not valid for name") {
            return Some(Refusal::HostnameMismatch);
        }
        if has("UnknownIssuer")
            || has("BadSignature")
            || has("Expired")
            || has("invalid peer certificate")
        {
            return Some(Refusal::CertificateNotTrusted);
        }
        if has("CertificateRequired") || has("HandshakeFailure") && has("alert") {
            return Some(Refusal::ClientCertificateRequired);
        }
        if has("UnknownCA") || has("BadCertificate") || has("DecryptError") {
            return Some(Refusal::ClientCertificateRejected);
        }
        if has("tls") || has("TLS") || has("InvalidContentType") || has("CorruptMessage") {
            return Some(Refusal::Tls);
        }
        None
    }

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::CertificateNotTrusted => "tls_certificate_not_trusted",
            Refusal::HostnameMismatch => "tls_hostname_mismatch",
            Refusal::ClientCertificateRequired => "tls_client_certificate_required",
            Refusal::ClientCertificateRejected => "tls_client_certificate_rejected",
            Refusal::Tls => "tls",
            Refusal::Credentials => "authentication",
            Refusal::NoPermission(_) => "acl_no_permission",
            Refusal::UnreadableFile => "unreadable_file",
        }
    }

    /// What `/readyz` and the log say.
    pub fn description(self) -> &'static str {
        match self {
            Refusal::CertificateNotTrusted => "TLS: the Redis server's certificate does not verify against the trusted CAs (store.tls_ca_file or the system roots)",
            Refusal::HostnameMismatch => "TLS: the Redis server's certificate is not valid for the host name in the URL",
            Refusal::ClientCertificateRequired => "TLS: the Redis server requires a client certificate (store.tls_cert_file and store.tls_key_file)",
            Refusal::ClientCertificateRejected => "TLS: the Redis server refused the client certificate",
            Refusal::Tls => "TLS: the handshake with the Redis server failed",
            Refusal::Credentials => "Redis refused the credentials: wrong user name or password",
            Refusal::UnreadableFile => "a TLS or password file could not be read when connecting",
            Refusal::NoPermission(text) => text,
        }
    }
}
