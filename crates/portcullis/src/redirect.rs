//! Return-to targets (`next`): only a path on this site is accepted, so a login link cannot
//! send a user on to a look-alike site after they sign in (open-redirect defence).
//!
//! Accepted: `/`, `/app/settings?tab=2#x`. Refused: anything with a scheme or host
//! (`https://evil.example`, `//evil.example`, `/\evil.example`, `\\evil.example`), relative
//! paths without a leading `/`, control characters, whitespace and percent-encoded forms of the
//! above (`/%2F%2Fevil.example`, `/%5Cevil.example`).

/// Longest `next` accepted.
pub const MAX_NEXT: usize = 2048;

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
    // Decoded once, the path must still not reach another host or hide a backslash.
    let decoded = percent_decode(next)?;
    if decoded.starts_with("//") || decoded.contains('\\') || decoded.chars().any(char::is_control) {
        return None;
    }
    Some(next)
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

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn same_site_paths_pass() {
        for ok in ["/", "/app", "/app/settings?tab=2#x", "/a%20b", "/caf%C3%A9"] {
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
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(2048))), None);
    }
}
