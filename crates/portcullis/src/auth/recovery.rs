//! Recovery codes: single-use second factors for a lost authenticator.
//!
//! A set is [`SET_SIZE`] codes of [`CODE_BITS`] bits each from the operating system's CSPRNG,
//! shown once as Crockford base32 in groups of four (`7k2m-…`). ASVS 5.0 6.5.2 lets a lookup
//! secret of at least 112 bits be stored with a plain hash, so each is kept as the SHA-256 of
//! its canonical form: checking a code is one hash and one indexed lookup, not a password hash
//! per stored code. What a person types is read leniently (any case, with or without dashes or
//! spaces, `O` for `0` and `I`/`L` for `1`, as Crockford's alphabet allows).

use sha2::{Digest, Sha256};

/// Codes in a set.
pub const SET_SIZE: usize = 10;
/// Bits of each code.
pub const CODE_BITS: usize = 120;
const CODE_BYTES: usize = CODE_BITS / 8;
/// Characters of a code's canonical form (5 bits each).
const CODE_CHARS: usize = CODE_BITS / 5;

/// A freshly issued set: the codes to show once, and the hashes to store.
#[derive(Clone)]
pub struct IssuedCodes {
    /// As shown to the user.
    pub codes: Vec<String>,
    /// SHA-256 of each code's canonical form, in the same order.
    pub hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for IssuedCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCodes").field("count", &self.codes.len()).finish_non_exhaustive()
    }
}

/// A new set of codes.
pub fn issue() -> IssuedCodes {
    let codes: Vec<String> = (0..SET_SIZE)
        .map(|_| {
            let mut bytes = [0u8; CODE_BYTES];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let canonical = base32::encode(base32::Alphabet::Crockford, &bytes);
            shown(&canonical)
        })
        .collect();
    let hashes = codes.iter().filter_map(|c| hash(c)).collect();
    IssuedCodes { codes, hashes }
}

/// The hash of what a user typed, or `None` when it cannot be a code.
pub fn hash(typed: &str) -> Option<[u8; 32]> {
    let canonical = canonical(typed)?;
    Some(Sha256::digest(canonical.as_bytes()).into())
}

/// Upper case, separators dropped, Crockford's look-alikes read as the digits they stand for.
fn canonical(typed: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'U') => c,
            _ => return None,
        };
        if out.len() == CODE_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// Lower case in groups of four, for reading aloud and typing.
fn shown(canonical: &str) -> String {
    let lower = canonical.to_ascii_lowercase();
    let groups: Vec<&str> = (0..lower.len()).step_by(4).map(|i| &lower[i..(i + 4).min(lower.len())]).collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_with_their_hashes() {
        let set = issue();
        assert_eq!((set.codes.len(), set.hashes.len()), (SET_SIZE, SET_SIZE));
        let mut distinct = set.codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), SET_SIZE);
        for (code, stored) in set.codes.iter().zip(&set.hashes) {
            assert_eq!(code.len(), CODE_CHARS + CODE_CHARS / 4 - 1, "{code}");
            assert_eq!(hash(code).as_ref(), Some(stored), "{code}");
        }
        assert!(!format!("{set:?}").contains(&set.codes[0]), "Debug shows no code");
    }

    #[test]
    fn a_code_is_read_as_typed_in_any_case_and_spacing() {
        let set = issue();
        let code = &set.codes[0];
        let stored = set.hashes[0];
        let squashed = code.replace('-', "");
        assert_eq!(hash(&code.to_uppercase()), Some(stored));
        assert_eq!(hash(&squashed), Some(stored));
        assert_eq!(hash(&code.replace('-', " ")), Some(stored));
        // Crockford's look-alikes.
        let zeroes = "0000-0000-0000-0000-0000-0001";
        assert_eq!(hash("oooo-OOOO-0000-0000-0000-000l"), hash(zeroes));
        assert_eq!(hash("0000-0000-0000-0000-0000-000I"), hash(zeroes));
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for junk in [
            "",
            "abcd",
            "0000-0000-0000-0000-0000-00000",
            "0000-0000-0000-0000-0000-000u",
            "ü000-0000-0000-0000-0000-0000",
        ] {
            assert_eq!(hash(junk), None, "{junk:?}");
        }
    }
}
