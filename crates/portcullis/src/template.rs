//! The SPA's page as a Jinja template: a Flask app's `templates/index.html`, served as it is
//! (deploy mode A).
//!
//! The template is parsed once, at start, by minijinja, and rendered per request with the two
//! functions Flask gives such a page:
//!
//! - `csrf_token()`: this browser's CSRF token (as Flask-WTF's);
//! - `url_for('static', filename='build/bundle.js')`: `spa.static_url` + `/build/bundle.js`, the
//!   file of `spa.static_dir` Portcullis serves there. Other keyword arguments become the query
//!   string (`v=3` → `?v=3`), as in Flask (in alphabetical order).
//!
//! Anything else a template asks for — Flask's `request`, `session`, `g`, `config`,
//! `current_user`, `get_flashed_messages()` — and any syntax error are start-up errors naming the
//! file and line, never a blank page. `{% extends %}` and `{% include %}` read templates from the
//! template's own folder.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::RawSpa;

/// The context variable holding the request's token (no template names it: `csrf_token()` reads it).
const TOKEN: &str = "__portcullis_csrf_token";

/// The functions a page template may call.
const PROVIDED: [&str; 2] = ["csrf_token", "url_for"];

/// What may stay unencoded in a URL path from `url_for`: unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
/// ... and in a query-string key or value.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A page template, parsed and checked; rendering it cannot meet an unknown name.
pub struct PageTemplate {
    env: Environment<'static>,
    /// Its name in `env`: the file name, in the loader's folder.
    name: String,
}

impl fmt::Debug for PageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageTemplate").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PageTemplate {
    /// Parses `file` (and what it extends or includes, from its folder), whose `url_for('static')`
    /// URLs start with `static_url` (`""` for the site's root, or e.g. `/public`). Errors name the
    /// file and line.
    pub fn load(file: &Path, static_url: &str) -> Result<Self, String> {
        let folder = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: not a file name", file.display()))?
            .to_owned();
        if !file.is_file() {
            return Err(format!("{} is not a file", file.display()));
        }
        let mut env = Environment::new();
        env.set_loader(minijinja::path_loader(&folder));
        // An undefined name is an error, not an empty string: a page must not render half blank.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // As Flask: HTML escaping for .html, .htm, .xml (and .svg, .xhtml) templates.
        env.set_auto_escape_callback(|name| {
            let html = [".html", ".htm", ".xml", ".xhtml", ".svg"].iter().any(|ext| name.ends_with(ext));
            if html {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.add_function("csrf_token", |state: &State| -> Result<Value, minijinja::Error> {
            let token = state
                .lookup(TOKEN)
                .ok_or_else(|| minijinja::Error::new(ErrorKind::InvalidOperation, "csrf_token() has no token here"))?;
            // A token is base64url: nothing in it needs escaping.
            Ok(Value::from_safe_string(token.to_string()))
        });
        let prefix = static_url.to_owned();
        env.add_function("url_for", move |state: &State, endpoint: &str, kwargs: Kwargs| {
            url_for(&prefix, state, endpoint, &kwargs)
        });
        let page = Self { env, name };
        let shown = |e: minijinja::Error| describe(&folder, &e);
        let template = page.env.get_template(&page.name).map_err(shown)?;
        // Rendered once now: what the page extends or includes is loaded, and a wrong call to
        // url_for() on the page's way is found before the first visitor. A name Portcullis does
        // not provide is the clearer message, so it is looked for first.
        let rendered = template.render(minijinja::context! { __portcullis_csrf_token => "csrf-token" });
        for (name, loaded) in page.env.templates() {
            unknown_names(&folder, name, &loaded.undeclared_variables(false), loaded.source())?;
        }
        rendered.map_err(shown)?;
        Ok(page)
    }

    /// The page with this browser's CSRF token.
    pub fn render(&self, csrf_token: &str) -> Result<String, String> {
        let template = self.env.get_template(&self.name).map_err(|e| e.to_string())?;
        template.render(minijinja::context! { __portcullis_csrf_token => csrf_token }).map_err(|e| e.to_string())
    }
}

/// Refuses a template that names something Portcullis does not provide, naming the first line
/// that does.
fn unknown_names(
    folder: &Path,
    name: &str,
    undeclared: &std::collections::HashSet<String>,
    source: &str,
) -> Result<(), String> {
    let builtins = Environment::new();
    let known: BTreeSet<&str> = builtins.globals().map(|(n, _)| n).chain(PROVIDED).collect();
    let unknown: BTreeSet<&str> =
        undeclared.iter().map(String::as_str).filter(|n| !known.contains(n) && *n != TOKEN).collect();
    let Some(first) = unknown.iter().min_by_key(|n| line_of(source, n)) else { return Ok(()) };
    Err(format!(
        "{}:{}: `{first}` is not available here: a page template gets csrf_token() and \
         url_for('static', filename=...) only (Flask's request, session, g, config, current_user \
         and get_flashed_messages() do not exist outside Flask)",
        folder.join(name).display(),
        line_of(source, first),
    ))
}

/// The line of the first use of `name` inside a `{{ ... }}` or `{% ... %}` tag (1 if none).
fn line_of(source: &str, name: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut at = 0;
    while let Some(open) = source[at..].find(['{']).map(|i| at + i) {
        let close = match source.get(open..open + 2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            _ => {
                at = open + 1;
                continue;
            }
        };
        let end = source[open..].find(close).map_or(source.len(), |i| open + i);
        let tag = &source[open..end];
        let found = tag.match_indices(name).find(|(i, _)| {
            let before = tag[..*i].chars().next_back();
            let after = tag[i + name.len()..].chars().next();
            !before.is_some_and(|c| is_word(c) || c == '.') && !after.is_some_and(is_word)
        });
        if let Some((i, _)) = found {
            return source[..open + i].matches('\n').count() + 1;
        }
        at = end;
    }
    1
}

/// `FILE:LINE: what went wrong` for a minijinja error.
fn describe(folder: &Path, e: &minijinja::Error) -> String {
    let file = folder.join(e.name().unwrap_or("?"));
    let line = e.line().map_or_else(String::new, |l| format!(":{l}"));
    let detail = e.detail().map_or_else(String::new, |d| format!(": {d}"));
    format!("{}{line}: {}{detail}", file.display(), e.kind())
}

/// `url_for('static', filename=...)`, as Flask builds it.
fn url_for(prefix: &str, state: &State, endpoint: &str, kwargs: &Kwargs) -> Result<Value, minijinja::Error> {
    let invalid = |msg: String| minijinja::Error::new(ErrorKind::InvalidOperation, msg);
    if endpoint != "static" {
        return Err(invalid(format!(
            "url_for('{endpoint}'): only the 'static' endpoint exists here (write other links as paths)"
        )));
    }
    let filename: String =
        kwargs.get("filename").map_err(|_| invalid("url_for('static') needs filename='...'".into()))?;
    let mut url = format!("{prefix}/{}", utf8_percent_encode(filename.trim_start_matches('/'), PATH));
    // Query parameters are separated by `&`, which is `&amp;` in an HTML attribute.
    let amp = if matches!(state.auto_escape(), AutoEscape::Html) { "&amp;" } else { "&" };
    let mut separator = "?";
    for key in kwargs.args().filter(|k| *k != "filename").collect::<Vec<_>>() {
        if key.starts_with('_') {
            return Err(invalid(format!("url_for(): `{key}` is not supported here (the URL is always a path)")));
        }
        let value: Value = kwargs.get(key)?;
        url.push_str(separator);
        url.push_str(&utf8_percent_encode(key, QUERY).to_string());
        url.push('=');
        url.push_str(&utf8_percent_encode(&value.to_string(), QUERY).to_string());
        separator = amp;
    }
    kwargs.assert_all_used()?;
    Ok(Value::from_safe_string(url))
}

/// `[spa]` validated: the parsed page and where its files are.
#[derive(Debug, Clone)]
pub struct SpaTemplate {
    /// The page.
    pub page: Arc<PageTemplate>,
    /// The folder whose files are served (`spa.static_dir`).
    pub static_dir: PathBuf,
    /// The URL path they are served under: `""` for the site's root, else e.g. `/public`.
    pub static_url: String,
}

/// Checks `spa.template`, `spa.static_dir` and `spa.static_url` and loads the template; every
/// problem names its key. `Ok(None)` without a template.
pub(crate) fn validate(raw: &RawSpa) -> Result<Option<SpaTemplate>, Vec<String>> {
    let Some(template) = &raw.template else {
        let stray = [("spa.static_dir", raw.static_dir.is_some()), ("spa.static_url", raw.static_url.is_some())];
        let problems: Vec<String> = stray
            .iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| format!("{key}: only with spa.template (a plain index.html serves all of spa.dir)"))
            .collect();
        return if problems.is_empty() { Ok(None) } else { Err(problems) };
    };
    let Some(dir) = &raw.dir else {
        return Err(vec!["spa.template: needs spa.dir, the folder the template and static_dir are in".into()]);
    };
    let mut problems = Vec::new();
    let file = dir.join(template);
    let static_dir = dir.join(raw.static_dir.as_deref().unwrap_or(Path::new("static")));
    if !static_dir.is_dir() {
        problems.push(format!("spa.static_dir: {} is not a folder", static_dir.display()));
    } else if let (Ok(folder), Ok(page)) = (static_dir.canonicalize(), file.canonicalize()) {
        // The static folder is served whole: it must not hold the template (and the app beside it).
        if page.starts_with(&folder) {
            problems.push(format!(
                "spa.static_dir: {} holds the template itself, and would serve it and everything beside it: \
                 point it at the folder of the built files (Flask's static_folder)",
                static_dir.display()
            ));
        }
    }
    let default_url = || {
        let name = static_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        format!("/{name}")
    };
    let static_url = raw.static_url.clone().unwrap_or_else(default_url);
    let static_url = match check_static_url(&static_url) {
        Ok(url) => url,
        Err(problem) => {
            problems.push(format!("spa.static_url: {problem}"));
            String::new()
        }
    };
    let page = match PageTemplate::load(&file, &static_url) {
        Ok(page) => Some(page),
        Err(problem) => {
            problems.push(format!("spa.template: {problem}"));
            None
        }
    };
    match page {
        Some(page) if problems.is_empty() => Ok(Some(SpaTemplate { page: Arc::new(page), static_dir, static_url })),
        _ => Err(problems),
    }
}

/// `/` (the site's root, given as `""`) or `/a/b`: no trailing slash, no hidden segment, and
/// clear of the API's paths.
fn check_static_url(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    if !url.starts_with('/') || url.contains(['?', '#', '\\', '%', ' ']) {
        return Err(format!("`{url}` must be a path like /public"));
    }
    if trimmed.split('/').skip(1).any(|seg| seg.is_empty() || seg.starts_with('.')) {
        return Err(format!("`{url}` has an empty or hidden segment"));
    }
    let first = trimmed.split('/').nth(1).unwrap_or("");
    if ["api", "auth", ".well-known", "healthz", "readyz"].contains(&first) {
        return Err(format!("`{url}` is where Portcullis's own routes are"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(source: &str, static_url: &str) -> Result<PageTemplate, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let file = dir.path().join("index.html");
        std::fs::write(&file, source).map_err(|e| e.to_string())?;
        PageTemplate::load(&file, static_url)
    }

    #[test]
    fn flask_calls_render_as_flask_renders_them() {
        let source = "<meta name=\"csrf-token\" content=\"{{ csrf_token() }}\" />\n\
                      <link href=\"{{url_for('static', filename='build/bundle.css') }}\">\n\
                      <script src=\"{{ url_for('static', filename='/app v2.js', v=3, lang='de fr') }}\"></script>";
        let html = page(source, "/public").unwrap().render("TOKEN_1").unwrap();
        assert_eq!(
            html,
            "<meta name=\"csrf-token\" content=\"TOKEN_1\" />\n<link href=\"/public/build/bundle.css\">\n\
             <script src=\"/public/app%20v2.js?lang=de%20fr&amp;v=3\"></script>"
        );
        let root = page("{{ url_for('static', filename='favicon.png') }}", "").unwrap();
        assert_eq!(root.render("t").unwrap(), "/favicon.png");
    }

    #[test]
    fn unknown_names_and_syntax_errors_name_the_file_and_line() {
        let err = page("<p>\n{{ get_flashed_messages() }}</p>", "/static").unwrap_err();
        assert!(err.contains("index.html:2: `get_flashed_messages` is not available here"), "{err}");
        let err = page("a\nb\n{% if current_user.is_authenticated %}x{% endif %}", "/static").unwrap_err();
        assert!(err.contains("index.html:3: `current_user`"), "{err}");
        let err = page("<p>\n\n{{ csrf_token( }}</p>", "/static").unwrap_err();
        assert!(err.contains("index.html:3: syntax error"), "{err}");
        let err = page("{{ url_for('index') }}", "/static").unwrap_err();
        assert!(err.contains("index.html:1") && err.contains("only the 'static' endpoint"), "{err}");
        let err = page("{{ url_for('static', filename='a.js', _external=True) }}", "/static").unwrap_err();
        assert!(err.contains("`_external` is not supported"), "{err}");
        let err = page("{{ url_for('static') }}", "/static").unwrap_err();
        assert!(err.contains("needs filename"), "{err}");
        // Names the template defines itself, and minijinja's own globals, are fine.
        let ok = page("{% set v = range(2) | list %}{% for i in v %}{{ i }}{% endfor %}", "/s").unwrap();
        assert_eq!(ok.render("t").unwrap(), "01");
    }

    #[test]
    fn extends_reads_from_the_template_folder_and_is_checked_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("base.html"), "<head>{% block head %}{% endblock %}</head>\n{{ request.path }}")
            .unwrap();
        let file = dir.path().join("index.html");
        std::fs::write(&file, "{% extends 'base.html' %}{% block head %}{{ csrf_token() }}{% endblock %}").unwrap();
        let err = PageTemplate::load(&file, "/static").unwrap_err();
        assert!(err.contains("base.html:2") && err.contains("`request`"), "{err}");
        std::fs::write(dir.path().join("base.html"), "<head>{% block head %}{% endblock %}</head>").unwrap();
        assert_eq!(PageTemplate::load(&file, "/static").unwrap().render("T").unwrap(), "<head>T</head>");
    }

    #[test]
    fn static_urls_stay_clear_of_the_api() {
        assert_eq!(check_static_url("/public/"), Ok("/public".to_owned()));
        assert_eq!(check_static_url("/"), Ok(String::new()));
        for bad in ["public", "/api", "/auth/x", "/a//b", "/.git", "/a?b", "/%2e"] {
            assert!(check_static_url(bad).is_err(), "{bad}");
        }
    }
}
