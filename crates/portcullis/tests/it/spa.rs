//! Deploy mode A: the served SPA with its CSRF meta tag.

use std::fs;

use serde_json::json;

use crate::common::{problem, Browser, Server};

fn meta_token(html: &str) -> String {
    let start = html.find("<meta name=\"csrf-token\" content=\"").expect("meta tag") + 33;
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_owned()
}

async fn page_token(b: &mut Browser, path: &str) -> String {
    let res = b.get(path).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    let token = meta_token(&res.text().await.unwrap());
    b.csrf = Some(token.clone());
    token
}

/// The `src`/`href` of the built-in page's script and stylesheet.
fn asset_paths(html: &str) -> Vec<String> {
    let mut paths = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let path = &part[..part.find('"').unwrap()];
            if path.starts_with("/portcullis/") {
                paths.push(path.to_owned());
            }
        }
    }
    paths
}

#[tokio::test]
async fn the_builtin_spa_carries_a_working_token_and_its_assets() {
    let server = Server::start().await;
    let mut b = server.browser();
    let index = b.get("/").await;
    assert!(index.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = index.text().await.unwrap();
    let token = meta_token(&html);
    assert_eq!(token.len(), 64);
    b.csrf = Some(token);
    assert_eq!(b.post("/api/login", json!({"username": "test", "password": "test"})).await.status(), 200);

    // The SPA's script and stylesheet: embedded, hashed, cached for a year.
    let assets = asset_paths(&html);
    assert!(assets.iter().any(|p| p.ends_with(".js")) && assets.iter().any(|p| p.ends_with(".css")), "{assets:?}");
    for path in &assets {
        let res = b.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable", "{path}");
        let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
        let body = res.text().await.unwrap();
        if path.ends_with(".js") {
            assert!(kind.contains("javascript"), "{kind}");
            assert!(body.contains("csrf-token"), "the SDK reads the meta tag");
        } else {
            assert!(kind.starts_with("text/css"), "{kind}");
        }
    }

    // Client-side routes fall back to the page; missing files are 404s.
    for route in ["/login", "/sessions", "/admin/users/0f6b5c3e", "/settings/profile"] {
        page_token(&mut b, route).await;
    }
    problem(b.get("/missing.png").await, 404, "not_found").await;
    problem(b.get("/portcullis/index-00000000.js").await, 404, "not_found").await;
    problem(b.get("/portcullis/app.js").await, 404, "not_found").await;
}

#[tokio::test]
async fn a_spa_directory_is_served_with_its_token_filled_in() {
    let spa = tempfile::tempdir().unwrap();
    let index = "<!DOCTYPE html><html><head><meta name=\"csrf-token\" content=\"{{ csrf_token() }}\" />\
                 <script src=\"/build/bundle.js\"></script></head><body></body></html>";
    fs::write(spa.path().join("index.html"), index).unwrap();
    fs::create_dir_all(spa.path().join("build")).unwrap();
    fs::write(spa.path().join("build/bundle.js"), "console.log('seed')").unwrap();
    fs::create_dir_all(spa.path().join("assets")).unwrap();
    fs::write(spa.path().join("assets/index-B3xk9a2Q.js"), "console.log('hashed')").unwrap();
    let dir = spa.path().to_path_buf();
    let server = Server::with(move |c| c.spa.dir = Some(dir)).await;
    let mut b = server.browser();

    page_token(&mut b, "/").await;
    assert_eq!(b.post("/api/login", json!({"username": "test", "password": "test"})).await.status(), 200);
    page_token(&mut b, "/dashboard").await;

    let plain = b.get("/build/bundle.js").await;
    assert_eq!(plain.status(), 200);
    assert_eq!(plain.headers()["cache-control"], "public, max-age=3600");
    assert_eq!(plain.text().await.unwrap(), "console.log('seed')");
    let hashed = b.get("/assets/index-B3xk9a2Q.js").await;
    assert_eq!(hashed.headers()["cache-control"], "public, max-age=31536000, immutable");

    problem(b.get("/build/missing.js").await, 404, "not_found").await;
    for sneaky in ["/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd", "/build/..%5c..%5cindex.html"] {
        let res = b.get(sneaky).await;
        assert!(res.status() == 404 || res.text().await.unwrap().contains("csrf-token"), "{sneaky}");
    }
}

/// A Flask project in the tutorial's shape: `templates/index.html` (csrf_token() and
/// url_for('static', ...) calls as Flask writes them), the built files in `public/`, the app beside.
fn flask_project() -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let root = project.path();
    fs::create_dir_all(root.join("templates")).unwrap();
    fs::create_dir_all(root.join("public/build")).unwrap();
    let template = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta charset='utf-8'>\n\
                    <meta name=\"csrf-token\" content=\"{{ csrf_token() }}\" />\n\
                    <link rel='stylesheet' href=\"{{url_for('static', filename='global.css') }}\">\n\
                    <script defer src=\"{{url_for('static', filename='build/bundle.js') }}\"></script>\n\
                    </head>\n<body>\n</body>\n</html>\n";
    fs::write(root.join("templates/index.html"), template).unwrap();
    fs::write(root.join("public/global.css"), "body { margin: 0 }").unwrap();
    fs::write(root.join("public/build/bundle.js"), "console.log('app')").unwrap();
    fs::write(root.join("app.py"), "SECRET_KEY = 'secret_sauce'").unwrap();
    project
}

fn flask_spa(raw: &mut portcullis::RawConfig, root: &std::path::Path) {
    raw.spa.dir = Some(root.to_path_buf());
    raw.spa.template = Some("templates/index.html".into());
    raw.spa.static_dir = Some("public".into());
}

#[tokio::test]
async fn a_flask_template_is_rendered_with_its_token_and_static_urls() {
    let project = flask_project();
    let root = project.path().to_path_buf();
    let server = Server::with(move |c| flask_spa(c, &root)).await;
    let mut b = server.browser();

    let res = b.get("/").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = res.text().await.unwrap();
    assert!(!html.contains("{{") && !html.contains("url_for"), "{html}");
    assert!(html.contains("<script defer src=\"/public/build/bundle.js\"></script>"), "{html}");
    assert!(html.contains("href=\"/public/global.css\""), "{html}");
    let token = meta_token(&html);
    assert!(token.len() >= 40, "{token}");
    b.csrf = Some(token);
    assert_eq!(b.post("/api/login", json!({"username": "test", "password": "test"})).await.status(), 200);
    // A client-side route is the page too, with a new token for the same browser.
    page_token(&mut b, "/user").await;
    assert_eq!(b.post("/api/logout", json!({})).await.status(), 200);

    let js = b.get("/public/build/bundle.js").await;
    assert_eq!(js.status(), 200);
    assert_eq!(js.text().await.unwrap(), "console.log('app')");
    assert_eq!(b.get("/public/global.css").await.status(), 200);
    // Only the static folder is served: not the app, not the template, and below /public there
    // are files only.
    for hidden in ["/app.py", "/templates/index.html", "/public/missing.js", "/public/some/route", "/global.css"] {
        let res = b.get(hidden).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 404, "{hidden}: {body}");
        assert!(!body.contains("secret_sauce") && !body.contains("{{"), "{hidden}: {body}");
    }
}

#[test]
fn a_template_that_asks_for_what_flask_alone_has_is_refused_at_start() {
    let project = flask_project();
    let root = project.path();
    let file = root.join("templates/index.html");
    let mut raw = portcullis::RawConfig::default();
    flask_spa(&mut raw, root);
    assert!(raw.validate().is_ok());

    let page = fs::read_to_string(&file).unwrap();
    let flashed = page.replace("<body>\n", "<body>\n{% for m in get_flashed_messages() %}{{ m }}{% endfor %}\n");
    fs::write(&file, flashed).unwrap();
    let err = raw.validate().unwrap_err().to_string();
    let at = format!("spa.template: {}:10: `get_flashed_messages` is not available here", file.display());
    assert!(err.contains(&at), "{err}");

    fs::write(&file, page.replace("{{ csrf_token() }}", "{{ csrf_token( }}")).unwrap();
    let err = raw.validate().unwrap_err().to_string();
    assert!(err.contains(&format!("{}:5: syntax error", file.display())), "{err}");
    fs::write(&file, &page).unwrap();

    // The static folder must not be the project itself: it would serve app.py and the template.
    raw.spa.static_dir = Some(".".into());
    assert!(raw.validate().unwrap_err().to_string().contains("spa.static_dir:"));
    raw.spa.static_dir = Some("public".into());
    raw.spa.static_url = Some("/api".into());
    assert!(raw.validate().unwrap_err().to_string().contains("spa.static_url:"));
    raw.spa.template = None;
    let err = raw.validate().unwrap_err().to_string();
    assert!(err.contains("spa.static_dir: only with spa.template") && err.contains("spa.dir:"), "{err}");
}

#[test]
fn a_spa_dir_without_index_is_a_config_error() {
    let empty = tempfile::tempdir().unwrap();
    let mut raw = portcullis::RawConfig::default();
    raw.spa.dir = Some(empty.path().to_path_buf());
    assert!(raw.validate().unwrap_err().to_string().contains("spa.dir"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_spa_directory_serves_no_hidden_file_and_nothing_behind_a_symlink_out() {
    use std::os::unix::fs::symlink;

    let spa = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = spa.path();
    fs::write(root.join("index.html"), "<html><head></head><body>app</body></html>").unwrap();
    fs::write(root.join(".env"), "SECRET=dotenv").unwrap();
    fs::create_dir_all(root.join(".git")).unwrap();
    fs::write(root.join(".git/config"), "SECRET=gitconfig").unwrap();
    fs::create_dir_all(root.join("assets/.cache")).unwrap();
    fs::write(root.join("assets/.cache/state"), "SECRET=nested").unwrap();
    fs::write(root.join("assets/app.js"), "console.log('app')").unwrap();
    fs::write(outside.path().join("passwd"), "SECRET=outside").unwrap();
    fs::write(outside.path().join("secret.txt"), "SECRET=outside").unwrap();
    // A folder and a file that lead out of the SPA, one that leads into its `.git`, and one
    // that stays inside and is fine.
    symlink(outside.path(), root.join("etc")).unwrap();
    symlink(outside.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    symlink(root.join(".git"), root.join("repo")).unwrap();
    symlink(root.join("assets/app.js"), root.join("alias.js")).unwrap();
    let dir = root.to_path_buf();
    let server = Server::with(move |c| c.spa.dir = Some(dir)).await;
    let b = server.browser();

    for refused in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/assets/.cache/state",
        "/%2egit/config",
        "/etc/passwd",
        "/etc/secret.txt",
        "/leak.txt",
        "/repo/config",
    ] {
        let res = b.get(refused).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, 404, "{refused}: {body}");
        assert!(!body.contains("SECRET"), "{refused}: {body}");
    }
    let inside = b.get("/alias.js").await;
    assert_eq!(inside.status(), 200, "a symlink that stays inside is served");
    assert_eq!(inside.text().await.unwrap(), "console.log('app')");
    assert_eq!(b.get("/assets/app.js").await.status(), 200);
}
