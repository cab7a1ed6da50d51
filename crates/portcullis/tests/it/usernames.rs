//! Usernames per RFC 8265: look-alikes cannot register, variants of one name sign in to one
//! account, names reach forward-auth upstreams ASCII-safe, and invisible characters show as
//! escapes; accounts made before the rules are re-keyed at start-up and keep working.

use serde_json::{json, Value};

use crate::common::{problem, Browser, Server};

/// A server with `admin` (an admin) and `kate`, and a browser holding a CSRF token.
async fn with_names(configure: impl FnOnce(&mut portcullis::config::RawConfig)) -> (Server, Browser) {
    let server = Server::with(|c| {
        // Every attempt below names a different account; the limits have tests of their own.
        c.limits.enabled = false;
        configure(c);
    })
    .await;
    server.add_user("admin", "admin password", &["admin"]).await;
    server.add_user("kate", "kate password", &[]).await;
    let mut b = server.browser();
    b.fetch_csrf().await;
    (server, b)
}

async fn register(b: &Browser, username: &str) -> reqwest::Response {
    b.post("/api/register", json!({ "username": username, "password": "long enough password" })).await
}

#[tokio::test]
async fn look_alike_names_cannot_register() {
    let (_server, b) = with_names(|_| {}).await;
    // Invisible characters, a bidi override and a Latin/Cyrillic mix are refused outright.
    for name in ["ad\u{200b}min", "admin\u{feff}", "\u{202e}admin", "\u{430}dmin", "ad\u{200d}min"] {
        let body = problem(register(&b, name).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "username", "{name:?}: {body}");
    }
    // Full width, the Kelvin sign and the dotless i map to (or look like) existing names.
    for name in ["ａｄｍｉｎ", "ＡＤＭＩＮ", "\u{212A}ate", "adm\u{131}n", "KATE"] {
        problem(register(&b, name).await, 409, "conflict").await;
    }
}

#[tokio::test]
async fn nfc_and_nfd_are_one_account() {
    let (server, b) = with_names(|_| {}).await;
    let res = register(&b, "e\u{301}lise").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["username"], "\u{e9}lise", "stored as NFC");
    problem(register(&b, "\u{e9}lise").await, 409, "conflict").await;
    problem(register(&b, "\u{c9}LISE").await, 409, "conflict").await;
    let me = server.login_as("\u{e9}lise", "long enough password").await.get_json("/api/me").await;
    assert_eq!(me["id"], body["id"]);
}

#[tokio::test]
async fn width_and_case_variants_sign_in_to_the_same_account() {
    let (server, _) = with_names(|_| {}).await;
    for name in ["kate", "KATE", "ｋａｔｅ", "\u{212A}ate"] {
        let b = server.login_as(name, "kate password").await;
        assert_eq!(b.get_json("/api/data").await["username"], "kate", "{name:?}");
    }
    let wrong = server.browser().login("ad\u{200b}min", "admin password").await;
    assert_eq!(wrong.status(), 401, "an invisible character makes another (unknown) name");
}

#[tokio::test]
async fn mixed_scripts_and_ascii_only_follow_the_config() {
    let (_server, b) = with_names(|c| c.accounts.username_allow_mixed_scripts = true).await;
    assert_eq!(register(&b, "b\u{43e}b").await.status(), 201, "Latin with Cyrillic, allowed");
    problem(register(&b, "\u{430}dmin").await, 409, "conflict").await;

    let (_server, b) = with_names(|c| c.accounts.username_ascii_only = true).await;
    problem(register(&b, "Zo\u{eb}").await, 422, "validation_failed").await;
    assert_eq!(register(&b, "zoe").await.status(), 201);
}

#[tokio::test]
async fn forward_auth_sends_non_ascii_names_percent_encoded() {
    let (server, _) = with_names(|_| {}).await;
    server.add_user("Zo\u{eb}", "zoe password", &[]).await;
    let b = server.login_as("zo\u{eb}", "zoe password").await;
    let res = b.get("/auth/verify").await;
    assert_eq!(res.status(), 200);
    let header = res.headers()["x-auth-user"].as_bytes();
    assert!(header.is_ascii(), "{header:?}");
    assert_eq!(header, b"Zo%C3%AB");
}

/// Connects to the server's SQLite file directly, as the version before the rules left it.
async fn database(server: &Server) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&server.auth.config().store_url).await.unwrap()
}

/// Turns account `name` into a row the version before the rules wrote: `legacy` as its name,
/// lower-cased as its key, no skeleton.
async fn make_legacy(db: &sqlx::SqlitePool, name: &str, legacy: &str) {
    let done =
        sqlx::query("UPDATE users SET username = ?, username_key = ?, username_skeleton = NULL WHERE username = ?")
            .bind(legacy)
            .bind(legacy.to_lowercase())
            .bind(name)
            .execute(db)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

#[tokio::test]
async fn accounts_from_before_the_rules_are_re_keyed_and_keep_working() {
    let (old, _) = with_names(|_| {}).await;
    for name in ["wide", "hidden", "elise"] {
        old.add_user(name, &format!("{name} password"), &[]).await;
    }
    let db = database(&old).await;
    make_legacy(&db, "wide", "ａｄｍｉｎ").await;
    make_legacy(&db, "hidden", "ad\u{200b}min").await;
    make_legacy(&db, "elise", "e\u{301}lise").await;
    make_legacy(&db, "admin", "admin").await;
    db.close().await;

    // A restart on the same database: start-up re-keys the rows and reports the collisions
    // instead of failing.
    let data_dir = old.dir.path().to_path_buf();
    let server = Server::with(move |c| {
        c.server.data_dir = data_dir;
        c.limits.enabled = false;
    })
    .await;
    let elise = server.login_as("\u{e9}lise", "elise password").await;
    assert_eq!(elise.get_json("/api/data").await["username"], "e\u{301}lise", "NFC now finds the NFD account");
    // Both accounts of each collision still sign in under their exact names.
    for (name, password) in [("ａｄｍｉｎ", "wide password"), ("ad\u{200b}min", "hidden password")] {
        assert_eq!(server.login_as(name, password).await.get_json("/api/data").await["username"], name);
    }
    let admin = server.login_as("admin", "admin password").await;

    // The console shows the invisible character as an escape, in the list and in the log.
    let list = admin.get_json("/api/admin/users?search=min").await;
    let names: Vec<&str> = list["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"ad\\u{200b}min"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains('\u{200b}')), "{names:?}");
    let events = admin.get_json("/api/admin/audit?event=login_ok").await;
    let shown: Vec<&str> = events["events"].as_array().unwrap().iter().filter_map(|e| e["username"].as_str()).collect();
    assert!(shown.contains(&"ad\\u{200b}min"), "{shown:?}");
}
