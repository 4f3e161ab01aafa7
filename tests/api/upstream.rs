//! The protected API behind the real gateways (nginx, Traefik, Caddy): counts the requests that
//! reach it and echoes the identity headers the gateway forwarded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

pub struct Upstream {
    pub port: u16,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    /// Requests that reached the API so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn echo(req: HttpRequest, hits: web::Data<AtomicUsize>) -> HttpResponse {
    hits.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    HttpResponse::Ok().json(json!({
        "subject": header("x-auth-subject"),
        "scope": header("x-auth-scope"),
        "jti": header("x-auth-jti"),
        "authorization_seen": req.headers().contains_key("authorization"),
    }))
}

pub async fn spawn_upstream() -> Upstream {
    let hits = web::Data::new(AtomicUsize::new(0));
    let counter = hits.clone().into_inner();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(hits.clone())
            .default_service(web::to(echo))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    Upstream {
        port,
        hits: counter,
    }
}
