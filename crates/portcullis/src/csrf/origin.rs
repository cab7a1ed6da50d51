//! The origin check: an unsafe request authenticated by a cookie must come from this site's own
//! origin (RFC 6454: scheme, host and port, all three) or from one in `cors.allowed_origins`.
//!
//! Browsers say where a request comes from in `Sec-Fetch-Site` (only to HTTPS and `localhost`
//! sites) and `Origin` (on every POST). `Sec-Fetch-Site: same-origin` settles it; otherwise the
//! `Origin` is compared with the origin this site is reached at, which is, in this order:
//!
//! 1. `server.public_origin` when set — the address users open. Nothing a request says changes
//!    it, so it is the answer behind any proxy.
//! 2. What a trusted proxy (`proxy.trusted`; from anyone else these headers are dropped before
//!    any handler runs) says: the last element of `Forwarded` (RFC 7239: `proto=`, `host=`),
//!    else the last value of `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Port`.
//!    The last one is the nearest proxy's, the only one a client cannot have written.
//! 3. `Host`.
//!
//! A host without a port means the scheme's default port (RFC 9110 §4.2.1), so behind a proxy
//! that drops the port (nginx `proxy_set_header Host $host`) a page at `http://app.test:81`
//! does not match `app.test`, and the refusal says so: set `server.public_origin`, or forward
//! the port. Matching the host alone would let any other port of the host (another service,
//! another user's dev server) pass as this site. Where no scheme is known (no proxy said one),
//! an `Origin` of either scheme matches by host and port, as before a TLS proxy is configured.

use http::uri::Authority;
use http::HeaderMap;

/// The headers a reverse proxy uses to describe the request it received. Only a trusted
/// proxy's are believed: the router drops them from every other peer.
pub const PROXY_HEADERS: [&str; 4] = ["forwarded", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"];

/// What the origin check compares with: the configuration's part of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct OriginPolicy<'a> {
    /// `cors.allowed_origins`, normalized (`scheme://host[:port]`, lowercase).
    pub allowed: &'a [String],
    /// `server.public_origin`, normalized; `None` derives the origin from the request.
    pub public_origin: Option<&'a str>,
}

/// What the request's `Origin` / `Sec-Fetch-Site` headers say about where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Same origin, an allowed origin, or a same-site request.
    Trusted,
    /// No `Origin` and no `Sec-Fetch-Site`: not a browser's cross-site request.
    Unknown,
    /// `Sec-Fetch-Site: none`: the user typed the URL or followed a bookmark.
    UserInitiated,
    /// Cross-site and not in the allow-list.
    CrossSite,
}

/// Classifies a request by its `Sec-Fetch-Site` and its `Origin` (against this site's origin
/// and the allowed ones).
pub fn provenance(headers: &HeaderMap, policy: &OriginPolicy<'_>) -> Provenance {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    // Browsers set Sec-Fetch-Site themselves; pages cannot forge it.
    if fetch_site == Some("same-origin") {
        return Provenance::Trusted;
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        return if origin_is_allowed(origin, headers, policy) { Provenance::Trusted } else { Provenance::CrossSite };
    }
    match fetch_site {
        Some("same-site") => Provenance::Trusted,
        Some("none") => Provenance::UserInitiated,
        Some(_) => Provenance::CrossSite,
        None => Provenance::Unknown,
    }
}

/// Why a request that [`provenance`] calls cross-site was refused, for the problem's `detail`.
/// It names the `Origin` (the client's own header) and which part of it differs, never the
/// site's origin itself, which may be an internal name the proxy sent.
pub fn refusal_detail(headers: &HeaderMap, policy: &OriginPolicy<'_>) -> String {
    const REFUSED: &str = "cross-site request refused";
    let Some(origin) = headers.get(http::header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return REFUSED.to_owned();
    };
    if policy.public_origin.is_some() {
        return format!("{REFUSED}: Origin {origin} is neither server.public_origin nor an allowed origin");
    }
    let Some(from) = Origin::parse(origin) else {
        return format!("{REFUSED}: Origin {origin} is not an http(s) origin of this site");
    };
    let site = reached(headers);
    let hint = if !site.host.eq_ignore_ascii_case(&from.host) {
        String::new()
    } else if site.scheme.is_some_and(|s| s != from.scheme) {
        format!(" (a trusted proxy says this site is reached over {})", site.scheme.unwrap_or_default())
    } else if site.port.is_none() {
        let port = default_port(site.scheme.unwrap_or(from.scheme));
        format!(
            " (the {} names no port, which means port {port}; behind a proxy that drops the port, set \
             server.public_origin to the address users open, or have the proxy forward the port)",
            site.source
        )
    } else {
        " (another port)".to_owned()
    };
    format!("{REFUSED}: Origin {origin} is not this site's origin{hint}")
}

fn origin_is_allowed(origin: &str, headers: &HeaderMap, policy: &OriginPolicy<'_>) -> bool {
    if origin == "null" {
        return false;
    }
    if policy.allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let Some(from) = Origin::parse(origin) else { return false };
    match policy.public_origin {
        Some(public) => Origin::parse(public).is_some_and(|site| site == from),
        None => reached(headers).admits(&from),
    }
}

/// A serialized origin (`scheme://host[:port]`), its port filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: &'static str,
    host: String,
    port: u16,
}

impl Origin {
    /// `http(s)://host[:port]`; anything else (other schemes, paths, user info) is `None`.
    fn parse(text: &str) -> Option<Self> {
        let (scheme, rest) = match text.split_once("://")? {
            (s, rest) if s.eq_ignore_ascii_case("https") => ("https", rest),
            (s, rest) if s.eq_ignore_ascii_case("http") => ("http", rest),
            _ => return None,
        };
        let (host, port) = parse_authority(rest)?;
        Some(Self { scheme, host, port: port.unwrap_or(default_port(scheme)) })
    }
}

/// The origin this site was reached at, as far as the request tells.
#[derive(Debug)]
struct Reached {
    /// `None`: no trusted proxy said, so either scheme is taken.
    scheme: Option<&'static str>,
    host: String,
    /// `None`: the host came without a port and none was forwarded: the scheme's default.
    port: Option<u16>,
    /// Which header named the host, for the refusal's detail.
    source: &'static str,
}

impl Reached {
    fn admits(&self, origin: &Origin) -> bool {
        let scheme_ok = self.scheme.is_none_or(|s| s == origin.scheme);
        let port = self.port.unwrap_or_else(|| default_port(self.scheme.unwrap_or(origin.scheme)));
        scheme_ok && port == origin.port && self.host.eq_ignore_ascii_case(&origin.host)
    }
}

/// This site's origin from `Forwarded`, `X-Forwarded-*` and `Host`, in that order (the router
/// keeps the proxy headers only when a trusted proxy sent them).
fn reached(headers: &HeaderMap) -> Reached {
    let element = forwarded(headers);
    let scheme = element.as_ref().and_then(|e| e.proto).or_else(|| scheme(last_value(headers, "x-forwarded-proto")?));
    let named = [
        (element.and_then(|e| e.host), "host in the Forwarded header"),
        (last_value(headers, "x-forwarded-host").map(str::to_owned), "X-Forwarded-Host header"),
        (headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned), "Host header"),
    ];
    let (host, port, source) = named
        .into_iter()
        .find_map(|(value, source)| parse_authority(&value?).map(|(host, port)| (host, port, source)))
        .unwrap_or_default();
    let forwarded_port = || last_value(headers, "x-forwarded-port")?.parse::<u16>().ok();
    Reached { scheme, host, port: port.or_else(forwarded_port), source }
}

/// The last comma-separated value of the last `name` header: the nearest proxy's.
fn last_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    Some(value.rsplit(',').next()?.trim()).filter(|v| !v.is_empty())
}

fn scheme(value: &str) -> Option<&'static str> {
    match value {
        s if s.eq_ignore_ascii_case("https") => Some("https"),
        s if s.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// `host[:port]` (a name, an IPv4 address or a bracketed IPv6 address), host lowercased.
fn parse_authority(text: &str) -> Option<(String, Option<u16>)> {
    // No user info: an origin or a Host never carries one.
    if text.is_empty() || text.contains(['@', '/', '?', '#']) {
        return None;
    }
    let authority: Authority = text.parse().ok()?;
    let host = authority.host();
    // `host:` with an empty port, or a port that is not a number, is not an authority here.
    if host.is_empty() || (text.len() > host.len() && authority.port_u16().is_none()) {
        return None;
    }
    Some((host.to_ascii_lowercase(), authority.port_u16()))
}

/// What one `Forwarded` element says about the request the proxy received.
#[derive(Debug, Default, PartialEq, Eq)]
struct Element {
    proto: Option<&'static str>,
    host: Option<String>,
}

/// The last element of the `Forwarded` headers (RFC 7239 §4): the nearest proxy's.
fn forwarded(headers: &HeaderMap) -> Option<Element> {
    let values: Vec<&str> = headers.get_all("forwarded").iter().map(|v| v.to_str().ok()).collect::<Option<_>>()?;
    let joined = values.join(",");
    let last = split_unquoted(&joined, ',').into_iter().rev().find(|e| !e.trim().is_empty())?;
    let mut element = Element::default();
    for pair in split_unquoted(last, ';') {
        let Some((name, value)) = pair.split_once('=') else { continue };
        let value = unquote(value.trim())?;
        match name.trim().to_ascii_lowercase().as_str() {
            "proto" => element.proto = scheme(&value),
            "host" => element.host = Some(value),
            _ => {}
        }
    }
    Some(element)
}

/// `text` split at every `sep` outside a quoted string.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token as it is, or a quoted string without its quotes and escapes; `None` if malformed.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains(['"', '\\'])).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn derived(pairs: &[(&'static str, &'static str)]) -> Provenance {
        provenance(&headers(pairs), &OriginPolicy::default())
    }

    #[test]
    fn provenance_rules() {
        let allowed = vec!["http://localhost:8080".to_string()];
        let policy = OriginPolicy { allowed: &allowed, public_origin: None };
        let p = |pairs: &[(&'static str, &'static str)]| provenance(&headers(pairs), &policy);
        assert_eq!(p(&[]), Provenance::Unknown);
        assert_eq!(p(&[("origin", "http://localhost:8080")]), Provenance::Trusted);
        assert_eq!(p(&[("origin", "https://evil.example")]), Provenance::CrossSite);
        assert_eq!(p(&[("origin", "null")]), Provenance::CrossSite);
        assert_eq!(p(&[("origin", "http://api.local:8000"), ("host", "api.local:8000")]), Provenance::Trusted);
        assert_eq!(p(&[("sec-fetch-site", "cross-site")]), Provenance::CrossSite);
        assert_eq!(p(&[("sec-fetch-site", "same-site")]), Provenance::Trusted);
        assert_eq!(p(&[("sec-fetch-site", "none")]), Provenance::UserInitiated);
        assert_eq!(p(&[("sec-fetch-site", "same-origin"), ("origin", "http://proxied")]), Provenance::Trusted);
    }

    #[test]
    fn a_host_without_a_port_means_the_default_port() {
        let host = ("host", "app.test");
        assert_eq!(derived(&[host, ("origin", "http://app.test")]), Provenance::Trusted);
        assert_eq!(derived(&[host, ("origin", "https://app.test")]), Provenance::Trusted, "scheme unknown");
        assert_eq!(derived(&[host, ("origin", "http://app.test:81")]), Provenance::CrossSite);
        assert_eq!(derived(&[("host", "app.test:80"), ("origin", "http://app.test")]), Provenance::Trusted);
        assert_eq!(derived(&[("host", "APP.test:81"), ("origin", "http://app.test:81")]), Provenance::Trusted);
        assert_eq!(derived(&[("host", "[::1]:8000"), ("origin", "http://[::1]:8000")]), Provenance::Trusted);
        assert_eq!(derived(&[("host", "app.test:81"), ("origin", "http://other.test:81")]), Provenance::CrossSite);
        for odd in ["http://app.test:", "http://app.test:x", "http://u@app.test", "http://app.test/", "ftp://app.test"]
        {
            assert_eq!(derived(&[host, ("origin", odd)]), Provenance::CrossSite, "{odd}");
        }
        assert_eq!(derived(&[("origin", "http://app.test")]), Provenance::CrossSite, "no Host at all");
    }

    #[test]
    fn a_forwarded_scheme_must_match_the_origin() {
        let host = ("host", "app.example");
        let tls = ("x-forwarded-proto", "https");
        assert_eq!(derived(&[host, tls, ("origin", "https://app.example")]), Provenance::Trusted);
        assert_eq!(derived(&[host, tls, ("origin", "http://app.example")]), Provenance::CrossSite);
        let plain = ("x-forwarded-proto", "HTTP");
        assert_eq!(derived(&[host, plain, ("origin", "https://app.example")]), Provenance::CrossSite);
        let both = ("x-forwarded-proto", "http, https");
        assert_eq!(derived(&[host, both, ("origin", "https://app.example")]), Provenance::Trusted, "the nearest");
        let odd = ("x-forwarded-proto", "gopher");
        assert_eq!(derived(&[host, odd, ("origin", "http://app.example")]), Provenance::Trusted, "unknown scheme");
        // With TLS known, a port-less host means 443.
        assert_eq!(derived(&[host, tls, ("origin", "https://app.example:8443")]), Provenance::CrossSite);
    }

    #[test]
    fn forwarded_host_and_port_name_the_site() {
        let dropped = ("host", "app.test");
        let origin = ("origin", "http://app.test:81");
        assert_eq!(derived(&[dropped, origin, ("x-forwarded-port", "81")]), Provenance::Trusted);
        assert_eq!(derived(&[dropped, origin, ("x-forwarded-port", "80")]), Provenance::CrossSite);
        assert_eq!(derived(&[dropped, origin, ("x-forwarded-port", "nonsense")]), Provenance::CrossSite);
        // A port in the host wins over X-Forwarded-Port.
        let upstream = ("host", "127.0.0.1:8000");
        assert_eq!(derived(&[upstream, origin, ("x-forwarded-host", "app.test:81")]), Provenance::Trusted);
        let xfh = ("x-forwarded-host", "app.test");
        assert_eq!(derived(&[upstream, origin, xfh, ("x-forwarded-port", "81")]), Provenance::Trusted);
        assert_eq!(derived(&[upstream, origin, xfh]), Provenance::CrossSite);
        // The nearest proxy's value: the last one.
        let chain = ("x-forwarded-host", "evil.test:81, app.test:81");
        assert_eq!(derived(&[upstream, origin, chain]), Provenance::Trusted);
        let chain = ("x-forwarded-host", "app.test:81, evil.test:81");
        assert_eq!(derived(&[upstream, origin, chain]), Provenance::CrossSite);
    }

    #[test]
    fn the_forwarded_header_wins_over_the_others() {
        let origin = ("origin", "https://app.test:8443");
        let upstream = ("host", "127.0.0.1:8000");
        let full = ("forwarded", "for=203.0.113.9;proto=https;host=\"app.test:8443\"");
        assert_eq!(derived(&[upstream, origin, full]), Provenance::Trusted);
        let xfh = ("x-forwarded-host", "other.test:8443");
        assert_eq!(derived(&[upstream, origin, xfh, full]), Provenance::Trusted);
        let plain = ("forwarded", "proto=http;host=app.test:8443");
        assert_eq!(derived(&[upstream, origin, plain]), Provenance::CrossSite, "the scheme it names counts");
        // Two headers and two elements in one: the last element is the nearest proxy's.
        let forged = ("forwarded", "host=evil.test:8443;proto=https");
        let nearest = ("forwarded", "for=\"[2001:db8::1]:4711\", Proto=HTTPS;Host=app.test:8443");
        assert_eq!(derived(&[upstream, origin, forged, nearest]), Provenance::Trusted);
        assert_eq!(derived(&[upstream, origin, nearest, forged]), Provenance::CrossSite);
        // The last element without a host: X-Forwarded-Host, then Host, name it.
        let proto_only = ("forwarded", "host=app.test:8443, proto=https");
        assert_eq!(derived(&[("host", "app.test:8443"), origin, proto_only]), Provenance::Trusted);
        assert_eq!(derived(&[upstream, origin, proto_only]), Provenance::CrossSite);
        // Malformed quoting is ignored as a whole.
        let broken = ("forwarded", "host=\"app.test:8443");
        assert_eq!(
            derived(&[("host", "app.test:8443"), ("origin", "http://app.test:8443"), broken]),
            Provenance::Trusted
        );
    }

    #[test]
    fn a_public_origin_is_the_only_site_origin() {
        let public = Some("http://app.test:81");
        let policy = OriginPolicy { allowed: &[], public_origin: public };
        let p = |pairs: &[(&'static str, &'static str)]| provenance(&headers(pairs), &policy);
        assert_eq!(p(&[("host", "app.test"), ("origin", "http://app.test:81")]), Provenance::Trusted);
        assert_eq!(p(&[("host", "127.0.0.1:8000"), ("origin", "http://APP.test:81")]), Provenance::Trusted);
        // What the request says about itself no longer matters.
        assert_eq!(p(&[("host", "evil.test:81"), ("origin", "http://evil.test:81")]), Provenance::CrossSite);
        let forged = ("x-forwarded-host", "evil.test");
        assert_eq!(p(&[forged, ("origin", "http://evil.test")]), Provenance::CrossSite);
        assert_eq!(p(&[("host", "app.test:81"), ("origin", "https://app.test:81")]), Provenance::CrossSite);
        let default = OriginPolicy { allowed: &[], public_origin: Some("https://app.test") };
        let https = headers(&[("origin", "https://app.test")]);
        assert_eq!(provenance(&https, &default), Provenance::Trusted);
    }

    #[test]
    fn a_refusal_says_which_part_differs() {
        let none = OriginPolicy::default();
        let detail = |pairs: &[(&'static str, &'static str)]| refusal_detail(&headers(pairs), &none);
        let dropped = detail(&[("host", "app.test"), ("origin", "http://app.test:81")]);
        assert!(dropped.contains("Origin http://app.test:81") && dropped.contains("Host header names no port"));
        assert!(dropped.contains("port 80") && dropped.contains("server.public_origin"), "{dropped}");
        let xfh = detail(&[("x-forwarded-host", "app.test"), ("origin", "http://app.test:81")]);
        assert!(xfh.contains("X-Forwarded-Host header names no port"), "{xfh}");
        let tls = detail(&[("host", "app.test"), ("x-forwarded-proto", "https"), ("origin", "http://app.test")]);
        assert!(tls.contains("reached over https"), "{tls}");
        // Another host: nothing about this site's own name.
        let other = detail(&[("host", "internal-name:8000"), ("origin", "https://evil.example")]);
        assert!(!other.contains("internal-name"), "{other}");
        assert_eq!(detail(&[("sec-fetch-site", "cross-site")]), "cross-site request refused");
        let public = OriginPolicy { allowed: &[], public_origin: Some("http://app.test:81") };
        let text = refusal_detail(&headers(&[("origin", "http://evil.test")]), &public);
        assert!(text.contains("server.public_origin") && !text.contains("app.test"), "{text}");
    }

    #[test]
    fn forwarded_elements_parse() {
        assert_eq!(unquote("\"a\\\"b\""), Some("a\"b".to_owned()));
        assert_eq!(unquote("\"open"), None);
        assert_eq!(unquote("to\"ken"), None);
        assert_eq!(split_unquoted("a=\"x,y\",b", ','), vec!["a=\"x,y\"", "b"]);
        let h = headers(&[("forwarded", "for=1.2.3.4;host=\"a.test;b\";proto=https")]);
        assert_eq!(forwarded(&h), Some(Element { proto: Some("https"), host: Some("a.test;b".into()) }));
        assert_eq!(forwarded(&HeaderMap::new()), None);
    }
}
