//! `application/x-www-form-urlencoded` request bodies, parsed strictly: bad percent-encoding,
//! invalid UTF-8 and duplicated parameters are errors (RFC 6749 §3.1), never silently repaired.
//! The body is read with a hard size cap before any parsing.

use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::error::ApiError;

/// A parsed form: every (name, value) pair in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Parses a form body. Parameter names and values are percent-decoded (`+` is a space).
    pub fn parse(body: &[u8]) -> Result<Form, ApiError> {
        let mut pairs = Vec::new();
        for part in body.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Form { pairs })
    }

    /// The value of a parameter that may appear once. An empty value counts as absent
    /// (RFC 6749 §3.2); a repeated parameter is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut found = None;
        for (n, v) in &self.pairs {
            if n == name {
                if found.is_some() {
                    return Err(ApiError::InvalidRequest("a parameter is repeated"));
                }
                found = Some(v.as_str());
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// Like `get`, but the parameter must be present and non-empty.
    pub fn require(&self, name: &str, missing: &'static str) -> Result<&str, ApiError> {
        self.get(name)?.ok_or(ApiError::InvalidRequest(missing))
    }
}

fn decode(raw: &[u8]) -> Result<String, ApiError> {
    const BAD: ApiError = ApiError::InvalidRequest("malformed form encoding");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or(BAD)?;
                let hi = hex_value(hex[0]).ok_or(BAD)?;
                let lo = hex_value(hex[1]).ok_or(BAD)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::InvalidRequest("form values must be UTF-8"))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Reads a form body: the content type must be form-urlencoded, no content coding is accepted,
/// and more than `limit` bytes is 413, checked against Content-Length and again while reading.
pub async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Form, ApiError> {
    const FORM: (&str, &str) = (
        "application/x-www-form-urlencoded",
        "the body must be application/x-www-form-urlencoded",
    );
    Form::parse(&read_body(req, payload, limit, FORM).await?)
}

/// Reads a body of one media type (`expected`: the type, and the error when it is another), in
/// UTF-8 when a charset is named, without content coding, at most `limit` bytes (413, checked
/// against Content-Length and again while reading).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    expected: (&str, &'static str),
) -> Result<web::BytesMut, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut params = content_type.split(';').map(str::trim);
    let mime = params.next().unwrap_or("");
    if !mime.eq_ignore_ascii_case(expected.0) {
        return Err(ApiError::InvalidRequest(expected.1));
    }
    if params.any(|p| {
        p.split_once('=').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("charset")
                && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        })
    }) {
        return Err(ApiError::InvalidRequest("the body must be UTF-8"));
    }
    if let Some(coding) = req.headers().get(header::CONTENT_ENCODING) {
        if !coding.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(ApiError::InvalidRequest(
                "content encodings are not accepted",
            ));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut body = web::BytesMut::with_capacity(declared.map_or(1024, |n| n as usize));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::InvalidRequest("the body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let form = Form::parse(b"token=a%2Bb+c&x=&empty&hint=%E2%9C%93").unwrap();
        assert_eq!(form.get("token").unwrap(), Some("a+b c"));
        assert_eq!(form.get("x").unwrap(), None);
        assert_eq!(form.get("empty").unwrap(), None);
        assert_eq!(form.get("hint").unwrap(), Some("\u{2713}"));
        assert_eq!(form.get("absent").unwrap(), None);
    }

    #[test]
    fn refuses_bad_encoding_and_duplicates() {
        for bad in [
            &b"token=%zz"[..],
            b"token=%4",
            b"token=%",
            b"token=%FF",
            b"t%ZZ=1",
        ] {
            assert!(
                Form::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let form = Form::parse(b"token=a&token=b").unwrap();
        assert_eq!(
            form.get("token"),
            Err(ApiError::InvalidRequest("a parameter is repeated"))
        );
        assert_eq!(
            form.require("sub", "sub is required"),
            Err(ApiError::InvalidRequest("sub is required"))
        );
    }
}
