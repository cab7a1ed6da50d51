//! Throw-away Postgres databases for tests (unit and integration): each test gets its own, so
//! tests run in parallel and leave nothing behind.
//!
//! The server is named by `PORTCULLIS_TEST_PG` (a URL whose database exists, used to create and
//! drop the others), by default `postgres://postgres@127.0.0.1:5432/postgres`.

use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// Environment variable naming the server and maintenance database tests use.
pub const BASE_URL_ENV: &str = "PORTCULLIS_TEST_PG";
const DEFAULT_BASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database created for one test and dropped, with any connections left to it, when this value
/// is dropped (also when the test panics).
#[derive(Debug)]
pub struct TempDatabase {
    /// URL of the new, empty database.
    pub url: String,
    base: String,
    name: String,
}

impl TempDatabase {
    /// Creates `pc_test_<uuid>` on the test server.
    pub async fn create() -> Result<Self, sqlx::Error> {
        let base = std::env::var(BASE_URL_ENV).unwrap_or_else(|_| DEFAULT_BASE_URL.into());
        let name = format!("pc_test_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&base).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
        conn.close().await?;
        Ok(Self { url: with_database(&base, &name), base, name })
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop often runs inside a test's runtime, which cannot block on a future of its own:
        // drop the database from a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&base).await?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
                conn.close().await
            })?;
            Ok(())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: the thread panicked", self.name),
        }
    }
}

/// `base` with its database (the URL path) replaced by `name`, query kept.
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority = url.find("://").map_or(0, |i| i + 3);
    let path = url[authority..].find('/').map_or(url.len(), |i| authority + i);
    match query {
        Some(query) => format!("{}/{name}?{query}", &url[..path]),
        None => format!("{}/{name}", &url[..path]),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_only() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t"), "postgres://u@h:5432/t");
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "t"), "postgres://u:p@h/t?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "t"), "postgresql://h/t");
    }
}
