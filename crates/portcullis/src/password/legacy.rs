//! Stored-hash formats: our argon2id, and the formats an earlier app may have left behind, so its
//! users keep their passwords when they move over.
//!
//! | format | example | notes |
//! |---|---|---|
//! | argon2 PHC | `$argon2id$v=19$m=19456,t=2,p=1$salt$hash` | also `$argon2i$`, `$argon2d$` |
//! | werkzeug pbkdf2 | `pbkdf2:sha256:600000$salt$hexdigest` | also `sha512`; salt used as UTF-8 bytes |
//! | werkzeug scrypt | `scrypt:32768:8:1$salt$hexdigest` | N:r:p; 64-byte digest; salt as UTF-8 bytes |
//! | bcrypt | `$2b$12$` + 53 characters | also `$2a$`, `$2y$` |
//!
//! An imported hash names its own cost. One that asks for too much (memory, iterations, rounds) is
//! treated as not matching: verifying it would tie up a pool thread for minutes or exhaust memory,
//! which an import file must not be able to cause. Hashes with the pool's own argon2id parameters
//! are always verified, whatever those parameters are.
//!
//! Until an imported account's first login its hash stays in its old format. A refused check of
//! such a hash is followed by a check against the pool's dummy argon2id hash (see
//! [`PasswordHasherPool`](super::PasswordHasherPool)), so it costs the old format's work plus the
//! dummy's: a cheap format (pbkdf2 with 1,000 rounds, bcrypt cost 4) answers as slowly as an
//! unknown name, and the padding never makes a check faster than an unknown name's. A format that
//! is itself slower than the dummy (werkzeug's 1,000,000 PBKDF2 rounds, bcrypt cost 12 against
//! light argon2 parameters) still takes longer to refuse than an unknown name: an unknown name
//! has no stored cost to copy, and slowing every unknown-name check to the slowest import would
//! hand attackers a cheap way to load the server. Such accounts stay recognisable by timing until
//! their first login rehashes them; raise the argon2 cost so the dummy dominates, or have those
//! users reset their passwords, to close the window sooner.

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;

/// Most PBKDF2 iterations accepted from a stored hash (werkzeug 3.1 writes 1,000,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Highest bcrypt cost accepted (each step doubles the time; 12 is common, 20 takes about a minute).
pub const MAX_BCRYPT_COST: u32 = 20;
/// Most memory a stored scrypt or argon2 hash may ask for: 1 GiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;
/// Most memory traffic (memory × passes) a stored scrypt or argon2 hash may ask for: 4 GiB.
pub const MAX_WORK_BYTES: u64 = 4 << 30;

/// Why a stored hash cannot be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Not one of the formats in the module table.
    Unrecognised,
    /// A recognised format whose cost parameters are past the limits above.
    TooCostly,
}

impl Problem {
    /// A description that never includes the hash itself.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Problem::Unrecognised => {
                "password_hash is not a recognised format (argon2, werkzeug pbkdf2/scrypt, bcrypt)"
            }
            Problem::TooCostly => "password_hash asks for more work or memory than the server allows",
        }
    }
}

/// A digest PBKDF2 runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prf {
    Sha256,
    Sha512,
}

/// A parsed stored hash, ready to verify.
enum Stored<'a> {
    Argon2(PasswordHash<'a>),
    Pbkdf2 { prf: Prf, rounds: u32, salt: &'a str, expected: Vec<u8> },
    Scrypt { params: scrypt::Params, salt: &'a str, expected: Vec<u8> },
    Bcrypt(&'a str),
}

/// True when `stored` is one of the formats this module verifies, with parameters inside the
/// limits (so an account imported with it can log in).
pub fn recognised_hash(stored: &str) -> bool {
    parse(stored, None).is_ok()
}

/// The problem with `stored`, if it cannot be verified (see [`recognised_hash`]).
pub(crate) fn hash_problem(stored: &str) -> Option<Problem> {
    parse(stored, None).err()
}

/// Checks `plain` against `stored` in any supported format. Malformed, unknown or too costly
/// hashes are a non-match, never a panic. Blocking: call it on the hash pool only.
pub(crate) fn verify(current: &Argon2<'_>, plain: &[u8], stored: &str) -> bool {
    match parse(stored, Some(current.params())) {
        // The stored hash's own algorithm and parameters apply; argon2 compares in constant time.
        Ok(Stored::Argon2(parsed)) => current.verify_password(plain, &parsed).is_ok(),
        Ok(Stored::Pbkdf2 { prf, rounds, salt, expected }) => {
            let mut out = vec![0u8; expected.len()];
            match prf {
                Prf::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(plain, salt.as_bytes(), rounds, &mut out),
                Prf::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(plain, salt.as_bytes(), rounds, &mut out),
            }
            // Constant-time: a timing difference must not tell how many leading bytes matched.
            bool::from(out.ct_eq(&expected))
        }
        Ok(Stored::Scrypt { params, salt, expected }) => {
            let mut out = vec![0u8; expected.len()];
            if scrypt::scrypt(plain, salt.as_bytes(), &params, &mut out).is_err() {
                return false;
            }
            // Constant-time, as above.
            bool::from(out.ct_eq(&expected))
        }
        // bcrypt's verify compares in constant time (subtle) and truncates at 72 bytes, as the
        // libraries that wrote these hashes did.
        Ok(Stored::Bcrypt(hash)) => bcrypt::verify(plain, hash).unwrap_or(false),
        Err(_) => false,
    }
}

/// True unless `stored` is argon2id v19 with exactly `current`'s cost and output length.
pub(crate) fn needs_rehash(current: &Params, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    if parsed.algorithm != Algorithm::Argon2id.ident() || parsed.version != Some(Version::V0x13.into()) {
        return true;
    }
    let Ok(params) = Params::try_from(&parsed) else { return true };
    let output = |p: &Params| p.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    !(params.m_cost() == current.m_cost()
        && params.t_cost() == current.t_cost()
        && params.p_cost() == current.p_cost()
        && output(&params) == output(current)
        && params.keyid().is_empty()
        && params.data().is_empty())
}

/// Parses `stored`; an argon2 hash with exactly the `current` parameters skips the cost limits.
fn parse<'a>(stored: &'a str, current: Option<&Params>) -> Result<Stored<'a>, Problem> {
    if stored.starts_with("$argon2") {
        parse_argon2(stored, current)
    } else if stored.starts_with("$2") {
        parse_bcrypt(stored)
    } else if let Some(rest) = stored.strip_prefix("pbkdf2:") {
        parse_pbkdf2(rest)
    } else if let Some(rest) = stored.strip_prefix("scrypt:") {
        parse_scrypt(rest)
    } else {
        Err(Problem::Unrecognised)
    }
}

fn parse_argon2<'a>(stored: &'a str, current: Option<&Params>) -> Result<Stored<'a>, Problem> {
    let parsed = PasswordHash::new(stored).map_err(|_| Problem::Unrecognised)?;
    Algorithm::try_from(parsed.algorithm).map_err(|_| Problem::Unrecognised)?;
    if let Some(version) = parsed.version {
        Version::try_from(version).map_err(|_| Problem::Unrecognised)?;
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err(Problem::Unrecognised);
    }
    let params = Params::try_from(&parsed).map_err(|_| Problem::Unrecognised)?;
    let ours = current.is_some_and(|c| {
        params.m_cost() == c.m_cost() && params.t_cost() == c.t_cost() && params.p_cost() == c.p_cost()
    });
    // The memory is allocated up front: a huge `m` from an imported hash must not reach it.
    let memory = params.block_count() as u64 * 1024;
    if !ours && (memory > MAX_MEMORY_BYTES || memory.saturating_mul(u64::from(params.t_cost())) > MAX_WORK_BYTES) {
        return Err(Problem::TooCostly);
    }
    Ok(Stored::Argon2(parsed))
}

fn parse_bcrypt(stored: &str) -> Result<Stored<'_>, Problem> {
    // `$2b$12$` + 22 salt + 31 hash characters, all ASCII (so the slices below are on char
    // boundaries).
    if stored.len() != 60 || !stored.is_ascii() || stored.as_bytes()[6] != b'$' {
        return Err(Problem::Unrecognised);
    }
    if !["$2a$", "$2b$", "$2y$"].contains(&&stored[..4]) {
        return Err(Problem::Unrecognised);
    }
    let cost_digits = &stored[4..6];
    if !cost_digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::Unrecognised);
    }
    let cost: u32 = cost_digits.parse().map_err(|_| Problem::Unrecognised)?;
    if cost < 4 {
        return Err(Problem::Unrecognised);
    }
    stored.parse::<bcrypt::HashParts>().map_err(|_| Problem::Unrecognised)?;
    if cost > MAX_BCRYPT_COST {
        return Err(Problem::TooCostly);
    }
    Ok(Stored::Bcrypt(stored))
}

/// `sha256:ITERATIONS$salt$hex` (after `pbkdf2:`), as werkzeug writes it.
fn parse_pbkdf2(rest: &str) -> Result<Stored<'_>, Problem> {
    let (method, salt, expected) = split_werkzeug(rest)?;
    let (prf, rounds) = method.split_once(':').ok_or(Problem::Unrecognised)?;
    let (prf, digest_len) = match prf {
        "sha256" => (Prf::Sha256, 32),
        "sha512" => (Prf::Sha512, 64),
        _ => return Err(Problem::Unrecognised),
    };
    let rounds: u32 = decimal(rounds).ok_or(Problem::Unrecognised)?;
    // hashlib.pbkdf2_hmac's default length is the digest's: anything else was not werkzeug.
    if expected.len() != digest_len || rounds == 0 {
        return Err(Problem::Unrecognised);
    }
    if rounds > MAX_PBKDF2_ITERATIONS {
        return Err(Problem::TooCostly);
    }
    Ok(Stored::Pbkdf2 { prf, rounds, salt, expected })
}

/// `N:r:p$salt$hex` (after `scrypt:`), as werkzeug writes it.
fn parse_scrypt(rest: &str) -> Result<Stored<'_>, Problem> {
    let (method, salt, expected) = split_werkzeug(rest)?;
    let mut parts = method.split(':');
    let (Some(n), Some(r), Some(p), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Problem::Unrecognised);
    };
    let (n, r, p): (u64, u32, u32) = (
        decimal(n).ok_or(Problem::Unrecognised)?,
        decimal(r).ok_or(Problem::Unrecognised)?,
        decimal(p).ok_or(Problem::Unrecognised)?,
    );
    // werkzeug uses hashlib.scrypt's default 64-byte output.
    if n < 2 || !n.is_power_of_two() || r == 0 || p == 0 || expected.len() != 64 {
        return Err(Problem::Unrecognised);
    }
    // scrypt allocates 128·r·N bytes and runs p times over them.
    let memory = 128u64.saturating_mul(u64::from(r)).saturating_mul(n);
    if memory > MAX_MEMORY_BYTES || memory.saturating_mul(u64::from(p)) > MAX_WORK_BYTES {
        return Err(Problem::TooCostly);
    }
    let log_n = u8::try_from(n.trailing_zeros()).map_err(|_| Problem::Unrecognised)?;
    let params = scrypt::Params::new(log_n, r, p, expected.len()).map_err(|_| Problem::Unrecognised)?;
    Ok(Stored::Scrypt { params, salt, expected })
}

/// werkzeug's `method$salt$hexdigest`: the salt is text (used as its UTF-8 bytes), the digest hex.
fn split_werkzeug(s: &str) -> Result<(&str, &str, Vec<u8>), Problem> {
    let (method, rest) = s.split_once('$').ok_or(Problem::Unrecognised)?;
    let (salt, digest) = rest.split_once('$').ok_or(Problem::Unrecognised)?;
    let expected = decode_hex(digest).ok_or(Problem::Unrecognised)?;
    Ok((method, salt, expected))
}

/// A plain decimal (no sign, no spaces), as werkzeug writes its parameters.
fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes().chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Copied from tests/fixtures/legacy-users.csv (see its README): real werkzeug, bcrypt and
    // argon2-cffi output. Each user's password is `pw-<username>-secret`.
    const FIXTURES: &[(&str, &str)] = &[
        (
            "alice",
            "pbkdf2:sha256:1000000$KsETjj58GXFYtGfX$07482bb1fe398125a3a8d377e2ad058fc83cdd2a1bb19d6a33f5f9085f11bf87",
        ),
        ("bob", "pbkdf2:sha256:1000$ZCN5yQ89JHdh02ar$660cadc08668a8eac81884a25bab0d907258dc5aaf0bacfc8019c412e4cf0bc7"),
        ("carol", CAROL),
        ("dave", "$2b$10$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K"),
        ("erin", "$argon2id$v=19$m=65536,t=3,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120"),
        ("frank", FRANK),
        ("grace", "$2a$10$QYguhWzpHY3rH69WreO4pOv0vRCQ6rzLR66pME9TtgSKX167YwpE6"),
        ("heidi", "$2y$10$K3CA4fsv2RPcm.6d3lrWKOsNU.vctlrnkmJmI2Rv/5z1cTSwQ4Cou"),
        ("ivan", "$argon2i$v=19$m=65536,t=3,p=4$67NTUKgYfwzTR8ia3m2GPQ$+IGXdOG4TWg6TxnxfsoZp16TIzI1OIPi/jbb1aRc+H0"),
        ("judy", "$argon2d$v=19$m=65536,t=3,p=4$byL8kRk2i+K7jiCOvKLarA$luXPFF71wQa8cOwJvQL4p7qrUDZU28aI8kCeSq95dSo"),
    ];
    const CAROL: &str = concat!(
        "scrypt:32768:8:1$XPecCqDqZNvouLcx$f705b598466971a2dd32a4cb097c5f4a04baaf9b88c01fa6cc9326c09b8410",
        "5079d13f9f0cd73ba960e5f1d6f9fc31c838285a508acf6fcef9a1688335fde745"
    );
    const FRANK: &str = concat!(
        "pbkdf2:sha512:10000$fHchTM75hvg9bhcN$20565f3ece826aba4bf2e9e9de23277256d580a6520ad96f740e903e2921eb",
        "1b96916f58f681a5db683f350d2231786a121472204c8facbeedece50420440255"
    );

    fn argon2() -> Argon2<'static> {
        let params = Params::new(64, 1, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[test]
    fn every_fixture_format_verifies_the_right_password_only() {
        let a = argon2();
        for (user, hash) in FIXTURES {
            assert!(recognised_hash(hash), "{user}");
            let right = format!("pw-{user}-secret");
            assert!(verify(&a, right.as_bytes(), hash), "{user}: right password");
            assert!(!verify(&a, b"pw-someone-else-secret", hash), "{user}: wrong password");
            assert!(needs_rehash(a.params(), hash), "{user}: imported hashes are upgraded");
        }
    }

    #[test]
    fn a_tampered_digest_or_salt_does_not_verify() {
        let a = argon2();
        let bob = FIXTURES[1].1;
        let flipped = format!("{}0", &bob[..bob.len() - 1]);
        assert_ne!(flipped, bob);
        assert!(!verify(&a, b"pw-bob-secret", &flipped));
        assert!(!verify(&a, b"pw-bob-secret", &bob.replacen("ZCN5", "ZCN6", 1)));
        // Uppercase hex is the same digest.
        let upper =
            format!("{}${}", &bob[..bob.rfind('$').unwrap()], bob[bob.rfind('$').unwrap() + 1..].to_uppercase());
        assert!(verify(&a, b"pw-bob-secret", &upper));
    }

    #[test]
    fn malformed_hashes_are_unrecognised_and_never_match() {
        let a = argon2();
        let long = "x".repeat(100_000);
        let cases = [
            "",
            "$",
            "$$$",
            "plaintext-password",
            "pbkdf2",
            "pbkdf2:",
            "pbkdf2:sha256",
            "pbkdf2:sha256$salt$00",
            "pbkdf2:sha256:1000$salt",
            "pbkdf2:sha256:1000$salt$",
            "pbkdf2:sha256:1000$salt$abc",
            "pbkdf2:sha256:1000$salt$zz",
            "pbkdf2:sha256:-1$salt$00",
            "pbkdf2:sha256:+5$salt$00",
            "pbkdf2:sha256:99999999999999999999$salt$00",
            "pbkdf2:sha1:1000$salt$660cadc08668a8eac81884a25bab0d907258dc5a",
            "pbkdf2:md5:1000$salt$00",
            "pbkdf2:sha256:1000$salt$660cadc0",
            "scrypt:32768:8$salt$00",
            "scrypt:32768:8:1:1$salt$00",
            "scrypt:32768:8:1$salt$00",
            "scrypt:0:8:1$salt$00",
            "scrypt:::$salt$00",
            "sha256$salt$00",
            "$2b$10$short",
            "$2b$1x$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K",
            "$2c$10$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K",
            "$2x$10$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K",
            "$2b$10$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0é",
            "$2b$03$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K",
            "$2b$10$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "$argon2id$",
            "$argon2id$v=19$m=65536,t=3,p=4$44tk+tdUDswKjYR112l5fg",
            "$argon2id$v=19$m=65536,t=3,p=4$$",
            "$argon2id$v=99$m=65536,t=3,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120",
            "$argon2x$v=19$m=65536,t=3,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120",
            "$argon2id$v=19$m=1,t=3,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120",
            "$argon2id$v=19$m=65536,t=0,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120",
            "$argon2id$v=19$m=65536,t=3,p=4,z=1$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120",
            "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA",
            "$pbkdf2-sha256$1000$salt$hash",
            &long,
        ];
        for case in cases {
            assert_eq!(hash_problem(case), Some(Problem::Unrecognised), "{case:.80}");
            assert!(!verify(&a, b"password", case), "{case:.80}");
            assert!(needs_rehash(a.params(), case), "{case:.80}");
        }
    }

    #[test]
    fn absurd_costs_are_refused_before_any_work() {
        let a = argon2();
        let digest32 = "00".repeat(32);
        let digest64 = "00".repeat(64);
        let cases = [
            format!("pbkdf2:sha256:{}$salt${digest32}", MAX_PBKDF2_ITERATIONS + 1),
            format!("pbkdf2:sha512:4294967295$salt${digest64}"),
            // N not a power of two is malformed; a power of two over 1 GiB is too costly.
            format!("scrypt:{}:8:1$salt${digest64}", 1u64 << 21),
            format!("scrypt:{}:1:1$salt${digest64}", 1u64 << 40),
            format!("scrypt:{}:8:1$salt${digest64}", 1u64 << 63),
            format!("scrypt:1024:4294967295:1$salt${digest64}"),
            format!("scrypt:32768:8:256$salt${digest64}"),
            "$2b$21$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K".to_owned(),
            "$2b$31$JDHw1.mQuPOBBO9zpgeya.fbg7Zzch4J7ZTClh0J4U00wSRb5.q0K".to_owned(),
            "$argon2id$v=19$m=4294967295,t=3,p=4$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120"
                .to_owned(),
            "$argon2id$v=19$m=1048576,t=10,p=1$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120"
                .to_owned(),
            "$argon2i$v=19$m=65536,t=4294967295,p=1$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120"
                .to_owned(),
        ];
        for case in &cases {
            assert_eq!(hash_problem(case), Some(Problem::TooCostly), "{case}");
            assert!(!verify(&a, b"password", case), "{case}");
        }
        for odd in ["scrypt:1000:8:1", "scrypt:1:8:1", "scrypt:32768:0:1", "scrypt:32768:8:0"] {
            assert_eq!(hash_problem(&format!("{odd}$salt${digest64}")), Some(Problem::Unrecognised), "{odd}");
        }
        assert_eq!(hash_problem(&format!("pbkdf2:sha256:0$salt${digest32}")), Some(Problem::Unrecognised));
    }

    #[test]
    fn the_pools_own_parameters_skip_the_cost_limits() {
        // 2 GiB is past the import limit, but an operator may configure it: such hashes are ours.
        let big = Params::new(2 * 1024 * 1024, 1, 1, None).unwrap();
        let ours =
            "$argon2id$v=19$m=2097152,t=1,p=1$44tk+tdUDswKjYR112l5fg$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120";
        assert_eq!(hash_problem(ours), Some(Problem::TooCostly));
        assert!(parse(ours, Some(&big)).is_ok());
        assert!(!needs_rehash(&big, ours));
    }

    #[test]
    fn rehash_is_needed_for_anything_but_current_argon2id() {
        let current = Params::new(19_456, 2, 1, None).unwrap();
        let salt_hash = "$c2FsdHNhbHRzYWx0$OMF/tY4SLRWs1RCqagj2v6G9jV1xO17PyFDsUX4v120";
        assert!(!needs_rehash(&current, &format!("$argon2id$v=19$m=19456,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2id$v=19$m=19456,t=3,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2id$v=19$m=65536,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2id$v=19$m=19456,t=2,p=2{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2id$v=16$m=19456,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2id$m=19456,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2i$v=19$m=19456,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, &format!("$argon2d$v=19$m=19456,t=2,p=1{salt_hash}")));
        assert!(needs_rehash(&current, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAA"));
    }
}
