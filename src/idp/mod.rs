//! Revocations pushed by the identity provider: OpenID Connect Back-Channel Logout tokens
//! (logout.rs) and Shared Signals security event tokens (set.rs, events.rs). Each is a signed
//! token verified with the issuers' keys (`Verifier::verify_signed`), then checked by its own
//! rules here, then applied once (a replay marker per issuer and `jti`).
//!
//! This file holds what both receivers share: their options, the failure limiter (per claimed
//! issuer and per source, as client authentication), and the claim rules they have in common.

pub mod events;
pub mod logout;
pub mod set;

use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use serde_json::{Map, Value};

use crate::client_auth::{constant_time_eq, digest};
use crate::config::{BackchannelLogoutSettings, ConfigError, Settings};
use crate::error::ApiError;
use crate::limiter::FailureLimiter;
use crate::token::claims::numeric_date;
use crate::token::jose::{Segments, UniqueObject};
use crate::trusted::TrustedProxies;

/// What a receiver accepts: the audiences and the oldest `iat`.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    pub audience: Vec<String>,
    pub max_age_secs: i64,
}

impl ReceiverOptions {
    fn from_settings(audience: &[String], max_age_secs: u64) -> ReceiverOptions {
        ReceiverOptions {
            audience: audience.to_vec(),
            max_age_secs: i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        }
    }
}

/// `[ssf]`: what a SET must meet, and the digest of the bearer token the transmitter presents.
pub struct SsfOptions {
    pub receiver: ReceiverOptions,
    bearer: Option<[u8; 32]>,
}

impl SsfOptions {
    /// Whether the request presents the configured bearer token (compared in constant time);
    /// true when none is configured.
    pub fn authenticates(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.bearer else {
            return true;
        };
        let mut values = req
            .headers()
            .get_all(actix_web::http::header::AUTHORIZATION);
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let value = value.as_bytes();
        let presented = match value.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &value[7..],
            _ => return false,
        };
        constant_time_eq(&digest(presented), expected)
    }
}

/// The receivers' shared state, built once at start-up.
pub struct Receivers {
    /// `[backchannel_logout]`, when enabled.
    pub logout: Option<ReceiverOptions>,
    /// `[ssf]`, when enabled.
    pub ssf: Option<SsfOptions>,
    /// Configured issuer names: only these are counted by the limiter, so a flood of made-up
    /// issuers cannot fill it.
    issuers: Vec<String>,
    limiter: FailureLimiter,
    trusted: TrustedProxies,
}

/// One delivery, as the limiter sees it: where it came from and which configured issuer it
/// claims to be from (unverified).
pub struct Attempt {
    source: Option<IpAddr>,
    issuer: Option<String>,
}

impl Receivers {
    pub fn from_settings(
        settings: &Settings,
        trusted: TrustedProxies,
    ) -> Result<Receivers, ConfigError> {
        let BackchannelLogoutSettings {
            enabled,
            audience,
            max_age_secs,
        } = &settings.backchannel_logout;
        let jwt = &settings.jwt;
        let issuers = match &jwt.issuer {
            Some(issuer) if jwt.issuers.is_empty() => vec![issuer.clone()],
            _ => jwt.issuers.iter().map(|i| i.issuer.clone()).collect(),
        };
        let ssf = &settings.ssf;
        let ssf = match ssf.enabled {
            true => Some(SsfOptions {
                receiver: ReceiverOptions::from_settings(&ssf.audience, ssf.max_age_secs),
                bearer: ssf.bearer_token()?.map(|t| digest(t.expose().as_bytes())),
            }),
            false => None,
        };
        Ok(Receivers {
            logout: enabled.then(|| ReceiverOptions::from_settings(audience, *max_age_secs)),
            ssf,
            issuers,
            limiter: FailureLimiter::new(
                settings.client_auth.max_failures,
                Duration::from_secs(settings.client_auth.window_secs),
            ),
            trusted,
        })
    }

    /// Reads where a delivery comes from and which configured issuer `token` names.
    pub fn attempt(&self, req: &HttpRequest, token: &str) -> Attempt {
        let source = self.trusted.source_of(req);
        let issuer = claimed_issuer(token).filter(|iss| self.issuers.contains(iss));
        Attempt { source, issuer }
    }

    /// 429 when this source or this issuer failed too often, before any verification.
    pub fn check_limit(&self, attempt: &Attempt) -> Result<(), ApiError> {
        match self
            .limiter
            .blocked_for(attempt.issuer.as_deref(), attempt.source)
        {
            Some(retry_after) => Err(ApiError::TooManyFailures(retry_after)),
            None => Ok(()),
        }
    }

    pub fn failed(&self, attempt: &Attempt) {
        self.limiter
            .record_failure(attempt.issuer.as_deref(), attempt.source);
    }
}

/// The `iss` a token claims, unverified (for the limiter only).
fn claimed_issuer(token: &str) -> Option<String> {
    let segments = Segments::split(token)?;
    let claims = UniqueObject::from_segment(segments.payload)?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Whether `aud` (a string or an array of strings) names one of `audience`.
fn audience_matches(claims: &Map<String, Value>, audience: &[String]) -> bool {
    match claims.get("aud") {
        Some(Value::String(one)) => audience.contains(one),
        // An array holding anything but strings is malformed: it names nobody.
        Some(Value::Array(many)) => {
            many.iter().all(Value::is_string)
                && many
                    .iter()
                    .any(|a| a.as_str().is_some_and(|a| audience.iter().any(|x| x == a)))
        }
        _ => false,
    }
}

/// How long a receiver accepts a token, from its `iat` (required, numeric, not in the future
/// beyond the leeway, not older than the receiver accepts) and its `exp` (honoured when
/// present; `expired` says so): the replay marker's lifetime, in ms.
fn accepted_for_ms(
    claims: &Map<String, Value>,
    options: &ReceiverOptions,
    now: i64,
    leeway: i64,
    expired: &'static str,
) -> Result<u64, &'static str> {
    let iat = claims
        .get("iat")
        .ok_or("the iat claim is required")
        .and_then(|v| numeric_date(v).map_err(|_| "iat must be a number"))?;
    if iat > now.saturating_add(leeway) {
        return Err("iat is in the future");
    }
    let mut refused_from = iat.saturating_add(options.max_age_secs);
    if refused_from.saturating_add(leeway) <= now {
        return Err("the token is too old (iat)");
    }
    if let Some(exp) = claims.get("exp") {
        let exp = numeric_date(exp).map_err(|_| "exp must be a number")?;
        if now >= exp.saturating_add(leeway) {
            return Err(expired);
        }
        refused_from = refused_from.min(exp);
    }
    // Until the token is refused anyway, at least one second.
    let left = refused_from
        .saturating_add(leeway)
        .saturating_sub(now)
        .max(1);
    Ok((left as u64).saturating_mul(1000))
}

/// A required, non-empty string claim.
fn required_string<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
    missing: &'static str,
) -> Result<&'a str, &'static str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(missing)
}
