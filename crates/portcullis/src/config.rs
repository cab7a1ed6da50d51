//! Configuration: `portcullis.toml` overlaid by `PORTCULLIS_SECTION__KEY` environment variables.
//!
//! [`RawConfig`] is what the file says (every field has a default); [`Config`] is the validated
//! form the rest of the crate uses. Validation lists every problem at once, each naming its key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// The configuration as written in `portcullis.toml`; every field has a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Listening address, data directory, body and time limits.
    pub server: RawServer,
    /// Where users and sessions are kept.
    pub store: RawStore,
    /// Session lifetimes and the hot-path cache.
    pub session: RawSession,
    /// Session cookie attributes.
    pub cookie: RawCookie,
    /// CSRF protection.
    pub csrf: RawCsrf,
    /// Cross-origin requests (deploy mode C).
    pub cors: RawCors,
    /// Password hashing and policy.
    pub password: RawPassword,
    /// Account self-service.
    pub accounts: RawAccounts,
    /// The single-page app served on non-API paths (deploy mode A).
    pub spa: RawSpa,
    /// Logging.
    pub log: RawLog,
    /// Token mode: JWT access tokens and rotating refresh-token families.
    pub token: RawToken,
    /// Secrets given explicitly (otherwise generated into the data directory).
    pub secrets: RawSecrets,
    /// Per-address and per-username rate limits.
    pub limits: crate::limits::RawLimits,
    /// Account lockout after repeated failed attempts.
    pub lockout: crate::limits::RawLockout,
    /// Reverse proxies trusted to name the client.
    pub proxy: crate::limits::RawProxy,
}

/// `[token]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawToken {
    /// Signing algorithm of new keys: `EdDSA` (Ed25519) or `HS256`.
    pub algorithm: String,
    /// Lifetime of an access token.
    pub access_ttl: String,
    /// Lifetime of a refresh-token family (the token session's absolute timeout).
    pub refresh_ttl: String,
    /// A family unused (no refresh, no access) this long ends.
    pub idle_timeout: String,
    /// How long a just-rotated refresh token still returns the same new pair.
    pub refresh_grace: String,
    /// Clock skew tolerated on `exp` and `nbf` (at most 30s).
    pub leeway: String,
    /// `iss` claim.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Where access tokens are read, in order of precedence: headers, cookies, query_string, json.
    pub locations: Vec<String>,
    /// Per path prefix, the locations read there instead (longest prefix wins).
    pub routes: std::collections::BTreeMap<String, Vec<String>>,
    /// With the cookies location, a request whose access cookie expires within this gets a new one.
    pub implicit_refresh_within: String,
    /// Also accept the refresh token as `refresh_token` in a JSON body.
    pub refresh_in_body: bool,
}

impl Default for RawToken {
    fn default() -> Self {
        Self {
            algorithm: "EdDSA".into(),
            access_ttl: "15m".into(),
            refresh_ttl: "7d".into(),
            idle_timeout: "7d".into(),
            refresh_grace: "10s".into(),
            leeway: "30s".into(),
            issuer: "portcullis".into(),
            audience: "portcullis".into(),
            locations: vec!["headers".into(), "cookies".into()],
            routes: std::collections::BTreeMap::new(),
            implicit_refresh_within: "5m".into(),
            refresh_in_body: false,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Address to listen on.
    pub bind: String,
    /// Directory for the SQLite database and generated secrets.
    pub data_dir: PathBuf,
    /// Largest accepted request body, in bytes.
    pub body_limit: u64,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: String,
    /// Longest a client may take to send a request head, from the connection's start (or, on a
    /// kept-alive connection, from the head's first byte); then the connection is closed.
    pub header_read_timeout: String,
    /// Longest a kept-alive connection may sit idle between requests.
    pub keep_alive_timeout: String,
    /// Most connections open at once; more are closed at once (keep under the open-file limit).
    pub max_connections: u32,
    /// Most connections open at once from one address (an IPv6 /64); trusted proxies excepted.
    pub max_connections_per_address: u32,
    /// The address users open (`scheme://host[:port]`): what the CSRF origin check compares a
    /// request's `Origin` with. Unset: derived from `Host` (and a trusted proxy's headers).
    pub public_origin: Option<String>,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8000".into(),
            data_dir: PathBuf::from("data"),
            body_limit: 64 * 1024,
            request_timeout: "10s".into(),
            header_read_timeout: "10s".into(),
            keep_alive_timeout: "60s".into(),
            max_connections: 10_000,
            max_connections_per_address: 256,
            public_origin: None,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    /// `sqlite://PATH` (one instance) or `postgres://...` (several instances); defaults to
    /// `portcullis.db` in the data directory.
    pub url: Option<String>,
    /// `redis://host:port/db`: rate limits and lockout shared by every instance, and revocations
    /// fanned out to every instance's session cache. Unset: both stay in this process.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    pub redis_prefix: String,
}

impl Default for RawStore {
    fn default() -> Self {
        Self { url: None, redis_url: None, redis_prefix: "portcullis:".into() }
    }
}

/// `[session]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSession {
    /// A session unused for this long ends.
    pub idle_timeout: String,
    /// A session ends this long after login, however active.
    pub absolute_timeout: String,
    /// `last_seen` is written at most once per this interval per session.
    pub touch_interval: String,
    /// How many sessions the in-process cache holds.
    pub cache_capacity: u64,
    /// How often expired sessions are deleted from the store.
    pub cleanup_interval: String,
    /// A login (or `POST /api/reauth`) counts as fresh for this long; password changes need it.
    pub fresh_for: String,
    /// Session protection: `off`, `basic` (a changed client makes the session not fresh) or
    /// `strong` (a changed client ends the session).
    pub protection: String,
    /// Bits of an IPv4 address in the protection fingerprint (0 leaves the address out).
    pub fingerprint_ipv4_prefix: u8,
    /// Bits of an IPv6 address in the protection fingerprint (0 leaves the address out).
    pub fingerprint_ipv6_prefix: u8,
    /// A remember-me cookie restores sessions for this long after login.
    pub remember_for: String,
    /// Name of the remember-me cookie.
    pub remember_cookie: String,
}

impl Default for RawSession {
    fn default() -> Self {
        Self {
            idle_timeout: "30m".into(),
            absolute_timeout: "24h".into(),
            touch_interval: "60s".into(),
            cache_capacity: 100_000,
            cleanup_interval: "1h".into(),
            fresh_for: "10m".into(),
            protection: "basic".into(),
            fingerprint_ipv4_prefix: 24,
            fingerprint_ipv6_prefix: 48,
            remember_for: "30d".into(),
            remember_cookie: "portcullis_remember".into(),
        }
    }
}

/// `[cookie]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCookie {
    /// Session cookie name; `__Host-` is prepended when `secure` is on.
    pub name: String,
    /// Send cookies only over HTTPS.
    pub secure: bool,
    /// `strict`, `lax` or `none` (`none` forces `secure`).
    pub same_site: String,
}

impl Default for RawCookie {
    fn default() -> Self {
        Self { name: "portcullis_session".into(), secure: false, same_site: "strict".into() }
    }
}

/// `[csrf]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCsrf {
    /// Require a CSRF token on unsafe methods (the origin check always runs).
    pub require_token: bool,
    /// Issue a new browser nonce at logout, ending tokens fetched before it.
    pub rotate_on_logout: bool,
    /// Name of the HttpOnly cookie holding the browser's CSRF nonce.
    pub cookie_name: String,
}

impl Default for RawCsrf {
    fn default() -> Self {
        Self { require_token: true, rotate_on_logout: false, cookie_name: "portcullis_csrf".into() }
    }
}

/// `[cors]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCors {
    /// Origins (`scheme://host[:port]`) allowed to call with credentials.
    pub allowed_origins: Vec<String>,
}

/// `[password]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPassword {
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub iterations: u32,
    /// argon2id lanes (OWASP: 1).
    pub parallelism: u32,
    /// Hashing threads; 0 means one per core.
    pub pool_size: usize,
    /// Hash jobs allowed to wait for a thread before requests get 503.
    pub queue: usize,
    /// Shortest password accepted at registration.
    pub min_length: usize,
    /// Longest password accepted.
    pub max_length: usize,
    /// Allow argon2 parameters below the OWASP minimum (tests only).
    pub danger_allow_weak_params: bool,
}

impl Default for RawPassword {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            pool_size: 0,
            queue: 64,
            min_length: 8,
            max_length: 128,
            danger_allow_weak_params: false,
        }
    }
}

/// `[accounts]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAccounts {
    /// Allow `POST /api/register`.
    pub registration: bool,
    /// Give the first account ever registered the `admin` role.
    pub first_user_admin: bool,
    /// Audit-log rows older than this are deleted.
    pub audit_retention: String,
    /// Accept only ASCII usernames (after width mapping) for new accounts.
    pub username_ascii_only: bool,
    /// Accept new usernames that mix scripts (e.g. Latin with Cyrillic), which UTS #39 refuses.
    pub username_allow_mixed_scripts: bool,
}

impl Default for RawAccounts {
    fn default() -> Self {
        Self {
            registration: true,
            first_user_admin: false,
            audit_retention: "90d".into(),
            username_ascii_only: false,
            username_allow_mixed_scripts: false,
        }
    }
}

/// `[spa]`
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSpa {
    /// Directory holding the SPA's `index.html` and assets; the built-in SPA when unset.
    pub dir: Option<PathBuf>,
    /// A Jinja template in `dir` rendered as the page instead of `index.html`, e.g.
    /// `templates/index.html` (a Flask app's); it may call `csrf_token()` and `url_for('static', ...)`.
    pub template: Option<PathBuf>,
    /// With `template`: the folder in `dir` whose files are served (Flask's `static_folder`);
    /// default `static`. Nothing else of `dir` is served.
    pub static_dir: Option<PathBuf>,
    /// With `template`: the URL path those files are served under (Flask's `static_url_path`);
    /// default `/` + the folder's name, e.g. `/public`.
    pub static_url: Option<String>,
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `portcullis=debug`.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self { format: "text".into(), level: "info".into() }
    }
}

/// `[secrets]`
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSecrets {
    /// Key for CSRF tokens: base64 of at least 32 bytes. Generated into the data dir when unset.
    pub csrf_key: Option<String>,
    /// Access-token signing keys: the JSON of a `jwt-keys.json` file. Read from the data dir
    /// (generated on first start) when unset.
    pub jwt_keys: Option<String>,
    /// Key of the refresh-token MACs: base64 of at least 32 bytes. Generated when unset.
    pub refresh_key: Option<String>,
}

impl fmt::Debug for RawSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSecrets").field("csrf_key", &self.csrf_key.as_ref().map(|_| "[redacted]")).finish()
    }
}

/// Every problem found while loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .problems.join("\n  "))]
pub struct ConfigError {
    /// One line per problem, each naming its key.
    pub problems: Vec<String>,
}

/// Which keys the file or the environment set, as opposed to those left at their defaults.
#[derive(Debug, Clone)]
pub struct Sources(Figment);

impl Sources {
    /// Where `key` (e.g. `store.url`) was set — `in FILE` or `by PORTCULLIS_STORE__URL` — or
    /// `None` when it was not set and has its default.
    pub fn origin_of(&self, key: &str) -> Option<String> {
        let metadata = self.0.find_metadata(key)?;
        Some(match &metadata.source {
            Some(figment::Source::File(path)) => format!("in {}", path.display()),
            _ if metadata.name.contains("environment") => {
                format!("by PORTCULLIS_{}", key.replace('.', "__").to_ascii_uppercase())
            }
            _ => format!("by {}", metadata.name),
        })
    }
}

impl RawConfig {
    /// Reads `path` (when given) and overlays `PORTCULLIS_SECTION__KEY` variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_sources(path).map(|(raw, _)| raw)
    }

    /// [`load`](Self::load), also telling which keys were set and where.
    pub fn load_with_sources(path: Option<&Path>) -> Result<(Self, Sources), ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError { problems: vec![format!("config file {} does not exist", path.display())] });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("PORTCULLIS_").split("__").ignore(&["config"]));
        let raw = figment
            .extract()
            .map_err(|err| ConfigError { problems: err.into_iter().map(|e| e.to_string()).collect() })?;
        Ok((raw, Sources(figment)))
    }

    /// This configuration as TOML with every secret replaced by `[redacted]`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [&mut shown.secrets.csrf_key, &mut shown.secrets.jwt_keys, &mut shown.secrets.refresh_key] {
            if secret.is_some() {
                *secret = Some("[redacted]".into());
            }
        }
        for url in [&mut shown.store.url, &mut shown.store.redis_url].into_iter().flatten() {
            *url = redact_url_password(url);
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Checks every value and produces the typed configuration.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let mut p = Problems::default();
        let bind = p.check(
            "server.bind",
            self.server
                .bind
                .parse::<SocketAddr>()
                .map_err(|e| format!("`{}` is not an address like 127.0.0.1:8000 ({e})", self.server.bind)),
        );
        if !(1024..=16 * 1024 * 1024).contains(&self.server.body_limit) {
            p.push("server.body_limit", "must be between 1024 and 16777216 bytes");
        }
        let request_timeout = p.duration("server.request_timeout", &self.server.request_timeout);
        let header_read_timeout = p.duration("server.header_read_timeout", &self.server.header_read_timeout);
        let keep_alive_timeout = p.duration("server.keep_alive_timeout", &self.server.keep_alive_timeout);
        if self.server.max_connections == 0 {
            p.push("server.max_connections", "must be at least 1");
        }
        if !(1..=self.server.max_connections.max(1)).contains(&self.server.max_connections_per_address) {
            p.push("server.max_connections_per_address", "must be between 1 and server.max_connections");
        }
        let idle = p.duration("session.idle_timeout", &self.session.idle_timeout);
        let absolute = p.duration("session.absolute_timeout", &self.session.absolute_timeout);
        let touch = p.duration("session.touch_interval", &self.session.touch_interval);
        let cleanup = p.duration("session.cleanup_interval", &self.session.cleanup_interval);
        let fresh_for = p.duration("session.fresh_for", &self.session.fresh_for);
        let remember_for = p.duration("session.remember_for", &self.session.remember_for);
        let audit_retention = p.duration("accounts.audit_retention", &self.accounts.audit_retention);
        let protection = p.check("session.protection", Protection::parse(&self.session.protection));
        if self.session.fingerprint_ipv4_prefix > 32 {
            p.push("session.fingerprint_ipv4_prefix", "must be between 0 and 32");
        }
        if self.session.fingerprint_ipv6_prefix > 128 {
            p.push("session.fingerprint_ipv6_prefix", "must be between 0 and 128");
        }
        if !is_cookie_name(&self.session.remember_cookie) {
            p.push("session.remember_cookie", "must be 1-64 letters, digits, '_' or '-'");
        }
        if let (Some(idle), Some(absolute)) = (idle, absolute) {
            if absolute < idle {
                p.push("session.absolute_timeout", "must not be shorter than session.idle_timeout");
            }
        }
        if let (Some(idle), Some(touch)) = (idle, touch) {
            if touch >= idle {
                p.push("session.touch_interval", "must be shorter than session.idle_timeout");
            }
        }
        if self.session.cache_capacity == 0 {
            p.push("session.cache_capacity", "must be at least 1");
        }
        let same_site = p.check("cookie.same_site", SameSite::parse(&self.cookie.same_site));
        for (key, name) in [("cookie.name", &self.cookie.name), ("csrf.cookie_name", &self.csrf.cookie_name)] {
            if !is_cookie_name(name) {
                p.push(key, "must be 1-64 letters, digits, '_' or '-'");
            }
        }
        if self.cookie.name == self.csrf.cookie_name {
            p.push("csrf.cookie_name", "must differ from cookie.name");
        }
        let public_origin = match &self.server.public_origin {
            Some(origin) => p.check("server.public_origin", normalize_origin(origin)),
            None => None,
        };
        let mut allowed_origins = Vec::new();
        for (i, origin) in self.cors.allowed_origins.iter().enumerate() {
            let key = format!("cors.allowed_origins[{i}]");
            if let Some(o) = p.check(&key, normalize_origin(origin)) {
                allowed_origins.push(o);
            }
        }
        let pw = &self.password;
        if !pw.danger_allow_weak_params && (pw.memory_kib < 19_456 || pw.iterations < 2) {
            p.push(
                "password.memory_kib",
                "argon2id below the OWASP minimum (19456 KiB, 2 iterations); set password.danger_allow_weak_params only in tests",
            );
        }
        if pw.memory_kib < 8 * pw.parallelism.max(1) || pw.iterations == 0 || !(1..=16).contains(&pw.parallelism) {
            p.push(
                "password.parallelism",
                "argon2id needs parallelism 1-16, iterations >= 1 and memory_kib >= 8 x parallelism",
            );
        }
        if pw.min_length == 0 || pw.min_length > pw.max_length {
            p.push("password.min_length", "must be at least 1 and not above password.max_length");
        }
        if pw.max_length > crate::password::MAX_PASSWORD_CHARS {
            p.push("password.max_length", "must not exceed 1024");
        }
        if pw.queue == 0 {
            p.push("password.queue", "must be at least 1");
        }
        let log_json = match self.log.format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                p.push("log.format", &format!("`{other}` is not one of: text, json"));
                false
            }
        };
        let store_url = self
            .store
            .url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.server.data_dir.join("portcullis.db").display()));
        if crate::store::Backend::of(&store_url).is_none() {
            p.push("store.url", "must be a sqlite:// or postgres:// URL");
        }
        let redis_url = self.store.redis_url.clone().filter(|u| !u.is_empty());
        if let Some(url) = &redis_url {
            if let Err(e) = ::redis::Client::open(url.as_str()) {
                p.push("store.redis_url", &format!("not a Redis URL: {e}"));
            }
        }
        if self.store.redis_prefix.is_empty() || self.store.redis_prefix.len() > 64 {
            p.push("store.redis_prefix", "must be 1 to 64 characters");
        }
        let csrf_key = match &self.secrets.csrf_key {
            Some(b64) => p.check("secrets.csrf_key", decode_key(b64)),
            None => None,
        };
        let refresh_key = match &self.secrets.refresh_key {
            Some(b64) => p.check("secrets.refresh_key", decode_key(b64)),
            None => None,
        };
        let jwt_keys = match &self.secrets.jwt_keys {
            Some(json) => p.check("secrets.jwt_keys", parse_key_file(json)),
            None => None,
        };
        if let Some(dir) = self.spa.dir.as_ref().filter(|_| self.spa.template.is_none()) {
            if !dir.join("index.html").is_file() {
                p.push("spa.dir", &format!("{} has no index.html (or set spa.template)", dir.display()));
            }
        }
        let spa_template = crate::template::validate(&self.spa).map_err(|problems| p.0.extend(problems)).ok().flatten();
        let token = self.token.validate(&mut p);
        let limits = crate::limits::LimitsConfig::from_raw(&self.limits, &self.lockout, &self.proxy)
            .map_err(|problems| p.0.extend(problems))
            .ok();
        if !p.0.is_empty() {
            return Err(ConfigError { problems: p.0 });
        }
        let same_site = same_site.unwrap_or(SameSite::Strict);
        // SameSite=None cookies are refused by browsers unless Secure.
        let secure = self.cookie.secure || same_site == SameSite::None;
        let zero = Duration::ZERO;
        Ok(Config {
            bind: bind.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))),
            data_dir: self.server.data_dir.clone(),
            body_limit: usize::try_from(self.server.body_limit).unwrap_or(usize::MAX),
            request_timeout: request_timeout.unwrap_or(zero),
            connections: crate::limits::ConnectionConfig {
                header_read_timeout: header_read_timeout.unwrap_or(zero),
                keep_alive_timeout: keep_alive_timeout.unwrap_or(zero),
                max_connections: usize::try_from(self.server.max_connections).unwrap_or(usize::MAX),
                max_connections_per_address: usize::try_from(self.server.max_connections_per_address)
                    .unwrap_or(usize::MAX),
            },
            store_url,
            redis_url,
            redis_prefix: self.store.redis_prefix.clone(),
            session: SessionConfig {
                idle_timeout: idle.unwrap_or(zero),
                absolute_timeout: absolute.unwrap_or(zero),
                touch_interval: touch.unwrap_or(zero),
                cache_capacity: self.session.cache_capacity,
                cleanup_interval: cleanup.unwrap_or(zero),
                fresh_for: fresh_for.unwrap_or(zero),
                protection: protection.unwrap_or(Protection::Strong),
                fingerprint_ipv4_prefix: self.session.fingerprint_ipv4_prefix,
                fingerprint_ipv6_prefix: self.session.fingerprint_ipv6_prefix,
                remember_for: remember_for.unwrap_or(zero),
                remember_cookie: if secure {
                    format!("__Host-{}", self.session.remember_cookie)
                } else {
                    self.session.remember_cookie.clone()
                },
            },
            cookie: CookieConfig {
                name: if secure { format!("__Host-{}", self.cookie.name) } else { self.cookie.name.clone() },
                csrf_name: if secure {
                    format!("__Host-{}", self.csrf.cookie_name)
                } else {
                    self.csrf.cookie_name.clone()
                },
                secure,
                same_site,
            },
            csrf: CsrfConfig { require_token: self.csrf.require_token, rotate_on_logout: self.csrf.rotate_on_logout },
            allowed_origins,
            public_origin,
            password: PasswordConfig {
                memory_kib: pw.memory_kib,
                iterations: pw.iterations,
                parallelism: pw.parallelism,
                pool_size: if pw.pool_size == 0 {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                } else {
                    pw.pool_size
                },
                queue: pw.queue,
                min_length: pw.min_length,
                max_length: pw.max_length,
            },
            registration: self.accounts.registration,
            first_user_admin: self.accounts.first_user_admin,
            username_rules: crate::username::UsernameRules {
                ascii_only: self.accounts.username_ascii_only,
                allow_mixed_scripts: self.accounts.username_allow_mixed_scripts,
            },
            audit_retention: audit_retention.unwrap_or(zero),
            spa_dir: self.spa.dir.clone(),
            spa_template,
            log_json,
            log_level: self.log.level.clone(),
            csrf_key,
            refresh_key,
            jwt_keys,
            token: token.unwrap_or_else(|| unreachable!("token config validated above")),
            limits: limits.unwrap_or_default(),
        })
    }
}

impl RawToken {
    fn validate(&self, p: &mut Problems) -> Option<TokenConfig> {
        let algorithm = match self.algorithm.as_str() {
            "EdDSA" | "eddsa" | "Ed25519" => Some(SigningAlg::EdDSA),
            "HS256" | "hs256" => Some(SigningAlg::HS256),
            other => {
                p.push("token.algorithm", &format!("`{other}` is not one of: EdDSA, HS256"));
                None
            }
        };
        let access_ttl = p.duration("token.access_ttl", &self.access_ttl);
        let refresh_ttl = p.duration("token.refresh_ttl", &self.refresh_ttl);
        let idle = p.duration("token.idle_timeout", &self.idle_timeout);
        let grace = p.check("token.refresh_grace", parse_duration(&self.refresh_grace));
        let leeway = p.check("token.leeway", parse_duration(&self.leeway));
        let implicit = p.check("token.implicit_refresh_within", parse_duration(&self.implicit_refresh_within));
        if leeway.is_some_and(|l| l > Duration::from_secs(30)) {
            p.push("token.leeway", "must be at most 30s");
        }
        if grace.is_some_and(|g| g > Duration::from_secs(60)) {
            p.push("token.refresh_grace", "must be at most 60s");
        }
        if let (Some(a), Some(r)) = (access_ttl, refresh_ttl) {
            if a >= r {
                p.push("token.access_ttl", "must be shorter than token.refresh_ttl");
            }
        }
        if let (Some(i), Some(r)) = (idle, refresh_ttl) {
            if i > r {
                p.push("token.idle_timeout", "must not exceed token.refresh_ttl");
            }
        }
        if let (Some(i), Some(a)) = (implicit, access_ttl) {
            if i >= a {
                p.push("token.implicit_refresh_within", "must be shorter than token.access_ttl");
            }
        }
        for (key, value) in [("token.issuer", &self.issuer), ("token.audience", &self.audience)] {
            if value.is_empty() || value.len() > 256 {
                p.push(key, "must be 1-256 characters");
            }
        }
        let locations = parse_locations("token.locations", &self.locations, p);
        let mut routes = Vec::new();
        for (prefix, list) in &self.routes {
            let key = format!("token.routes.\"{prefix}\"");
            if !prefix.starts_with('/') {
                p.push(&key, "a path prefix must start with /");
            }
            if let Some(l) = parse_locations(&key, list, p) {
                routes.push((prefix.clone(), l));
            }
        }
        // Longest prefix first, so the first match is the most specific.
        routes.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        Some(TokenConfig {
            algorithm: algorithm?,
            access_ttl: access_ttl?,
            refresh_ttl: refresh_ttl?,
            idle_timeout: idle?,
            refresh_grace: grace?,
            leeway: leeway?,
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            locations: locations?,
            routes,
            implicit_refresh_within: implicit?,
            refresh_in_body: self.refresh_in_body,
        })
    }
}

fn parse_locations(key: &str, list: &[String], p: &mut Problems) -> Option<Vec<TokenLocation>> {
    let mut out = Vec::new();
    for name in list {
        match TokenLocation::parse(name) {
            Some(l) if !out.contains(&l) => out.push(l),
            Some(_) => p.push(key, &format!("`{name}` is listed twice")),
            None => p.push(key, &format!("`{name}` is not one of: headers, cookies, query_string, json")),
        }
    }
    if out.is_empty() && list.is_empty() {
        p.push(key, "must name at least one location");
    }
    (out.len() == list.len()).then_some(out)
}

/// Where an access token may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>`.
    Headers,
    /// `access_token_cookie`, with double-submit CSRF on unsafe methods.
    Cookies,
    /// `?jwt=<token>` (risky: URLs end up in logs and history).
    QueryString,
    /// `{"access_token": ...}` in the JSON body of non-GET requests.
    Json,
}

impl TokenLocation {
    /// Parses a configuration name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "headers" => Some(Self::Headers),
            "cookies" => Some(Self::Cookies),
            "query_string" => Some(Self::QueryString),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Signing algorithm of access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// Ed25519 signatures; public keys published in the JWKS.
    EdDSA,
    /// HMAC-SHA256 with a shared secret; nothing is published.
    HS256,
}

/// Token mode settings.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Algorithm of new signing keys.
    pub algorithm: SigningAlg,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh family lifetime.
    pub refresh_ttl: Duration,
    /// Refresh family inactivity limit.
    pub idle_timeout: Duration,
    /// Grace window of a rotated refresh token.
    pub refresh_grace: Duration,
    /// Tolerated clock skew.
    pub leeway: Duration,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Default locations, in precedence order.
    pub locations: Vec<TokenLocation>,
    /// Per-prefix locations, longest prefix first.
    pub routes: Vec<(String, Vec<TokenLocation>)>,
    /// Implicit refresh threshold for access cookies.
    pub implicit_refresh_within: Duration,
    /// Accept `refresh_token` in a JSON body.
    pub refresh_in_body: bool,
}

impl TokenConfig {
    /// The locations read for `path`.
    pub fn locations_for(&self, path: &str) -> &[TokenLocation] {
        self.routes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map_or(&self.locations[..], |(_, l)| &l[..])
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, problem: &str) {
        self.0.push(format!("{key}: {problem}"));
    }
    fn check<T>(&mut self, key: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.push(key, &e)).ok()
    }
    fn duration(&mut self, key: &str, value: &str) -> Option<Duration> {
        let d = self.check(key, parse_duration(value))?;
        if d.is_zero() {
            self.push(key, "must be longer than zero");
            return None;
        }
        Some(d)
    }
}

/// Parses `500ms`, `30s`, `10m`, `24h` or `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not a duration (write e.g. 30s, 10m, 24h, 7d)");
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs)
        .filter(|&v| v <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{s}` is longer than ten years"))
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Normalizes `scheme://host[:port]` as browsers send it in `Origin` (lowercase, no default
/// port), refusing wildcards, paths and other schemes.
fn normalize_origin(origin: &str) -> Result<String, String> {
    if origin.contains('*') {
        return Err("wildcards are not allowed: credentials are sent, so list each origin".into());
    }
    let lower = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest, default_port) = if let Some(rest) = lower.strip_prefix("https://") {
        ("https", rest, ":443")
    } else if let Some(rest) = lower.strip_prefix("http://") {
        ("http", rest, ":80")
    } else {
        return Err(format!("`{origin}` must start with http:// or https://"));
    };
    let bad = || format!("`{origin}` must be scheme://host[:port] with no path");
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad());
    }
    let authority: http::uri::Authority = rest.parse().map_err(|_| bad())?;
    if authority.host().is_empty() || (rest.len() > authority.host().len() && authority.port_u16().is_none()) {
        return Err(bad());
    }
    Ok(format!("{scheme}://{}", rest.strip_suffix(default_port).unwrap_or(rest)))
}

fn decode_key(b64: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64.trim()))
        .map_err(|_| "is not valid base64".to_string())?;
    if bytes.len() < 32 {
        return Err("must decode to at least 32 bytes".into());
    }
    Ok(bytes)
}

fn parse_key_file(json: &str) -> Result<crate::token::keys::KeyFile, String> {
    let file: crate::token::keys::KeyFile =
        serde_json::from_str(json).map_err(|e| format!("is not the JSON of a key file ({e})"))?;
    if file.keys.is_empty() {
        return Err("holds no keys".into());
    }
    for key in &file.keys {
        crate::token::keys::LoadedKey::from_stored(key).map_err(|e| e.to_string())?;
    }
    Ok(file)
}

/// The cookie `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Never sent cross-site (deploy modes A and B).
    Strict,
    /// Sent on top-level navigations and same-site requests (mode C, same-site).
    Lax,
    /// Always sent; requires `Secure` (mode C, cross-site).
    None,
}

impl SameSite {
    fn parse(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(Self::Strict),
            "lax" => Ok(Self::Lax),
            "none" => Ok(Self::None),
            _ => Err(format!("`{s}` is not one of: strict, lax, none")),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listening address.
    pub bind: SocketAddr,
    /// Directory for the database and generated secrets.
    pub data_dir: PathBuf,
    /// Largest accepted body in bytes.
    pub body_limit: usize,
    /// Request deadline.
    pub request_timeout: Duration,
    /// Connection timeouts and caps.
    pub connections: crate::limits::ConnectionConfig,
    /// Store URL.
    pub store_url: String,
    /// Redis shared by several instances, if any.
    pub redis_url: Option<String>,
    /// Prefix of Redis keys and channels.
    pub redis_prefix: String,
    /// Session lifetimes.
    pub session: SessionConfig,
    /// Cookie attributes.
    pub cookie: CookieConfig,
    /// CSRF options.
    pub csrf: CsrfConfig,
    /// Normalized CORS origins.
    pub allowed_origins: Vec<String>,
    /// `server.public_origin`, normalized: the origin the CSRF origin check expects.
    pub public_origin: Option<String>,
    /// Password hashing and policy.
    pub password: PasswordConfig,
    /// `POST /api/register` enabled.
    pub registration: bool,
    /// First registered account becomes admin.
    pub first_user_admin: bool,
    /// What new usernames may be (`accounts.username_*`).
    pub username_rules: crate::username::UsernameRules,
    /// Audit-log retention.
    pub audit_retention: Duration,
    /// SPA directory, or the built-in SPA.
    pub spa_dir: Option<PathBuf>,
    /// The page template and its static files (`spa.template`), instead of `index.html`.
    pub spa_template: Option<crate::template::SpaTemplate>,
    /// Log as JSON lines.
    pub log_json: bool,
    /// Tracing filter.
    pub log_level: String,
    /// CSRF key given in the configuration, if any.
    pub csrf_key: Option<Vec<u8>>,
    /// Refresh MAC key given in the configuration, if any.
    pub refresh_key: Option<Vec<u8>>,
    /// Signing keys given in the configuration, if any.
    pub jwt_keys: Option<crate::token::keys::KeyFile>,
    /// Token mode.
    pub token: TokenConfig,
    /// Rate limits, lockout rules and trusted proxies.
    pub limits: crate::limits::LimitsConfig,
}

/// Session lifetimes.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Inactivity limit.
    pub idle_timeout: Duration,
    /// Limit from login.
    pub absolute_timeout: Duration,
    /// Minimum interval between `last_seen` writes.
    pub touch_interval: Duration,
    /// Cache entries.
    pub cache_capacity: u64,
    /// Interval of the expired-session sweep.
    pub cleanup_interval: Duration,
    /// How long a login stays fresh.
    pub fresh_for: Duration,
    /// What a changed client does to a session.
    pub protection: Protection,
    /// IPv4 bits in the fingerprint.
    pub fingerprint_ipv4_prefix: u8,
    /// IPv6 bits in the fingerprint.
    pub fingerprint_ipv6_prefix: u8,
    /// Remember-me series lifetime.
    pub remember_for: Duration,
    /// Remember-me cookie name (with `__Host-` when secure).
    pub remember_cookie: String,
}

/// Session protection against a stolen session cookie used from another client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// No fingerprint check.
    Off,
    /// A changed fingerprint makes the session not fresh (as Flask-Login's "basic").
    Basic,
    /// A changed fingerprint ends the session.
    Strong,
}

impl Protection {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(Self::Off),
            "basic" => Ok(Self::Basic),
            "strong" => Ok(Self::Strong),
            other => Err(format!("`{other}` is not one of off, basic, strong")),
        }
    }
}

/// Cookie attributes (names already carry `__Host-` when secure).
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// Session cookie name.
    pub name: String,
    /// CSRF nonce cookie name.
    pub csrf_name: String,
    /// `Secure` attribute.
    pub secure: bool,
    /// `SameSite` attribute.
    pub same_site: SameSite,
}

/// CSRF options.
#[derive(Debug, Clone)]
pub struct CsrfConfig {
    /// Require the token on unsafe methods.
    pub require_token: bool,
    /// New nonce at logout.
    pub rotate_on_logout: bool,
}

/// Password hashing and policy.
#[derive(Debug, Clone)]
pub struct PasswordConfig {
    /// argon2id memory in KiB.
    pub memory_kib: u32,
    /// argon2id iterations.
    pub iterations: u32,
    /// argon2id lanes.
    pub parallelism: u32,
    /// Hashing threads.
    pub pool_size: usize,
    /// Waiting jobs allowed.
    pub queue: usize,
    /// Minimum length at registration.
    pub min_length: usize,
    /// Maximum length.
    pub max_length: usize,
}

impl Config {
    /// The defaults, validated.
    pub fn defaults() -> Self {
        RawConfig::default().validate().unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
    }

    /// What the CSRF origin check accepts besides this site's own origin, and that origin if it
    /// is configured.
    pub fn origin_policy(&self) -> crate::csrf::OriginPolicy<'_> {
        crate::csrf::OriginPolicy { allowed: &self.allowed_origins, public_origin: self.public_origin.as_deref() }
    }
}

/// `scheme://user:password@host/...` with the password replaced by `[redacted]`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else { return url.to_owned() };
    match url[scheme_end..at].find(':') {
        Some(colon) => format!("{}[redacted]{}", &url[..scheme_end + colon + 1], &url[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_passwords_are_redacted() {
        assert_eq!(redact_url_password("postgres://app:s3cret@db:5432/auth"), "postgres://app:[redacted]@db:5432/auth");
        assert_eq!(redact_url_password("redis://:pw@cache/0"), "redis://:[redacted]@cache/0");
        assert_eq!(redact_url_password("postgres://app@db/auth"), "postgres://app@db/auth");
        assert_eq!(redact_url_password("sqlite:///data/p.db"), "sqlite:///data/p.db");
        assert_eq!(redact_url_password("redis://cache/0?x=a@b"), "redis://cache/0?x=a@b");
    }

    #[test]
    fn connection_caps_and_timeouts_are_checked() {
        let c = Config::defaults();
        assert_eq!(c.connections, crate::limits::ConnectionConfig::default());
        let mut raw = RawConfig::default();
        raw.server.header_read_timeout = "0s".into();
        raw.server.max_connections = 10;
        raw.server.max_connections_per_address = 11;
        let text = raw.validate().expect_err("invalid").to_string();
        assert!(text.contains("server.header_read_timeout") && text.contains("server.max_connections_per_address"));
        raw.server.max_connections = 0;
        assert!(raw.validate().expect_err("invalid").to_string().contains("server.max_connections:"));
    }

    #[test]
    fn defaults_are_valid_and_secure() {
        let c = Config::defaults();
        assert_eq!(c.session.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.cookie.same_site, SameSite::Strict);
        assert!(c.csrf.require_token);
        assert_eq!(c.password.memory_kib, 19_456);
    }

    #[test]
    fn every_problem_names_its_key() {
        let mut raw = RawConfig::default();
        raw.session.idle_timeout = "30x".into();
        raw.cookie.same_site = "sometimes".into();
        raw.cors.allowed_origins = vec!["*".into(), "http://ok.example".into(), "ftp://x".into()];
        raw.password.memory_kib = 1024;
        let err = raw.validate().expect_err("invalid");
        let text = err.to_string();
        for key in [
            "session.idle_timeout",
            "cookie.same_site",
            "cors.allowed_origins[0]",
            "cors.allowed_origins[2]",
            "password.memory_kib",
        ] {
            assert!(text.contains(key), "{key} missing from {text}");
        }
        assert_eq!(err.problems.len(), 5, "{text}");
    }

    #[test]
    fn origins_are_normalized_as_browsers_send_them() {
        let mut raw = RawConfig::default();
        raw.server.public_origin = Some("HTTP://App.Test:80/".into());
        raw.cors.allowed_origins = vec!["https://app.example:443".into(), "http://app.example:8080".into()];
        let c = raw.validate().expect("valid");
        assert_eq!(c.public_origin.as_deref(), Some("http://app.test"));
        assert_eq!(c.allowed_origins, ["https://app.example", "http://app.example:8080"]);
        for bad in ["app.test", "http://app.test/path", "http://app.test:port", "http://:81", "http://app.test:"] {
            raw.server.public_origin = Some(bad.into());
            let text = raw.validate().expect_err(bad).to_string();
            assert!(text.contains("server.public_origin"), "{bad}: {text}");
        }
    }

    #[test]
    fn same_site_none_forces_secure_and_host_prefix() {
        let mut raw = RawConfig::default();
        raw.cookie.same_site = "None".into();
        let c = raw.validate().expect("valid");
        assert!(c.cookie.secure);
        assert_eq!(c.cookie.name, "__Host-portcullis_session");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }
}
