//! Time-based one-time passwords (RFC 6238) as a second factor: SHA-1, 6 digits, 30-second
//! steps, one step of clock drift either way.
//!
//! The codes are computed by `totp-rs`; which step a code matched, and that a step once
//! accepted is never accepted again for the same account (ASVS 5.0 6.5.1), is decided here:
//! [`matched_step`] takes the last accepted step and only answers a later one, so the caller
//! stores it (atomically, so two instances cannot both accept the same code).
//!
//! ```text
//!   steps:   now-1   now   now+1        accepted only if step > last accepted step
//!   code  ─► match? ─► match? ─► match?  ─► Some(step) ─► store step (compare-and-set)
//! ```

use std::fmt;

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::error::{Error, Result};

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps of clock drift accepted either way.
pub const SKEW: i64 = 1;
/// Bytes of a secret: 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// An account's TOTP factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// The account.
    pub user_id: uuid::Uuid,
    /// The seed, sealed (see [`crate::sealing`]).
    pub sealed: Vec<u8>,
    /// When the seed was made.
    pub created_at: time::OffsetDateTime,
    /// When a code confirmed it; until then it is pending and no login asks for it.
    pub confirmed_at: Option<time::OffsetDateTime>,
    /// The last time step accepted (see [`matched_step`]).
    pub last_step: Option<i64>,
}

/// One recovery code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeRecord {
    /// The account.
    pub user_id: uuid::Uuid,
    /// SHA-256 of the code.
    pub code_hash: [u8; 32],
    /// When its set was issued.
    pub created_at: time::OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<time::OffsetDateTime>,
}

/// A TOTP seed; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

impl TotpSecret {
    /// A fresh seed from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Self(bytes)
    }

    /// A seed read back (from its sealed form).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        if bytes.len() < 16 {
            return Err(Error::internal("a TOTP seed of fewer than 128 bits"));
        }
        Ok(Self(bytes))
    }

    /// The seed's bytes, to seal.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<TOTP> {
        // `:` separates issuer and account in the otpauth label, so neither may hold one.
        let issuer = issuer.replace(':', " ");
        let account = account.replace(':', " ");
        TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECS, self.0.clone(), Some(issuer), account)
            .map_err(|e| Error::internal(format!("a TOTP seed totp-rs refuses: {e}")))
    }

    /// The seed as base32, for typing into an authenticator app by hand.
    pub fn base32(&self) -> String {
        totp_rs::Secret::Raw(self.0.clone()).to_encoded().to_string()
    }

    /// The `otpauth://totp/...` URL an authenticator app reads from a QR code.
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> Result<String> {
        Ok(self.totp(issuer, account)?.get_url())
    }

    /// The code of the step that holds `unix_secs` (for tests and for tools).
    pub fn code_at(&self, unix_secs: u64) -> Result<String> {
        Ok(self.totp("portcullis", "code")?.generate(unix_secs))
    }
}

/// The step `code` is the code of, within [`SKEW`] steps of `now_unix`, if it is later than
/// `last_step` (the account's last accepted step): the same code twice, or an older code after
/// a newer one, is refused. Anything but six ASCII digits is refused without computing.
pub fn matched_step(secret: &TotpSecret, code: &str, now_unix: i64, last_step: Option<i64>) -> Result<Option<i64>> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = secret.totp("portcullis", "code")?;
    let step_secs = i64::try_from(STEP_SECS).unwrap_or(30);
    let now_step = now_unix.div_euclid(step_secs);
    let mut matched = None;
    // Every step of the window is computed and compared in constant time, so the time taken
    // does not tell which step (if any) matched.
    for step in now_step - SKEW..=now_step + SKEW {
        let Ok(at) = u64::try_from(step * step_secs) else { continue };
        let expected = totp.generate(at);
        let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if same && last_step.is_none_or(|last| step > last) && matched.is_none() {
            matched = Some(step);
        }
    }
    Ok(matched)
}

/// The QR code of `url` as an SVG document, made here (no network, no image crate).
pub fn qr_svg(url: &str) -> Result<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| Error::internal(format!("a QR code: {e}")))?;
    Ok(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238's SHA-1 seed.
    fn rfc_seed() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).expect("seed")
    }

    #[test]
    fn codes_are_rfc_6238s() {
        // RFC 6238 appendix B, SHA-1, the last six of its eight digits.
        for (time, code) in
            [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
        {
            assert_eq!(rfc_seed().code_at(time).expect("code"), code, "at {time}");
        }
    }

    #[test]
    fn a_code_matches_its_step_and_one_either_side_only() {
        let seed = rfc_seed();
        let now = 1_234_567_890_i64;
        let step = now / 30;
        let code_of = |s: i64| seed.code_at(u64::try_from(s * 30).expect("positive")).expect("code");
        assert_eq!(matched_step(&seed, &code_of(step), now, None).expect("ok"), Some(step));
        assert_eq!(matched_step(&seed, &code_of(step - 1), now, None).expect("ok"), Some(step - 1));
        assert_eq!(matched_step(&seed, &code_of(step + 1), now, None).expect("ok"), Some(step + 1));
        assert_eq!(matched_step(&seed, &code_of(step - 2), now, None).expect("ok"), None);
        assert_eq!(matched_step(&seed, &code_of(step + 2), now, None).expect("ok"), None);
    }

    #[test]
    fn a_step_once_accepted_is_never_accepted_again() {
        let seed = rfc_seed();
        let now = 1_234_567_890_i64;
        let step = now / 30;
        let code = seed.code_at(u64::try_from(now).expect("positive")).expect("code");
        assert_eq!(matched_step(&seed, &code, now, Some(step)).expect("ok"), None, "replayed in its step");
        assert_eq!(matched_step(&seed, &code, now + 30, Some(step)).expect("ok"), None, "replayed a step later");
        let older = seed.code_at(u64::try_from(now - 30).expect("positive")).expect("code");
        assert_eq!(matched_step(&seed, &older, now, Some(step)).expect("ok"), None, "older after newer");
    }

    #[test]
    fn anything_but_six_digits_is_refused() {
        let seed = rfc_seed();
        for junk in ["", "12345", "1234567", "12345a", " 12345", "１２３４５６"] {
            assert_eq!(matched_step(&seed, junk, 59, None).expect("ok"), None, "{junk:?}");
        }
    }

    #[test]
    fn the_enrolment_url_qr_and_manual_key_describe_the_seed() {
        let seed = TotpSecret::generate();
        assert_eq!(seed.expose().len(), SECRET_BYTES);
        let url = seed.otpauth_url("Portcullis", "alice:home").expect("url");
        assert!(url.starts_with("otpauth://totp/Portcullis:alice%20home?"), "{url}");
        assert!(url.contains(&format!("secret={}", seed.base32())), "{url}");
        let svg = qr_svg(&url).expect("svg");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..80]);
        assert_ne!(format!("{seed:?}"), seed.base32());
        assert!(!format!("{seed:?}").contains(&seed.base32()));
    }
}
