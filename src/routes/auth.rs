//! `/auth` and `/auth/{anything}`, any method, with any query string: the gateway endpoint for
//! nginx `auth_request`, Envoy's HTTP `ext_authz`, Traefik's ForwardAuth and Caddy's
//! `forward_auth` (which may append the client's query). The verdict comes from
//! `gateway::decision::decide`, the same as Envoy's gRPC ext_authz; this handler only reads the
//! request and presents the answer as a status and headers. It never answers 400: nginx turns
//! anything but 2xx/401/403 into a 500.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use super::{with_outcome, AppState};
use crate::error::ApiError;
use crate::gateway::credential::bearer_credential;
use crate::gateway::decision::{decide, Decision};
use crate::scope::RequiredScopes;

const REQUIRED_SCOPE: &str = "x-required-scope";

#[tracing::instrument(name = "auth", skip_all)]
pub async fn auth(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let headers = req.headers();
    let credential = bearer_credential(
        headers
            .get_all(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        headers.get_all(header::COOKIE).map(HeaderValue::as_bytes),
        state.auth.cookie_name.as_deref(),
    );
    let required =
        RequiredScopes::parse(headers.get_all(REQUIRED_SCOPE).map(HeaderValue::as_bytes));
    match decide(&state.introspector, &state.auth, credential, &required).await {
        // Exactly 200 (Envoy allows only 200), empty body, identity in headers.
        Decision::Allow { identity, outcome } => {
            let mut res = HttpResponse::Ok();
            for pair in identity {
                res.insert_header(pair);
            }
            Ok(with_outcome(res.finish(), outcome))
        }
        Decision::Deny(error) => Err(error),
    }
}
