//! Encryption at rest for stored secrets the server must read back (TOTP seeds): a store dump
//! alone reveals none of them.
//!
//! A value is sealed with XChaCha20-Poly1305 (an AEAD with 192-bit random nonces, so nonces can
//! be drawn at random for the key's whole life) under the newest key of a key ring, bound by
//! the associated data to what it belongs to (the account and the kind of secret): a sealed seed
//! copied to another account's row does not open. The sealed form names its key, so a ring with
//! a new key added still opens values sealed under the old ones:
//!
//! ```text
//!   sealed = key id (4 bytes, big endian) ‖ nonce (24 bytes) ‖ ciphertext ‖ tag (16 bytes)
//! ```
//!
//! The ring is generated into the data directory (`sealing-keys.json`, mode 0600) on first
//! start, like the other secrets, or kept in memory only for demos.

use std::fs;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const NONCE_LEN: usize = 24;
const ID_LEN: usize = 4;

/// One key of the ring.
#[derive(Clone)]
struct SealingKey {
    id: u32,
    key: [u8; 32],
}

/// The keys stored secrets are sealed with: the newest seals, every one opens.
#[derive(Clone)]
pub struct SealingKeys {
    /// Oldest first; never empty.
    keys: Vec<SealingKey>,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|k| k.id).collect();
        f.debug_struct("SealingKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyRingFile {
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct KeyEntry {
    id: u32,
    key: String,
}

impl SealingKeys {
    /// A ring of one fresh key, in memory only.
    pub fn generate() -> Self {
        Self { keys: vec![SealingKey { id: 1, key: random_key() }] }
    }

    /// A ring with a fresh key added: it seals from now on; the older ones still open.
    pub fn rotated(&self) -> Self {
        let id = self.keys.iter().map(|k| k.id).max().unwrap_or(0).saturating_add(1);
        let mut keys = self.keys.clone();
        keys.push(SealingKey { id, key: random_key() });
        Self { keys }
    }

    /// The ids of the ring's keys, oldest first.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// Seals `plain`, bound to `context` (what it belongs to: it must be given again to open).
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let newest = self.keys.last().ok_or_else(|| Error::internal("an empty sealing key ring"))?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&newest.key).into());
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: context })
            .map_err(|_| Error::internal("sealing a secret failed"))?;
        let mut out = Vec::with_capacity(ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&newest.id.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) made for the same `context`; an error if it was made for
    /// another context, under a key the ring no longer has, or altered.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>> {
        let broken = || Error::internal("a sealed secret does not open (altered, moved, or its key is gone)");
        if sealed.len() < ID_LEN + NONCE_LEN {
            return Err(broken());
        }
        let (id, rest) = sealed.split_at(ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let id = u32::from_be_bytes(id.try_into().map_err(|_| broken())?);
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(broken)?;
        let cipher = XChaCha20Poly1305::new((&key.key).into());
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context }).map_err(|_| broken())
    }

    /// Whether `sealed` was made under an older key than the newest (worth sealing again).
    pub fn is_stale(&self, sealed: &[u8]) -> bool {
        let newest = self.keys.last().map(|k| k.id);
        sealed.get(..ID_LEN).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes) != newest
    }

    /// The ring in `path`, created with one fresh key if the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if path.exists() {
            return Self::load(path);
        }
        let ring = Self::generate();
        ring.write_new(path)?;
        Ok(ring)
    }

    fn load(path: &Path) -> Result<Self> {
        let shown = path.display();
        let text = fs::read_to_string(path).map_err(|e| Error::internal(format!("reading {shown}: {e}")))?;
        let file: KeyRingFile =
            serde_json::from_str(&text).map_err(|e| Error::internal(format!("{shown} is not a key ring: {e}")))?;
        let mut keys = Vec::with_capacity(file.keys.len());
        for entry in file.keys {
            let bytes = STANDARD.decode(entry.key.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            let key =
                bytes.ok_or_else(|| Error::internal(format!("{shown}: key {} is not 32 base64 bytes", entry.id)))?;
            keys.push(SealingKey { id: entry.id, key });
        }
        keys.sort_by_key(|k| k.id);
        if keys.is_empty() {
            return Err(Error::internal(format!("{shown} holds no key")));
        }
        Ok(Self { keys })
    }

    fn write_new(&self, path: &Path) -> Result<()> {
        let file = KeyRingFile {
            keys: self.keys.iter().map(|k| KeyEntry { id: k.id, key: STANDARD.encode(k.key) }).collect(),
        };
        let text = serde_json::to_string_pretty(&file).map_err(|e| Error::internal(e.to_string()))?;
        crate::secrets::write_new_secret_file(path, text.as_bytes())
    }
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_context_and_unaltered() {
        let ring = SealingKeys::generate();
        let sealed = ring.seal(b"JBSWY3DPEHPK3PXP", b"totp:alice").expect("seal");
        assert!(!sealed.windows(16).any(|w| w == b"JBSWY3DPEHPK3PXP"), "no plaintext in the sealed form");
        assert_eq!(ring.open(&sealed, b"totp:alice").expect("open"), b"JBSWY3DPEHPK3PXP");
        assert!(ring.open(&sealed, b"totp:bob").is_err(), "moved to another account");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(ring.open(&altered, b"totp:alice").is_err(), "altered");
        assert!(ring.open(&sealed[..10], b"totp:alice").is_err(), "truncated");
        assert!(SealingKeys::generate().open(&sealed, b"totp:alice").is_err(), "another ring");
        assert_ne!(ring.seal(b"same", b"c").expect("seal"), ring.seal(b"same", b"c").expect("seal"), "fresh nonces");
    }

    #[test]
    fn a_rotated_ring_seals_with_the_new_key_and_still_opens_the_old() {
        let ring = SealingKeys::generate();
        let old = ring.seal(b"seed", b"ctx").expect("seal");
        let rotated = ring.rotated();
        assert_eq!(rotated.ids(), [1, 2]);
        assert!(rotated.is_stale(&old));
        assert_eq!(rotated.open(&old, b"ctx").expect("old opens"), b"seed");
        let new = rotated.seal(b"seed", b"ctx").expect("seal");
        assert!(!rotated.is_stale(&new));
        assert!(ring.open(&new, b"ctx").is_err(), "the old ring lacks the new key");
    }

    #[test]
    fn the_ring_is_generated_once_then_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sealing-keys.json");
        let first = SealingKeys::load_or_create(&path).expect("create");
        let sealed = first.seal(b"seed", b"ctx").expect("seal");
        let again = SealingKeys::load_or_create(&path).expect("load");
        assert_eq!(again.open(&sealed, b"ctx").expect("opens after a restart"), b"seed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, r#"{"keys": [{"id": 1, "key": "c2hvcnQ="}]}"#).expect("write");
        assert!(SealingKeys::load_or_create(&path).is_err(), "a short key is refused");
    }
}
