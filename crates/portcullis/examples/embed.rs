//! A host app embedding Portcullis: its own page and API route, Portcullis's session routes.
//!
//! `cargo run -p portcullis --example embed`, then log in through `/api/getcsrf` and
//! `/api/login` as `demo` / `demo password` and call `/api/hello`.

use axum::routing::get;
use axum::Router;
use portcullis::http::extract::CurrentUser;
use portcullis::password::Password;
use portcullis::{Config, Portcullis, Secrets};

async fn hello(CurrentUser(session): CurrentUser) -> String {
    format!("hello, {}\n", session.user().username)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::defaults();
    config.store_url = "sqlite::memory:".into();
    let auth = Portcullis::builder(config).with_secrets(Secrets::ephemeral()).build().await?;
    auth.accounts().create("demo", &Password::new("demo password"), None, Vec::new()).await?;

    let app = Router::new()
        .route("/", get(|| async { "the host app's own page\n" }))
        .route("/api/hello", get(hello))
        .with_state(auth.state())
        .merge(auth.api_router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    portcullis::http::serve(listener, app, std::future::pending()).await?;
    Ok(())
}
