//! Password hashing with argon2id, off the async runtime.
//!
//! Hashing and verification run on tokio's blocking threads, at most `pool_size` at once; at most
//! `queue` more may wait. Past that, callers get [`ErrorKind::Unavailable`] (503) at once instead
//! of piling up memory. Unknown users are verified against a dummy hash made with the current
//! parameters, so the time a login takes does not reveal whether the username exists.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordConfig;
use crate::error::{Error, ErrorKind, Result};

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
            }),
        })
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: &Password) -> Result<String> {
        let plain = password.expose().as_bytes().to_vec();
        self.run(move |argon2| hash_with(argon2, &plain)).await
    }

    /// Checks `password` against `stored` (a PHC string), or against the dummy hash when there is
    /// no stored hash, so both paths cost the same. Returns `false` for `None`.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let plain = password.expose().as_bytes().to_vec();
        let inner = Arc::clone(&self.inner);
        let ok = self
            .run(move |argon2| {
                inner.verifications.fetch_add(1, Ordering::Relaxed);
                Ok(verify_with(argon2, &plain, &hash))
            })
            .await?;
        Ok(known && ok)
    }

    /// How many verifications ran since start (the dummy ones included).
    pub fn verifications(&self) -> usize {
        self.inner.verifications.load(Ordering::Relaxed)
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

fn verify_with(argon2: &Argon2<'_>, plain: &[u8], stored: &str) -> bool {
    match PasswordHash::new(stored) {
        // The stored hash's own parameters apply; comparison is constant-time inside argon2.
        Ok(parsed) => argon2.verify_password(plain, &parsed).is_ok(),
        Err(_) => false,
    }
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

    #[test]
    fn password_debug_is_redacted() {
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password([redacted])");
    }
}
