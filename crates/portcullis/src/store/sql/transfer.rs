//! Whole-store reads and exact-copy writes for moving to another backend.

use async_trait::async_trait;

use super::rows::{audit_columns, recovery_columns, remember_columns, session_columns, totp_columns};
use super::{commit, Dialect, Id, Sql, SqlStore};
use crate::account::User;
use crate::audit::AuditRecord;
use crate::auth::totp::{RecoveryCodeRecord, TotpRecord};
use crate::session::remember::RememberRecord;
use crate::session::SessionRecord;
use crate::store::{to_unix, StoreResult, Transfer};

#[async_trait]
impl<D: Dialect> Transfer for SqlStore<D> {
    async fn all_sessions(&self) -> StoreResult<Vec<SessionRecord>> {
        Sql::<D>::new(concat!("SELECT ", session_columns!(), " FROM sessions ORDER BY created_at, public_id"))
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    async fn all_remember(&self) -> StoreResult<Vec<RememberRecord>> {
        Sql::<D>::new(concat!("SELECT ", remember_columns!(), " FROM remember_tokens ORDER BY selector"))
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    async fn import_user(&self, user: &User) -> StoreResult<()> {
        self.insert_account(user).await
    }

    async fn import_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        Sql::<D>::new(concat!(
            "INSERT INTO audit_log (",
            audit_columns!(),
            ", id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind_audit(r)
        .bind(r.id)
        .execute(&mut *tx)
        .await?;
        // Later appends get larger ids, and no id is used twice.
        if let Some(bump) = D::AFTER_EXPLICIT_AUDIT_ID {
            Sql::<D>::new(bump).bind(r.id).execute(&mut *tx).await?;
        }
        commit(tx).await
    }

    async fn audit_count(&self) -> StoreResult<u64> {
        let count: i64 = Sql::<D>::new("SELECT COUNT(*) FROM audit_log").fetch_one(&mut *self.conn().await?).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn all_totp(&self) -> StoreResult<Vec<TotpRecord>> {
        Sql::<D>::new(concat!("SELECT ", totp_columns!(), " FROM totp_factors ORDER BY user_id"))
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    async fn all_recovery_codes(&self) -> StoreResult<Vec<RecoveryCodeRecord>> {
        Sql::<D>::new(concat!("SELECT ", recovery_columns!(), " FROM recovery_codes ORDER BY user_id, code_hash"))
            .fetch_all(&mut *self.conn().await?)
            .await
    }

    async fn import_totp(&self, r: &TotpRecord) -> StoreResult<()> {
        Sql::<D>::new(concat!("INSERT INTO totp_factors (", totp_columns!(), ") VALUES ($1, $2, $3, $4, $5)"))
            .bind(Id(r.user_id))
            .bind(&r.sealed[..])
            .bind(to_unix(r.created_at))
            .bind(r.confirmed_at.map(to_unix))
            .bind(r.last_step)
            .execute(&mut *self.conn().await?)
            .await
            .map(drop)
    }

    async fn import_recovery_code(&self, r: &RecoveryCodeRecord) -> StoreResult<()> {
        Sql::<D>::new(concat!("INSERT INTO recovery_codes (", recovery_columns!(), ") VALUES ($1, $2, $3, $4)"))
            .bind(Id(r.user_id))
            .bind(&r.code_hash[..])
            .bind(to_unix(r.created_at))
            .bind(r.used_at.map(to_unix))
            .execute(&mut *self.conn().await?)
            .await
            .map(drop)
    }
}
