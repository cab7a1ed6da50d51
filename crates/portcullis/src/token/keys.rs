//! Signing keys for access tokens: one current key, older ones kept for verification and
//! published in the JWKS until every token they signed has expired.
//!
//! The key file (`jwt-keys.json` in the data directory, mode 0600) lists every key with its
//! `kid`, algorithm, secret material and the time it was retired. Each key pins its algorithm:
//! a token is verified only with the algorithm of the key its `kid` names.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::SigningAlg;
use crate::error::{Error, Result};

/// One key as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// Key id, in every token's header.
    pub kid: String,
    /// `EdDSA` or `HS256`.
    pub alg: String,
    /// Base64: PKCS#8 DER of the Ed25519 private key, or the HS256 secret.
    pub secret: String,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds when a newer key replaced it.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// The key file's content.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyFile {
    /// Every key, oldest first; the last one signs.
    pub keys: Vec<StoredKey>,
}

impl KeyFile {
    /// A file with one fresh key.
    pub fn generate(alg: SigningAlg, now: i64) -> Self {
        Self { keys: vec![new_key(alg, now)] }
    }

    /// Reads `path`, or creates it with one fresh key.
    pub fn load_or_create(path: &Path, alg: SigningAlg, now: i64) -> Result<Self> {
        if path.exists() {
            let text =
                fs::read_to_string(path).map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
            let file: KeyFile = serde_json::from_str(&text)
                .map_err(|e| Error::internal(format!("{} is not a key file: {e}", path.display())))?;
            if file.keys.is_empty() {
                return Err(Error::internal(format!("{} holds no keys", path.display())));
            }
            return Ok(file);
        }
        let file = Self::generate(alg, now);
        file.save(path)?;
        Ok(file)
    }

    /// Retires the current key and adds a new one; drops keys retired longer than `keep`
    /// ago (no token they signed can still be valid).
    pub fn rotate(&mut self, alg: SigningAlg, now: i64, keep: Duration) {
        let keep = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX);
        for key in &mut self.keys {
            key.retired_at.get_or_insert(now);
        }
        self.keys.retain(|k| k.retired_at.is_none_or(|r| now < r.saturating_add(keep)));
        self.keys.push(new_key(alg, now));
    }

    /// Writes the file, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let text = serde_json::to_string_pretty(self).map_err(Error::internal)?;
        let mut file = options.open(&tmp).map_err(|e| Error::internal(format!("creating {}: {e}", tmp.display())))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&tmp, path))
            .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
    }
}

fn new_key(alg: SigningAlg, now: i64) -> StoredKey {
    let mut id = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let (alg, secret) = match alg {
        SigningAlg::EdDSA => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let der = key.to_pkcs8_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
            ("EdDSA", der)
        }
        SigningAlg::HS256 => {
            let mut secret = vec![0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            ("HS256", secret)
        }
    };
    StoredKey {
        kid: URL_SAFE_NO_PAD.encode(id),
        alg: alg.into(),
        secret: STANDARD.encode(secret),
        created_at: now,
        retired_at: None,
    }
}

/// A key ready to sign or verify.
pub struct LoadedKey {
    /// Key id.
    pub kid: String,
    /// The one algorithm this key is used with.
    pub alg: Algorithm,
    /// For signing (the current key only is used).
    pub encoding: EncodingKey,
    /// For verification.
    pub decoding: DecodingKey,
    /// Raw Ed25519 public key, for the JWKS (`None` for HS256).
    pub public: Option<[u8; 32]>,
    /// When it was retired.
    pub retired_at: Option<i64>,
}

impl LoadedKey {
    /// Parses a stored key.
    pub fn from_stored(key: &StoredKey) -> Result<Self> {
        let secret =
            STANDARD.decode(&key.secret).map_err(|_| Error::internal(format!("key {} is not base64", key.kid)))?;
        match key.alg.as_str() {
            "EdDSA" => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let signing = SigningKey::from_pkcs8_der(&secret)
                    .map_err(|e| Error::internal(format!("key {}: {e}", key.kid)))?;
                let public = signing.verifying_key().to_bytes();
                Ok(Self {
                    kid: key.kid.clone(),
                    alg: Algorithm::EdDSA,
                    encoding: EncodingKey::from_ed_der(&secret),
                    decoding: DecodingKey::from_ed_der(&public),
                    public: Some(public),
                    retired_at: key.retired_at,
                })
            }
            "HS256" if secret.len() >= 32 => Ok(Self {
                kid: key.kid.clone(),
                alg: Algorithm::HS256,
                encoding: EncodingKey::from_secret(&secret),
                decoding: DecodingKey::from_secret(&secret),
                public: None,
                retired_at: key.retired_at,
            }),
            other => Err(Error::internal(format!("key {}: unsupported algorithm {other} or short secret", key.kid))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_recent_keys_and_drops_old_ones() {
        let mut file = KeyFile::generate(SigningAlg::EdDSA, 0);
        let first = file.keys[0].kid.clone();
        file.rotate(SigningAlg::EdDSA, 100, Duration::from_secs(1000));
        assert_eq!(file.keys.len(), 2);
        assert_eq!(file.keys[0].retired_at, Some(100));
        assert_eq!(file.keys[0].kid, first);
        file.rotate(SigningAlg::HS256, 2000, Duration::from_secs(1000));
        assert_eq!(file.keys.len(), 2, "the first key's tokens expired long ago");
        assert!(file.keys.iter().all(|k| k.kid != first));
        for key in &file.keys {
            LoadedKey::from_stored(key).expect("loads");
        }
    }

    #[test]
    fn saved_files_load_back_and_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwt-keys.json");
        let created = KeyFile::load_or_create(&path, SigningAlg::EdDSA, 5).expect("create");
        let loaded = KeyFile::load_or_create(&path, SigningAlg::EdDSA, 6).expect("load");
        assert_eq!(created.keys[0].kid, loaded.keys[0].kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
        }
    }
}
