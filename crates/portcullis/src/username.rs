//! Usernames: what a name may be, the key it is unique and looked up under, and how it is shown.
//!
//! Names follow RFC 8265's UsernameCaseMapped profile, so that two strings a person cannot tell
//! apart cannot become two accounts:
//!
//! ```text
//!  typed ──NFC──▶ width map ──NFC──▶ display name ──lower case──▶ key ──UTS #39──▶ skeleton
//!                 (ｆｕｌｌ → full)     (stored, shown)     (unique, looked up)   (unique: no look-alikes)
//! ```
//!
//! * The **display name** is the name as typed after width mapping and NFC: what lists, tokens
//!   and `X-Auth-User` carry.
//! * The **key** is the PRECIS-enforced form (also lower-cased and NFC); names are unique under
//!   it and a login finds its account by it, so `ＡＤＭＩＮ`, `Admin` and `admin` are one name.
//! * The **skeleton** is the UTS #39 confusable skeleton of the key; it is unique too, so
//!   `admın` (dotless i) or `modern` cannot be registered next to `admin` or `modem`.
//!
//! A name is refused when PRECIS disallows a character (controls, spaces, symbols, unassigned
//! code points, compatibility forms), when it contains a format character (zero-width and bidi
//! controls, even where PRECIS would allow a joiner), when it mixes scripts (UTS #39 single
//! script, Common and Inherited characters going with any script) unless
//! `accounts.username_allow_mixed_scripts`, or when it is not ASCII under
//! `accounts.username_ascii_only`.
//!
//! Accounts made before these rules keep working: [`key`] falls back to the old lower-cased key
//! for a name the rules refuse, and stores look a name up under both keys (see
//! [`lookup_keys`]).

use std::borrow::Cow;
use std::fmt::Write as _;

use precis_core::profile::PrecisFastInvocation;
use precis_core::{DerivedPropertyValue, Error as PrecisError};
use precis_profiles::UsernameCaseMapped;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, MixedScript};

/// Longest username accepted anywhere, in characters of the display name.
pub const MAX_CHARS: usize = 64;

/// The registration rules an operator can tighten or relax (`[accounts]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsernameRules {
    /// Accept only ASCII names (after width mapping).
    pub ascii_only: bool,
    /// Accept names that mix scripts (e.g. Latin with Cyrillic).
    pub allow_mixed_scripts: bool,
}

/// A name that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username {
    /// As typed, after width mapping and NFC.
    pub display: String,
    /// The unique, case-insensitive key.
    pub key: String,
}

impl UsernameRules {
    /// Checks `typed` against every rule; the display name and key, or the problem.
    pub fn check(&self, typed: &str) -> Result<Username, &'static str> {
        let name = prepare(typed)?;
        if name.display.chars().count() > MAX_CHARS {
            return Err("must be at most 64 characters");
        }
        if self.ascii_only && !name.display.is_ascii() {
            return Err("must contain only ASCII letters, digits and punctuation");
        }
        // Security: Latin `a` and Cyrillic `а` look the same; a name of one script (Common and
        // Inherited characters such as digits, `_` and combining marks go with any) cannot
        // imitate another name letter by letter.
        if !self.allow_mixed_scripts && !name.display.is_single_script() {
            return Err("must not mix scripts (such as Latin and Cyrillic)");
        }
        Ok(name)
    }
}

/// Applies RFC 8265 UsernameCaseMapped, with an NFC step first so that canonically equivalent
/// input (NFD `élise`, the Kelvin sign `K`) is the same name.
fn prepare(typed: &str) -> Result<Username, &'static str> {
    if typed.is_empty() {
        return Err("must not be empty");
    }
    // Security: format characters (zero-width spaces and joiners, bidi overrides, BOM) are
    // invisible; PRECIS refuses most of them and allows the joiners in some contexts, we refuse
    // them all. Checked on the raw input so that the position cannot be normalised away.
    if typed.chars().any(is_format_joiner) {
        return Err("must not contain invisible or format characters");
    }
    let canonical: String = typed.nfc().collect();
    let prepared = <UsernameCaseMapped as PrecisFastInvocation>::prepare(canonical.as_str()).map_err(problem)?;
    let display: String = prepared.nfc().collect();
    let key = <UsernameCaseMapped as PrecisFastInvocation>::enforce(display.as_str()).map_err(problem)?.into_owned();
    Ok(Username { display, key })
}

fn is_format_joiner(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
}

/// Format characters, fillers and variation selectors: code points that draw nothing (only
/// for naming the problem; PRECIS does the refusing).
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

fn problem(e: PrecisError) -> &'static str {
    match e {
        PrecisError::BadCodepoint(info) => match info.property {
            DerivedPropertyValue::Unassigned => "must not contain unassigned characters",
            DerivedPropertyValue::ContextJ | DerivedPropertyValue::ContextO => {
                "must not contain invisible or format characters"
            }
            _ if char::from_u32(info.cp).is_some_and(char::is_whitespace) => "must not contain spaces",
            _ if char::from_u32(info.cp).is_some_and(|c| c.is_control() || is_format(c)) => {
                "must not contain control, invisible or format characters"
            }
            _ => "must contain only letters, digits and ASCII punctuation",
        },
        PrecisError::Invalid => "must not mix left-to-right and right-to-left text",
        PrecisError::Unexpected(_) => "is not a valid username",
    }
}

/// The key a name is unique and looked up under. For a name the rules refuse (an account made
/// before them) it is the old key, the lower-cased name, so such accounts can still sign in.
pub fn key(name: &str) -> String {
    match prepare(name) {
        Ok(name) => name.key,
        Err(_) => legacy_key(name),
    }
}

/// The key of accounts made before the PRECIS rules: the lower-cased name.
pub fn legacy_key(name: &str) -> String {
    name.to_lowercase()
}

/// The keys a login for `name` matches, preferred first: the name's old key (so that an account
/// the migration could not re-key, see `store::usernames`, is still found by its exact name), then
/// its current key. Usually both are the same.
pub fn lookup_keys(name: &str) -> [String; 2] {
    [legacy_key(name), key(name)]
}

/// The UTS #39 confusable skeleton of a valid name's key; `None` for a name the rules refuse.
pub fn skeleton(name: &str) -> Option<String> {
    prepare(name).ok().map(|n| unicode_security::skeleton(&n.key).collect())
}

/// `name` with every character that could be invisible or misleading on screen escaped as
/// `\u{…}` (and `\` as `\\`), for logs, lists and the audit trail. Valid names come back as
/// they are.
pub fn escaped(name: &str) -> Cow<'_, str> {
    if !name.chars().any(needs_escape) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if needs_escape(c) {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `name` as an HTTP header value that is ASCII only: each byte of its UTF-8 outside printable
/// ASCII, and `%` and `+`, percent-encoded (RFC 3986). ASCII names without `%` or `+` come back
/// as they are; any percent-decoder (not a form decoder) gives back the exact name.
pub fn header_value(name: &str) -> Cow<'_, str> {
    let keep = |b: u8| b.is_ascii_graphic() && b != b'%' && b != b'+';
    if name.bytes().all(keep) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\' || is_invisible(c)
}

/// Outside printable ASCII and the UTS #39 identifier profile: controls, format characters,
/// unassigned and private-use code points, odd spaces, fillers, variation selectors, symbols.
fn is_invisible(c: char) -> bool {
    !(c.is_ascii_graphic() || c == ' ' || GeneralSecurityProfile::identifier_allowed(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: UsernameRules = UsernameRules { ascii_only: false, allow_mixed_scripts: false };

    #[test]
    fn maps_width_case_and_canonical_forms_to_one_key() {
        assert_eq!(key("ＡＤＭＩＮ"), "admin");
        assert_eq!(key("Admin"), "admin");
        assert_eq!(key("\u{212A}ate"), "kate");
        assert_eq!(key("e\u{301}lise"), key("\u{e9}lise"));
        let name = RULES.check("Ｚoe\u{308}").expect("valid");
        assert_eq!(name.display, "Zo\u{eb}");
        assert_eq!(name.key, "zo\u{eb}");
    }

    #[test]
    fn refuses_invisible_unassigned_and_mixed_names() {
        for bad in ["ad\u{200b}min", "admin\u{feff}", "\u{202e}admin", "a\u{200d}b", "a\nb", "a b", "x\u{378}"] {
            assert!(RULES.check(bad).is_err(), "{bad:?}");
        }
        assert_eq!(RULES.check("\u{430}dmin").err(), Some("must not mix scripts (such as Latin and Cyrillic)"));
        let mixed = UsernameRules { allow_mixed_scripts: true, ..RULES };
        assert!(mixed.check("\u{430}dmin").is_ok());
        assert!(RULES.check("").is_err());
        assert!(RULES.check(&"u".repeat(65)).is_err());
        assert!(RULES.check(&"é".repeat(64)).is_ok());
        for good in ["test", "Zoë", "user_1-a.b", "bob@example.com", "日本語", "Δημήτρης", "пётр"] {
            assert!(RULES.check(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn ascii_only_refuses_other_letters() {
        let ascii = UsernameRules { ascii_only: true, ..RULES };
        assert!(ascii.check("Zoë").is_err());
        assert_eq!(ascii.check("ｂｏｂ").map(|n| n.display), Ok("bob".to_owned()));
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        assert_eq!(skeleton("adm\u{131}n"), skeleton("admin"));
        assert_ne!(skeleton("alice"), skeleton("admin"));
        assert_eq!(skeleton("ad\u{200b}min"), None);
    }

    #[test]
    fn refused_names_keep_their_old_key() {
        assert_eq!(key("John Smith"), "john smith");
        assert_eq!(lookup_keys("ＡＤＭＩＮ"), ["ａｄｍｉｎ".to_owned(), "admin".to_owned()]);
    }

    #[test]
    fn header_values_are_ascii() {
        assert_eq!(header_value("bob@example.com"), "bob@example.com");
        assert_eq!(header_value("Zoë"), "Zo%C3%AB");
        assert_eq!(header_value("a+b%c d"), "a%2Bb%25c%20d");
    }

    #[test]
    fn escapes_what_cannot_be_seen() {
        assert_eq!(escaped("admin"), "admin");
        assert_eq!(escaped("Zoë"), "Zoë");
        assert_eq!(escaped("ad\u{200b}min"), "ad\\u{200b}min");
        assert_eq!(escaped("\u{202e}admin\u{feff}"), "\\u{202e}admin\\u{feff}");
        assert_eq!(escaped("a\\u{200b}"), "a\\\\u{200b}");
    }
}
