//! Authentication as flows: the one place every way in goes through, independent of HTTP.
//!
//! ```text
//!  login(credentials, client, purpose) ──► Principal (user + how + when + assurance) | refused
//!  establish(principal, Cookie | TokenFamily) ──► what to send: a session secret, remember-me,
//!                                                the device token, or a token grant
//!  confirm(session, password, purpose) ──► the session's account again (reauth, password change)
//!  end_other_sessions / change_password ──► SessionManager::end_all_access: sessions, token
//!                                           families, remember-me series, caches everywhere
//! ```
//!
//! Limits, lockout, the dummy hash for unknown names and the audit rows of a password check
//! live in the [`gate`]; the rows of what follows (`login_ok`, `logout`, `reauth`,
//! `password_changed`, `session_revoked`) are written here. Handlers extract the request, call
//! one function and write out what it returns. A login that needs a further step keeps it in a
//! [`challenge`]; the factors that use one come with the second-factor routes.

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::account::User;
use crate::audit::{Event, Revocation, Subject};
use crate::error::{Error, ErrorKind, Result};
use crate::password::Password;
use crate::session::remember::{Ended, Restore};
use crate::session::{ClientInfo, LiveSession, LoginMethod, SessionKind, SessionManager, SessionSecret};
use crate::token::TokenService;

pub mod challenge;
pub mod gate;
pub mod recovery;
pub mod totp;

pub use gate::{Admitted, Attempt, Gate, Purpose};

/// How a principal proved who it is (`amr`, RFC 8176).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A password.
    Password,
}

/// How much a principal's proof is worth (NIST SP 800-63B authenticator assurance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Assurance {
    /// One factor (AAL1).
    SingleFactor,
}

/// Someone proven to be an account's owner.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account.
    pub user: User,
    /// How they proved it.
    pub method: Method,
    /// When.
    pub at: OffsetDateTime,
    /// How strongly.
    pub assurance: Assurance,
    /// For a login: the device token to give the client (see `limits::device`).
    pub device: Option<String>,
}

/// What a principal is given.
#[derive(Debug, Clone, Copy)]
pub enum Carrier<'a> {
    /// A browser session cookie.
    Cookie {
        /// Start a remember-me series.
        remember: bool,
        /// The session cookie the browser already had: that session ends (session fixation).
        replaces: Option<&'a str>,
        /// The remember-me cookie the browser already had: that series ends.
        old_series: Option<&'a str>,
    },
    /// A refresh-token family.
    TokenFamily,
}

/// What to do with the remember-me cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RememberCookie {
    /// Leave it as it is.
    Keep,
    /// Set it to this value.
    Set(String),
    /// Clear it (the browser's series ended).
    Clear,
}

/// An access token and the refresh token of its family, with the family's double-submit value.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access JWT.
    pub access: String,
    /// The refresh token of the family's current generation.
    pub refresh: String,
    /// The family's double-submit CSRF value.
    pub csrf: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// A principal established: the session, and what to send the client.
#[derive(Debug)]
pub struct Established {
    /// The new session or token family.
    pub session: Arc<LiveSession>,
    /// A cookie session's secret (for its cookie).
    pub secret: Option<SessionSecret>,
    /// A token family's tokens.
    pub tokens: Option<TokenGrant>,
    /// The remember-me cookie.
    pub remember: RememberCookie,
    /// The device token cookie, when the login issued one.
    pub device: Option<String>,
}

/// The authentication flows of one instance.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Also holds the accounts, the audit log and the clock the flows use.
    gate: Gate,
    sessions: SessionManager,
    tokens: Arc<TokenService>,
    challenges: challenge::Challenges,
}

impl Auth {
    /// Flows over these parts.
    pub fn new(
        gate: Gate,
        sessions: SessionManager,
        tokens: Arc<TokenService>,
        challenges: challenge::Challenges,
    ) -> Self {
        Self { gate, sessions, tokens, challenges }
    }

    /// The pending login challenges.
    pub fn challenges(&self) -> &challenge::Challenges {
        &self.challenges
    }

    /// The gate around password checks.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Checks a login's credentials; `Ok(None)` for a refusal that looks the same whatever the
    /// cause (unknown name, wrong password, disabled account), `Err` for 429 / 423 / 503.
    pub async fn login(
        &self,
        username: &str,
        password: &Password,
        client: &ClientInfo,
        purpose: Purpose,
        device: Option<&str>,
    ) -> Result<Option<Principal>> {
        let attempt = Attempt::Login { purpose, device };
        let Some(admitted) = self.gate.check(username, password, client, attempt).await? else {
            return Ok(None);
        };
        Ok(Some(Principal {
            user: admitted.user,
            method: Method::Password,
            at: self.gate.clock.now(),
            assurance: Assurance::SingleFactor,
            device: admitted.device,
        }))
    }

    /// Rotates a token family's refresh token (see [`crate::token::family::refresh`]) and
    /// grants the new pair.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<TokenGrant> {
        let audit = &self.gate.audit;
        let refreshed =
            crate::token::family::refresh(&self.tokens, &self.sessions, audit, client, refresh_token).await?;
        self.grant(&refreshed.session, refreshed.generation)
    }

    /// Gives `principal` a session cookie or a token family, ends what it replaces, and writes
    /// `login_ok`.
    pub async fn establish(
        &self,
        principal: Principal,
        client: &ClientInfo,
        carrier: Carrier<'_>,
    ) -> Result<Established> {
        let user = &principal.user;
        let (session, secret, tokens, remember, asked) = match carrier {
            Carrier::Cookie { remember, replaces, old_series } => {
                // Session-fixation mitigation: any session this browser had ends; a new id is issued.
                if let Some(old) = replaces.and_then(SessionSecret::parse) {
                    self.sessions.revoke(&old.hash(), "relogin").await?;
                }
                let (secret, live) = self.sessions.create(user, client.clone(), LoginMethod::Password).await?;
                // A series this browser had ends; a new one starts only when asked for.
                if let Some(old) = old_series {
                    self.sessions.forget(old).await?;
                }
                let cookie = match (remember, old_series) {
                    (true, _) => RememberCookie::Set(self.sessions.remember(user.id).await?),
                    (false, Some(_)) => RememberCookie::Clear,
                    (false, None) => RememberCookie::Keep,
                };
                (live, Some(secret), None, cookie, Some(remember))
            }
            Carrier::TokenFamily => {
                let live = self.sessions.create_family(user, client.clone()).await?;
                let grant = self.grant(&live, 0)?;
                (live, None, Some(grant), RememberCookie::Keep, None)
            }
        };
        self.gate.audit.record(Event::LoginOk { remember: asked }, Subject::session(&session), Some(client)).await;
        Ok(Established { session, secret, tokens, remember, device: principal.device })
    }

    /// The tokens of a family at `generation`: a new access token and the refresh token.
    pub fn grant(&self, live: &LiveSession, generation: i64) -> Result<TokenGrant> {
        let pid = live.record().public_id;
        let csrf = self.tokens.family_csrf(pid);
        let cookie_mode = self.tokens.config().locations.contains(&crate::config::TokenLocation::Cookies);
        let user = live.user();
        let (access, _) = self.tokens.issue_access(
            user.id,
            &user.roles,
            pid,
            live.fresh_until().unix_timestamp(),
            cookie_mode.then(|| csrf.clone()),
        )?;
        let refresh = self.tokens.refresh_token(pid, generation);
        Ok(TokenGrant { access, refresh, csrf, expires_in: self.tokens.access_ttl_secs() })
    }

    /// Proves `live`'s password again and returns its account, or 401 `invalid_credentials`.
    pub async fn confirm(
        &self,
        live: &LiveSession,
        password: &Password,
        client: &ClientInfo,
        purpose: Purpose,
    ) -> Result<User> {
        // The session is the client here: only its own failures can lock it out of step-up.
        let attempt = Attempt::Confirm { purpose, session: &live.record().id_hash };
        match self.gate.check(&live.user().username, password, client, attempt).await? {
            // The name may have been freed and taken again since login: the ids must agree.
            Some(admitted) if admitted.user.id == live.user().id => Ok(admitted.user),
            _ => Err(Error::new(ErrorKind::InvalidCredentials, "wrong password")),
        }
    }

    /// Step-up: proves the password of `live` again and makes it fresh. A cookie session gets a
    /// new secret (session fixation at a privilege change); a token family a fresh access token.
    pub async fn reauth(&self, live: &LiveSession, password: &Password, client: &ClientInfo) -> Result<Reauthed> {
        let user = self.confirm(live, password, client, Purpose::Reauth).await?;
        let gone = || Error::new(ErrorKind::Unauthenticated, "this session has ended; log in again");
        let done = match live.record().kind {
            SessionKind::Cookie => {
                let (secret, until) = self.sessions.reauth_cookie(live).await?.ok_or_else(gone)?;
                Reauthed { fresh_until: until, secret: Some(secret), access: None }
            }
            SessionKind::Token => {
                let until = self.sessions.reauth_family(live).await?.ok_or_else(gone)?;
                let pid = live.record().public_id;
                let (access, _) = self.tokens.issue_access(user.id, &user.roles, pid, until.unix_timestamp(), None)?;
                Reauthed { fresh_until: until, secret: None, access: Some((access, self.tokens.access_ttl_secs())) }
            }
        };
        self.gate.audit.record(Event::Reauth, Subject::session(live), Some(client)).await;
        Ok(done)
    }

    /// Changes the password of `live`'s account after proving the current one, and ends every
    /// other way in (`keep_series`: this browser's remember-me cookie stays).
    pub async fn change_password(
        &self,
        live: &LiveSession,
        current: &Password,
        new: &Password,
        client: &ClientInfo,
        keep_series: Option<&str>,
    ) -> Result<Ended> {
        let user = self.confirm(live, current, client, Purpose::PasswordChange).await?;
        self.gate.accounts.change_password(&user, new).await?;
        // Whoever else holds a session, a token family or a remember-me cookie loses it.
        let keep = Some(&live.record().id_hash);
        let ended = self.sessions.end_all_access(user.id, keep, keep_series, "password_changed").await?;
        let what = Event::PasswordChanged { by: "user", sessions_ended: ended.sessions };
        self.gate.audit.record(what, Subject::session(live), Some(client)).await;
        Ok(ended)
    }

    /// Ends the user's other sessions and token families and their remember-me series on other
    /// browsers (`keep_series` stays), and writes `session_revoked`.
    pub async fn end_other_sessions(
        &self,
        live: &LiveSession,
        client: &ClientInfo,
        keep_series: Option<&str>,
    ) -> Result<Ended> {
        let keep = Some(&live.record().id_hash);
        let ended = self.sessions.end_all_access(live.user().id, keep, keep_series, "user_revoked_others").await?;
        let what = Event::SessionRevoked(Revocation::OthersByUser { others: ended.sessions });
        self.gate.audit.record(what, Subject::session(live), Some(client)).await;
        Ok(ended)
    }

    /// Ends one session of the user's own (found by public id among `live`'s user's sessions);
    /// `None` when the user has no such session.
    pub async fn end_own_session(
        &self,
        live: &LiveSession,
        id: Uuid,
        client: &ClientInfo,
    ) -> Result<Option<SessionKind>> {
        // Only the caller's own sessions are found: another user's id is a 404, not a 403.
        let records = self.sessions.list(live.user().id).await?;
        let Some(target) = records.iter().find(|r| r.public_id == id) else { return Ok(None) };
        self.sessions.revoke(&target.id_hash, "user_revoked").await?;
        let who = Subject { session_id: Some(id), ..Subject::session(live) };
        self.gate.audit.record(Event::SessionRevoked(Revocation::OneByUser), who, Some(client)).await;
        Ok(Some(target.kind))
    }

    /// Ends a cookie session (logout) and, when given, this browser's remember-me series;
    /// `false` when the session was not live.
    pub async fn logout_cookie(
        &self,
        secret: &SessionSecret,
        series: Option<&str>,
        client: &ClientInfo,
    ) -> Result<bool> {
        let hash = secret.hash();
        let Some(live) = self.sessions.validate(&hash).await? else { return Ok(false) };
        self.sessions.revoke(&hash, "logout").await?;
        self.gate.audit.record(Event::Logout { token: false }, Subject::session(&live), Some(client)).await;
        // Logging out ends remember-me on this browser too.
        if let Some(series) = series {
            self.sessions.forget(series).await?;
        }
        Ok(true)
    }

    /// Ends a token family (logout).
    pub async fn logout_family(&self, public_id: Uuid, client: &ClientInfo) -> Result<()> {
        if self.sessions.revoke(&crate::token::family_hash(public_id), "logout").await? {
            let subject = Subject { session_id: Some(public_id), ..Subject::default() };
            self.gate.audit.record(Event::Logout { token: true }, subject, Some(client)).await;
        }
        Ok(())
    }
}

impl Auth {
    /// Registers an account (the first one an admin when `first_user_admin`), and writes
    /// `user_created`.
    pub async fn register(
        &self,
        username: &str,
        password: &Password,
        email: Option<String>,
        first_user_admin: bool,
        client: &ClientInfo,
    ) -> Result<User> {
        let first = first_user_admin && self.gate.accounts.none_yet().await?;
        let roles = if first { vec![crate::account::ADMIN_ROLE.to_owned()] } else { Vec::new() };
        let user = self.gate.accounts.register(username, password, email, roles).await?;
        let what = Event::UserCreated { by: "registration", roles: &user.roles };
        self.gate.audit.record(what, Subject::user(user.id, &user.username), Some(client)).await;
        Ok(user)
    }

    /// Restores a session from a remember-me cookie, writing `remember_restored` or, for a
    /// replayed validator, `remember_reused`.
    pub async fn restore(&self, cookie: &str, client: &ClientInfo) -> Result<Restore> {
        let restored = self.sessions.restore(cookie, client.clone()).await?;
        match &restored {
            Restore::Restored { live, .. } => {
                self.gate.audit.record(Event::RememberRestored, Subject::session(live), Some(client)).await;
            }
            Restore::Stolen { user_id } => {
                let subject = Subject { user_id: Some(*user_id), ..Subject::default() };
                self.gate.audit.record(Event::RememberReused, subject, Some(client)).await;
            }
            Restore::Invalid => {}
        }
        Ok(restored)
    }

    /// Session protection saw `live` used from another client: under `strong` it ends, under
    /// `basic` it stops being fresh. Returns the session if it is still usable.
    pub async fn protection_mismatch(
        &self,
        live: Arc<LiveSession>,
        strong: bool,
        client: impl FnOnce() -> ClientInfo,
    ) -> Result<Option<Arc<LiveSession>>> {
        // Basic ends freshness once: later requests from the other client find it already stale
        // and pay only the fingerprint comparison.
        if strong {
            self.sessions.revoke(&live.record().id_hash, "protection").await?;
        } else if !self.sessions.make_stale(&live).await? {
            return Ok(Some(live));
        }
        let what = Event::ProtectionMismatch { ended: strong };
        self.gate.audit.record(what, Subject::session(&live), Some(&client())).await;
        Ok((!strong).then_some(live))
    }
}

/// A session made fresh again.
#[derive(Debug)]
pub struct Reauthed {
    /// Fresh until.
    pub fresh_until: OffsetDateTime,
    /// A cookie session's new secret.
    pub secret: Option<SessionSecret>,
    /// A token family's new access token and its lifetime in seconds.
    pub access: Option<(String, u64)>,
}
