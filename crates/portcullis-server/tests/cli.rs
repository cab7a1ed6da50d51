//! The `portcullis` binary end to end: config check, user commands, serve and serve --demo.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::json;

fn portcullis(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.env_remove("PORTCULLIS_CONFIG")
        .env("PORTCULLIS_SERVER__DATA_DIR", data_dir)
        .env("PORTCULLIS_LOG__LEVEL", "warn");
    cmd
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running server, killed on drop.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(mut cmd: Command) -> Running {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Portcullis listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();
    Running { child, url }
}

/// getcsrf + login; returns the client (holding the session) and the token.
async fn login(url: &str, username: &str, password: &str) -> (reqwest::Client, String, reqwest::StatusCode) {
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let res = http.get(format!("{url}/api/getcsrf")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = http
        .post(format!("{url}/api/login"))
        .header("X-CSRFToken", &token)
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    (http, token, res.status())
}

#[test]
fn config_check_names_bad_keys_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let ok = portcullis(dir.path())
        .args(["config", "check"])
        .env("PORTCULLIS_SECRETS__CSRF_KEY", "c2VjcmV0".repeat(6))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let shown = text(&ok.stdout);
    assert!(shown.contains("idle_timeout = \"30m\"") && shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("c2VjcmV0"), "the secret itself is never printed");

    let bad = portcullis(dir.path())
        .args(["config", "check"])
        .env("PORTCULLIS_SESSION__IDLE_TIMEOUT", "30x")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("session.idle_timeout: `30x` is not a duration"), "{}", text(&bad.stderr));

    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[session]\nidel_timeout = \"5m\"\n").unwrap();
    let unknown = portcullis(dir.path()).args(["config", "check", "--config"]).arg(&file).output().unwrap();
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("idel_timeout"), "{}", text(&unknown.stderr));
}

#[tokio::test]
async fn users_are_managed_and_secrets_persist_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let add = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "add", "alice", "--password-stdin", "--admin"]);
            c
        },
        "first password\n",
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
    let again = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "add", "ALICE", "--password-stdin"]);
            c
        },
        "first password\n",
    );
    assert!(!again.status.success() && text(&again.stderr).contains("already exists"));
    let short = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "add", "bob", "--password-stdin"]);
            c
        },
        "short\n",
    );
    assert!(!short.status.success() && text(&short.stderr).contains("at least 8"), "{}", text(&short.stderr));
    let list = portcullis(dir.path()).args(["user", "list"]).output().unwrap();
    let listed = text(&list.stdout);
    assert!(listed.contains("alice") && listed.contains("admin") && !listed.contains("bob"), "{listed}");

    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let key = std::fs::read(dir.path().join("csrf.key")).unwrap();
    let (http, token, status) = login(&server.url, "alice", "first password").await;
    assert_eq!(status, 200);
    drop(server);

    let passwd = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "passwd", "alice", "--password-stdin"]);
            c
        },
        "second password\n",
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    assert!(text(&passwd.stdout).contains("1 session(s) ended"), "{}", text(&passwd.stdout));

    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    assert_eq!(std::fs::read(dir.path().join("csrf.key")).unwrap(), key, "secrets are reused after the first start");
    let data = http.get(format!("{}/api/data", server.url)).send().await.unwrap();
    assert_eq!(data.status(), 401, "passwd ended the session");
    // The CSRF token from before the restart still verifies: same key, same browser nonce.
    let res = http
        .post(format!("{}/api/login", server.url))
        .header("X-CSRFToken", &token)
        .json(&json!({"username": "alice", "password": "second password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(login(&server.url, "alice", "first password").await.2, 401);
}

/// `serve --demo` with nothing configured but the log level: it brings its own database.
fn demo(extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portcullis"));
    cmd.env_remove("PORTCULLIS_CONFIG").env("PORTCULLIS_LOG__LEVEL", "warn").args(["serve", "--demo"]).args(extra);
    cmd
}

/// The first two lines `serve --demo` prints: its URL, and the temporary database it uses.
fn demo_banner(child: &mut Child) -> (String, std::path::PathBuf) {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    out.read_line(&mut second).unwrap();
    let url = first.trim().strip_prefix("Portcullis listening on ").unwrap_or_else(|| panic!("{first:?}"));
    let db = second.trim().strip_prefix("Store: sqlite://").unwrap_or_else(|| panic!("second line: {second:?}"));
    let db = db.strip_suffix(" (temporary, deleted at exit)").unwrap_or_else(|| panic!("{second:?}"));
    (url.to_owned(), db.into())
}

#[tokio::test]
async fn demo_mode_serves_the_seed_user() {
    let mut child = demo(&["--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).spawn().unwrap();
    let (url, db) = demo_banner(&mut child);
    let server = Running { child, url };
    assert!(db.is_file(), "{db:?}");
    let (http, _, status) = login(&server.url, "test", "test").await;
    assert_eq!(status, 200);
    let data = http.get(format!("{}/api/data", server.url)).send().await.unwrap();
    assert_eq!(data.text().await.unwrap(), "{\"username\":\"test\"}\n");
    let folder = db.parent().unwrap().to_path_buf();
    assert!(!folder.join("csrf.key").exists(), "demo secrets are ephemeral");
    drop(server);
    // Killed, it cannot clean up; a stopped one does (SIGTERM) — see the next test.
    let _ = std::fs::remove_dir_all(folder);
}

#[cfg(unix)]
#[tokio::test]
async fn demo_mode_takes_the_configured_address_and_refuses_a_configured_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");

    // server.bind from the file wins over the demo's 127.0.0.1:8000 ...
    std::fs::write(&file, "[server]\nbind = \"127.0.0.1:0\"\n").unwrap();
    let mut child = demo(&[]).arg("--config").arg(&file).stdout(Stdio::piped()).spawn().unwrap();
    let (url, db) = demo_banner(&mut child);
    assert!(!url.ends_with(":8000"), "{url}");
    let (_, _, status) = login(&url, "test", "test").await;
    assert_eq!(status, 200);
    // The temporary database is deleted when the server stops.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(child.wait().unwrap().success());
    assert!(!db.exists() && !db.parent().unwrap().exists(), "{db:?} is left");

    // ... and --bind wins over the file: the file's address is taken, so only --bind can work.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(&file, format!("[server]\nbind = \"{}\"\n", taken.local_addr().unwrap())).unwrap();
    let server = serve({
        let mut c = demo(&["--bind", "127.0.0.1:0"]);
        c.arg("--config").arg(&file);
        c
    });
    assert_eq!(login(&server.url, "test", "test").await.2, 200);
    drop(server);

    // A store named in the file or the environment is refused with the key and where it was set,
    // never replaced by the demo's (nor used: the demo's account test / test must not land in it).
    std::fs::write(&file, "[store]\nurl = \"postgres://app@db.internal/auth\"\n").unwrap();
    let refused = demo(&["--bind", "127.0.0.1:0"]).arg("--config").arg(&file).output().unwrap();
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(err.contains("store.url is set (in ") && err.contains("portcullis.toml)"), "{err}");
    let refused = demo(&["--bind", "127.0.0.1:0"]).env("PORTCULLIS_SERVER__DATA_DIR", dir.path()).output().unwrap();
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(err.contains("server.data_dir is set (by PORTCULLIS_SERVER__DATA_DIR)"), "{err}");
    assert!(!dir.path().join("portcullis.db").exists(), "nothing was created in the refused folder");
}

#[tokio::test]
async fn logs_never_carry_passwords_tokens_or_cookies() {
    let mut cmd = demo(&["--bind", "127.0.0.1:0"]);
    cmd.env("PORTCULLIS_LOG__LEVEL", "debug")
        .env("PORTCULLIS_LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("Portcullis listening on ").unwrap().to_owned();

    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let res = http.get(format!("{url}/api/getcsrf")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let nonce = res.headers()["set-cookie"].to_str().unwrap().split(['=', ';']).nth(1).unwrap().to_owned();
    let res = http
        .post(format!("{url}/api/login?next=/secret-query"))
        .header("X-CSRFToken", &token)
        .json(&json!({"username": "test", "password": "S3cret-Passw0rd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = http
        .post(format!("{url}/api/login"))
        .header("X-CSRFToken", &token)
        .json(&json!({"username": "test", "password": "test"}))
        .send()
        .await
        .unwrap();
    let session = res.headers()["set-cookie"].to_str().unwrap().split(['=', ';']).nth(1).unwrap().to_owned();
    assert_eq!(http.get(format!("{url}/api/data")).send().await.unwrap().status(), 200);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let logs = text(&out.stderr);
    assert!(logs.contains("\"path\":\"/api/login\""), "one JSON line per request: {logs}");
    assert!(!logs.contains("secret-query"), "query strings are not logged");
    for secret in ["S3cret-Passw0rd", token.as_str(), nonce.as_str(), session.as_str()] {
        assert!(!logs.contains(secret), "{secret} leaked into the log");
    }
}

#[test]
fn keys_rotate_adds_a_key_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = portcullis(dir.path()).args(["keys", "rotate"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("jwt-keys.json")).unwrap()).unwrap();
    let keys = file["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "the first key, and one per rotation; none has expired yet");
    assert!(keys[..2].iter().all(|k| k["retired_at"].is_i64()) && keys[2]["retired_at"].is_null());

    let given = std::fs::read_to_string(dir.path().join("jwt-keys.json")).unwrap();
    let out =
        portcullis(dir.path()).args(["keys", "rotate"]).env("PORTCULLIS_SECRETS__JWT_KEYS", given).output().unwrap();
    assert!(!out.status.success() && text(&out.stderr).contains("rotate the keys there"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn user_names_lists_collisions_left_from_before_the_username_rules() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["admin", "wide"] {
        let mut c = portcullis(dir.path());
        c.args(["user", "add", name, "--password-stdin"]);
        let add = run_with_stdin(c, "long enough password\n");
        assert!(add.status.success(), "{}", text(&add.stderr));
    }
    let names = || portcullis(dir.path()).args(["user", "names"]).output().unwrap();
    assert_eq!(text(&names().stdout), "no username collisions\n");

    // As the version before the rules stored a full-width name: lower-cased only, no skeleton.
    let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE users SET username = ?1, username_key = ?1, username_skeleton = NULL WHERE username = 'wide'")
        .bind("ａｄｍｉｎ")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let out = names();
    assert!(out.status.success(), "a collision is reported, not a failure: {}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("is the same name as account") && shown.contains("keeps its old key"), "{shown}");
}

#[tokio::test]
async fn user_import_keeps_legacy_hashes_and_skips_existing_users() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../portcullis/tests/fixtures/legacy-users.csv");
    let import = || {
        let mut c = portcullis(dir.path());
        c.args(["user", "import"]).arg(&fixture);
        c.output().unwrap()
    };
    let first = import();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout), "imported 10 users, skipped 0\n");
    let list = text(&portcullis(dir.path()).args(["user", "list"]).output().unwrap().stdout);
    for name in ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"] {
        assert!(list.lines().any(|l| l.split_whitespace().nth(1) == Some(name)), "{name} in {list}");
    }
    assert!(list.lines().any(|l| l.contains(" alice ") && l.ends_with("admin,editor")), "{list}");

    // Every line is a conflict the second time: nothing imported is a failure.
    let again = import();
    assert!(!again.status.success());
    assert_eq!(text(&again.stdout), "imported 0 users, skipped 10\n");
    let errors = text(&again.stderr);
    assert!(errors.contains("line 2: username already exists") && errors.contains("line 11: "), "{errors}");
    assert!(!errors.contains("pbkdf2:") && !errors.contains("$2b$"), "hashes are never printed: {errors}");

    let missing = portcullis(dir.path()).args(["user", "import"]).arg(dir.path().join("nope.csv")).output().unwrap();
    assert!(!missing.status.success() && text(&missing.stderr).contains("nope.csv"), "{}", text(&missing.stderr));

    // An imported user logs in with the old app's password (werkzeug pbkdf2:sha256:1000).
    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    assert_eq!(login(&server.url, "bob", "pw-bob-secret").await.2, 200);
    assert_eq!(login(&server.url, "bob", "pw-alice-secret").await.2, 401);
}

#[tokio::test]
async fn store_migrate_moves_everything_from_sqlite_to_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let add = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "add", "alice", "--password-stdin", "--admin"]);
            c
        },
        "alice password\n",
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let (http, _, status) = login(&server.url, "alice", "alice password").await;
    assert_eq!(status, 200);
    assert_eq!(login(&server.url, "alice", "wrong password").await.2, 401);
    drop(server);

    let db = portcullis::store::postgres::testing::TempDatabase::create().await.unwrap();
    let from = format!("sqlite://{}", dir.path().join("portcullis.db").display());
    let migrate =
        |to: &str| portcullis(dir.path()).args(["store", "migrate", "--from", &from, "--to", to]).output().unwrap();
    let out = migrate(&db.url);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    // Two logins made two sessions (the refused one none); the audit log holds both attempts
    // and the account's creation.
    assert!(said.contains("copied and verified") && said.contains("1 users") && said.contains("1 sessions"), "{said}");

    // The same data directory (secrets) on Postgres: the browser's session goes on as before.
    let server = serve({
        let mut c = portcullis(dir.path());
        c.env("PORTCULLIS_STORE__URL", &db.url).args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let me = http.get(format!("{}/api/me", server.url)).send().await.unwrap();
    assert_eq!(me.status(), 200, "the session survived the move");
    let me: serde_json::Value = me.json().await.unwrap();
    assert_eq!(me["roles"], json!(["admin"]));
    assert_eq!(login(&server.url, "alice", "alice password").await.2, 200, "the password hash moved");
    drop(server);

    let again = migrate(&db.url);
    assert!(!again.status.success() && text(&again.stderr).contains("not empty"), "{}", text(&again.stderr));
    let missing = portcullis(dir.path())
        .args(["store", "migrate", "--from", "sqlite:///nowhere/x.db", "--to", &db.url])
        .output()
        .unwrap();
    assert!(!missing.status.success() && text(&missing.stderr).contains("no such database file"));
}

/// Polls `refused` every 50 ms until it holds; returns how long that took, or panics after
/// `within` (far below the 60 s a cached session lived before servers heard the CLI).
async fn eventually<F, Fut>(within: std::time::Duration, mut refused: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if refused().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "not seen by the running server within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn add_alice(dir: &Path) {
    let add = run_with_stdin(
        {
            let mut c = portcullis(dir);
            c.args(["user", "add", "alice", "--password-stdin"]);
            c
        },
        "first password\n",
    );
    assert!(add.status.success(), "{}", text(&add.stderr));
}

#[tokio::test]
async fn user_passwd_from_another_process_ends_sessions_on_a_running_server_at_once() {
    let dir = tempfile::tempdir().unwrap();
    add_alice(dir.path());
    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let (http, _, status) = login(&server.url, "alice", "first password").await;
    assert_eq!(status, 200);
    let body = json!({"username": "alice", "password": "first password"});
    let plain = reqwest::Client::new();
    let res = plain.post(format!("{}/auth/login", server.url)).json(&body).send().await.unwrap();
    let access = res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let data = format!("{}/api/data", server.url);
    // Both are cached by the server now.
    assert_eq!(http.get(&data).send().await.unwrap().status(), 200);
    assert_eq!(plain.get(&data).bearer_auth(&access).send().await.unwrap().status(), 200);

    let passwd = run_with_stdin(
        {
            let mut c = portcullis(dir.path());
            c.args(["user", "passwd", "alice", "--password-stdin"]);
            c
        },
        "second password\n",
    );
    assert!(passwd.status.success(), "{}", text(&passwd.stderr));
    assert!(text(&passwd.stdout).contains("2 session(s) ended"), "{}", text(&passwd.stdout));
    let within = std::time::Duration::from_secs(3);
    let cookie = eventually(within, || async { http.get(&data).send().await.unwrap().status() == 401 }).await;
    let token =
        eventually(within, || async { plain.get(&data).bearer_auth(&access).send().await.unwrap().status() == 401 })
            .await;
    eprintln!("cookie session refused after {cookie:?}, access token after {token:?}");
}

#[tokio::test]
async fn user_unlock_from_another_process_lifts_a_lock_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    add_alice(dir.path());
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[limits]\nenabled = false\n[lockout]\nwindows = [{ failures = 3, within = \"1h\" }]\n")
        .unwrap();
    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["--config"]).arg(&file).args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    for _ in 0..3 {
        assert_eq!(login(&server.url, "alice", "wrong").await.2, 401);
    }
    assert_eq!(login(&server.url, "alice", "first password").await.2, 423);

    let unknown =
        portcullis(dir.path()).args(["--config"]).arg(&file).args(["user", "unlock", "bob"]).output().unwrap();
    assert!(!unknown.status.success() && text(&unknown.stderr).contains("no account named bob"));
    let unlock =
        portcullis(dir.path()).args(["--config"]).arg(&file).args(["user", "unlock", "alice"]).output().unwrap();
    assert!(unlock.status.success(), "{}", text(&unlock.stderr));
    let within = std::time::Duration::from_secs(3);
    let took = eventually(within, || async { login(&server.url, "alice", "first password").await.2 == 200 }).await;
    eprintln!("unlock applied after {took:?}");
}

#[tokio::test]
async fn a_committed_login_survives_kill_9_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    add_alice(dir.path());
    let mut server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let (http, _, status) = login(&server.url, "alice", "first password").await;
    assert_eq!(status, 200);
    // SIGKILL: no shutdown hook, no checkpoint, no flush by the server.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let server = serve({
        let mut c = portcullis(dir.path());
        c.args(["serve", "--bind", "127.0.0.1:0"]);
        c
    });
    let data = http.get(format!("{}/api/data", server.url)).send().await.unwrap();
    assert_eq!(data.status(), 200, "the session committed before the kill is still there");
}
