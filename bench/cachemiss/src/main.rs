//! `cache-miss [--sessions N] [--concurrency C] [--runs R] [--store URL]`: session checks that
//! miss the in-process cache, i.e. what the store costs when a session is validated for the
//! first time in a process (the session row, then its account with roles and permissions).
//!
//! Instance A opens the store (`--store`, default a fresh SQLite file `sqlite://<tmp>/bench.db`),
//! creates two roles of three permissions each, one account holding both, and N sessions for it.
//! Then, R times: a fresh instance B over the same store (its session cache empty) validates
//! every session exactly once, in a new random order, from C concurrent tasks; the whole pass is
//! timed. Every check must find its live session with the account's two roles and six
//! permissions, or the program stops with exit status 1.
//!
//! Only the public API is used (`Portcullis::builder`, `console()`, `sessions()`), so the bench
//! keeps working whatever the store does underneath. Prints one line per run,
//! `run=I misses=N seconds=S rate=R`, then `summary: cache_miss_per_s=<median rate>`; progress
//! goes to stderr.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis::account::{Role, User};
use portcullis::admin::{Actor, NewAccount};
use portcullis::config::RawConfig;
use portcullis::password::Password;
use portcullis::session::{ClientInfo, LoginMethod};
use portcullis::{Config, Portcullis};
use rand::seq::SliceRandom;

const USAGE: &str = "usage: cache-miss [--sessions N] [--concurrency C] [--runs R] [--store URL]

  --sessions N     sessions created, each validated once per run (default 10000)
  --concurrency C  tasks validating at the same time (default 8)
  --runs R         passes, each on a fresh instance; the median rate is kept (default 3)
  --store URL      sqlite://PATH or postgres://... (default: a fresh temporary SQLite file)";

/// The bench account's roles and what each grants.
const ROLES: [(&str, [&str; 3]); 2] = [
    ("bench-reader", ["docs:list", "docs:read", "comments:read"]),
    ("bench-writer", ["docs:write", "docs:delete", "comments:write"]),
];

struct Args {
    sessions: usize,
    concurrency: usize,
    runs: usize,
    store: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { sessions: 10_000, concurrency: 8, runs: 3, store: None };
    let mut given = std::env::args().skip(1);
    while let Some(arg) = given.next() {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let (name, value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = given.next().ok_or_else(|| format!("{arg} needs a value"))?;
                (arg, value)
            }
        };
        let count = |value: &str| match value.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!("{name} must be a whole number of at least 1, not `{value}`")),
        };
        match name.as_str() {
            "--sessions" => args.sessions = count(&value)?,
            "--concurrency" => args.concurrency = count(&value)?,
            "--runs" => args.runs = count(&value)?,
            "--store" => args.store = Some(value),
            _ => return Err(format!("unknown argument {name}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A configuration over `store_url` with its secrets in `data_dir`.
fn config(store_url: &str, data_dir: &std::path::Path) -> Result<Config, String> {
    let mut raw = RawConfig::default();
    raw.server.data_dir = data_dir.to_path_buf();
    raw.store.url = Some(store_url.to_owned());
    // Hashing is not what is measured: the account is created with cheap argon2 parameters.
    raw.password.memory_kib = 64;
    raw.password.iterations = 1;
    raw.password.danger_allow_weak_params = true;
    // `last_seen` is written at most once per touch interval: with an hour, no check in a pass
    // writes, so a pass is the reads of a cache miss and nothing else, however long the runs.
    raw.session.idle_timeout = "2h".into();
    raw.session.touch_interval = "1h".into();
    raw.validate().map_err(|e| e.to_string())
}

fn client() -> ClientInfo {
    ClientInfo { ip: Some("127.0.0.1".into()), user_agent: Some("portcullis-bench-cachemiss".into()) }
}

/// Instance A: the roles, the account and `n` sessions, created from `concurrency` tasks.
/// Returns the sessions' hashes and the account as the store keeps it.
async fn prepare(config: Config, n: usize, concurrency: usize) -> Result<(Vec<[u8; 32]>, User), String> {
    let a = Portcullis::builder(config).build().await.map_err(|e| format!("opening the store: {e}"))?;
    let admin_client = client();
    // Audit rows name this as the admin who did it; no account is needed for that.
    let actor = Actor { id: uuid::Uuid::nil(), username: "cache-miss", client: &admin_client };
    for (name, permissions) in ROLES {
        let role = Role {
            name: name.into(),
            description: Some("cache-miss bench".into()),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
        };
        a.console().create_role(actor, role).await.map_err(|e| format!("creating role {name}: {e}"))?;
    }
    let account = NewAccount {
        username: "bench".into(),
        password: Password::new("bench-cachemiss-password"),
        email: None,
        roles: ROLES.iter().map(|(name, _)| (*name).to_owned()).collect(),
    };
    let user = a.console().create_user(actor, account).await.map_err(|e| format!("creating the account: {e}"))?;
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (a, user, next) = (a.clone(), user.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                let mut hashes = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let (secret, _) = a.sessions().create(&user, client(), LoginMethod::Password).await?;
                    hashes.push(secret.hash());
                }
                Ok::<_, portcullis::Error>(hashes)
            })
        })
        .collect();
    let mut hashes = Vec::with_capacity(n);
    for task in tasks {
        let created = task.await.map_err(|e| format!("session task: {e}"))?;
        hashes.extend(created.map_err(|e| format!("creating a session: {e}"))?);
    }
    Ok((hashes, user))
}

/// What the checks of one task found.
#[derive(Default)]
struct Tally {
    live: usize,
    missing: usize,
    wrong_user: usize,
    errors: usize,
    first_error: Option<String>,
}

/// One pass on a fresh instance B: every session of `order` validated once from `concurrency`
/// tasks. Returns the time the whole pass took.
async fn pass(config: Config, order: Arc<Vec<[u8; 32]>>, concurrency: usize, user: &User) -> Result<Duration, String> {
    let b = Portcullis::builder(config).build().await.map_err(|e| format!("opening the store: {e}"))?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (b, order, next) = (b.clone(), Arc::clone(&order), Arc::clone(&next));
            let (id, roles, permissions) = (user.id, user.roles.clone(), user.permissions.clone());
            tokio::spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(hash) = order.get(i) else { break };
                    match b.sessions().validate(hash).await {
                        Ok(Some(live)) => {
                            let found = live.user();
                            if found.id == id && found.roles == roles && found.permissions == permissions {
                                tally.live += 1;
                            } else {
                                tally.wrong_user += 1;
                            }
                        }
                        Ok(None) => tally.missing += 1,
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.map_err(|e| format!("validation task: {e}"))?;
        total.live += tally.live;
        total.missing += tally.missing;
        total.wrong_user += tally.wrong_user;
        total.errors += tally.errors;
        total.first_error = total.first_error.or(tally.first_error);
    }
    let elapsed = start.elapsed();
    if total.live != order.len() {
        return Err(format!(
            "{} of {} checks found their live session: {} not found, {} with the wrong account, {} errors{}",
            total.live,
            order.len(),
            total.missing,
            total.wrong_user,
            total.errors,
            total.first_error.map(|e| format!(" (first: {e})")).unwrap_or_default()
        ));
    }
    Ok(elapsed)
}

/// A runtime of its own for each instance: an instance's background tasks (store probe, signal
/// poll) hold its store and never end, so an instance is only gone when its runtime is.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))
}

/// A store URL without its user and password.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if rest.contains('@') => {
            format!("{scheme}://…@{}", rest.rsplit_once('@').map_or(rest, |(_, host)| host))
        }
        _ => url.to_owned(),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn run(args: Args) -> Result<(), String> {
    // SQLite by default: a file in a directory removed at exit, which also holds the secrets.
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let store_url = match &args.store {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let config = config(&store_url, dir.path())?;
    eprintln!(
        "[cache-miss] store {}, {} sessions, concurrency {}, {} runs",
        shown(&store_url),
        args.sessions,
        args.concurrency,
        args.runs
    );

    let started = Instant::now();
    let setup = runtime()?;
    let (mut hashes, user) = setup.block_on(prepare(config.clone(), args.sessions, args.concurrency))?;
    setup.shutdown_timeout(Duration::from_secs(5));
    eprintln!(
        "[cache-miss] instance A: account {} with roles {:?} ({} permissions), {} sessions in {:.1}s",
        user.username,
        user.roles,
        user.permissions.len(),
        hashes.len(),
        started.elapsed().as_secs_f64()
    );

    let mut rates = Vec::with_capacity(args.runs);
    for i in 1..=args.runs {
        hashes.shuffle(&mut rand::thread_rng());
        let order = Arc::new(hashes.clone());
        let instance = runtime()?;
        let elapsed = instance
            .block_on(pass(config.clone(), order, args.concurrency, &user))
            .map_err(|e| format!("run {i}: {e}"))?;
        instance.shutdown_timeout(Duration::from_secs(5));
        let seconds = elapsed.as_secs_f64();
        let rate = hashes.len() as f64 / seconds;
        println!("run={i} misses={} seconds={seconds:.3} rate={rate:.1}", hashes.len());
        rates.push(rate);
    }
    println!("summary: cache_miss_per_s={:.0}", median(rates));
    Ok(())
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = parse_args().and_then(run);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[cache-miss] error: {e}");
            ExitCode::FAILURE
        }
    }
}
