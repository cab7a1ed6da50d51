//! The Postgres backend, the durable store shared by many instances (migrations applied at
//! open): the [`Dialect`] the shared SQL implementation (`store::sql`) runs with on Postgres. Ids
//! are `uuid` columns; times are unix seconds in `bigint`, as on SQLite.

use std::str::FromStr;
use std::time::Duration;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgQueryResult, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Pool, Postgres, Type};
use uuid::Uuid;

use super::sql::{conflict_subject, Dialect, Id, SqlStore, LOOKALIKE};
use super::{StoreError, StoreResult};

#[doc(hidden)]
pub mod testing;

/// The Postgres-backed store.
pub type PgStore = SqlStore<Postgres>;

impl Dialect for Postgres {
    /// [`StoreError::Unreachable`] when the server does not answer within the acquire timeout.
    async fn connect(url: &str) -> StoreResult<Pool<Self>> {
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            .connect_with(options)
            .await
            .map_err(Self::classify)?;
        // Concurrent opens are safe: sqlx holds an advisory lock while it migrates.
        sqlx::migrate!("migrations/postgres").run(&pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => Self::classify(e),
            other => backend(other),
        })?;
        Ok(pool)
    }

    /// Lost or refused connections are `Unreachable` (the caller may retry or answer 503); unique
    /// violations are `Conflict`, named after the table (or the username).
    fn classify(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
                StoreError::Unreachable(Box::new(e))
            }
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some("users_username_skeleton_key") =>
            {
                StoreError::Conflict(LOOKALIKE)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict_subject(
                db.table().unwrap_or_default(),
                db.constraint() == Some("users_username_key_key"),
            )),
            // Class 08: connection exception; 57P01–57P03: the server is shutting down or starting.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")) =>
            {
                StoreError::Unreachable(Box::new(sqlx::Error::Database(db)))
            }
            other => backend(other),
        }
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    /// Moves the identity past the copied id and never back (as SQLite's AUTOINCREMENT does).
    const AFTER_EXPLICIT_AUDIT_ID: Option<&'static str> = Some(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), GREATEST($1, \
         COALESCE(pg_sequence_last_value(pg_get_serial_sequence('audit_log', 'id')::regclass), 0)))",
    );
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(e))
}

impl Type<Postgres> for Id {
    fn type_info() -> PgTypeInfo {
        <Uuid as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Id {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl Decode<'_, Postgres> for Id {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Id(<Uuid as Decode<Postgres>>::decode(value)?))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use time::OffsetDateTime;

    use super::testing::TempDatabase;
    use super::*;
    use crate::account::NewUser;
    use crate::store::{Health as _, UserStore as _};

    #[tokio::test]
    async fn a_dead_server_is_unreachable_at_open() {
        let started = Instant::now();
        let opened = PgStore::open("postgres://postgres@127.0.0.1:1/postgres").await;
        assert!(matches!(opened, Err(StoreError::Unreachable(_))), "{opened:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "gives up after the acquire timeout");
    }

    #[tokio::test]
    async fn a_closed_pool_is_unreachable() {
        let db = TempDatabase::create().await.expect("temporary database");
        let store = PgStore::open(&db.url).await.expect("open");
        store.ping().await.expect("ping");
        store.close().await;
        assert!(matches!(store.ping().await, Err(StoreError::Unreachable(_))));
        assert!(matches!(store.user_by_id(Uuid::now_v7()).await, Err(StoreError::Unreachable(_))));
    }

    #[tokio::test]
    async fn reopening_keeps_data_and_both_schemes_open() {
        let db = TempDatabase::create().await.expect("temporary database");
        let first = crate::store::open(&db.url).await.expect("open");
        let new = NewUser { username: "kim".into(), email: None, password_hash: "h".into(), roles: vec![] };
        first.users.create_user(new, OffsetDateTime::UNIX_EPOCH).await.expect("create");
        let url = db.url.replacen("postgres://", "postgresql://", 1);
        let second = crate::store::open(&url).await.expect("open again: migrations already applied");
        assert!(second.users.user_by_username("KIM").await.expect("lookup").is_some());
    }
}
