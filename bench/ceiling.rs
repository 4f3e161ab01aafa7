//! The bench's ceiling: a bare actix-web 4 server with two workers and no middleware, answering
//! `GET /` with a small JSON body. `make bench` states every figure as a ratio of this server's
//! throughput in the same run, so a cost added to introspectd's shared middleware shows up.
//!
//! Usage: `ceiling PORT`.

use actix_web::{web, App, HttpResponse, HttpServer};

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| std::io::Error::other("usage: ceiling PORT"))?;
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/", web::get().to(hello)))
            .workers(2)
            .bind(("127.0.0.1", port))?
            .run()
            .await
    })
}
