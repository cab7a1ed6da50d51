//! Re-keying accounts made before the RFC 8265 username rules (see [`crate::username`]).
//!
//! Keys and skeletons cannot be computed in SQL, so each SQL store runs this at open, after its
//! migrations, over the rows whose `username_skeleton` is NULL: every row once after the upgrade,
//! then only the rows it could not finish. Nothing here fails the start-up:
//!
//! ```text
//!  row without skeleton ─▶ name valid? ──no──▶ Invalid: keeps its old key (the lower-cased name)
//!                              │yes
//!                              ▼
//!                 new key free? ──no──▶ KeyTaken: keeps its old key; the holder keeps the name
//!                              │yes
//!                              ▼
//!                 skeleton free? ──no──▶ LookAlike: new key, no skeleton
//!                              │yes
//!                              ▼
//!                        new key + skeleton
//! ```
//!
//! Precedence: a row whose stored key already is its new key keeps it; among the others, the
//! account created first wins. Both accounts of a collision keep working: a login tries the old
//! key of the typed name first (`username::lookup_keys`), so the account left with its old key is
//! still found under exactly its name. Every collision is logged at each start, naming both ids,
//! until an operator deletes or disables one of the accounts.

use std::fmt;

use async_trait::async_trait;
use uuid::Uuid;

use super::sql::LOOKALIKE;
use super::{StoreError, StoreResult};
use crate::username::UsernameRules;

/// A row that still needs its key and skeleton.
#[derive(Debug, Clone)]
pub(crate) struct Unkeyed {
    pub id: Uuid,
    pub username: String,
    pub key: String,
}

/// What a SQL store offers the re-keying.
#[async_trait]
pub(crate) trait RekeyRows {
    /// Rows whose skeleton is NULL, oldest first.
    async fn unkeyed(&self) -> StoreResult<Vec<Unkeyed>>;
    /// Sets a row's key and skeleton; `Conflict("username")` or `Conflict(LOOKALIKE)` when
    /// another row holds either.
    async fn set_key(&self, id: Uuid, key: &str, skeleton: Option<&str>) -> StoreResult<()>;
    /// The account holding `key`.
    async fn key_holder(&self, key: &str) -> StoreResult<Option<Uuid>>;
    /// The account holding `skeleton`.
    async fn skeleton_holder(&self, skeleton: &str) -> StoreResult<Option<Uuid>>;
    /// Inserts a row as the version before the PRECIS rules wrote it (no skeleton).
    #[cfg(test)]
    async fn insert_legacy(&self, id: Uuid, username: &str, key: &str, created_at: i64) -> StoreResult<()>;
}

/// Why an account could not get its new key or skeleton.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collision {
    /// The name is refused by the rules (e.g. it holds an invisible character); it keeps its old
    /// key.
    Invalid {
        /// The account.
        id: Uuid,
        /// Why.
        problem: &'static str,
    },
    /// Another account already has the new key (e.g. `ａｄｍｉｎ` next to `admin`); this one
    /// keeps its old key.
    KeyTaken {
        /// The account left with its old key.
        id: Uuid,
        /// The account holding the key.
        holder: Option<Uuid>,
    },
    /// Another account's name looks the same (e.g. `admın` next to `admin`); this one has its
    /// new key but no skeleton.
    LookAlike {
        /// The account left without a skeleton.
        id: Uuid,
        /// The account holding the skeleton.
        holder: Option<Uuid>,
    },
}

impl fmt::Display for Collision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_unknown = |h: &Option<Uuid>| h.map_or_else(|| "another account".to_owned(), |h| h.to_string());
        match self {
            Collision::Invalid { id, problem } => {
                write!(f, "account {id}: its username {problem}; it keeps its old key")
            }
            Collision::KeyTaken { id, holder } => write!(
                f,
                "account {id}: its username is the same name as account {}'s; it keeps its old key",
                or_unknown(holder)
            ),
            Collision::LookAlike { id, holder } => {
                write!(f, "account {id}: its username looks like account {}'s", or_unknown(holder))
            }
        }
    }
}

/// What a re-keying did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Rows given their key and skeleton.
    pub rekeyed: u64,
    /// Rows that could not be, each logged.
    pub collisions: Vec<Collision>,
}

/// Gives every unkeyed row its PRECIS key and skeleton where it can; see the module docs.
pub(crate) async fn rekey(rows: &dyn RekeyRows) -> StoreResult<RekeyReport> {
    let mut unkeyed = rows.unkeyed().await?;
    // Rows already holding their new key go first: they cannot lose it to a later row.
    unkeyed.sort_by_key(|row| crate::username::key(&row.username) != row.key);
    let mut report = RekeyReport::default();
    // The rules no operator can relax: existing accounts are not held to `ascii_only`.
    let loosest = UsernameRules { ascii_only: false, allow_mixed_scripts: true };
    for row in unkeyed {
        let collision = match loosest.check(&row.username) {
            Err(problem) => Some(Collision::Invalid { id: row.id, problem }),
            Ok(name) => {
                let skeleton = crate::username::skeleton(&name.display);
                apply(rows, &row, &name.key, skeleton.as_deref()).await?
            }
        };
        match collision {
            None => report.rekeyed += 1,
            Some(collision) => {
                tracing::warn!(user = %row.id, "username not re-keyed: {collision}");
                report.collisions.push(collision);
            }
        }
    }
    Ok(report)
}

/// Opens the store at `url` (which re-keys, as every open does) and returns the accounts left
/// unfinished: the collisions an operator still has to resolve (`portcullis user names`).
pub async fn collisions(url: &str) -> StoreResult<RekeyReport> {
    super::Backend::named(url)?.rekey(url).await
}

async fn apply(
    rows: &dyn RekeyRows,
    row: &Unkeyed,
    key: &str,
    skeleton: Option<&str>,
) -> StoreResult<Option<Collision>> {
    match rows.set_key(row.id, key, skeleton).await {
        Ok(()) => Ok(None),
        Err(StoreError::Conflict(LOOKALIKE)) => match rows.set_key(row.id, key, None).await {
            Ok(()) => {
                let holder = match skeleton {
                    Some(s) => rows.skeleton_holder(s).await?,
                    None => None,
                };
                Ok(Some(Collision::LookAlike { id: row.id, holder }))
            }
            Err(StoreError::Conflict(_)) => key_taken(rows, row, key).await,
            Err(e) => Err(e),
        },
        Err(StoreError::Conflict(_)) => key_taken(rows, row, key).await,
        Err(e) => Err(e),
    }
}

async fn key_taken(rows: &dyn RekeyRows, row: &Unkeyed, key: &str) -> StoreResult<Option<Collision>> {
    Ok(Some(Collision::KeyTaken { id: row.id, holder: rows.key_holder(key).await? }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UserStore;

    /// Accounts as the version before the PRECIS rules stored them: keys lower-cased only.
    const LEGACY: [(&str, &str); 6] = [
        ("admin", "admin"),
        ("ａｄｍｉｎ", "ａｄｍｉｎ"),
        ("adm\u{131}n", "adm\u{131}n"),
        ("ad\u{200b}min", "ad\u{200b}min"),
        ("Ｚoë", "ｚoë"),
        ("e\u{301}lise", "e\u{301}lise"),
    ];

    async fn seed(rows: &dyn RekeyRows) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for (i, (name, key)) in LEGACY.into_iter().enumerate() {
            let id = Uuid::now_v7();
            rows.insert_legacy(id, name, key, 1_800_000_000 + i64::try_from(i).expect("small")).await.expect("insert");
            ids.push(id);
        }
        ids
    }

    /// Re-keys the seeded rows; `reopen` opens the same database again, as a restart would.
    async fn existing_rows_get_new_keys_and_collisions_are_reported<S, F, Fut>(store: S, reopen: F)
    where
        S: RekeyRows + UserStore,
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = S>,
    {
        let [admin, wide, dotless, invisible, zoe, elise] = <[Uuid; 6]>::try_from(seed(&store).await).expect("six");
        let report = rekey(&store).await.expect("rekey does not fail");
        assert_eq!(report.rekeyed, 3, "{report:?}");
        assert_eq!(
            report.collisions,
            [
                Collision::LookAlike { id: dotless, holder: Some(admin) },
                Collision::Invalid {
                    id: invisible,
                    problem: "must not contain control, invisible or format characters"
                },
                Collision::KeyTaken { id: wide, holder: Some(admin) },
            ]
        );
        let found = |name: &'static str| {
            let store = &store;
            async move { store.user_by_username(name).await.expect("lookup").map(|u| u.id) }
        };
        assert_eq!(found("ADMIN").await, Some(admin));
        assert_eq!(found("zoë").await, Some(zoe), "the width-mapped, lower-cased key");
        assert_eq!(found("\u{e9}lise").await, Some(elise), "NFD and NFC are one name");
        // Both accounts of each collision still sign in under their exact names.
        assert_eq!(found("ａｄｍｉｎ").await, Some(wide));
        assert_eq!(found("adm\u{131}n").await, Some(dotless));
        assert_eq!(found("ad\u{200b}min").await, Some(invisible));

        // A restart reports the same collisions again and changes nothing else.
        let store = reopen().await;
        let again = rekey(&store).await.expect("rekey does not fail");
        assert_eq!((again.rekeyed, again.collisions), (0, report.collisions));
    }

    #[tokio::test]
    async fn sqlite_rekeys_existing_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let open = move || {
            let url = url.clone();
            async move { crate::store::sqlite::SqliteStore::open(&url).await.expect("open") }
        };
        existing_rows_get_new_keys_and_collisions_are_reported(open().await, open).await;
    }

    #[tokio::test]
    async fn postgres_rekeys_existing_rows() {
        let db = crate::store::postgres::testing::TempDatabase::create().await.expect("temporary database");
        let url = db.url.clone();
        let open = move || {
            let url = url.clone();
            async move { crate::store::postgres::PgStore::open(&url).await.expect("open") }
        };
        existing_rows_get_new_keys_and_collisions_are_reported(open().await, open).await;
    }
}
