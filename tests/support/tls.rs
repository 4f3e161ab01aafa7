//! A throwaway PKI made with the `openssl` command for TLS tests: a private CA, a server
//! certificate for 127.0.0.1 and localhost, a client certificate, and the same again from an
//! unrelated CA (certificates that must not verify), plus a server certificate for another name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Pki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A new P-256 private key (SEC1 PEM) in `out`.
fn p256_key(dir: &Path, out: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            out,
        ],
    );
}

/// A CA named `name` (`name.crt`, `name.key`).
fn ca(dir: &Path, name: &str) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    p256_key(dir, &key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A leaf certificate `name` signed by CA `issuer`, for `san` (e.g. "IP:127.0.0.1").
fn leaf(dir: &Path, name: &str, issuer: &str, san: &str, usage: &str) {
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    let sec1 = format!("{name}.sec1");
    p256_key(dir, &sec1);
    // PKCS#8, the form most tools write.
    openssl(
        dir,
        &["pkcs8", "-topk8", "-nocrypt", "-in", &sec1, "-out", &key],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        format!("subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{issuer}.crt"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    );
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        ca(dir, "ca");
        ca(dir, "other-ca");
        leaf(
            dir,
            "server",
            "ca",
            "IP:127.0.0.1,DNS:localhost",
            // Cluster nodes also present it to each other on the TLS cluster bus.
            "serverAuth,clientAuth",
        );
        leaf(dir, "client", "ca", "DNS:introspectd", "clientAuth");
        leaf(dir, "wrong-name", "ca", "DNS:redis.example", "serverAuth");
        leaf(dir, "stranger", "other-ca", "DNS:introspectd", "clientAuth");
        Pki {
            dir: dir.to_owned(),
        }
    }

    /// The path of a file of this PKI, e.g. `file("ca.crt")`.
    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    /// redis-server arguments for a TLS port beside the plain one, with this PKI's server
    /// certificate (or `server` instead), and clients' certificates required or not.
    pub fn redis_args(&self, tls_port: u16, server: &str, client_certs: bool) -> Vec<String> {
        [
            "--tls-port",
            &tls_port.to_string(),
            "--tls-cert-file",
            &self.file(&format!("{server}.crt")),
            "--tls-key-file",
            &self.file(&format!("{server}.key")),
            "--tls-ca-cert-file",
            &self.file("ca.crt"),
            "--tls-auth-clients",
            if client_certs { "yes" } else { "no" },
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    }
}
