//! Accounts: registration, credential checks and password changes.
//!
//! Login verifies a hash on every path — a real one for known, enabled users and the dummy one
//! otherwise — so neither the answer nor its timing tells which usernames exist.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::PasswordConfig;
use crate::error::{Error, ErrorKind, FieldError, Result};
use crate::password::{Password, PasswordHasherPool};
use crate::store::{NewUser, Store, User};

/// Longest username accepted anywhere, in characters.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Account operations over a store and the hash pool.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasherPool,
    clock: SharedClock,
    policy: PasswordConfig,
}

/// Checks a username's shape, returning the problem if any.
pub fn username_problem(username: &str) -> Option<&'static str> {
    let chars = username.chars().count();
    if chars == 0 {
        Some("must not be empty")
    } else if chars > MAX_USERNAME_CHARS {
        Some("must be at most 64 characters")
    } else if username.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if username.trim() != username {
        Some("must not start or end with whitespace")
    } else {
        None
    }
}

impl Accounts {
    /// Account operations.
    pub fn new(store: Arc<dyn Store>, hasher: PasswordHasherPool, clock: SharedClock, policy: PasswordConfig) -> Self {
        Self { store, hasher, clock, policy }
    }

    /// The hash pool.
    pub fn hasher(&self) -> &PasswordHasherPool {
        &self.hasher
    }

    /// The user if `username` and `password` match an enabled account, else `None`.
    pub async fn authenticate(&self, username: &str, password: &Password) -> Result<Option<User>> {
        let user = self.store.user_by_username(username).await?;
        let usable = user.filter(|u| !u.disabled);
        // Unknown and disabled users are checked against the dummy hash: same cost, same answer.
        let ok = self.hasher.verify(password, usable.as_ref().map(|u| u.password_hash.as_str())).await?;
        Ok(if ok { usable } else { None })
    }

    /// Registers an account after checking the password policy.
    pub async fn register(&self, username: &str, password: &Password, email: Option<String>) -> Result<User> {
        let mut errors = Vec::new();
        if let Some(problem) = username_problem(username) {
            errors.push(field("username", problem));
        }
        if let Some(problem) = self.password_problem(username, password) {
            errors.push(field("password", &problem));
        }
        if let Some(email) = &email {
            if email.len() > 254 || !email.contains('@') || email.chars().any(char::is_whitespace) {
                errors.push(field("email", "must be an email address"));
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        self.create(username, password, email, Vec::new()).await
    }

    /// The policy problem with `password` for `username`, if any.
    pub fn password_problem(&self, username: &str, password: &Password) -> Option<String> {
        let len = password.expose().chars().count();
        if len < self.policy.min_length {
            Some(format!("must be at least {} characters", self.policy.min_length))
        } else if len > self.policy.max_length {
            Some(format!("must be at most {} characters", self.policy.max_length))
        } else if password.expose().to_lowercase() == username.to_lowercase() {
            Some("must not be the username".into())
        } else {
            None
        }
    }

    /// Creates an account without the password policy (operators, demo user).
    pub async fn create(
        &self,
        username: &str,
        password: &Password,
        email: Option<String>,
        roles: Vec<String>,
    ) -> Result<User> {
        if let Some(problem) = username_problem(username) {
            return Err(Error::validation(vec![field("username", problem)]));
        }
        let password_hash = self.hasher.hash(password).await?;
        let new = NewUser { username: username.to_owned(), email, password_hash, roles };
        Ok(self.store.create_user(new, self.clock.now()).await?)
    }

    /// Sets a new password for `username`.
    pub async fn set_password(&self, username: &str, password: &Password) -> Result<User> {
        let user = self
            .store
            .user_by_username(username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no user named {username}")))?;
        let hash = self.hasher.hash(password).await?;
        self.store.set_password_hash(user.id, &hash, self.clock.now()).await?;
        Ok(user)
    }

    /// All accounts.
    pub async fn list(&self) -> Result<Vec<User>> {
        Ok(self.store.list_users().await?)
    }
}

fn field(name: &str, message: &str) -> FieldError {
    FieldError { field: name.into(), message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        assert_eq!(username_problem("test"), None);
        assert_eq!(username_problem("Zoë"), None);
        assert!(username_problem("").is_some());
        assert!(username_problem(" x").is_some());
        assert!(username_problem("a\nb").is_some());
        assert!(username_problem(&"u".repeat(65)).is_some());
        assert_eq!(username_problem(&"é".repeat(64)), None);
    }
}
