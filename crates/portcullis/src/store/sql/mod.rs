//! Every store capability implemented once, over SQL, for SQLite and Postgres alike.
//!
//! The statements are written in the subset both databases accept: `$n` placeholders (SQLite
//! reads them as the n-th argument too), `ON CONFLICT DO NOTHING`, `RETURNING`, `CASE` where one
//! would write `MAX(a, b)` or `GREATEST(a, b)`, and no casts. What differs lives in a
//! [`Dialect`] (`store::sqlite`, `store::postgres`): connecting and migrating, how an id is stored
//! ([`Id`]: text on SQLite, `uuid` on Postgres), how an error is classified, and the few
//! statements only one backend needs.
//!
//! Adding a table costs one migration per backend and one implementation here.

use std::future::Future;
use std::marker::PhantomData;

use futures_util::future::BoxFuture;
use sqlx::{Arguments, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use uuid::Uuid;

use super::{StoreError, StoreResult};

mod audit;
mod challenges;
mod factors;
mod remember;
mod roles;
mod rows;
mod sessions;
mod signals;
mod transfer;
mod usernames;
mod users;

pub(crate) use rows::{conflict_subject, LOOKALIKE};

/// An id as a backend stores it: text on SQLite, `uuid` on Postgres (each backend implements
/// sqlx's `Type`, `Encode` and `Decode` for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub Uuid);

/// What one SQL backend needs to say for the shared implementation to run on it.
///
/// Implemented for [`sqlx::Sqlite`] and [`sqlx::Postgres`]; the supertraits are implemented for
/// every sqlx database and only carry the bounds the shared implementation relies on.
pub trait Dialect:
    Database
    + Run
    + for<'q> Bind<'q, i64>
    + for<'q> Bind<'q, Option<i64>>
    + for<'q> Bind<'q, bool>
    + for<'q> Bind<'q, Option<bool>>
    + for<'q> Bind<'q, &'q str>
    + for<'q> Bind<'q, Option<&'q str>>
    + for<'q> Bind<'q, String>
    + for<'q> Bind<'q, Option<String>>
    + for<'q> Bind<'q, &'q [u8]>
    + for<'q> Bind<'q, Option<&'q [u8]>>
    + for<'q> Bind<'q, Id>
    + for<'q> Bind<'q, Option<Id>>
    + Read<i64>
    + Read<Option<i64>>
    + Read<bool>
    + Read<String>
    + Read<Option<String>>
    + Read<Vec<u8>>
    + Read<Option<Vec<u8>>>
    + Read<Id>
    + Read<Option<Id>>
{
    /// Opens a pool on `url` and applies this backend's migrations.
    fn connect(url: &str) -> impl Future<Output = StoreResult<Pool<Self>>> + Send;

    /// Lost connections are [`StoreError::Unreachable`]; unique violations are
    /// [`StoreError::Conflict`] named after what was taken (see [`rows::conflict_subject`]).
    fn classify(error: sqlx::Error) -> StoreError;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Run after an audit row was inserted with an explicit id (`$1`), so that later appends get
    /// larger ids; `None` when the backend does that by itself.
    const AFTER_EXPLICIT_AUDIT_ID: Option<&'static str>;
}

/// Binds a value of type `T` (blanket-implemented for every type the database can encode).
pub trait Bind<'q, T>: Database {
    /// Appends `value` to `args`.
    fn push(args: &mut Self::Arguments<'q>, value: T) -> StoreResult<()>;
}

impl<'q, DB: Database, T: 'q + Encode<'q, DB> + Type<DB>> Bind<'q, T> for DB {
    fn push(args: &mut DB::Arguments<'q>, value: T) -> StoreResult<()> {
        args.add(value).map_err(StoreError::Backend)
    }
}

/// Reads a column of type `T` (blanket-implemented for every type the database can decode).
pub trait Read<T>: Database {
    /// The value of column `index` of `row`.
    fn read(row: &Self::Row, index: usize) -> StoreResult<T>;
}

impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Read<T> for DB
where
    usize: ColumnIndex<DB::Row>,
{
    fn read(row: &DB::Row, index: usize) -> StoreResult<T> {
        row.try_get(index).map_err(|e| StoreError::Backend(Box::new(e)))
    }
}

/// Runs statements on a connection (blanket-implemented for every sqlx database).
pub trait Run: Database {
    /// Executes a statement.
    fn execute<'e, 'q: 'e>(
        conn: &'e mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'e, Result<Self::QueryResult, sqlx::Error>>;
    /// Every row a statement returns.
    fn fetch_all<'e, 'q: 'e>(
        conn: &'e mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'e, Result<Vec<Self::Row>, sqlx::Error>>;
    /// The first row a statement returns, if any.
    fn fetch_optional<'e, 'q: 'e>(
        conn: &'e mut Self::Connection,
        sql: &'q str,
        args: Self::Arguments<'q>,
    ) -> BoxFuture<'e, Result<Option<Self::Row>, sqlx::Error>>;
}

impl<DB: Database> Run for DB
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    fn execute<'e, 'q: 'e>(
        conn: &'e mut DB::Connection,
        sql: &'q str,
        args: DB::Arguments<'q>,
    ) -> BoxFuture<'e, Result<DB::QueryResult, sqlx::Error>> {
        conn.execute(sqlx::query_with(sql, args))
    }

    fn fetch_all<'e, 'q: 'e>(
        conn: &'e mut DB::Connection,
        sql: &'q str,
        args: DB::Arguments<'q>,
    ) -> BoxFuture<'e, Result<Vec<DB::Row>, sqlx::Error>> {
        conn.fetch_all(sqlx::query_with(sql, args))
    }

    fn fetch_optional<'e, 'q: 'e>(
        conn: &'e mut DB::Connection,
        sql: &'q str,
        args: DB::Arguments<'q>,
    ) -> BoxFuture<'e, Result<Option<DB::Row>, sqlx::Error>> {
        conn.fetch_optional(sqlx::query_with(sql, args))
    }
}

/// Column `index` of `row`, as the type the caller expects.
pub(crate) fn col<D: Read<T>, T>(row: &D::Row, index: usize) -> StoreResult<T> {
    D::read(row, index)
}

/// A value read from one result row.
pub(crate) trait FromSqlRow: Sized {
    /// Reads `row`.
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self>;
}

impl FromSqlRow for i64 {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        col::<D, _>(row, 0)
    }
}

impl FromSqlRow for Id {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        col::<D, _>(row, 0)
    }
}

impl FromSqlRow for Vec<u8> {
    fn from_row<D: Dialect>(row: &D::Row) -> StoreResult<Self> {
        col::<D, _>(row, 0)
    }
}

/// One statement and its arguments.
pub(crate) struct Sql<'q, D: Dialect> {
    text: &'q str,
    args: D::Arguments<'q>,
    /// The first value that would not encode; reported when the statement runs.
    unbound: Option<StoreError>,
    _db: PhantomData<D>,
}

impl<'q, D: Dialect> Sql<'q, D> {
    pub(crate) fn new(text: &'q str) -> Self {
        Self { text, args: Default::default(), unbound: None, _db: PhantomData }
    }

    /// Binds the next `$n`.
    pub(crate) fn bind<T>(mut self, value: T) -> Self
    where
        D: Bind<'q, T>,
    {
        if self.unbound.is_none() {
            self.unbound = D::push(&mut self.args, value).err();
        }
        self
    }

    fn ready(self) -> StoreResult<(&'q str, D::Arguments<'q>)> {
        match self.unbound {
            Some(e) => Err(e),
            None => Ok((self.text, self.args)),
        }
    }

    /// Runs it; returns how many rows it changed.
    pub(crate) async fn execute(self, conn: &mut D::Connection) -> StoreResult<u64> {
        let (text, args) = self.ready()?;
        let done = D::execute(conn, text, args).await.map_err(D::classify)?;
        Ok(D::rows_affected(&done))
    }

    /// Every row it returns.
    pub(crate) async fn fetch_all<R: FromSqlRow>(self, conn: &mut D::Connection) -> StoreResult<Vec<R>> {
        let (text, args) = self.ready()?;
        D::fetch_all(conn, text, args).await.map_err(D::classify)?.iter().map(R::from_row::<D>).collect()
    }

    /// The first row it returns, if any.
    pub(crate) async fn fetch_optional<R: FromSqlRow>(self, conn: &mut D::Connection) -> StoreResult<Option<R>> {
        let (text, args) = self.ready()?;
        D::fetch_optional(conn, text, args).await.map_err(D::classify)?.as_ref().map(R::from_row::<D>).transpose()
    }

    /// The first row it returns; a backend error when there is none.
    pub(crate) async fn fetch_one<R: FromSqlRow>(self, conn: &mut D::Connection) -> StoreResult<R> {
        self.fetch_optional(conn).await?.ok_or_else(|| StoreError::Backend("the statement returned no row".into()))
    }
}

/// The store over one SQL database: SQLite ([`super::sqlite::SqliteStore`]) or Postgres
/// ([`super::postgres::PgStore`]).
#[derive(Debug)]
pub struct SqlStore<D: Dialect> {
    pool: Pool<D>,
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self { pool: self.pool.clone() }
    }
}

impl<D: Dialect> SqlStore<D> {
    /// Opens the database at `url`, applies its migrations and re-keys usernames made before the
    /// current rules (`store::usernames`).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let store = Self { pool: D::connect(url).await? };
        super::usernames::rekey(&store).await?;
        Ok(store)
    }

    /// Closes every connection; later calls fail as unreachable.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The connection pool (for backend-specific tests and tools).
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    pub(crate) async fn conn(&self) -> StoreResult<sqlx::pool::PoolConnection<D>> {
        self.pool.acquire().await.map_err(D::classify)
    }

    pub(crate) async fn begin(&self) -> StoreResult<sqlx::Transaction<'static, D>> {
        self.pool.begin().await.map_err(D::classify)
    }
}

/// Commits `tx`.
pub(crate) async fn commit<D: Dialect>(tx: sqlx::Transaction<'static, D>) -> StoreResult<()> {
    tx.commit().await.map_err(D::classify)
}

#[async_trait::async_trait]
impl<D: Dialect> super::Health for SqlStore<D> {
    async fn ping(&self) -> StoreResult<()> {
        Sql::<D>::new("SELECT 1").execute(&mut *self.conn().await?).await.map(drop)
    }
}
