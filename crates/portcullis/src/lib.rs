//! Portcullis: session-cookie authentication with CSRF protection for single-page apps, as an
//! axum library and the server built on it.
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | `portcullis.toml` + `PORTCULLIS_*` → validated [`Config`] |
//! | [`account`] | accounts and roles; registration, credential checks (a hash is verified on every path) |
//! | [`username`] | RFC 8265 names: PRECIS key, UTS #39 skeleton and single script, escapes for display |
//! | [`password`] | argon2id on a bounded pool, dummy hash for unknown users, legacy hash formats |
//! | [`session`] | opaque ids stored hashed, timeouts, freshness, protection, remember-me, hot-path cache |
//! | [`csrf`] | browser-bound tokens, origin / fetch-metadata check |
//! | [`token`] | JWT access tokens, signing keys and JWKS, rotating refresh families |
//! | [`auth`] | authentication as flows: login, establishing a session or token family, step-up, ending access; the gate (rate limits, lockout, audit); login challenges |
//! | [`limits`] | per-address and per-username token buckets, lockout windows, trusted proxies, connection caps |
//! | [`audit`] | security events to the store and to `tracing` |
//! | [`admin`] | account, role and audit administration |
//! | [`import`] | importing users with their existing password hashes |
//! | [`migrate`] | copying a whole store into another, verified (`portcullis store migrate`) |
//! | [`redirect`] | return-to (`next`) paths limited to this site |
//! | [`sealing`] | encryption at rest of stored secrets the server reads back (TOTP seeds), a rotatable key ring |
//! | [`template`] | the SPA's page as a Jinja template (a Flask app's `templates/index.html`), parsed once |
//! | [`store`] | one object-safe trait per stored capability, [`store::Stores`]; SQLite and Postgres share one SQL implementation; the conformance kit (`testkit` feature) |
//! | [`signal`] | changes made by another process (the CLI) reaching running servers within a second |
//! | [`cluster`] | what instances share through Redis (limits, revocations); dependency health |
//! | [`http`] | the router: seed-compatible `/api` routes, account, admin and token routes, guards, ops, SPA |
//!
//! # Embedding
//!
//! ```no_run
//! use portcullis::{Config, Portcullis};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = Config::defaults();
//! config.store_url = "sqlite://app-auth.db".into();
//! let auth = Portcullis::builder(config).build().await?;
//! // Portcullis answers /api/login, /api/logout, /api/data, ...; the host adds its own routes,
//! // and its handlers take `CurrentUser` to require a logged-in user.
//! async fn hello(portcullis::http::extract::CurrentUser(me): portcullis::http::extract::CurrentUser) -> String {
//!     format!("hello, {}", me.user().username)
//! }
//! let app = axum::Router::new()
//!     .route("/hello", axum::routing::get(hello))
//!     .with_state(auth.state())
//!     .merge(auth.api_router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! // The configured header deadline, idle limit and connection caps (`[server]`).
//! let connections = auth.connections().clone();
//! portcullis::http::serve_with(listener, app, connections, std::future::pending()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod account;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod csrf;
pub mod error;
pub mod http;
pub mod import;
pub mod limits;
pub mod migrate;
pub mod password;
pub mod redirect;
pub mod sealing;
pub mod secrets;
pub mod session;
pub mod signal;
pub mod store;
pub mod template;
pub mod token;
pub mod username;

use std::sync::Arc;

pub use account::Accounts;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use config::{Config, RawConfig};
pub use error::{Error, ErrorKind, Result};
pub use secrets::Secrets;
pub use session::SessionManager;

use crate::http::{cookies::CookieJar, spa::Spa, AppState, StateInner};
use crate::password::PasswordHasherPool;
use crate::store::Stores;

/// How often the store and Redis are checked while serving.
const HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// A configured Portcullis instance.
#[derive(Debug, Clone)]
pub struct Portcullis {
    state: AppState,
}

/// Builds a [`Portcullis`]; everything not given is derived from the configuration.
#[derive(Debug)]
pub struct Builder {
    config: Config,
    clock: Option<SharedClock>,
    secrets: Option<Secrets>,
    stores: Option<Stores>,
}

impl Builder {
    /// Reads time from `clock` (tests move a [`ManualClock`]).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses these secrets instead of the configured or generated ones.
    pub fn with_secrets(mut self, secrets: Secrets) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Uses these stores instead of opening `store.url`.
    pub fn with_stores(mut self, stores: Stores) -> Self {
        self.stores = Some(stores);
        self
    }

    /// Opens the store (applying migrations), loads secrets and prepares the hash pool.
    pub async fn build(self) -> Result<Portcullis> {
        let config = self.config;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let stores = match self.stores {
            Some(stores) => stores,
            None => {
                if matches!(store::Backend::of(&config.store_url), Some(store::Backend::Sqlite { .. })) {
                    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                        Error::internal(format!("creating data directory {}: {e}", config.data_dir.display()))
                    })?;
                }
                store::open(&config.store_url).await?
            }
        };
        let secrets = match self.secrets {
            Some(s) => s,
            None => Secrets::load_or_generate(&config)?,
        };
        let password_config = config.password.clone();
        // The dummy hash costs one argon2 run: off the async threads.
        let hasher = tokio::task::spawn_blocking(move || PasswordHasherPool::new(&password_config))
            .await
            .map_err(|e| Error::internal(format!("hash pool start-up: {e}")))??;
        let spa = match (&config.spa_dir, &config.spa_template) {
            (_, Some(template)) => Spa::from_template(template),
            (Some(dir), None) => {
                Spa::from_dir(dir).map_err(|e| Error::internal(format!("reading {}/index.html: {e}", dir.display())))?
            }
            (None, None) => Spa::builtin(),
        };
        let mut sessions = SessionManager::new(
            stores.clone(),
            Arc::clone(&clock),
            config.session.clone(),
            config.token.idle_timeout,
            config.token.refresh_ttl,
        );
        // While the store or a shared Redis is down, session checks answer 503 (fail closed).
        let store_health = cluster::Dependency::up("store");
        cluster::spawn_store_watch(&stores.health, Arc::clone(&store_health), HEALTH_EVERY);
        let mut dependencies = vec![store_health];
        let redis = match &config.redis_url {
            Some(url) => Some(cluster::Redis::new(url, &config.redis_prefix)?),
            None => None,
        };
        let limits = match &redis {
            Some(redis) => {
                let fanout = cluster::Fanout::start(redis.clone(), sessions.fanout_sink(), HEALTH_EVERY * 2).await;
                sessions = sessions.with_fanout(fanout);
                dependencies.push(Arc::clone(redis.health()));
                let backend = Arc::new(cluster::RedisLimits::new(redis.clone(), &config.limits));
                limits::Limits::with_backend(config.limits.clone(), backend)
            }
            None => limits::Limits::new(config.limits.clone()),
        };
        let sessions = sessions.with_dependencies(dependencies);
        let accounts = Accounts::new(Arc::clone(&stores.users), hasher, Arc::clone(&clock), config.password.clone())
            .with_username_rules(config.username_rules);
        let devices = limits::DeviceTokens::new(&secrets.refresh_key, config.limits.device_ttl);
        let tokens =
            token::TokenService::new(config.token.clone(), Arc::clone(&clock), &secrets.jwt_keys, secrets.refresh_key)?;
        let audit = audit::Audit::new(Arc::clone(&stores.audit), Arc::clone(&clock));
        let limits = Arc::new(limits);
        // A change made by the CLI or another instance reaches this one within a second.
        signal::Watch::start(stores.clone(), sessions.clone(), Arc::clone(&limits)).await?.spawn(HEALTH_EVERY);
        let gate = auth::Gate::new(accounts.clone(), limits, audit.clone(), Arc::clone(&clock), devices);
        let tokens = Arc::new(tokens);
        let challenges = auth::challenge::Challenges::new(
            Arc::clone(&stores.challenges),
            Arc::clone(&clock),
            config.session.clone(),
        );
        let auth = auth::Auth::new(gate, sessions.clone(), Arc::clone(&tokens), challenges);
        let connections =
            limits::ConnectionGate::new(config.connections.clone(), config.limits.trusted_proxies.clone());
        Ok(Portcullis {
            state: AppState::new(StateInner {
                tokens,
                cookies: CookieJar::new(config.cookie.clone(), config.session.remember_cookie.clone()),
                csrf: secrets.csrf_key,
                config,
                stores,
                clock,
                sessions,
                accounts,
                spa,
                audit,
                auth,
                redis,
                connections,
            }),
        })
    }
}

impl Portcullis {
    /// Starts building an instance from a validated configuration.
    pub fn builder(config: Config) -> Builder {
        Builder { config, clock: None, secrets: None, stores: None }
    }

    /// The full server router: `/api`, `/healthz`, `/readyz` and the SPA on every other path.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone(), true)
    }

    /// The routes without the SPA fallback, to merge into a host app that has its own pages.
    pub fn api_router(&self) -> axum::Router {
        http::router(self.state.clone(), false)
    }

    /// The state the extractors ([`http::extract::CurrentUser`], ...) read; give it to the host's
    /// routes with `.with_state(..)`, or implement `FromRef<HostState>` for it.
    pub fn state(&self) -> http::AppState {
        self.state.clone()
    }

    /// Account operations (used by the CLI).
    pub fn accounts(&self) -> &Accounts {
        &self.state.accounts
    }

    /// Session operations.
    pub fn sessions(&self) -> &SessionManager {
        &self.state.sessions
    }

    /// The stores, one per capability.
    pub fn stores(&self) -> &Stores {
        &self.state.stores
    }

    /// The validated configuration.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// The audit log.
    pub fn audit(&self) -> &audit::Audit {
        &self.state.audit
    }

    /// Administration of accounts, roles and the audit log (used by the CLI).
    pub fn console(&self) -> admin::Console<'_> {
        self.state.console()
    }

    /// The connection caps and counters; give it to [`http::serve_with`].
    pub fn connections(&self) -> &limits::ConnectionGate {
        &self.state.connections
    }

    /// Spawns the background sweep of expired sessions, remember-me series and old audit rows.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let sessions = self.state.sessions.clone();
        let audit = self.state.audit.clone();
        let retention = self.state.config.audit_retention;
        let every = self.state.config.session.cleanup_interval;
        let signal_store = Arc::clone(&self.state.stores.signals);
        let challenges = self.state.auth.challenges().clone();
        let clock = Arc::clone(&self.state.clock);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match sessions.sweep().await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "expired sessions removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "session sweep failed"),
                }
                let before = clock.now() - signal::KEEP_FOR;
                if let Err(e) = signal_store.delete_signals_before(before).await {
                    tracing::warn!(error = %e, "signal sweep failed");
                }
                if let Err(e) = challenges.sweep().await {
                    tracing::warn!(error = %e, "login challenge sweep failed");
                }
                match audit.sweep(retention).await {
                    Ok(n) if n > 0 => tracing::info!(deleted = n, "audit rows past retention removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "audit sweep failed"),
                }
            }
        })
    }
}
