//! `[limits]`, `[lockout]` and `[proxy]`: raw sections and their validated form.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::lockout::{LockoutPolicy, LockoutWindow};
use super::proxy::Cidr;
use super::Rate;
use crate::config::parse_duration;

/// Highest accepted rate or burst: beyond it a limit protects nothing.
const MAX_RATE: u32 = 100_000;
/// Highest failure count of a lockout window (each account keeps that many failure times).
const MAX_FAILURES: u32 = 100;

/// `[limits]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// Rate-limit login, register, reauth, MFA and refresh (off only for benchmarks, or an
    /// embedding app that limits these routes itself).
    pub enabled: bool,
    /// Sustained attempts per minute from one client address (an IPv6 /64 counts as one).
    pub per_ip_per_minute: u32,
    /// Attempts one address may make at once before the per-minute rate applies.
    pub per_ip_burst: u32,
    /// Sustained attempts per minute naming one username (ignoring case).
    pub per_user_per_minute: u32,
    /// Attempts naming one username allowed at once.
    pub per_user_burst: u32,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self { enabled: true, per_ip_per_minute: 10, per_ip_burst: 20, per_user_per_minute: 5, per_user_burst: 5 }
    }
}

/// `[lockout]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLockout {
    /// Lock accounts after repeated failed attempts.
    pub enabled: bool,
    /// Each rule: `failures` failures from one client within `within` lock that client out of
    /// the account for `within`.
    pub windows: Vec<RawLockoutWindow>,
    /// How long a browser that logged in to an account is known as the owner's device (its
    /// device token), judged on its own failures only.
    pub device_ttl: String,
}

impl Default for RawLockout {
    fn default() -> Self {
        let window = |failures, within: &str| RawLockoutWindow { failures, within: within.into() };
        Self {
            enabled: true,
            windows: vec![window(5, "10m"), window(10, "1h"), window(20, "24h")],
            device_ttl: "90d".into(),
        }
    }
}

/// One `[lockout]` rule, e.g. `{ failures = 5, within = "10m" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLockoutWindow {
    /// Failed attempts that lock the account.
    pub failures: u32,
    /// The span they must fall in, and how long the lock lasts (e.g. `10m`, `1h`, `24h`).
    pub within: String,
}

/// `[proxy]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProxy {
    /// Address ranges (e.g. `127.0.0.1/32`) of reverse proxies allowed to name the client in
    /// `X-Forwarded-For`; from anyone else the header is ignored.
    pub trusted: Vec<String>,
}

/// Validated rate limits, lockout rules and trusted proxies.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Whether the per-address and per-username rate limits apply.
    pub enabled: bool,
    /// The per-address bucket.
    pub per_ip: Rate,
    /// The per-username bucket.
    pub per_user: Rate,
    /// Lockout rules.
    pub lockout: LockoutPolicy,
    /// Peers allowed to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<Cidr>,
    /// Lifetime of a device token.
    pub device_ttl: Duration,
}

impl LimitsConfig {
    /// Checks the three sections; every problem names its key.
    pub fn from_raw(limits: &RawLimits, lockout: &RawLockout, proxy: &RawProxy) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut rate_value = |key: &str, value: u32| {
            if !(1..=MAX_RATE).contains(&value) {
                problems.push(format!("limits.{key}: must be between 1 and {MAX_RATE}"));
            }
        };
        rate_value("per_ip_per_minute", limits.per_ip_per_minute);
        rate_value("per_ip_burst", limits.per_ip_burst);
        rate_value("per_user_per_minute", limits.per_user_per_minute);
        rate_value("per_user_burst", limits.per_user_burst);

        let mut windows: Vec<LockoutWindow> = Vec::new();
        for (i, raw) in lockout.windows.iter().enumerate() {
            let key = format!("lockout.windows[{i}]");
            if !(1..=MAX_FAILURES).contains(&raw.failures) {
                problems.push(format!("{key}.failures: must be between 1 and {MAX_FAILURES}"));
            }
            let within = match parse_duration(&raw.within) {
                Ok(d) if d < Duration::from_secs(1) => {
                    problems.push(format!("{key}.within: must be at least 1s"));
                    continue;
                }
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{key}.within: {e}"));
                    continue;
                }
            };
            if let Some(j) = lockout.windows[..i].iter().position(|w| parse_duration(&w.within) == Ok(within)) {
                problems.push(format!("{key}.within: the same span as lockout.windows[{j}]"));
            }
            windows.push(LockoutWindow { failures: raw.failures, within });
        }
        if lockout.enabled && lockout.windows.is_empty() {
            problems.push("lockout.windows: list at least one window, or set lockout.enabled = false".into());
        }

        let device_ttl = match parse_duration(&lockout.device_ttl) {
            Ok(d) if d >= Duration::from_secs(60) => d,
            Ok(_) => {
                problems.push("lockout.device_ttl: must be at least 1m".into());
                Duration::ZERO
            }
            Err(e) => {
                problems.push(format!("lockout.device_ttl: {e}"));
                Duration::ZERO
            }
        };

        let mut trusted_proxies = Vec::new();
        for (i, range) in proxy.trusted.iter().enumerate() {
            match range.parse::<Cidr>() {
                Ok(cidr) => trusted_proxies.push(cidr),
                Err(e) => problems.push(format!("proxy.trusted[{i}]: {e}")),
            }
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            enabled: limits.enabled,
            per_ip: Rate { per_minute: limits.per_ip_per_minute, burst: limits.per_ip_burst },
            per_user: Rate { per_minute: limits.per_user_per_minute, burst: limits.per_user_burst },
            lockout: LockoutPolicy::new(lockout.enabled, windows),
            trusted_proxies,
            device_ttl,
        })
    }
}

impl Default for LimitsConfig {
    /// The documented defaults: 10/min per address (burst 20), 5/min per username (burst 5),
    /// lockout at 5 in 10m, 10 in 1h, 20 in 24h, no trusted proxy.
    fn default() -> Self {
        let window = |failures, mins: u64| LockoutWindow { failures, within: Duration::from_secs(mins * 60) };
        Self {
            enabled: true,
            per_ip: Rate { per_minute: 10, burst: 20 },
            per_user: Rate { per_minute: 5, burst: 5 },
            lockout: LockoutPolicy::new(true, vec![window(5, 10), window(10, 60), window(20, 24 * 60)]),
            trusted_proxies: Vec::new(),
            device_ttl: Duration::from_secs(90 * 86_400),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn the_raw_defaults_are_the_documented_defaults() {
        let from_raw = LimitsConfig::from_raw(&RawLimits::default(), &RawLockout::default(), &RawProxy::default())
            .expect("valid defaults");
        let documented = LimitsConfig::default();
        assert_eq!(from_raw.per_ip, documented.per_ip);
        assert_eq!(from_raw.per_user, documented.per_user);
        assert_eq!(from_raw.lockout, documented.lockout);
        assert!(from_raw.enabled && from_raw.trusted_proxies.is_empty());
    }

    #[test]
    fn every_problem_names_its_key() {
        let limits = RawLimits { per_ip_per_minute: 0, per_user_burst: 1_000_000, ..RawLimits::default() };
        let window = |failures, within: &str| RawLockoutWindow { failures, within: within.into() };
        let lockout = RawLockout {
            enabled: true,
            windows: vec![window(5, "10m"), window(10, "forever"), window(0, "1h"), window(3, "600s"), window(2, "0s")],
            device_ttl: "30s".into(),
        };
        let proxy = RawProxy { trusted: vec!["127.0.0.1/32".into(), "10.0.0.1/8".into(), "proxy".into()] };
        let problems = LimitsConfig::from_raw(&limits, &lockout, &proxy).expect_err("invalid");
        let text = problems.join("\n");
        for key in [
            "limits.per_ip_per_minute:",
            "limits.per_user_burst:",
            "lockout.windows[1].within:",
            "lockout.windows[2].failures:",
            "lockout.windows[3].within: the same span as lockout.windows[0]",
            "lockout.windows[4].within:",
            "lockout.device_ttl: must be at least 1m",
            "proxy.trusted[1]:",
            "proxy.trusted[2]:",
        ] {
            assert!(text.contains(key), "{key} missing from\n{text}");
        }
        assert_eq!(problems.len(), 9, "{text}");

        let none = RawLockout { enabled: true, windows: vec![], ..RawLockout::default() };
        let problems = LimitsConfig::from_raw(&RawLimits::default(), &none, &RawProxy::default()).expect_err("empty");
        assert!(problems[0].starts_with("lockout.windows:"), "{problems:?}");
        let off = RawLockout { enabled: false, windows: vec![], ..RawLockout::default() };
        let config = LimitsConfig::from_raw(&RawLimits::default(), &off, &RawProxy::default()).expect("off");
        assert!(!config.lockout.enabled());
    }

    #[test]
    fn the_sections_are_read_from_toml_and_checked_with_the_rest() {
        let raw: RawConfig = toml::from_str(
            r#"
            [limits]
            enabled = false
            per_ip_per_minute = 30
            [lockout]
            windows = [{ failures = 3, within = "5m" }, { failures = 4, within = "soon" }]
            [proxy]
            trusted = ["127.0.0.1/32", "fd00::/8"]
            "#,
        )
        .expect("toml");
        let err = raw.validate().expect_err("invalid window").to_string();
        assert!(err.contains("lockout.windows[1].within: `soon` is not a duration"), "{err}");

        let mut raw = raw;
        raw.lockout.windows.pop();
        let config = raw.validate().expect("valid");
        assert!(!config.limits.enabled);
        assert_eq!(config.limits.per_ip, Rate { per_minute: 30, burst: 20 });
        assert_eq!(config.limits.lockout.windows(), [LockoutWindow { failures: 3, within: Duration::from_secs(300) }]);
        assert_eq!(config.limits.trusted_proxies.len(), 2);

        // The printed configuration reads back as the same sections.
        let shown: RawConfig = toml::from_str(&raw.to_redacted_toml()).expect("round trip");
        assert_eq!((shown.limits, shown.lockout, shown.proxy), (raw.limits, raw.lockout, raw.proxy));
        assert!(toml::from_str::<RawConfig>("[limits]\nper_minute = 3").is_err(), "unknown keys are refused");
    }
}
