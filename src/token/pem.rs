//! PEM key files: read once, classified by their algorithm and curve OIDs, RSA keys measured.
//! jsonwebtoken parses the key itself; this only decides whether the file fits the allowlist.

use std::path::Path;

use base64::Engine;

use super::keys::{rsa_modulus_bits, KeyKind, MIN_RSA_BITS};
use crate::config::ConfigError;

/// Reads a PEM key file and checks that it holds the kind of key the allowlist needs.
pub fn read_pem(key: &str, path: &Path, kind: KeyKind) -> Result<Vec<u8>, ConfigError> {
    load_pem(key, path, Some(kind)).map(|(pem, _)| pem)
}

/// Reads a PEM key file once: its bytes and its key kind, which must be `expected` when given.
/// RSA keys must have at least `MIN_RSA_BITS`.
pub fn load_pem(
    key: &str,
    path: &Path,
    expected: Option<KeyKind>,
) -> Result<(Vec<u8>, KeyKind), ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))?;
    let found = pem_key_kind(&pem)
        .ok_or_else(|| ConfigError::new(key, format!("{} is not a PEM key", path.display())))?;
    if let Some(kind) = expected.filter(|kind| *kind != found) {
        return Err(ConfigError::new(
            key,
            format!("holds an {found} key but jwt.algorithms needs an {kind} key"),
        ));
    }
    if found == KeyKind::Rsa {
        let bits = pem_der(&pem)
            .and_then(|der| largest_integer_bits(&der, 0))
            .unwrap_or(0);
        if bits < MIN_RSA_BITS {
            return Err(ConfigError::new(
                key,
                format!("RSA keys must have at least {MIN_RSA_BITS} bits (this one has {bits})"),
            ));
        }
    }
    Ok((pem, found))
}

/// The DER bytes of the first PEM block.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let body_start = start + text[start..].find('\n')?;
    let end = text[body_start..].find("-----END ")? + body_start;
    let body: String = text[body_start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The bit length of the largest INTEGER anywhere in a DER structure: for every RSA key format
/// (SPKI, PKCS#1, PKCS#8) that is the modulus.
fn largest_integer_bits(der: &[u8], depth: usize) -> Option<usize> {
    if depth > 8 {
        return None;
    }
    let mut largest = None;
    let mut rest = der;
    while !rest.is_empty() {
        let tag = rest[0];
        let (len, header) = match *rest.get(1)? {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (*rest.get(2)? as usize, 3),
            0x82 => ((*rest.get(2)? as usize) << 8 | *rest.get(3)? as usize, 4),
            _ => return largest,
        };
        let content = rest.get(header..header + len)?;
        let bits = match tag {
            // INTEGER: significant bits, leading zero bytes ignored.
            0x02 => Some(rsa_modulus_bits(content)).filter(|bits| *bits > 0),
            // SEQUENCE, OCTET STRING: look inside.
            0x30 | 0x04 => largest_integer_bits(content, depth + 1),
            // BIT STRING: skip the unused-bits byte.
            0x03 => content
                .get(1..)
                .and_then(|c| largest_integer_bits(c, depth + 1)),
            _ => None,
        };
        largest = largest.max(bits);
        rest = &rest[header + len..];
    }
    largest
}

/// Classifies a PEM key by its algorithm OID (and curve OID for EC keys).
pub fn pem_key_kind(pem: &[u8]) -> Option<KeyKind> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let header_end = start + text[start..].find('\n')?;
    let label = &text[start..header_end];
    if label.contains("RSA ") {
        return Some(KeyKind::Rsa);
    }
    let der = pem_der(pem)?;
    let has = |oid: &[u8]| der.windows(oid.len()).any(|w| w == oid);
    // 1.2.840.113549.1.1.1 rsaEncryption, 1.2.840.113549.1.1.10 RSASSA-PSS
    if has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01])
        || has(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a])
    {
        return Some(KeyKind::Rsa);
    }
    // 1.3.101.112 Ed25519
    if has(&[0x06, 0x03, 0x2b, 0x65, 0x70]) {
        return Some(KeyKind::Ed25519);
    }
    // prime256v1 and secp384r1 curve OIDs (also in SEC1 "EC PRIVATE KEY" files)
    if has(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]) {
        return Some(KeyKind::EcP256);
    }
    if has(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]) {
        return Some(KeyKind::EcP384);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_modulus_size_is_read_from_every_key_format() {
        let fixture = |name: &str| {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(name),
            )
            .unwrap()
        };
        for (file, bits) in [
            ("rs256-public.pem", 2048),
            ("rs256-pkcs1-public.pem", 2048),
            ("rs256-private.pem", 2048),
            ("rs1024-public.pem", 1024),
        ] {
            let der = pem_der(&fixture(file)).unwrap();
            assert_eq!(largest_integer_bits(&der, 0), Some(bits), "{file}");
        }
    }
}
