//! Refresh rotation with reuse detection.

use crate::audit::{Audit, Event, Subject};
use crate::error::{Error, ErrorKind, Result};
use crate::session::SessionKind;
use crate::session::{ClientInfo, LiveSession, SessionManager};
use crate::token::{family_hash, TokenService};
use std::sync::Arc;

/// What a refresh hands out: the live family and the generation whose token the client gets.
#[derive(Debug)]
pub struct Refreshed {
    /// The family.
    pub session: Arc<LiveSession>,
    /// The generation to hand out (the new current one).
    pub generation: i64,
}

/// Rotates the family `token` belongs to.
///
/// - the current generation: rotates to the next one;
/// - the previous generation within the grace window: the same next token again (two tabs
///   refreshing at once both succeed);
/// - any older generation, or the previous one after the grace window: the token was stolen or
///   replayed, so the whole family is revoked and `refresh_reused` answered.
pub async fn refresh(
    tokens: &TokenService,
    sessions: &SessionManager,
    audit: &Audit,
    client: &ClientInfo,
    token: &str,
) -> Result<Refreshed> {
    let invalid = || Error::new(ErrorKind::TokenInvalid, "the refresh token is not valid");
    let (public_id, presented) = tokens.parse_refresh(token).ok_or_else(invalid)?;
    let hash = family_hash(public_id);
    let store = &sessions.stores().sessions;
    let record = store.session_by_hash(&hash).await?.ok_or_else(invalid)?;
    if record.kind != SessionKind::Token {
        return Err(invalid());
    }
    if record.revoked_at.is_some() {
        return Err(Error::new(ErrorKind::TokenRevoked, "this session has ended; log in again"));
    }
    let Some(session) = sessions.validate(&hash).await? else {
        return Err(Error::new(ErrorKind::TokenExpired, "this session has expired; log in again"));
    };
    let now = sessions.clock().now();
    let mut current = record.refresh_generation;
    let mut rotated_at = record.rotated_at;
    if presented == current {
        if store.rotate_refresh(&hash, current, now).await? {
            return Ok(Refreshed { session, generation: current + 1 });
        }
        // Another request rotated it a moment ago: judge this one as the previous generation.
        let reread = store.session_by_hash(&hash).await?.ok_or_else(invalid)?;
        if reread.revoked_at.is_some() {
            return Err(Error::new(ErrorKind::TokenRevoked, "this session has ended; log in again"));
        }
        current = reread.refresh_generation;
        rotated_at = reread.rotated_at;
    }
    // The rotation time is stored in whole seconds, so the window is judged in whole seconds:
    // comparing `now` itself with a truncated time would cut up to a second off the grace.
    let grace = i64::try_from(tokens.config().refresh_grace.as_secs()).unwrap_or(i64::MAX);
    let within = |at: time::OffsetDateTime| now.unix_timestamp() <= at.unix_timestamp().saturating_add(grace);
    if presented == current - 1 && rotated_at.is_some_and(within) {
        return Ok(Refreshed { session, generation: current });
    }
    if presented < current {
        sessions.revoke(&hash, "refresh_reused").await?;
        // A replayed rotated token: whoever holds it, the family is no longer trustworthy.
        let subject = Subject { user_id: Some(record.user_id), username: None, session_id: Some(record.public_id) };
        audit.record(Event::RefreshReused { presented, current }, subject, Some(client)).await;
        return Err(Error::new(
            ErrorKind::RefreshReused,
            "this refresh token was already used; the session is revoked",
        ));
    }
    Err(invalid())
}
