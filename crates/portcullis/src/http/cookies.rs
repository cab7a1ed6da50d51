//! Reading cookies without allocating, and writing them with the configured attributes.

use axum::http::{header, HeaderMap, HeaderValue};
use cookie::time::Duration as CookieDuration;
use cookie::{Cookie, SameSite as CookieSameSite};

use crate::config::{CookieConfig, SameSite};

/// The value of cookie `name` in the request, if sent.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.trim_matches('"'))
    })
}

/// Rewrites the request's `Cookie` headers so that `name` has `value` (and only it), keeping the
/// other cookies; used when a session is restored before the handlers run.
pub fn replace(headers: &mut HeaderMap, name: &str, value: &str) {
    let mut pairs = vec![format!("{name}={value}")];
    for header in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
        for pair in header.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if pair.split_once('=').map(|(k, _)| k) != Some(name) {
                pairs.push(pair.to_owned());
            }
        }
    }
    if let Ok(joined) = HeaderValue::from_str(&pairs.join("; ")) {
        headers.insert(header::COOKIE, joined);
    }
}

/// Whether a response already sets cookie `name`.
pub fn sets(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().strip_prefix(name.as_bytes()).is_some_and(|rest| rest.first() == Some(&b'=')))
}

/// Access token cookie (token mode, `cookies` location).
pub const ACCESS_COOKIE: &str = "access_token_cookie";
/// Refresh token cookie.
pub const REFRESH_COOKIE: &str = "refresh_token_cookie";
/// Double-submit value for the access cookie.
pub const CSRF_ACCESS_COOKIE: &str = "csrf_access_token";
/// Double-submit value for the refresh cookie.
pub const CSRF_REFRESH_COOKIE: &str = "csrf_refresh_token";

/// The device cookie: tokens of the accounts this browser logged in to, which let the lockout
/// tell the owner's browser from an attacker's (see `limits::device`).
pub const DEVICE_COOKIE: &str = "portcullis_device";

/// The token-mode cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCookie {
    /// `access_token_cookie`.
    Access,
    /// `refresh_token_cookie`.
    Refresh,
    /// `csrf_access_token`.
    CsrfAccess,
    /// `csrf_refresh_token`.
    CsrfRefresh,
}

/// Builds `Set-Cookie` values with the configured attributes.
#[derive(Debug, Clone)]
pub struct CookieJar {
    config: CookieConfig,
    remember_name: String,
}

impl CookieJar {
    /// A jar for the given attributes; `remember_name` names the remember-me cookie.
    pub fn new(config: CookieConfig, remember_name: String) -> Self {
        Self { config, remember_name }
    }

    /// The remember-me cookie's name.
    pub fn remember_name(&self) -> &str {
        &self.remember_name
    }

    /// Sets the remember-me cookie for `max_age`.
    pub fn remember(&self, value: String, max_age: std::time::Duration) -> HeaderValue {
        let age = CookieDuration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        self.build(&self.remember_name, value, Some(age))
    }

    /// Clears the remember-me cookie.
    pub fn clear_remember(&self) -> HeaderValue {
        self.build(&self.remember_name, String::new(), Some(CookieDuration::ZERO))
    }

    /// The session cookie's name.
    pub fn session_name(&self) -> &str {
        &self.config.name
    }

    /// The CSRF nonce cookie's name.
    pub fn csrf_name(&self) -> &str {
        &self.config.csrf_name
    }

    fn build(&self, name: &str, value: String, max_age: Option<CookieDuration>) -> HeaderValue {
        self.build_with(name, value, max_age, true, "/")
    }

    fn build_with(
        &self,
        name: &str,
        value: String,
        max_age: Option<CookieDuration>,
        http_only: bool,
        path: &str,
    ) -> HeaderValue {
        let same_site = match self.config.same_site {
            SameSite::Strict => CookieSameSite::Strict,
            SameSite::Lax => CookieSameSite::Lax,
            SameSite::None => CookieSameSite::None,
        };
        let mut c = Cookie::build((name.to_owned(), value))
            .http_only(http_only)
            .path(path.to_owned())
            .secure(self.config.secure)
            .same_site(same_site);
        if let Some(age) = max_age {
            c = c.max_age(age);
        }
        // Names are validated and values are base64url, so the header is always valid.
        HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Sets the session cookie (a browser-session cookie: no Max-Age).
    pub fn session(&self, value: String) -> HeaderValue {
        self.build(&self.config.name, value, None)
    }

    /// Clears the session cookie.
    pub fn clear_session(&self) -> HeaderValue {
        self.build(&self.config.name, String::new(), Some(CookieDuration::ZERO))
    }

    /// Sets (or, with `None`, clears) one of the token-mode cookies. The refresh cookie is only
    /// sent to `/auth`; the double-submit cookies are readable by the page.
    pub fn token_cookie(&self, cookie: TokenCookie, value: Option<(String, std::time::Duration)>) -> HeaderValue {
        let (name, http_only, path) = match cookie {
            TokenCookie::Access => (ACCESS_COOKIE, true, "/"),
            TokenCookie::Refresh => (REFRESH_COOKIE, true, "/auth"),
            TokenCookie::CsrfAccess => (CSRF_ACCESS_COOKIE, false, "/"),
            TokenCookie::CsrfRefresh => (CSRF_REFRESH_COOKIE, false, "/"),
        };
        let (value, age) = match value {
            Some((v, d)) => (v, CookieDuration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))),
            None => (String::new(), CookieDuration::ZERO),
        };
        self.build_with(name, value, Some(age), http_only, path)
    }

    /// Sets the device cookie for `max_age`.
    pub fn device(&self, value: String, max_age: std::time::Duration) -> HeaderValue {
        let age = CookieDuration::seconds(i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX));
        self.build(DEVICE_COOKIE, value, Some(age))
    }

    /// Sets the CSRF nonce cookie (kept a year; the token it backs is not a credential alone).
    pub fn csrf_nonce(&self, value: String) -> HeaderValue {
        self.build(&self.config.csrf_name, value, Some(CookieDuration::days(365)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_among_many() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; portcullis_session=abc; b=2"));
        h.append(header::COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(read(&h, "portcullis_session"), Some("abc"));
        assert_eq!(read(&h, "c"), Some("3"));
        assert_eq!(read(&h, "portcullis"), None);
    }

    #[test]
    fn replace_keeps_the_others_and_drops_duplicates() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; s=old; b=2"));
        h.append(header::COOKIE, HeaderValue::from_static("s=older"));
        replace(&mut h, "s", "new");
        assert_eq!(h.get_all(header::COOKIE).iter().count(), 1);
        assert_eq!(read(&h, "s"), Some("new"));
        assert_eq!((read(&h, "a"), read(&h, "b")), (Some("1"), Some("2")));
        let mut r = HeaderMap::new();
        r.append(header::SET_COOKIE, HeaderValue::from_static("sx=1; Path=/"));
        assert!(!sets(&r, "s"));
        r.append(header::SET_COOKIE, HeaderValue::from_static("s=; Max-Age=0"));
        assert!(sets(&r, "s"));
    }
}
