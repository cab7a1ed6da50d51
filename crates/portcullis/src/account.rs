//! Accounts: registration, credential checks and password changes.
//!
//! Login verifies a hash on every path — a real one for known, enabled users and the dummy one
//! otherwise — so neither the answer nor its timing tells which usernames exist.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::config::PasswordConfig;
use crate::error::{Error, ErrorKind, FieldError, Result};
use crate::password::{Password, PasswordHasherPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::UserStore;
use crate::username::UsernameRules;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// UUID v7.
    pub id: Uuid,
    /// As registered (case kept, width-mapped and NFC); unique ignoring case, width and
    /// look-alike letters (see [`crate::username`]).
    pub username: String,
    /// Optional contact address.
    pub email: Option<String>,
    /// Argon2id PHC string, or an imported legacy hash until the next login upgrades it.
    pub password_hash: String,
    /// A disabled user cannot log in.
    pub disabled: bool,
    /// Role names, sorted.
    pub roles: Vec<String>,
    /// Permissions granted by the roles, sorted and deduplicated.
    pub permissions: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username as typed.
    pub username: String,
    /// Optional email.
    pub email: Option<String>,
    /// Argon2id PHC string, or an imported legacy hash (see `password::recognised_hash`).
    pub password_hash: String,
    /// Initial roles.
    pub roles: Vec<String>,
}

/// The built-in role that manages accounts, roles and sessions (seeded by the migrations; the
/// one `http::guard::Admin` requires).
pub const ADMIN_ROLE: &str = "admin";

/// Longest role or permission name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The problem with a role or permission name, if any: 1–64 of `a-z 0-9 _ : . -`.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("must not be empty")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("must be at most 64 characters")
    } else if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_:.-".contains(&b)) {
        Some("may contain only a-z, 0-9, `_`, `:`, `.` and `-`")
    } else {
        None
    }
}

/// The key under which usernames are unique: RFC 8265 UsernameCaseMapped (width-mapped, lower
/// case, NFC); see [`crate::username::key`].
pub fn username_key(username: &str) -> String {
    crate::username::key(username)
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New email (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// Replace the roles.
    pub roles: Option<Vec<String>>,
}

/// A page of accounts.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// Accounts on this page, by username.
    pub users: Vec<User>,
    /// Accounts matching the search in all.
    pub total: u64,
}

/// A named role and the permissions it grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Unique name.
    pub name: String,
    /// What the role is for.
    pub description: Option<String>,
    /// Permission names, sorted.
    pub permissions: Vec<String>,
}

/// Longest username accepted anywhere, in characters.
pub const MAX_USERNAME_CHARS: usize = crate::username::MAX_CHARS;

/// What a password check found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The password matches an enabled account.
    Verified {
        /// The account.
        user: User,
        /// Its stored hash was legacy or outdated and has just been replaced with current
        /// argon2id.
        rehashed: bool,
    },
    /// Refused: unknown name, wrong password or disabled account, alike for the caller.
    Refused {
        /// The account the name belongs to, if any (for the audit row, never for the answer).
        account: Option<User>,
    },
}

/// Account operations over a store and the hash pool.
#[derive(Clone, Debug)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    hasher: PasswordHasherPool,
    clock: SharedClock,
    policy: PasswordConfig,
    names: UsernameRules,
}

/// Checks a username against the default rules (see [`crate::username`]), returning the problem
/// if any. Operators' rules are applied by [`Accounts`].
pub fn username_problem(username: &str) -> Option<&'static str> {
    UsernameRules::default().check(username).err()
}

/// Checks an email address's shape (at most 254 bytes, an `@`, no whitespace).
pub fn email_problem(email: &str) -> Option<&'static str> {
    (email.len() > 254 || !email.contains('@') || email.chars().any(char::is_whitespace))
        .then_some("must be an email address")
}

impl Accounts {
    /// Account operations.
    pub fn new(
        users: Arc<dyn UserStore>,
        hasher: PasswordHasherPool,
        clock: SharedClock,
        policy: PasswordConfig,
    ) -> Self {
        Self { users, hasher, clock, policy, names: UsernameRules::default() }
    }

    /// With the operator's username rules instead of the defaults.
    pub fn with_username_rules(mut self, names: UsernameRules) -> Self {
        self.names = names;
        self
    }

    /// The username rules new accounts must meet.
    pub fn username_rules(&self) -> UsernameRules {
        self.names
    }

    /// The hash pool.
    pub fn hasher(&self) -> &PasswordHasherPool {
        &self.hasher
    }

    /// Checks `password` against the enabled account named `username`.
    pub async fn authenticate(&self, username: &str, password: &Password) -> Result<Outcome> {
        let account = self.users.user_by_username(username).await?;
        // Unknown and disabled users are checked against the dummy hash: same cost, same answer.
        let stored = account.as_ref().filter(|u| !u.disabled).map(|u| u.password_hash.as_str());
        let (ok, upgraded) = self.hasher.verify_upgrade(password, stored).await?;
        let mut user = match account {
            Some(user) if ok && !user.disabled => user,
            account => return Ok(Outcome::Refused { account }),
        };
        let mut rehashed = false;
        if let Some(hash) = upgraded {
            // The password was right and the stored hash is legacy or outdated: replace it with
            // argon2id at the current cost now, the only time the plaintext is at hand. A failed
            // write leaves the old hash working, and the next login tries again.
            match self.users.set_password_hash(user.id, &hash, self.clock.now()).await {
                Ok(_) => {
                    user.password_hash = hash;
                    rehashed = true;
                }
                Err(e) => tracing::warn!(user = %user.id, error = %e, "could not store the upgraded password hash"),
            }
        }
        Ok(Outcome::Verified { user, rehashed })
    }

    /// Whether no account exists yet.
    pub async fn none_yet(&self) -> Result<bool> {
        Ok(self.users.search_users(None, 0, 1).await?.total == 0)
    }

    /// Registers an account after checking the password policy.
    pub async fn register(
        &self,
        username: &str,
        password: &Password,
        email: Option<String>,
        roles: Vec<String>,
    ) -> Result<User> {
        let mut errors = Vec::new();
        if let Err(problem) = self.names.check(username) {
            errors.push(field("username", problem));
        }
        if let Some(problem) = self.password_problem(username, password) {
            errors.push(field("password", &problem));
        }
        if let Some(problem) = email.as_deref().and_then(email_problem) {
            errors.push(field("email", problem));
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        self.create(username, password, email, roles).await
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
        // Security: the name is stored as width-mapped NFC and unique under its PRECIS key and
        // confusable skeleton, so no second account can look like this one.
        let name = self.names.check(username).map_err(|problem| Error::validation(vec![field("username", problem)]))?;
        let password_hash = self.hasher.hash(password).await?;
        let new = NewUser { username: name.display, email, password_hash, roles };
        Ok(self.users.create_user(new, self.clock.now()).await?)
    }

    /// Sets a new password for `username`.
    pub async fn set_password(&self, username: &str, password: &Password) -> Result<User> {
        let user = self
            .users
            .user_by_username(username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("no user named {username}")))?;
        let hash = self.hasher.hash(password).await?;
        self.users.set_password_hash(user.id, &hash, self.clock.now()).await?;
        Ok(user)
    }

    /// All accounts.
    pub async fn list(&self) -> Result<Vec<User>> {
        Ok(self.users.list_users().await?)
    }

    /// Replaces `user`'s password with `new` after checking the policy (422 otherwise).
    pub async fn change_password(&self, user: &User, new: &Password) -> Result<()> {
        if let Some(problem) = self.password_problem(&user.username, new) {
            return Err(Error::validation(vec![field("new_password", &problem)]));
        }
        let hash = self.hasher.hash(new).await?;
        if !self.users.set_password_hash(user.id, &hash, self.clock.now()).await? {
            return Err(Error::new(ErrorKind::NotFound, "the account no longer exists"));
        }
        Ok(())
    }

    /// An account by id.
    pub async fn get(&self, id: uuid::Uuid) -> Result<Option<User>> {
        Ok(self.users.user_by_id(id).await?)
    }

    /// Creates the accounts in `input` (CSV or JSON lines) with their password hashes as given,
    /// skipping bad lines and existing usernames; see [`crate::import`]. Each hash is replaced by
    /// argon2id at the account's first successful login.
    pub async fn import(&self, input: &str) -> Result<crate::import::ImportReport> {
        crate::import::import(self.users.as_ref(), &self.clock, self.names, input).await
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
        assert!(username_problem("ad\u{200b}min").is_some());
    }
}
