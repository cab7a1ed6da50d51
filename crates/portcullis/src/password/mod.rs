//! Password hashing with argon2id, off the async runtime.
//!
//! Hashing and verification run on tokio's blocking threads, at most `pool_size` at once; at most
//! `queue` more may wait. Past that, callers get [`ErrorKind::Unavailable`] (503) at once instead
//! of piling up memory. Unknown users are verified against a dummy hash made with the current
//! parameters, so the time a login takes does not reveal whether the username exists.
//!
//! Every check costs at least one argon2id verification at the current parameters: a refused
//! password for an account whose stored hash is of another kind or cost (an imported werkzeug
//! pbkdf2 hash takes a fraction of a millisecond) is also checked against the dummy hash, so it
//! answers no sooner than an unknown name. A stored hash that is itself slower than the dummy
//! still takes longer to refuse; see [`legacy`] for what that leaves open.
//!
//! New hashes are always argon2id with the configured parameters. Verification also accepts the
//! formats an earlier app may have stored (werkzeug pbkdf2/scrypt, bcrypt, other argon2 variants;
//! see [`legacy`]), and [`PasswordHasherPool::verify_upgrade`] hands back a fresh argon2id hash
//! when the stored one is of another kind or cost, so old hashes disappear as users log in:
//!
//! ```text
//!   stored hash ──verify_upgrade(right password)──▶ (true, Some(new argon2id)) ──▶ store it
//!        │                                                 (only if needs_rehash)
//!        └──────verify_upgrade(wrong password)───▶ (false, None)
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;
use crate::error::{Error, ErrorKind, Result};

pub mod legacy;

pub use legacy::recognised_hash;

/// A password as typed by a user; its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a plaintext password.
    pub fn new(plain: impl Into<String>) -> Self {
        Self(plain.into())
    }

    /// The plaintext.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The longest password any request may carry (`password.max_length` may not be set higher):
/// longer ones are refused before any hashing.
pub const MAX_PASSWORD_CHARS: usize = 1024;

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let plain = String::deserialize(d)?;
        if plain.chars().count() > MAX_PASSWORD_CHARS {
            return Err(serde::de::Error::custom(format!("must be at most {MAX_PASSWORD_CHARS} characters")));
        }
        Ok(Self(plain))
    }
}

impl<'de> eserde::EDeserialize<'de> for Password {
    fn deserialize_for_errors<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<(), ()> {
        crate::http::input::report_own::<Self, D>(d)
    }
}

impl utoipa::PartialSchema for Password {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::Password,
            )))
            .max_length(Some(MAX_PASSWORD_CHARS))
            .into()
    }
}

impl utoipa::ToSchema for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

/// The bounded argon2id pool.
#[derive(Clone)]
pub struct PasswordHasherPool {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    running: Semaphore,
    admitted: AtomicUsize,
    limit: usize,
    dummy_hash: String,
    verifications: AtomicUsize,
    current_cost_checks: AtomicUsize,
}

impl fmt::Debug for PasswordHasherPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasherPool").field("limit", &self.inner.limit).finish()
    }
}

impl PasswordHasherPool {
    /// Builds the pool and the dummy hash (one hash at start-up).
    pub fn new(config: &PasswordConfig) -> Result<Self> {
        let params = Params::new(config.memory_kib, config.iterations, config.parallelism, None)
            .map_err(|e| Error::internal(format!("argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let dummy_hash = hash_with(&argon2, &random)?;
        let pool = config.pool_size.max(1);
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                running: Semaphore::new(pool),
                admitted: AtomicUsize::new(0),
                limit: pool + config.queue,
                dummy_hash,
                verifications: AtomicUsize::new(0),
                current_cost_checks: AtomicUsize::new(0),
            }),
        })
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let plain = password.expose().as_bytes().to_vec();
        self.run(move |argon2| hash_with(argon2, &plain)).await
    }

    /// Checks `password` against `stored` (any format [`recognised_hash`] accepts), or against the
    /// dummy hash when there is no stored hash, so both paths cost the same. Returns `false` for
    /// `None`.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool> {
        Ok(self.check(password, stored, false).await?.0)
    }

    /// Like [`verify`](Self::verify), and when the password is right and the stored hash
    /// [needs a rehash](Self::needs_rehash), also returns a new argon2id hash of it, made in the
    /// same pool job. The caller stores it; the plaintext never has to be kept for later.
    pub async fn verify_upgrade(&self, password: &Password, stored: Option<&str>) -> Result<(bool, Option<String>)> {
        self.check(password, stored, true).await
    }

    /// True when `stored` is not argon2id with exactly the current parameters: any legacy
    /// format, another argon2 variant or version, or argon2id of another cost.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        legacy::needs_rehash(self.inner.argon2.params(), stored)
    }

    async fn check(&self, password: &Password, stored: Option<&str>, upgrade: bool) -> Result<(bool, Option<String>)> {
        let known = stored.is_some();
        // Unknown users cost one verification too, against a hash made with the current params.
        let hash = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let plain = password.expose().as_bytes().to_vec();
        let inner = Arc::clone(&self.inner);
        self.run(move |argon2| {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            let current = !legacy::needs_rehash(argon2.params(), &hash);
            let ok = legacy::verify(argon2, &plain, &hash) && known;
            if current {
                inner.current_cost_checks.fetch_add(1, Ordering::Relaxed);
            } else if !ok {
                // Timing-oracle mitigation: a refused legacy or outdated hash (pbkdf2 with 1,000
                // rounds answers in a fraction of a millisecond) also pays for the dummy check, so
                // it answers no sooner than an unknown name. The result is discarded; black_box
                // keeps the work from being optimised away.
                std::hint::black_box(legacy::verify(argon2, &plain, &inner.dummy_hash));
                inner.current_cost_checks.fetch_add(1, Ordering::Relaxed);
            }
            // Rehashing only after a successful check: the extra cost tells nothing to someone
            // who does not already know the password.
            let upgraded = if ok && upgrade && legacy::needs_rehash(argon2.params(), &hash) {
                Some(hash_with(argon2, &plain)?)
            } else {
                None
            };
            Ok((ok, upgraded))
        })
        .await
    }

    /// How many verifications ran since start (the dummy ones included).
    pub fn verifications(&self) -> usize {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// How many argon2id verifications at the current parameters ran since start: against a
    /// current hash, the dummy hash for an unknown name, or the dummy hash after a refused legacy
    /// one. A refused check adds exactly one, whatever the account's stored format.
    pub fn current_cost_checks(&self) -> usize {
        self.inner.current_cost_checks.load(Ordering::Relaxed)
    }

    async fn run<T, F>(&self, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2<'static>) -> Result<T> + Send + 'static,
    {
        let admitted = Admission::try_new(&self.inner)?;
        let _permit =
            self.inner.running.acquire().await.map_err(|e| Error::internal(format!("hash pool closed: {e}")))?;
        let inner = Arc::clone(&self.inner);
        // argon2 is CPU-bound for tens of milliseconds: never on the async runtime's threads.
        let out = tokio::task::spawn_blocking(move || job(&inner.argon2))
            .await
            .map_err(|e| Error::internal(format!("hash task failed: {e}")))?;
        drop(admitted);
        out
    }
}

/// A slot in the bounded queue, given back on drop.
struct Admission<'a>(&'a Inner);

impl<'a> Admission<'a> {
    fn try_new(inner: &'a Inner) -> Result<Self> {
        let prev = inner.admitted.fetch_add(1, Ordering::AcqRel);
        if prev >= inner.limit {
            inner.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(ErrorKind::Unavailable, "the server is busy checking passwords; try again shortly"));
        }
        Ok(Self(inner))
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

fn hash_with(argon2: &Argon2<'_>, plain: &[u8]) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2.hash_password(plain, &salt).map(|h| h.to_string()).map_err(|e| Error::internal(format!("argon2 hash: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weak() -> PasswordConfig {
        PasswordConfig {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            pool_size: 1,
            queue: 1,
            min_length: 8,
            max_length: 128,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        let hash = pool.hash(&Password::new("correct horse")).await.expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(pool.verify(&Password::new("correct horse"), Some(&hash)).await.expect("verify"));
        assert!(!pool.verify(&Password::new("wrong"), Some(&hash)).await.expect("verify"));
        assert!(!pool.verify(&Password::new("x"), Some("not a phc string")).await.expect("verify"));
    }

    #[tokio::test]
    async fn unknown_user_still_costs_a_verification() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        let before = pool.verifications();
        assert!(!pool.verify(&Password::new("anything"), None).await.expect("verify"));
        assert_eq!(pool.verifications(), before + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_answers_unavailable() {
        let mut cfg = weak();
        cfg.memory_kib = 19_456;
        cfg.iterations = 4;
        let pool = PasswordHasherPool::new(&cfg).expect("pool");
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(&Password::new("password")).await })
            })
            .collect();
        let mut busy = 0;
        for job in jobs {
            if let Err(e) = job.await.expect("join") {
                assert_eq!(e.kind(), ErrorKind::Unavailable);
                busy += 1;
            }
        }
        assert!(busy >= 6, "pool 1 + queue 1 admits two of eight, {busy} refused");
    }

    #[tokio::test]
    async fn legacy_hashes_verify_and_upgrade_to_current_argon2id() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        // werkzeug pbkdf2:sha256:1000 from tests/fixtures/legacy-users.csv; password pw-bob-secret.
        let bob =
            "pbkdf2:sha256:1000$ZCN5yQ89JHdh02ar$660cadc08668a8eac81884a25bab0d907258dc5aaf0bacfc8019c412e4cf0bc7";
        assert!(recognised_hash(bob) && pool.needs_rehash(bob));
        assert!(pool.verify(&Password::new("pw-bob-secret"), Some(bob)).await.expect("verify"));

        let (ok, new) = pool.verify_upgrade(&Password::new("wrong"), Some(bob)).await.expect("verify");
        assert!(!ok && new.is_none(), "a wrong password never yields a hash");
        let (ok, new) = pool.verify_upgrade(&Password::new("pw-bob-secret"), Some(bob)).await.expect("verify");
        let new = new.expect("a legacy hash is upgraded");
        assert!(ok && new.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{new}");
        assert!(!pool.needs_rehash(&new));
        assert!(pool.verify(&Password::new("pw-bob-secret"), Some(&new)).await.expect("verify"));

        let (ok, again) = pool.verify_upgrade(&Password::new("pw-bob-secret"), Some(&new)).await.expect("verify");
        assert!(ok && again.is_none(), "a current hash is left alone");
    }

    #[tokio::test]
    async fn argon2id_of_another_cost_is_upgraded_and_unknown_users_never_are() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        let mut stronger = weak();
        stronger.memory_kib = 128;
        let old = PasswordHasherPool::new(&stronger).expect("pool");
        let hash = old.hash(&Password::new("correct horse")).await.expect("hash");
        assert!(pool.needs_rehash(&hash) && !old.needs_rehash(&hash));
        let (ok, new) = pool.verify_upgrade(&Password::new("correct horse"), Some(&hash)).await.expect("verify");
        assert!(ok && new.is_some_and(|h| !pool.needs_rehash(&h)));

        let before = pool.verifications();
        let (ok, new) = pool.verify_upgrade(&Password::new("anything"), None).await.expect("verify");
        assert!(!ok && new.is_none());
        assert_eq!(pool.verifications(), before + 1, "the dummy hash is checked");
    }

    #[tokio::test]
    async fn every_refusal_costs_one_check_at_the_current_parameters() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        let current = pool.hash(&Password::new("correct horse")).await.expect("hash");
        let bob =
            "pbkdf2:sha256:1000$ZCN5yQ89JHdh02ar$660cadc08668a8eac81884a25bab0d907258dc5aaf0bacfc8019c412e4cf0bc7";
        for stored in [None, Some(current.as_str()), Some(bob), Some("not a phc string")] {
            let before = pool.current_cost_checks();
            assert!(!pool.verify(&Password::new("wrong"), stored).await.expect("verify"));
            assert_eq!(pool.current_cost_checks(), before + 1, "{stored:?}");
        }
        let before = pool.current_cost_checks();
        assert!(pool.verify(&Password::new("pw-bob-secret"), Some(bob)).await.expect("verify"));
        assert_eq!(pool.current_cost_checks(), before, "a right legacy password is not padded");
    }

    #[tokio::test]
    async fn absurd_imported_costs_answer_false_at_once() {
        let pool = PasswordHasherPool::new(&weak()).expect("pool");
        let digest = "00".repeat(32);
        for stored in [
            format!("pbkdf2:sha256:4000000000$salt${digest}"),
            "$2b$31$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K".to_owned(),
            format!("scrypt:{}:8:1${}", 1u64 << 40, "00".repeat(64)),
        ] {
            let started = std::time::Instant::now();
            assert!(!pool.verify(&Password::new("password"), Some(&stored)).await.expect("verify"));
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "{stored}");
        }
    }

    #[test]
    fn password_debug_is_redacted() {
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password([redacted])");
    }
}
