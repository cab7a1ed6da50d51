//! Server secrets: given in the configuration, generated into the data directory on first start
//! (and reused after), or ephemeral for demos.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::config::{Config, SigningAlg};
use crate::csrf::CsrfKey;
use crate::error::{Error, Result};
use crate::token::keys::KeyFile;

/// Where a secret came from, for the start-up message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From the configuration or environment.
    Configured,
    /// Read from the data directory.
    Loaded,
    /// Generated now and written to the data directory.
    Generated,
    /// Generated now and kept in memory only.
    Ephemeral,
}

/// The server's secrets.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// CSRF token key.
    pub csrf_key: CsrfKey,
    /// Where the CSRF key came from.
    pub csrf_origin: Origin,
    /// Access-token signing keys.
    pub jwt_keys: KeyFile,
    /// Key of the refresh-token MACs.
    pub refresh_key: Vec<u8>,
    /// The keys stored secrets (TOTP seeds) are sealed with.
    pub sealing: crate::sealing::SealingKeys,
}

impl Secrets {
    /// Fresh in-memory secrets with Ed25519 signing keys (demo mode, tests).
    pub fn ephemeral() -> Self {
        Self::ephemeral_with(SigningAlg::EdDSA)
    }

    /// Fresh in-memory secrets signing with `alg`.
    pub fn ephemeral_with(alg: SigningAlg) -> Self {
        let mut refresh_key = vec![0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut refresh_key);
        Self {
            csrf_key: CsrfKey::generate(),
            csrf_origin: Origin::Ephemeral,
            jwt_keys: KeyFile::generate(alg, time::OffsetDateTime::now_utc().unix_timestamp()),
            refresh_key,
            sealing: crate::sealing::SealingKeys::generate(),
        }
    }

    /// The configured secrets, with fresh in-memory ones for the rest (demo mode): nothing is
    /// read from or written to the data directory.
    pub fn configured_or_ephemeral(config: &Config) -> Self {
        let fresh = Self::ephemeral_with(config.token.algorithm);
        Self {
            csrf_key: config.csrf_key.clone().map_or(fresh.csrf_key, CsrfKey::new),
            csrf_origin: if config.csrf_key.is_some() { Origin::Configured } else { Origin::Ephemeral },
            jwt_keys: config.jwt_keys.clone().unwrap_or(fresh.jwt_keys),
            refresh_key: config.refresh_key.clone().unwrap_or(fresh.refresh_key),
            sealing: fresh.sealing,
        }
    }

    /// The configured secrets, else those in the data directory, generating missing ones.
    pub fn load_or_generate(config: &Config) -> Result<Self> {
        let (csrf_key, csrf_origin) = match &config.csrf_key {
            Some(key) => (key.clone(), Origin::Configured),
            None => load_or_create_key(&config.data_dir.join("csrf.key"))?,
        };
        let refresh_key = match &config.refresh_key {
            Some(key) => key.clone(),
            None => load_or_create_key(&config.data_dir.join("refresh.key"))?.0,
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let jwt_keys = match &config.jwt_keys {
            Some(keys) => keys.clone(),
            None => KeyFile::load_or_create(&Self::jwt_keys_path(config), config.token.algorithm, now)?,
        };
        let sealing = crate::sealing::SealingKeys::load_or_create(&config.data_dir.join("sealing-keys.json"))?;
        Ok(Self { csrf_key: CsrfKey::new(csrf_key), csrf_origin, jwt_keys, refresh_key, sealing })
    }

    /// Where the signing keys live.
    pub fn jwt_keys_path(config: &Config) -> std::path::PathBuf {
        config.data_dir.join("jwt-keys.json")
    }
}

/// Writes a new secret file (its directory made if needed), readable by the server's user only;
/// an error if the file already exists, so a secret is never overwritten.
pub(crate) fn write_new_secret_file(path: &Path, contents: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Readable by the server's user only.
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| Error::internal(format!("creating {}: {e}", path.display())))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}

fn load_or_create_key(path: &Path) -> Result<(Vec<u8>, Origin)> {
    if path.exists() {
        let text = fs::read_to_string(path).map_err(|e| Error::internal(format!("reading {}: {e}", path.display())))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| Error::internal(format!("{} is not base64: {e}", path.display())))?;
        if bytes.len() < 32 {
            return Err(Error::internal(format!("{} holds fewer than 32 bytes", path.display())));
        }
        return Ok((bytes, Origin::Loaded));
    }
    let mut bytes = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    write_new_secret_file(path, STANDARD.encode(&bytes).as_bytes())?;
    Ok((bytes, Origin::Generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/csrf.key");
        let (first, o1) = load_or_create_key(&path).expect("create");
        let (second, o2) = load_or_create_key(&path).expect("load");
        assert_eq!((o1, o2), (Origin::Generated, Origin::Loaded));
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

#[cfg(test)]
mod configured_tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn keys_given_in_the_configuration_are_used_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let given = KeyFile::generate(SigningAlg::HS256, 0);
        let mut raw = RawConfig::default();
        raw.server.data_dir = dir.path().to_path_buf();
        raw.secrets.jwt_keys = Some(serde_json::to_string(&given).expect("json"));
        raw.secrets.refresh_key = Some(STANDARD.encode([7u8; 32]));
        let config = raw.validate().expect("valid");
        let secrets = Secrets::load_or_generate(&config).expect("secrets");
        assert_eq!(secrets.jwt_keys.keys[0].kid, given.keys[0].kid);
        assert_eq!(secrets.refresh_key, vec![7u8; 32]);
        assert!(!Secrets::jwt_keys_path(&config).exists());
        assert!(!dir.path().join("refresh.key").exists());
        let shown = raw.to_redacted_toml();
        assert!(!shown.contains(&given.keys[0].secret) && shown.contains("[redacted]"));

        raw.secrets.jwt_keys = Some("{\"keys\": []}".into());
        raw.secrets.refresh_key = Some("short".into());
        let err = raw.validate().expect_err("invalid").to_string();
        assert!(err.contains("secrets.jwt_keys") && err.contains("secrets.refresh_key"), "{err}");
    }
}
