//! Deploy mode A: the single-page app served on every non-API path.
//!
//! `index.html` gets `<meta name="csrf-token" content="…">` filled in per request (replacing a
//! `{{ csrf_token() }}` placeholder or an existing csrf-token meta tag, else inserted at the top
//! of `<head>`). Other paths are the SPA's files, cached long when their names carry a content
//! hash; unknown extension-less paths fall back to `index.html` so client-side routes work.
//! Hidden entries (any path segment starting with `.`) are never served, and a file of
//! `spa.dir` is served only if its real path, symlinks resolved, lies inside the folder's.
//!
//! With `spa.template` (a Flask app's `templates/index.html`), the page is that Jinja template
//! rendered per request ([`crate::template`]), and only `spa.static_dir` is served, under
//! `spa.static_url` — as Flask serves its `static_folder` — never the rest of `spa.dir`.
//!
//! The SPA is `spa.dir` when configured, else the built-in one: the Svelte app of `web/`
//! (log in, register, "who am I", sessions, password, and admin pages for the `admin` role),
//! whose build output `web/dist` is embedded in the crate at compile time — running the
//! server needs no Node. `web/build.sh` rebuilds it; its files other than `index.html` sit
//! under `/portcullis/` with content-hashed names.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::response::IntoResponse;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::error::{problem, ApiError};
use super::extract::issue_csrf;
use super::AppState;
use crate::template::{PageTemplate, SpaTemplate};

/// The built-in SPA: `web/dist`, built by `web/build.sh` and committed.
#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
struct BuiltIn;

/// Where the built-in SPA's files other than `index.html` live; every one has a content hash
/// in its name (the build emits nothing else), so all are cached for a year.
const BUILTIN_ASSETS: &str = "portcullis/";

/// Served if `web/dist` held no `index.html` when the crate was compiled.
const MISSING_INDEX: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Portcullis</title></head><body><p>The built-in SPA was not built: run web/build.sh.</p></body></html>";

const YEAR: &str = "public, max-age=31536000, immutable";
const HOUR: &str = "public, max-age=3600";

/// The SPA being served.
#[derive(Debug, Clone)]
pub struct Spa {
    /// The folder of its files (`spa.dir` or `spa.static_dir`), or `None` for the built-in SPA.
    root: Option<PathBuf>,
    /// The URL path its files are under: `""` (the site's root) or e.g. `/public`.
    prefix: String,
    page: Page,
}

/// The page served at `/` and as the fallback.
#[derive(Debug, Clone)]
enum Page {
    /// A plain `index.html`, split around the token.
    Fixed { before: String, after: String },
    /// A Jinja template.
    Template(Arc<PageTemplate>),
}

impl Spa {
    /// The built-in SPA.
    pub fn builtin() -> Self {
        let index = BuiltIn::get("index.html").map(|file| String::from_utf8_lossy(&file.data).into_owned());
        let (before, after) = split_index(index.as_deref().unwrap_or(MISSING_INDEX));
        Self { root: None, prefix: String::new(), page: Page::Fixed { before, after } }
    }

    /// The SPA in `dir` (its `index.html` is read once, now).
    pub fn from_dir(dir: &Path) -> std::io::Result<Self> {
        let index = std::fs::read_to_string(dir.join("index.html"))?;
        if index.contains("url_for(") {
            tracing::warn!(
                dir = %dir.display(),
                "index.html calls url_for(), which is served as it is: to render it as a Flask template, set spa.template"
            );
        }
        let (before, after) = split_index(&index);
        Ok(Self { root: Some(dir.to_path_buf()), prefix: String::new(), page: Page::Fixed { before, after } })
    }

    /// A page template with its static folder.
    pub fn from_template(template: &SpaTemplate) -> Self {
        Self {
            root: Some(template.static_dir.clone()),
            prefix: template.static_url.clone(),
            page: Page::Template(Arc::clone(&template.page)),
        }
    }

    fn render(&self, token: &str) -> Result<String, String> {
        match &self.page {
            Page::Fixed { before, after } => {
                let mut html = String::with_capacity(before.len() + token.len() + after.len());
                html.push_str(before);
                html.push_str(token);
                html.push_str(after);
                Ok(html)
            }
            Page::Template(template) => template.render(token),
        }
    }

    /// The path of a file below [`Self::prefix`], or `None` for a path outside it.
    fn file_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        if self.prefix.is_empty() {
            return Some(rest.trim_start_matches('/'));
        }
        rest.strip_prefix('/')
    }
}

/// Splits `index.html` around the place the token goes.
fn split_index(html: &str) -> (String, String) {
    const PLACEHOLDER: &str = "{{ csrf_token() }}";
    if let Some(at) = html.find(PLACEHOLDER) {
        return (html[..at].to_owned(), html[at + PLACEHOLDER.len()..].to_owned());
    }
    let lower = html.to_ascii_lowercase();
    let tag_open = "<meta name=\"csrf-token\" content=\"";
    if let Some(start) = lower.find("<meta name=\"csrf-token\"") {
        if let Some(len) = lower[start..].find('>') {
            let before = format!("{}{tag_open}", &html[..start]);
            return (before, format!("\">{}", &html[start + len + 1..]));
        }
    }
    let insert_at = lower.find("<head").and_then(|h| lower[h..].find('>').map(|end| h + end + 1)).unwrap_or(0);
    (format!("{}{tag_open}", &html[..insert_at]), format!("\">{}", &html[insert_at..]))
}

/// Whether a file name carries a content hash (`app.3f9a1c2e.js`, `index-BxY12_ab.css`), so
/// it can be cached for a year.
fn is_fingerprinted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.split(['.', '-']).any(|part| {
        part.len() >= 8
            && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && part.bytes().any(|b| b.is_ascii_digit())
    })
}

fn not_found() -> Response<Body> {
    problem(StatusCode::NOT_FOUND, "not_found", "no such resource", &[])
}

/// The fallback handler: index, assets, or 404 problem+json for unknown API paths.
pub async fn serve(State(state): State<AppState>, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path == "/api" || path.starts_with("/api/") || path == "/auth" || path.starts_with("/auth/") {
        return not_found();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this method is not allowed here", &[]);
    }
    if path == "/" || path == "/index.html" {
        return index(&state, &req);
    }
    let under_prefix = state.spa.file_path(&path);
    let relative = under_prefix.unwrap_or_else(|| path.trim_start_matches('/'));
    // Hidden files (`.env`, `.git/config`, `.htpasswd`) hold secrets, not the app: never served,
    // and not answered with the page either, so a scan sees the same 404 as for a missing file.
    // `..` and `.` start with a dot too, so no path climbs out of the folder.
    if relative.split('/').any(is_hidden) {
        return not_found();
    }
    // Only plain relative segments reach the files: no absolute paths, no backslashes.
    let safe = relative.split('/').all(|seg| !seg.is_empty() && !seg.contains('\\'));
    if safe && under_prefix.is_some() {
        match &state.spa.root {
            None => {
                if let Some(response) = builtin_file(relative) {
                    return response;
                }
            }
            Some(root) => match lookup(root.clone(), relative.to_owned()).await {
                Lookup::File(file) => {
                    let cache = if is_fingerprinted(relative) { YEAR } else { HOUR };
                    let mut response = match ServeFile::new(file).oneshot(req).await {
                        Ok(r) => r.map(Body::new),
                        Err(never) => match never {},
                    };
                    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
                    return response;
                }
                Lookup::Refused => return not_found(),
                Lookup::Absent => {}
            },
        }
    }
    // Below a static URL (`/public/...`) there are files only, as in Flask: no page.
    if under_prefix.is_some() && !state.spa.prefix.is_empty() {
        return not_found();
    }
    if relative.rsplit('/').next().is_some_and(|n| n.contains('.')) {
        return not_found();
    }
    index(&state, &req)
}

/// Whether a request path segment names a hidden entry: it starts with `.`, or with `%2e`,
/// which nothing here decodes but a later reader of the path might.
fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || segment.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2e"))
}

/// What a request path names inside `spa.dir`.
enum Lookup {
    /// A regular file inside the folder, by its real path.
    File(PathBuf),
    /// Something that resolves outside the folder or into a hidden entry in it.
    Refused,
    /// Nothing, or a folder: the SPA's fallback rules apply.
    Absent,
}

/// Resolves `relative` under `root` by real paths (every symlink followed): only a target inside
/// the real path of `root`, passing no hidden entry there, is served. A symlink to `/etc`, or
/// to a `.git` folder beside the app, lends nothing its target holds, and is answered 404 rather
/// than with the page, like a hidden file.
async fn lookup(root: PathBuf, relative: String) -> Lookup {
    let resolve = move || {
        // The folder is resolved on each request too, so a release swapped in by replacing a
        // symlinked `spa.dir` is measured against its own real path.
        let Ok(real_root) = std::fs::canonicalize(&root) else { return Lookup::Absent };
        let Ok(real) = std::fs::canonicalize(root.join(&relative)) else { return Lookup::Absent };
        let Ok(inside) = real.strip_prefix(&real_root) else { return Lookup::Refused };
        if inside.components().any(|c| c.as_os_str().as_encoded_bytes().starts_with(b".")) {
            return Lookup::Refused;
        }
        match std::fs::metadata(&real) {
            Ok(meta) if meta.is_file() => Lookup::File(real),
            _ => Lookup::Absent,
        }
    };
    tokio::task::spawn_blocking(resolve).await.unwrap_or(Lookup::Absent)
}

/// A file of the built-in SPA, if there is one at `relative`.
fn builtin_file(relative: &str) -> Option<Response<Body>> {
    let file = BuiltIn::get(relative)?;
    let content_type = match file.metadata.mimetype() {
        // Text without a charset would be read in the browser's default encoding.
        m if m.starts_with("text/") || m == "application/javascript" => format!("{m}; charset=utf-8"),
        m => m.to_owned(),
    };
    let cache = if relative.starts_with(BUILTIN_ASSETS) || is_fingerprinted(relative) { YEAR } else { HOUR };
    let body = match file.data {
        Cow::Borrowed(bytes) => Body::from(bytes),
        Cow::Owned(bytes) => Body::from(bytes),
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    Some(response)
}

fn index(state: &AppState, req: &Request) -> Response<Body> {
    let (token, set_cookie) = issue_csrf(state, req.headers());
    let html = match state.spa.render(&token) {
        Ok(html) => html,
        // Checked at start, so only a template error on a path not taken then: a generic 500,
        // the template's own message in the log.
        Err(e) => {
            return ApiError::from(crate::Error::internal(format!("rendering the page template: {e}"))).into_response()
        }
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            // The page carries a per-browser token: never cached.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_goes_where_the_page_wants_it() {
        let seed = r#"<head><meta name="csrf-token" content="{{ csrf_token() }}" /></head>"#;
        let (b, a) = split_index(seed);
        assert_eq!(format!("{b}T{a}"), r#"<head><meta name="csrf-token" content="T" /></head>"#);

        let existing = r#"<html><head><meta name="csrf-token" content=""><title>x</title></head>"#;
        let (b, a) = split_index(existing);
        assert_eq!(format!("{b}T{a}"), r#"<html><head><meta name="csrf-token" content="T"><title>x</title></head>"#);

        let none = r#"<html><head lang="en"><title>x</title></head>"#;
        let (b, a) = split_index(none);
        assert_eq!(
            format!("{b}T{a}"),
            r#"<html><head lang="en"><meta name="csrf-token" content="T"><title>x</title></head>"#
        );
    }

    #[test]
    fn the_builtin_spa_is_embedded() {
        let index = BuiltIn::get("index.html").expect("web/dist/index.html is embedded");
        let html = String::from_utf8(index.data.into_owned()).expect("utf-8");
        assert!(html.contains("{{ csrf_token() }}"), "the token placeholder is in the built page");
        // Every other file is a content-hashed asset under /portcullis/, and the page loads them
        // from there: no inline script (the CSP has script-src 'self').
        let assets: Vec<_> = BuiltIn::iter().filter(|f| f != "index.html").collect();
        assert!(assets.iter().any(|f| f.ends_with(".js")) && assets.iter().any(|f| f.ends_with(".css")), "{assets:?}");
        for asset in &assets {
            assert!(asset.starts_with(BUILTIN_ASSETS), "{asset} is under {BUILTIN_ASSETS}");
            assert!(html.contains(&format!("\"/{asset}\"")), "index.html loads /{asset}");
        }
        assert!(!html.contains("<style"), "no inline style");
        for tag in html.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap_or(tag.len())];
            assert!(open.contains(" src=\"/"), "no inline script: <script{open}>");
        }
    }

    #[test]
    fn fingerprints() {
        assert!(is_fingerprinted("assets/index-B3xk9a2Q.js"));
        assert!(is_fingerprinted("app.3f9a1c2e.css"));
        assert!(!is_fingerprinted("build/bundle.js"));
        assert!(!is_fingerprinted("favicon.png"));
    }
}
