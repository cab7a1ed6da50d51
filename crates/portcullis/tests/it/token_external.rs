//! Verifying our tokens from outside with only the JWKS: the documented Python example
//! (`docs/examples/verify_with_jwks.py`, PyJWT) accepts a real access token and refuses altered
//! ones, so the JWKS and the tokens follow the standards other services rely on; and the Flask
//! backend of `docs/moving-from-flask.md` (`docs/examples/flask_backend.py`), run against a live
//! server, lets through a request with a real token only.

use std::process::Output;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{cookie_value, Server};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/verify_with_jwks.py");

/// Fails (never skips) when the Python side is missing: `scripts/test` installs it.
async fn require_pyjwt() {
    require_python("import jwt, cryptography", "'pyjwt[crypto]>=2.8'").await;
}

/// Fails when `imports` fails, naming the `packages` to install.
async fn require_python(imports: &str, packages: &str) {
    let out = tokio::process::Command::new("python3")
        .args(["-c", imports])
        .output()
        .await
        .unwrap_or_else(|e| panic!("python3 is required for this test and could not be run: {e}"));
    assert!(
        out.status.success(),
        "this test needs python3 with `{imports}`; install it with \
         `python3 -m pip install {packages}` (scripts/test does it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the example. The server lives on this test's runtime, so the child is awaited, never
/// waited for in a blocking way.
async fn verify(url: &str, token: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new("python3").arg(SCRIPT).args(extra).arg(url).arg(token).output().await.unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The login's body, and its refresh token.
async fn login(server: &Server) -> (Value, String) {
    let res = server.raw().token_login_as("test", "test").await;
    assert_eq!(res.status(), 200);
    let refresh = cookie_value(&res, "refresh_token_cookie").unwrap();
    (res.json().await.unwrap(), refresh)
}

async fn me(server: &Server, token: &str) -> Value {
    let res = server.raw().http.get(format!("{}/api/me", server.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_python_example_verifies_real_tokens_with_the_jwks() {
    require_pyjwt().await;
    let server = Server::start().await;
    let (body, refresh) = login(&server).await;
    let access = body["access_token"].as_str().unwrap();
    let who = me(&server, access).await;

    let out = verify(&server.url, access, &[]).await;
    assert!(out.status.success(), "the example refused a real token: {}", stderr(&out));
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], who["id"], "{claims}");
    assert_eq!(claims["sid"], who["session"]["id"], "{claims}");
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["iss"], "portcullis");
    assert_eq!(claims["aud"], "portcullis");
    // Explicit defaults, and a trailing slash on the base URL.
    let out =
        verify(&format!("{}/", server.url), access, &["--audience", "portcullis", "--issuer", "portcullis"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // A claim changed in the payload, signature kept.
    let parts: Vec<&str> = access.split('.').collect();
    let mut altered = claims.clone();
    altered["roles"] = json!(["admin"]);
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(altered.to_string()), parts[2]);
    let out = verify(&server.url, &tampered, &[]).await;
    assert!(!out.status.success(), "a tampered token passed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("token rejected"), "{}", stderr(&out));

    // A verifier expecting another audience or issuer refuses it.
    let out = verify(&server.url, access, &["--audience", "billing"]).await;
    assert!(!out.status.success(), "a token for another audience passed");
    assert!(stderr(&out).contains("token rejected"), "{}", stderr(&out));
    let out = verify(&server.url, access, &["--issuer", "https://elsewhere.example"]).await;
    assert!(!out.status.success(), "a token from another issuer passed");

    // Not a token at all; and alg none with the real kid.
    let out = verify(&server.url, "not-a-token", &[]).await;
    assert!(!out.status.success());
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let none = json!({ "alg": "none", "typ": "JWT", "kid": header["kid"] });
    let unsigned = format!("{}.{}.", URL_SAFE_NO_PAD.encode(none.to_string()), parts[1]);
    let out = verify(&server.url, &unsigned, &[]).await;
    assert!(!out.status.success(), "an unsigned token passed");

    // The refresh token is not an access token.
    let out = verify(&server.url, &refresh, &[]).await;
    assert!(!out.status.success(), "the refresh token passed as an access token");
}

#[tokio::test]
async fn the_python_example_refuses_a_token_for_another_audience() {
    require_pyjwt().await;
    let server = Server::with(|c| c.token.audience = "billing".into()).await;
    let (body, _) = login(&server).await;
    let access = body["access_token"].as_str().unwrap();
    me(&server, access).await;
    // Signed by the right key, but not for the default audience.
    let out = verify(&server.url, access, &[]).await;
    assert!(!out.status.success(), "a token for `billing` passed as one for `portcullis`");
    assert!(stderr(&out).contains("token rejected"), "{}", stderr(&out));
    // The service it is for accepts it.
    let out = verify(&server.url, access, &["--audience", "billing"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["aud"], "billing");
}

#[tokio::test]
async fn the_python_example_refuses_a_token_of_another_server() {
    require_pyjwt().await;
    let ours = Server::start().await;
    let theirs = Server::start().await;
    let (body, _) = login(&theirs).await;
    let access = body["access_token"].as_str().unwrap();
    // Same issuer and audience names, another key: its kid is not in our JWKS.
    let out = verify(&ours.url, access, &[]).await;
    assert!(!out.status.success(), "a token of another server passed");
    assert!(stderr(&out).contains("no key"), "{}", stderr(&out));
    // Nothing listens there: the keys cannot be read, and that is a failure too.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let out = verify(&gone, access, &[]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read the keys"), "{}", stderr(&out));
}

const FLASK_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/flask_backend.py");

/// `docs/examples/flask_backend.py` on a free port, trusting `portcullis`; ended on drop.
async fn flask_backend(portcullis: &str) -> (tokio::process::Child, String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new("python3")
        .arg(FLASK_APP)
        .env("PORTCULLIS_URL", portcullis)
        .env("PORT", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let started = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(url) = line.split("Running on ").nth(1) {
                return Some(url.trim().to_owned());
            }
        }
        None
    })
    .await;
    let Ok(Some(url)) = started else { panic!("the Flask example did not start:\n{seen}") };
    // Its request log keeps coming on stderr: read it, so the app never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test]
async fn the_flask_example_backend_answers_401_without_a_token_and_200_with_one() {
    require_python("import jwt, cryptography, flask", "flask 'pyjwt[crypto]>=2.8'").await;
    let server = Server::start().await;
    let (_app, app) = flask_backend(&server.url).await;
    let http = reqwest::Client::new();
    let orders = format!("{app}/api/orders");

    let anonymous = http.get(&orders).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/problem+json");
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated", "{body}");
    let forged = http.get(&orders).bearer_auth("eyJhbGciOiJub25lIn0.e30.").send().await.unwrap();
    assert_eq!(forged.status(), 401);

    let (login, _) = login(&server).await;
    let access = login["access_token"].as_str().unwrap();
    let res = http.get(&orders).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user_id"], me(&server, access).await["id"], "{body}");

    // A token Portcullis signed, with one claim changed, is refused.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = json!(uuid::Uuid::nil().to_string());
    let altered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
    assert_eq!(http.get(&orders).bearer_auth(altered).send().await.unwrap().status(), 401);
}
