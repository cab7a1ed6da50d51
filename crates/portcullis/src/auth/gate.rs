//! The gate every password check passes: rate limits, lockout, the hash check, and the audit
//! trail, in one order for login, token login and step-up.
//!
//! ```text
//!   scope: device token of the account? ─ yes ─► Device(id)      (a login)
//!          a logged-in session?         ─ yes ─► Session(hash)   (reauth, password change)
//!          otherwise                    ───────► Address(ip /64)
//!
//!   per-IP bucket ─► account bucket ─► locked for ─► verify hash ─┬─ ok ─► success resets the
//!     (429)          (429; Address     this scope?                │        scope's shortest window;
//!                     scope only)        (423)                    │        a login gets a device token
//!                                                                 └─ no ─► failure counted for the
//!                                                                          scope (may lock it: 423)
//! ```
//!
//! A lock holds one client of one account, never the account: an attacker hammering `admin`
//! from one address locks that address out of `admin`, while the owner's browser, which holds a
//! device token from an earlier login, and the owner's live sessions go on as before. Clients
//! with no history share the account's bucket, which bounds guessing from many addresses.
//!
//! Usernames are counted and locked whether or not an account has that name, and disabled
//! accounts fail like a wrong password, so neither the status, the body nor the timing of a
//! refusal tells an attacker which usernames exist.

use std::net::IpAddr;
use std::sync::Arc;

use crate::account::User;
use crate::account::{Accounts, Outcome};
use crate::audit::{Audit, Event, Subject};
use crate::clock::SharedClock;
use crate::error::Result;
use crate::limits::{DeviceTokens, Limits, Scope, UserKey};
use crate::password::Password;
use crate::session::ClientInfo;

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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::SessionLogin => "session",
            Purpose::TokenLogin => "token",
            Purpose::Reauth => "reauth",
            Purpose::PasswordChange => "password_change",
        }
    }
}

/// Who is proving a password, which decides whose failures count (see the module docs).
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// A client logging in, with the device cookie it sent, if any.
    Login {
        /// Session or token login.
        purpose: Purpose,
        /// The device cookie's value.
        device: Option<&'a str>,
    },
    /// A logged-in session proving its password again.
    Confirm {
        /// Reauth or password change.
        purpose: Purpose,
        /// The session's id hash.
        session: &'a [u8; 32],
    },
}

impl Attempt<'_> {
    fn purpose(&self) -> Purpose {
        match self {
            Attempt::Login { purpose, .. } | Attempt::Confirm { purpose, .. } => *purpose,
        }
    }
}

/// A password proven.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The account.
    pub user: User,
    /// For a login: the device cookie value to send back (a fresh token of this account).
    pub device: Option<String>,
}

/// Rate limits, lockout and audit around password checks.
#[derive(Clone, Debug)]
pub struct Gate {
    pub(super) accounts: Accounts,
    limits: Arc<Limits>,
    pub(super) audit: Audit,
    pub(super) clock: SharedClock,
    devices: DeviceTokens,
}

fn ip_of(client: &ClientInfo) -> Option<IpAddr> {
    client.ip.as_deref().and_then(|ip| ip.parse().ok())
}

impl Gate {
    /// A gate over these parts.
    pub fn new(
        accounts: Accounts,
        limits: Arc<Limits>,
        audit: Audit,
        clock: SharedClock,
        devices: DeviceTokens,
    ) -> Self {
        Self { accounts, limits, audit, clock, devices }
    }

    /// The device tokens.
    pub fn devices(&self) -> &DeviceTokens {
        &self.devices
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Charges the client's address one request of a limited route (register, refresh).
    pub async fn charge_ip(&self, client: &ClientInfo) -> Result<()> {
        self.limits.check_ip(ip_of(client), self.clock.now()).await
    }

    /// Checks `password` for `username`: `Ok(Some(_))` on success, `Ok(None)` for a refusal
    /// that must look the same whatever the cause, `Err` for 429 / 423 / 503.
    pub async fn check(
        &self,
        username: &str,
        password: &Password,
        client: &ClientInfo,
        attempt: Attempt<'_>,
    ) -> Result<Option<Admitted>> {
        let now = self.clock.now();
        let purpose = attempt.purpose();
        let scope = match attempt {
            Attempt::Login { device, .. } => match self.devices.find(device, &UserKey::new(username), now) {
                Some(id) => Scope::Device(id),
                None => Scope::Address(ip_of(client)),
            },
            Attempt::Confirm { session, .. } => Scope::Session(*session),
        };
        self.limits.check_ip(ip_of(client), now).await?;
        self.limits.check_user(username, &scope, now).await?;
        self.limits.check_locked(username, &scope, now).await?;
        let outcome = self.accounts.authenticate(username, password).await?;
        let now = self.clock.now();
        match outcome {
            Outcome::Verified { user, rehashed } => {
                self.limits.record_success(username, &scope, now).await?;
                if rehashed {
                    let subject = Subject::user(user.id, &user.username);
                    let what = Event::PasswordRehashed { purpose: purpose.as_str() };
                    self.audit.record(what, subject, Some(client)).await;
                }
                let device = match attempt {
                    Attempt::Login { device, .. } => Some(self.devices.issue(device, &UserKey::new(username), now)),
                    Attempt::Confirm { .. } => None,
                };
                Ok(Some(Admitted { user, device }))
            }
            Outcome::Refused { account } => {
                let lock = self.limits.record_failure(username, &scope, now).await?;
                // A name that matches no account is left out of the row: it is often a password
                // typed into the wrong field.
                let subject = match &account {
                    Some(user) => Subject::user(user.id, &user.username),
                    None => Subject::default(),
                };
                self.audit.record(Event::LoginFailed { purpose: purpose.as_str() }, subject, Some(client)).await;
                if let Some(lock) = lock {
                    let what = Event::Locked { retry_after: lock.retry_after_secs(now), scope: scope.as_str() };
                    self.audit.record(what, subject, Some(client)).await;
                }
                Ok(None)
            }
        }
    }
}
