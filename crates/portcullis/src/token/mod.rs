//! Token mode: short-lived JWT access tokens and rotating refresh-token families.
//!
//! A refresh family *is* a session (kind `token`): logging in creates it, every refresh rotates
//! it to the next generation, logout and revocation end it, and access tokens carry its public
//! id as `sid` so Portcullis's own routes reject them as soon as it ends.
//!
//! ```text
//!  login ─► gen 0 ─refresh─► gen 1 ─refresh─► gen 2 ...
//!                    │
//!                    ├─ gen n-1 again within the grace window ─► the same gen n token back
//!                    └─ any older generation after it ─────────► family revoked (refresh_reused)
//! ```
//!
//! A refresh token is `<family id>.<generation>.<HMAC(refresh key, family id ‖ generation)>`:
//! nothing secret is stored, a forged or altered token fails the MAC (checked in constant time),
//! and the token of any generation can be recomputed, which is what lets two tabs refreshing at
//! once both receive the same new token.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::config::TokenConfig;
use crate::error::{Error, ErrorKind, Result};

pub mod family;
pub mod keys;

use keys::{KeyFile, LoadedKey};

type HmacSha256 = Hmac<Sha256>;

/// Longest token accepted before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session (refresh family) public id.
    pub sid: String,
    /// Unique token id.
    pub jti: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expires.
    pub exp: i64,
    /// Always `access`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user's roles when issued.
    pub roles: Vec<String>,
    /// Fresh (recently authenticated) until.
    pub fresh: i64,
    /// Double-submit value, for tokens sent in cookies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
}

/// Issues and verifies tokens.
pub struct TokenService {
    config: TokenConfig,
    clock: SharedClock,
    keys: Vec<LoadedKey>,
    refresh_key: Vec<u8>,
    verified: moka::sync::Cache<[u8; 32], Arc<AccessClaims>>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("TokenService").field("kids", &kids).finish_non_exhaustive()
    }
}

fn invalid(detail: &str) -> Error {
    Error::new(ErrorKind::TokenInvalid, detail)
}

/// The session-table key of a refresh family, derived from its public id.
pub fn family_hash(public_id: Uuid) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"portcullis-family\0");
    h.update(public_id.as_bytes());
    h.finalize().into()
}

impl TokenService {
    /// A service signing with the last key of `keys`.
    pub fn new(config: TokenConfig, clock: SharedClock, keys: &KeyFile, refresh_key: Vec<u8>) -> Result<Self> {
        let keys = keys.keys.iter().map(LoadedKey::from_stored).collect::<Result<Vec<_>>>()?;
        if keys.is_empty() {
            return Err(Error::internal("no signing key"));
        }
        let verified = moka::sync::Cache::builder().max_capacity(100_000).time_to_live(config.access_ttl).build();
        Ok(Self { config, clock, keys, refresh_key, verified })
    }

    /// Token settings.
    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    fn current(&self) -> &LoadedKey {
        // `new` refuses an empty key list.
        &self.keys[self.keys.len() - 1]
    }

    /// How long after retirement a key can still have valid tokens.
    fn retention(&self) -> i64 {
        i64::try_from((self.config.access_ttl + self.config.leeway).as_secs()).unwrap_or(i64::MAX)
    }

    fn usable(&self, key: &LoadedKey, now: i64) -> bool {
        key.retired_at.is_none_or(|r| now < r.saturating_add(self.retention()))
    }

    /// A signed access token for a session.
    pub fn issue_access(
        &self,
        user_id: Uuid,
        roles: &[String],
        sid: Uuid,
        fresh_until: i64,
        csrf: Option<String>,
    ) -> Result<(String, AccessClaims)> {
        let now = self.clock.now().unix_timestamp();
        let ttl = i64::try_from(self.config.access_ttl.as_secs()).unwrap_or(900);
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: user_id.to_string(),
            sid: sid.to_string(),
            jti: Uuid::new_v4().to_string(),
            iat: now,
            nbf: now,
            exp: now + ttl,
            kind: "access".into(),
            roles: roles.to_vec(),
            fresh: fresh_until,
            csrf,
        };
        let key = self.current();
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|e| Error::internal(format!("signing: {e}")))?;
        Ok((token, claims))
    }

    /// Seconds an access token lives.
    pub fn access_ttl_secs(&self) -> u64 {
        self.config.access_ttl.as_secs()
    }

    /// Verifies an access token: the key its `kid` names, that key's one algorithm, signature,
    /// `iss`, `aud`, `type`, and `exp`/`nbf` against this service's clock with the leeway.
    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid("the token is malformed"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.verified.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = Arc::new(self.verify_signature(token)?);
                self.verified.insert(digest, Arc::clone(&claims));
                claims
            }
        };
        let now = self.clock.now().unix_timestamp();
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(0);
        if now > claims.exp.saturating_add(leeway) {
            return Err(Error::new(ErrorKind::TokenExpired, "the access token has expired"));
        }
        if claims.nbf > now.saturating_add(leeway) {
            return Err(invalid("the token is not valid yet"));
        }
        Ok(claims)
    }

    fn verify_signature(&self, token: &str) -> Result<AccessClaims> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        let kid = header.kid.as_deref().ok_or_else(|| invalid("the token names no key"))?;
        let now = self.clock.now().unix_timestamp();
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid && self.usable(k, now))
            .ok_or_else(|| invalid("the token names an unknown key"))?;
        // The key pins the algorithm: a header claiming another one (none, HS256 over an
        // Ed25519 public key, ...) is refused before any verification.
        if header.alg != key.alg {
            return Err(invalid("the token's algorithm does not match its key"));
        }
        let mut validation = Validation::new(key.alg);
        validation.algorithms = vec![key.alg];
        // Time claims are checked against the injectable clock in `verify_access`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|_| invalid("the token failed verification"))?;
        if data.claims.kind != "access" {
            return Err(invalid("not an access token"));
        }
        Ok(data.claims)
    }

    /// The JWKS document: every public key whose tokens may still be valid.
    pub fn jwks(&self) -> serde_json::Value {
        let now = self.clock.now().unix_timestamp();
        let keys: Vec<_> = self
            .keys
            .iter()
            .filter(|k| self.usable(k, now))
            .filter_map(|k| {
                k.public.map(|public| {
                    serde_json::json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "x": URL_SAFE_NO_PAD.encode(public),
                        "kid": k.kid,
                        "alg": "EdDSA",
                        "use": "sig",
                    })
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    fn mac(&self, label: &[u8], public_id: Uuid, generation: Option<i64>) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.refresh_key)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(label);
        mac.update(public_id.as_bytes());
        if let Some(g) = generation {
            mac.update(&g.to_be_bytes());
        }
        mac
    }

    /// The refresh token of a family's generation.
    pub fn refresh_token(&self, public_id: Uuid, generation: i64) -> String {
        let tag = self.mac(b"portcullis-refresh\0", public_id, Some(generation)).finalize().into_bytes();
        format!("{}.{generation}.{}", public_id.simple(), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The family and generation of an authentic refresh token.
    pub fn parse_refresh(&self, token: &str) -> Option<(Uuid, i64)> {
        if token.len() > 128 {
            return None;
        }
        let mut parts = token.trim().split('.');
        let (id, generation, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || id.len() != 32 {
            return None;
        }
        let public_id = Uuid::try_parse(id).ok()?;
        let generation: i64 = generation.parse().ok().filter(|g| *g >= 0)?;
        let mut raw = [0u8; 35];
        let n = URL_SAFE_NO_PAD.decode_slice(tag, &mut raw).ok()?;
        // Constant-time comparison of the tag.
        self.mac(b"portcullis-refresh\0", public_id, Some(generation)).verify_slice(&raw[..n]).ok()?;
        Some((public_id, generation))
    }

    /// The double-submit CSRF value of a family (cookie, header and `csrf` claim).
    pub fn family_csrf(&self, public_id: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(b"portcullis-family-csrf\0", public_id, None).finalize().into_bytes())
    }
}
