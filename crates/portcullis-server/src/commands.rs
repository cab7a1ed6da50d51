//! What each command does; wiring only, the logic is in the library.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use portcullis::audit::{Event, Subject};
use portcullis::config::{RawConfig, Sources};
use portcullis::password::Password;
use portcullis::secrets::Origin;
use portcullis::store::Backend;
use portcullis::{Config, Portcullis, Secrets};

use crate::cli::{Cli, Command, ConfigCommand, KeysCommand, StoreCommand, UserCommand};

pub fn run(cli: Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { bind, demo } => serve(cli.config.as_deref(), bind, demo).await,
            Command::User { command } => user(cli.config.as_deref(), command).await,
            Command::Config { command: ConfigCommand::Check } => config_check(cli.config.as_deref()),
            Command::Openapi => openapi(),
            Command::Keys { command: KeysCommand::Rotate } => keys_rotate(cli.config.as_deref()),
            Command::Store { command: StoreCommand::Migrate { from, to } } => store_migrate(&from, &to).await,
        }
    })
}

fn openapi() -> Result<()> {
    let document = portcullis::http::openapi::document();
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &document)?;
    writeln!(out)?;
    Ok(())
}

async fn store_migrate(from: &str, to: &str) -> Result<()> {
    let shown = |url: &str| portcullis::config::redact_url_password(url);
    if from == to {
        bail!("--from and --to name the same store");
    }
    if let Some(Backend::Sqlite { file: Some(path) }) = Backend::of(from) {
        // Opening would create an empty database: refuse a mistyped path instead.
        if !path.is_file() {
            bail!("--from {}: no such database file", shown(from));
        }
    }
    let source = portcullis::store::open(from).await.with_context(|| format!("opening {}", shown(from)))?;
    let target = portcullis::store::open(to).await.with_context(|| format!("opening {}", shown(to)))?;
    let copied = portcullis::migrate::copy(&source, &target)
        .await
        .with_context(|| format!("copying {} into {}", shown(from), shown(to)))?;
    println!("copied and verified: {copied}");
    Ok(())
}

fn load(path: Option<&Path>) -> Result<(RawConfig, Config)> {
    let raw = RawConfig::load(path)?;
    let config = raw.validate()?;
    Ok((raw, config))
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).unwrap_or_else(|e| {
        eprintln!("portcullis: log.level `{}` is not a valid filter ({e}); logging at info", config.log_level);
        tracing_subscriber::EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(path: Option<&Path>, bind: Option<std::net::SocketAddr>, demo: bool) -> Result<()> {
    let (raw, sources) = RawConfig::load_with_sources(path)?;
    let mut config = raw.validate()?;
    init_logging(&config);
    let demo_dir = if demo { Some(demo_store(&mut config, &sources)?) } else { None };
    // The command line wins over the file and the environment.
    if let Some(bind) = bind {
        config.bind = bind;
    }
    if demo && !config.bind.ip().is_loopback() {
        tracing::warn!(bind = %config.bind, "demo mode on a non-loopback address: anyone who reaches it can log in as test / test");
    }
    if !config.cookie.secure && !config.bind.ip().is_loopback() {
        tracing::warn!(bind = %config.bind, "cookie.secure is off on a non-loopback address: serve over HTTPS and turn it on");
    }
    if let Some(limit) = open_file_limit() {
        // The connection cap only protects the server if accept() never runs out of descriptors
        // first; leave room for the store, Redis, the SPA files and the log.
        let wanted = u64::try_from(config.connections.max_connections).unwrap_or(u64::MAX).saturating_add(64);
        if limit < wanted {
            tracing::warn!(
                limit,
                max_connections = config.connections.max_connections,
                "the open-file limit is below server.max_connections + 64: raise it (ulimit -n, LimitNOFILE=) or lower server.max_connections"
            );
        }
    }
    let secrets = if demo {
        Secrets::configured_or_ephemeral(&config)
    } else {
        let secrets = Secrets::load_or_generate(&config)?;
        let dir = config.data_dir.display();
        match secrets.csrf_origin {
            Origin::Generated => tracing::info!(%dir, "generated new secrets into the data directory"),
            Origin::Loaded => tracing::info!(%dir, "using the secrets in the data directory"),
            Origin::Configured | Origin::Ephemeral => {}
        }
        secrets
    };
    let auth = Portcullis::builder(config.clone()).with_secrets(secrets).build().await?;
    if demo {
        // The seed app's demo account; it exists only in demo mode.
        auth.accounts()
            .create("test", &Password::new("test"), None, Vec::new())
            .await
            .context("creating the demo user")?;
    }
    let listener =
        tokio::net::TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    // A closed stdout (a supervisor that stopped reading) must not stop the server.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Portcullis listening on http://{addr}");
    let store = portcullis::config::redact_url_password(&config.store_url);
    let kept = if demo { " (temporary, deleted at exit)" } else { "" };
    let _ = writeln!(out, "Store: {store}{kept}");
    if let Some(redis) = &config.redis_url {
        let _ = writeln!(out, "Redis: {}", portcullis::config::redact_url_password(redis));
    }
    if demo {
        let _ = writeln!(out, "Demo mode: temporary database, ephemeral secrets; log in as test / test");
    }
    let _ = out.flush();
    drop(out);
    auth.spawn_maintenance();
    portcullis::http::serve_with(listener, auth.router(), auth.connections().clone(), shutdown_signal()).await?;
    drop(demo_dir);
    Ok(())
}

/// `--demo`: a temporary database of its own, deleted at exit; every other setting (the
/// address, secrets, limits, ...) as the file and the environment give it.
fn demo_store(config: &mut Config, sources: &Sources) -> Result<tempfile::TempDir> {
    // The demo creates the account test / test: in a store that outlives the demo, that would be
    // a well-known password left in a real database. So a configured store is refused, not used.
    for key in ["store.url", "server.data_dir"] {
        if let Some(origin) = sources.origin_of(key) {
            bail!(
                "{key} is set ({origin}), but --demo runs on a temporary database of its own and creates the \
                 account test / test, which must not land in a store that is kept: drop --demo, or unset {key}"
            );
        }
    }
    let dir = tempfile::Builder::new().prefix("portcullis-demo-").tempdir()?;
    config.data_dir = dir.path().to_path_buf();
    config.store_url = format!("sqlite://{}", dir.path().join("demo.db").display());
    Ok(dir)
}

/// The soft open-file limit, where the system tells it (Linux `/proc/self/limits`).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn read_password(from_stdin: bool, prompt: &str) -> Result<Password> {
    let line = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password(prompt)?;
        let again = rpassword::prompt_password("Repeat it: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    };
    if line.is_empty() {
        bail!("the password is empty");
    }
    Ok(Password::new(line))
}

async fn user(path: Option<&Path>, command: UserCommand) -> Result<()> {
    let (_, config) = load(path)?;
    let auth = Portcullis::builder(config).with_secrets(Secrets::ephemeral()).build().await?;
    let accounts = auth.accounts();
    match command {
        UserCommand::Add { name, password_stdin, admin } => {
            let password = read_password(password_stdin, "Password: ")?;
            if let Some(problem) = accounts.password_problem(&name, &password) {
                bail!("password {problem}");
            }
            let roles = if admin { vec!["admin".to_owned()] } else { Vec::new() };
            let user = accounts.create(&name, &password, None, roles).await?;
            let what = Event::UserCreated { by: "cli", roles: &user.roles };
            auth.audit().record(what, Subject::user(user.id, &user.username), None).await;
            println!("created user {} ({})", portcullis::username::escaped(&user.username), user.id);
        }
        UserCommand::Passwd { name, password_stdin } => {
            let password = read_password(password_stdin, "New password: ")?;
            if let Some(problem) = accounts.password_problem(&name, &password) {
                bail!("password {problem}");
            }
            let user = accounts.set_password(&name, &password).await?;
            // Remember-me series too: a cookie would otherwise bring a session back.
            let ended = auth.sessions().end_all_access(user.id, None, None, "password_changed").await?;
            let what = Event::PasswordChanged { by: "cli", sessions_ended: ended.sessions };
            auth.audit().record(what, Subject::user(user.id, &user.username), None).await;
            println!(
                "password changed for {}; {} session(s) ended",
                portcullis::username::escaped(&user.username),
                ended.sessions
            );
        }
        UserCommand::Unlock { name } => {
            let user = auth
                .stores()
                .users
                .user_by_username(&name)
                .await?
                .with_context(|| format!("no account named {name}"))?;
            let client = portcullis::session::ClientInfo::default();
            let actor = portcullis::admin::Actor { id: uuid::Uuid::nil(), username: "cli", client: &client };
            auth.console().unlock(actor, user.id).await?;
            println!("unlocked {}; running servers apply it within a second", user.username);
        }
        UserCommand::List => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{:<36}  {:<24}  {:<8}  roles", "id", "username", "disabled")?;
            for u in accounts.list().await? {
                // Invisible characters show as `\u{…}`: a look-alike cannot pass for the real name.
                let name = portcullis::username::escaped(&u.username);
                writeln!(out, "{:<36}  {:<24}  {:<8}  {}", u.id, name, u.disabled, u.roles.join(","))?;
            }
        }
        UserCommand::Names => {
            let report = portcullis::store::usernames::collisions(&auth.config().store_url).await?;
            if report.collisions.is_empty() {
                println!("no username collisions");
            }
            for collision in &report.collisions {
                println!("{collision}");
            }
        }
        UserCommand::Import { file } => {
            let input =
                tokio::fs::read_to_string(&file).await.with_context(|| format!("reading {}", file.display()))?;
            let report = accounts.import(&input).await?;
            let format = report.format.map(|f| format!("{f:?}"));
            let what = Event::UsersImported {
                by: "cli",
                format: format.as_deref(),
                imported: report.imported,
                skipped: report.skipped.len(),
            };
            auth.audit().record(what, Subject::default(), None).await;
            println!("imported {} users, skipped {}", report.imported, report.skipped.len());
            // Reasons name the problem, never the hash.
            for skipped in &report.skipped {
                eprintln!("line {}: {}", skipped.line, skipped.reason);
            }
            if report.imported == 0 && !report.skipped.is_empty() {
                bail!("no account was imported from {}", file.display());
            }
        }
    }
    Ok(())
}

fn config_check(path: Option<&Path>) -> Result<()> {
    let raw = RawConfig::load(path)?;
    print!("{}", raw.to_redacted_toml());
    raw.validate()?;
    eprintln!("configuration is valid");
    Ok(())
}

fn keys_rotate(path: Option<&Path>) -> Result<()> {
    use portcullis::token::keys::KeyFile;
    let (_, config) = load(path)?;
    if config.jwt_keys.is_some() {
        bail!("secrets.jwt_keys is set in the configuration or environment: rotate the keys there");
    }
    let file_path = Secrets::jwt_keys_path(&config);
    let now = time_now();
    let mut keys = KeyFile::load_or_create(&file_path, config.token.algorithm, now)?;
    // A retired key stays until no token it signed can still be valid.
    keys.rotate(config.token.algorithm, now, config.token.access_ttl + config.token.leeway);
    keys.save(&file_path)?;
    let kids: Vec<_> = keys.keys.iter().map(|k| k.kid.as_str()).collect();
    println!("new signing key {}; keys kept: {}", kids.last().copied().unwrap_or("-"), kids.join(", "));
    println!("restart the server to sign with the new key");
    Ok(())
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
