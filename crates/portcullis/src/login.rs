//! The gate every password check passes: rate limits, lockout, the hash check, and the audit
//! trail, in one order for login, token login and step-up.
//!
//! ```text
//!   per-IP bucket ─► per-username bucket ─► locked? ─► verify hash ─┬─ ok ─► success resets
//!     (429)              (429)               (423)                   │        the shortest window
//!                                                                    └─ no ─► failure counted
//!                                                                             (may lock: 423 next)
//! ```
//!
//! Usernames are counted and locked whether or not an account has that name, and disabled
//! accounts fail like a wrong password, so neither the status, the body nor the timing of a
//! refusal tells an attacker which usernames exist.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::json;

use crate::account::{Accounts, Outcome};
use crate::audit::{event, Audit, Subject};
use crate::clock::SharedClock;
use crate::error::Result;
use crate::limits::Limits;
use crate::password::Password;
use crate::session::ClientInfo;
use crate::store::User;

/// Why a password is being checked (kept in the audit row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /api/login`.
    SessionLogin,
    /// `POST /auth/login`.
    TokenLogin,
    /// `POST /api/reauth`.
    Reauth,
    /// `POST /api/password` (the current password).
    PasswordChange,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SessionLogin => "session",
            Purpose::TokenLogin => "token",
            Purpose::Reauth => "reauth",
            Purpose::PasswordChange => "password_change",
        }
    }
}

/// Rate limits, lockout and audit around password checks.
#[derive(Clone, Debug)]
pub struct Gate {
    accounts: Accounts,
    limits: Arc<Limits>,
    audit: Audit,
    clock: SharedClock,
}

fn ip_of(client: &ClientInfo) -> Option<IpAddr> {
    client.ip.as_deref().and_then(|ip| ip.parse().ok())
}

impl Gate {
    /// A gate over these parts.
    pub fn new(accounts: Accounts, limits: Arc<Limits>, audit: Audit, clock: SharedClock) -> Self {
        Self { accounts, limits, audit, clock }
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Charges the client's address one request of a limited route (register, refresh).
    pub async fn charge_ip(&self, client: &ClientInfo) -> Result<()> {
        self.limits.check_ip(ip_of(client), self.clock.now()).await
    }

    /// Checks `password` for `username`: `Ok(Some(user))` on success, `Ok(None)` for a refusal
    /// that must look the same whatever the cause, `Err` for 429 / 423 / 503.
    pub async fn check(
        &self,
        username: &str,
        password: &Password,
        client: &ClientInfo,
        purpose: Purpose,
    ) -> Result<Option<User>> {
        let now = self.clock.now();
        self.limits.check_ip(ip_of(client), now).await?;
        self.limits.check_user(username, now).await?;
        self.limits.check_locked(username, now).await?;
        let outcome = self.accounts.authenticate(username, password).await?;
        let now = self.clock.now();
        match outcome {
            Outcome::Verified { user, rehashed } => {
                self.limits.record_success(username, now).await?;
                if rehashed {
                    let detail = json!({ "purpose": purpose.as_str() });
                    let subject = Subject::user(user.id, &user.username);
                    self.audit.record(event::PASSWORD_REHASHED, subject, Some(client), detail).await;
                }
                Ok(Some(user))
            }
            Outcome::Refused { account } => {
                let lock = self.limits.record_failure(username, now).await?;
                // A name that matches no account is left out of the row: it is often a password
                // typed into the wrong field.
                let subject = match &account {
                    Some(user) => Subject::user(user.id, &user.username),
                    None => Subject::default(),
                };
                let detail = json!({ "purpose": purpose.as_str() });
                self.audit.record(event::LOGIN_FAILED, subject, Some(client), detail).await;
                if let Some(lock) = lock {
                    let detail = json!({ "retry_after": lock.retry_after_secs(now) });
                    self.audit.record(event::LOCKED, subject, Some(client), detail).await;
                }
                Ok(None)
            }
        }
    }
}
