//! Bare axum app used as the reference point of the benchmarks.
//!
//! It answers `GET /hello` with a small JSON body and `GET /readyz` with 200,
//! on the same tokio runtime settings as the server (multi-thread, defaults).
//! This is the practical limit of any HTTP service on the machine, so every
//! Portcullis figure is quoted as a ratio against it.
//!
//! Usage: `portcullis-bench-baseline [ADDR]` (default `127.0.0.1:0`). Prints one
//! line `listening on http://ADDR` with the bound address, then serves.

use std::io::Write;
use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

const DEFAULT_ADDR: &str = "127.0.0.1:0";

async fn hello() -> Json<Value> {
    Json(json!({ "hello": "world" }))
}

async fn readyz() -> &'static str {
    "ok"
}

fn app() -> Router {
    Router::new().route("/hello", get(hello)).route("/readyz", get(readyz))
}

#[tokio::main]
async fn main() {
    let arg = std::env::args().nth(1);
    let addr: SocketAddr =
        arg.as_deref().unwrap_or(DEFAULT_ADDR).parse().expect("bind address must be IP:PORT, e.g. 127.0.0.1:8080");

    let listener = tokio::net::TcpListener::bind(addr).await.expect("failed to bind the listen address");
    let local = listener.local_addr().expect("failed to read the bound address");

    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}").expect("failed to write to stdout");
        out.flush().expect("failed to flush stdout");
    }

    axum::serve(listener, app()).await.expect("server error");
}
