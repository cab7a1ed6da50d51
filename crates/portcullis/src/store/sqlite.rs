//! The embedded SQLite backend (WAL, migrations applied at open): the [`Dialect`] the shared SQL
//! implementation (`store::sql`) runs with on SQLite. Ids are stored as hyphenated text.

use std::str::FromStr;
use std::time::Duration;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{
    SqliteArgumentValue, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous, SqliteTypeInfo,
    SqliteValueRef,
};
use sqlx::{Decode, Encode, Pool, Sqlite, Type};
use uuid::Uuid;

use super::sql::{conflict_subject, Dialect, Id, SqlStore, LOOKALIKE};
use super::{StoreError, StoreResult};

/// The SQLite-backed store.
pub type SqliteStore = SqlStore<Sqlite>;

impl Dialect for Sqlite {
    async fn connect(url: &str) -> StoreResult<Pool<Self>> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a committed login or revocation survives a crash of this process;
            // FULL would also cover power loss at half the write rate (docs/configuration.md).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database exists per connection, so it gets exactly one.
        let max = if url.contains(":memory:") { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(Self::classify)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await.map_err(backend)?;
        Ok(pool)
    }

    fn classify(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unreachable(Box::new(e))
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                // SQLite names the columns only in the message: "UNIQUE constraint failed: users.id".
                let columns = db.message().rsplit(": ").next().unwrap_or_default();
                let table = columns.split('.').next().unwrap_or_default();
                if columns.starts_with("users.username_skeleton") {
                    return StoreError::Conflict(LOOKALIKE);
                }
                StoreError::Conflict(conflict_subject(table, columns.starts_with("users.username_key")))
            }
            other => backend(other),
        }
    }

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    // AUTOINCREMENT moves past an explicit id by itself.
    const AFTER_EXPLICIT_AUDIT_ID: Option<&'static str> = None;
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl Type<Sqlite> for Id {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <str as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Id {
    fn encode_by_ref(&self, args: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.0.hyphenated(), args)
    }
}

impl Decode<'_, Sqlite> for Id {
    fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Id(Uuid::parse_str(<&str as Decode<Sqlite>>::decode(value)?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings docs/configuration.md states, read back from a live connection.
    #[tokio::test]
    async fn every_connection_has_the_stated_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("s.db").display())).await.expect("open");
        let mut conn = store.pool().acquire().await.expect("connection");
        let text = |q| sqlx::query_scalar::<_, String>(q);
        let number = |q| sqlx::query_scalar::<_, i64>(q);
        assert_eq!(text("PRAGMA journal_mode").fetch_one(&mut *conn).await.expect("read"), "wal");
        // 1 = NORMAL: in WAL mode a commit survives a crash of the server process (tested with
        // kill -9 in the CLI tests); see docs/configuration.md for power loss and FULL.
        assert_eq!(number("PRAGMA synchronous").fetch_one(&mut *conn).await.expect("read"), 1);
        assert_eq!(number("PRAGMA foreign_keys").fetch_one(&mut *conn).await.expect("read"), 1);
        assert_eq!(number("PRAGMA busy_timeout").fetch_one(&mut *conn).await.expect("read"), 5_000);
    }
}
