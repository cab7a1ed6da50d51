//! Return-to targets (`next`): only a path on this site is accepted, so a login link cannot
//! send a user on to a look-alike site after they sign in (open-redirect defence).
//!
//! Accepted: `/`, `/app/settings?tab=2#x`. Refused: anything with a scheme or host
//! (`https://evil.example`, `//evil.example`, `/\evil.example`, `\\evil.example`), relative
//! paths without a leading `/`, control characters, whitespace, percent-encoded forms of the
//! above however many times encoded (`/%2F%2Fevil.example`, `/%252F%252Fevil.example`,
//! `/%5Cevil.example`), and look-alike slashes and backslashes anywhere (`/／／evil.example`,
//! `/∕∕evil.example`, `/＼evil.example`), which a normalizing proxy, framework or client may
//! turn into the real ones.

use std::borrow::Cow;

/// Longest `next` accepted.
pub const MAX_NEXT: usize = 2048;

/// A return-to path (`next`) from a request: a path on this site, or the field is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(pub String);

impl<'de> serde::Deserialize<'de> for ReturnTo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let next = String::deserialize(d)?;
        match safe_next(&next) {
            Some(path) => Ok(Self(path.to_owned())),
            None => Err(serde::de::Error::custom("must be a path on this site, like /app")),
        }
    }
}

impl<'de> eserde::EDeserialize<'de> for ReturnTo {
    fn deserialize_for_errors<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<(), ()> {
        crate::http::input::report_own::<Self, D>(d)
    }
}

impl utoipa::PartialSchema for ReturnTo {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .max_length(Some(MAX_NEXT))
            .description(Some("Where to go after the login: a path on this site, like `/app`"))
            .into()
    }
}

impl utoipa::ToSchema for ReturnTo {}

/// `next` if it is a same-origin absolute path, else `None`.
pub fn safe_next(next: &str) -> Option<&str> {
    if next.is_empty() || next.len() > MAX_NEXT || !next.starts_with('/') {
        return None;
    }
    let bytes = next.as_bytes();
    // "//host" and "/\host" are read by browsers as another host.
    if matches!(bytes.get(1), Some(b'/') | Some(b'\\')) {
        return None;
    }
    if next.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return None;
    }
    // Every layer of percent-encoding is peeled, since whatever reads `next` later (a proxy, a
    // framework, the SPA) may decode it again: no form of it may reach another host or hide a
    // backslash or a look-alike slash. The first layer must be well-formed; below it a `%` that
    // starts no escape is a literal percent sign, as browsers read it.
    let mut decoded = percent_decode(next)?;
    for _ in 0..MAX_DECODE_ROUNDS {
        if decoded.starts_with("//") || decoded.chars().any(|c| c == '\\' || c.is_control() || is_look_alike_slash(c)) {
            return None;
        }
        match percent_decode_lenient(&decoded) {
            Cow::Borrowed(_) => return Some(next),
            Cow::Owned(deeper) => decoded = deeper,
        }
    }
    // Still encoded after that many rounds: nothing legitimate nests so deep.
    None
}

/// Rounds of percent-decoding tried before a `next` is refused as still encoded.
const MAX_DECODE_ROUNDS: usize = 8;

/// Characters drawn like `/` or `\` (Unicode's confusables for them, and the compatibility forms
/// that NFKC folds into them). Letters of real scripts that resemble a slash (`ノ`, `丿`) are
/// left alone: paths in those languages use them.
fn is_look_alike_slash(c: char) -> bool {
    matches!(
        c,
        '\u{FF0F}' // FULLWIDTH SOLIDUS
            | '\u{FF3C}' // FULLWIDTH REVERSE SOLIDUS
            | '\u{FE68}' // SMALL REVERSE SOLIDUS
            | '\u{2215}' // DIVISION SLASH
            | '\u{2216}' // SET MINUS
            | '\u{2044}' // FRACTION SLASH
            | '\u{2041}' // CARET INSERTION POINT
            | '\u{1735}' // PHILIPPINE SINGLE PUNCTUATION
            | '\u{2571}' // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
            | '\u{2572}' // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
            | '\u{27CB}' // MATHEMATICAL RISING DIAGONAL
            | '\u{27CD}' // MATHEMATICAL FALLING DIAGONAL
            | '\u{29F5}' // REVERSE SOLIDUS OPERATOR
            | '\u{29F8}' // BIG SOLIDUS
            | '\u{29F9}' // BIG REVERSE SOLIDUS
            | '\u{2F02}' // KANGXI RADICAL DOT
            | '\u{2F03}' // KANGXI RADICAL SLASH
            | '\u{3033}' // VERTICAL KANA REPEAT MARK UPPER HALF
            | '\u{31D3}' // CJK STROKE SP
            | '\u{31D4}' // CJK STROKE D
            | '\u{0337}' // COMBINING SHORT SOLIDUS OVERLAY
            | '\u{0338}' // COMBINING LONG SOLIDUS OVERLAY
            | '\u{20E5}' // COMBINING REVERSE SOLIDUS OVERLAY
            | '\u{1D20F}' // GREEK VOCAL NOTATION SYMBOL-16
            | '\u{1D23A}' // GREEK INSTRUMENTAL NOTATION SYMBOL-47
            | '\u{1D23B}' // GREEK INSTRUMENTAL NOTATION SYMBOL-48
    )
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `s` with its `%XX` escapes decoded and any other `%` kept; borrowed when there was nothing to
/// decode, so the caller knows the text is stable.
fn percent_decode_lenient(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|c| (*c as char).to_digit(16));
    let mut out = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if let (b'%', Some(hi), Some(lo)) = (b[i], hex(i + 1), hex(i + 2)) {
            out.extend_from_slice(&b[copied..i]);
            // Two hex digits: at most 0xff, so the cast keeps the value.
            out.push((hi * 16 + lo) as u8);
            i += 3;
            copied = i;
        } else {
            i += 1;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(s);
    }
    out.extend_from_slice(&b[copied..]);
    // Bytes that are not UTF-8 read as U+FFFD, which is no slash of any kind.
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn same_site_paths_pass() {
        for ok in ["/", "/app", "/app/settings?tab=2#x", "/a%20b", "/caf%C3%A9", "/%25", "/100%2525", "/ノート"] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn other_hosts_and_tricks_fail() {
        for bad in [
            "https://evil.example",
            "http://evil.example/",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "app/settings",
            "",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/ /evil",
            "/a\tb",
            "/a\nb",
            "/%0d%0aSet-Cookie:x",
            "/%zz",
            "/%252F%252Fevil.example",
            "/%25252F%25252Fevil.example",
            "/%255Cevil.example",
            "/%250d%250aSet-Cookie:x",
            "/\u{FF0F}\u{FF0F}evil.example",
            "/%EF%BC%8F%EF%BC%8Fevil.example",
            "/\u{FF3C}evil.example",
            "/\u{2215}\u{2215}evil.example",
            "/\u{2044}evil.example",
            "/\u{29F8}evil.example",
            "/\u{FE68}evil.example",
            "/app/\u{FF0F}/evil.example",
            "/%2525252525252F",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(2048))), None);
    }
}
