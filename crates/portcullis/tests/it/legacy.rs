//! Accounts imported from another app with its password hashes (werkzeug pbkdf2/scrypt, bcrypt,
//! argon2 from argon2-cffi): they log in over HTTP with their old passwords, the first login
//! replaces the hash with argon2id at the server's parameters, and imports never overwrite.

use portcullis::import::SkipReason;

use crate::common::Server;

const CSV: &str = include_str!("../fixtures/legacy-users.csv");
const JSONL: &str = include_str!("../fixtures/legacy-users.jsonl");

/// The fixtures' passwords (see tests/fixtures/README.md).
fn password(username: &str) -> String {
    format!("pw-{username}-secret")
}

fn usernames(input: &str) -> Vec<String> {
    let (_, records) = portcullis::import::parse(input).unwrap();
    records.into_iter().map(|r| r.unwrap().user.username).collect()
}

/// A server whose request timeout allows for werkzeug's default 1,000,000 PBKDF2 iterations in an
/// unoptimised test build (seconds there, a fraction of a second in release).
async fn server() -> Server {
    Server::with(|raw| raw.server.request_timeout = "120s".into()).await
}

async fn stored_hash(server: &Server, username: &str) -> String {
    server.auth.stores().users.user_by_username(username).await.unwrap().unwrap().password_hash
}

/// The prefix of a hash made with the server's current argon2id parameters.
fn current_prefix(server: &Server) -> String {
    let p = &server.auth.config().password;
    format!("$argon2id$v=19$m={},t={},p={}$", p.memory_kib, p.iterations, p.parallelism)
}

async fn assert_login_upgrades(server: &Server, username: &str) {
    let prefix = current_prefix(server);
    let before = stored_hash(server, username).await;
    assert!(!before.starts_with(&prefix), "{username} starts with a legacy hash");

    let mut wrong = server.browser();
    assert_eq!(wrong.login(username, "pw-someone-else-secret").await.status(), 401, "{username}");
    assert_eq!(stored_hash(server, username).await, before, "a failed login changes nothing");

    let mut browser = server.browser();
    assert_eq!(browser.login(username, &password(username)).await.status(), 200, "{username}");
    assert!(browser.logged_in().await);
    let after = stored_hash(server, username).await;
    assert!(after.starts_with(&prefix), "{username}: upgraded to the current argon2id");
    let query = portcullis::audit::AuditQuery {
        username: Some(username.into()),
        event: Some("password_rehashed".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(server.auth.audit().query(&query).await.unwrap().len(), 1, "{username}: the upgrade is audited");

    let mut again = server.browser();
    assert_eq!(again.login(username, &password(username)).await.status(), 200, "{username} after the upgrade");
    assert_eq!(stored_hash(server, username).await, after, "a current hash is not rehashed again");
    // Lets the per-address and per-user login budgets refill before the next user.
    server.advance_minutes(5);
}

#[tokio::test]
async fn csv_users_log_in_with_their_old_passwords_and_are_upgraded() {
    let server = server().await;
    let report = server.auth.accounts().import(CSV).await.unwrap();
    assert_eq!((report.imported, report.skipped.as_slice()), (10, &[][..]));

    let alice = server.auth.stores().users.user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(alice.roles, ["admin", "editor"]);
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));

    for username in usernames(CSV) {
        assert_login_upgrades(&server, &username).await;
    }
    let mut wrong = server.browser();
    assert_eq!(wrong.login("alice", "pw-bob-secret").await.status(), 401, "the new hash rejects other passwords");
}

#[tokio::test]
async fn json_lines_users_log_in_too() {
    let server = server().await;
    let report = server.auth.accounts().import(JSONL).await.unwrap();
    assert_eq!((report.imported, report.skipped.len()), (5, 0));
    for username in usernames(JSONL) {
        assert_login_upgrades(&server, &username).await;
    }
}

#[tokio::test]
async fn existing_and_repeated_usernames_are_skipped_never_overwritten() {
    let server = Server::start().await;
    let bob = usernames(CSV).iter().position(|u| u == "bob").unwrap();
    let (_, records) = portcullis::import::parse(CSV).unwrap();
    let bob_hash = records.into_iter().nth(bob).unwrap().unwrap().user.password_hash;

    // `test` is the server's own user; `newbie` appears twice, the second time in other case.
    let input = format!("username,password_hash\nTEST,{bob_hash}\nnewbie,{bob_hash}\nNewbie,{bob_hash}\n");
    let report = server.auth.accounts().import(&input).await.unwrap();
    assert_eq!(report.imported, 1);
    let skipped: Vec<_> = report.skipped.iter().map(|s| (s.line, s.reason.clone())).collect();
    assert_eq!(skipped, [(2, SkipReason::Conflict), (4, SkipReason::Conflict)]);

    let mut browser = server.browser();
    assert_eq!(browser.login("test", "test").await.status(), 200, "the existing account is unchanged");
    let mut browser = server.browser();
    assert_eq!(browser.login("newbie", "pw-bob-secret").await.status(), 200);

    // Importing the same file twice is harmless: every line is a conflict the second time.
    assert_eq!(server.auth.accounts().import(CSV).await.unwrap().imported, 10);
    let again = server.auth.accounts().import(CSV).await.unwrap();
    assert_eq!(again.imported, 0);
    assert_eq!(again.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), (2..=11).collect::<Vec<_>>());
    assert!(again.skipped.iter().all(|s| s.reason == SkipReason::Conflict));
}

#[tokio::test]
async fn bad_lines_are_reported_and_the_rest_imported() {
    let server = Server::start().await;
    let dave = "$2b$10$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K";
    let input = format!("username,password_hash,roles\nplain,hunter2,\n\" bad\",{dave},\nok,{dave},viewer\n");
    let report = server.auth.accounts().import(&input).await.unwrap();
    assert_eq!(report.imported, 1);
    assert!(matches!(report.skipped[0].reason, SkipReason::UnrecognisedHash(_)));
    assert!(matches!(report.skipped[1].reason, SkipReason::InvalidUsername(_)));
    assert_eq!(report.skipped.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3]);
    assert!(server.auth.stores().users.user_by_username("plain").await.unwrap().is_none());

    let err = server.auth.accounts().import("not,a,header\n").await.unwrap_err();
    assert_eq!(err.kind(), portcullis::ErrorKind::ValidationFailed);
}

/// A refused password for an imported account pays for one argon2id check at the server's
/// parameters, as an unknown name does, so a cheap old format (bob's 1,000 PBKDF2 rounds) cannot
/// tell imported accounts from unknown names by answering sooner.
#[tokio::test]
async fn refused_imported_accounts_cost_one_current_argon2id_check_like_unknown_names() {
    let server = server().await;
    server.auth.accounts().import(CSV).await.unwrap();
    let hasher = server.auth.accounts().hasher();
    let refused = |username: String| {
        let server = &server;
        async move {
            let before = hasher.current_cost_checks();
            let res = server.raw().token_login_as(&username, "pw-someone-else-secret").await;
            assert_eq!(res.status(), 401, "{username}");
            hasher.current_cost_checks() - before
        }
    };
    assert_eq!(refused("nobody".into()).await, 1, "an unknown name is checked against the dummy");
    assert_eq!(refused("test".into()).await, 1, "a current hash is one check");
    for username in usernames(CSV) {
        assert!(hasher.needs_rehash(&stored_hash(&server, &username).await), "{username} keeps its imported hash");
        assert_eq!(refused(username.clone()).await, 1, "{username}: padded with the dummy check");
    }
    // The right password is not padded: its extra cost is the rehash into the current format.
    let before = hasher.current_cost_checks();
    assert_eq!(server.raw().token_login_as("bob", &password("bob")).await.status(), 200);
    assert_eq!(hasher.current_cost_checks(), before);
}
