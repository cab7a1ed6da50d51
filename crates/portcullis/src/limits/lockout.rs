//! Account lockout: the rules ([`LockoutPolicy`]), a lock ([`Lock`]) and one account's failure log.

use std::collections::VecDeque;
use std::time::Duration;

use time::OffsetDateTime;

/// One rule: `failures` failed attempts within `within` lock the account for `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutWindow {
    /// Failures that trip the rule.
    pub failures: u32,
    /// The span they must fall in, and the length of the lock.
    pub within: Duration,
}

/// The lockout rules, shortest window first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockoutPolicy {
    enabled: bool,
    windows: Vec<LockoutWindow>,
}

impl LockoutPolicy {
    /// Rules from `windows` in any order (they are kept shortest first); `enabled = false` turns
    /// lockout off.
    pub fn new(enabled: bool, mut windows: Vec<LockoutWindow>) -> Self {
        windows.sort_by_key(|w| w.within);
        Self { enabled: enabled && !windows.is_empty(), windows }
    }

    /// Whether any rule applies.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The rules, shortest window first.
    pub fn windows(&self) -> &[LockoutWindow] {
        &self.windows
    }

    /// The longest window: older failures are forgotten.
    pub fn longest(&self) -> Option<Duration> {
        self.windows.last().map(|w| w.within)
    }

    /// The most failures any rule counts: more need not be remembered.
    pub fn most_failures(&self) -> usize {
        self.windows.iter().map(|w| usize::try_from(w.failures).unwrap_or(usize::MAX)).max().unwrap_or(0)
    }
}

/// A lock on an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    /// The lock lifts at this instant.
    pub until: OffsetDateTime,
    /// The rule that tripped.
    pub window: LockoutWindow,
}

impl Lock {
    /// When the failure that tripped the rule happened.
    pub fn tripped_at(&self) -> OffsetDateTime {
        self.until - self.window.within
    }

    /// Whole seconds until the lock lifts, rounded up, at least 1.
    pub fn retry_after_secs(&self, now: OffsetDateTime) -> u64 {
        let left = self.until - now;
        let secs = left.whole_seconds() + i64::from(left.subsec_nanoseconds() > 0);
        u64::try_from(secs).unwrap_or(0).max(1)
    }
}

/// One account's recent failures, the time of its last success and the lock in force. A backend
/// keeps one per account key; every method takes the time, so tests move it by hand.
#[derive(Debug, Clone, Default)]
pub(crate) struct FailureLog {
    /// Failure times, oldest first; none older than the longest window, at most
    /// [`LockoutPolicy::most_failures`] of them.
    failures: VecDeque<OffsetDateTime>,
    /// The last success: failures at or before it no longer count toward the shortest window.
    forgiven_until: Option<OffsetDateTime>,
    lock: Option<Lock>,
}

impl FailureLog {
    /// The lock in force at `now`, if any.
    pub(crate) fn lock(&self, now: OffsetDateTime) -> Option<Lock> {
        self.lock.filter(|l| now < l.until)
    }

    /// The lock in force at `now` once what an unlock at `cleared` lifted is forgotten.
    pub(crate) fn in_force(&mut self, cleared: Option<OffsetDateTime>, now: OffsetDateTime) -> Option<Lock> {
        self.clear(cleared);
        self.lock(now)
    }

    /// Forgets what an unlock at `at` cleared: failures at or before it stop counting toward
    /// every window, and a lock tripped at or before it is lifted. `true` when anything changed.
    pub(crate) fn clear(&mut self, at: Option<OffsetDateTime>) -> bool {
        let Some(at) = at else { return false };
        let before = self.failures.len();
        while self.failures.front().is_some_and(|&t| t <= at) {
            self.failures.pop_front();
        }
        let lifted = self.lock.is_some_and(|l| l.tripped_at() <= at);
        if lifted {
            self.lock = None;
        }
        lifted || self.failures.len() != before
    }

    /// Records a failure at `now`, after forgetting what an unlock at `cleared` lifted; `Some`
    /// when it locks the account (or extends the lock in force).
    pub(crate) fn record_failure(
        &mut self,
        policy: &LockoutPolicy,
        cleared: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Option<Lock> {
        self.clear(cleared);
        let longest = policy.longest()?;
        while self.failures.front().is_some_and(|&t| t <= now - longest) {
            self.failures.pop_front();
        }
        // Concurrent requests may arrive slightly out of order: keep the log sorted.
        let at = self.failures.partition_point(|&t| t <= now);
        self.failures.insert(at, now);
        while self.failures.len() > policy.most_failures() {
            self.failures.pop_front();
        }
        let mut tripped: Option<Lock> = None;
        for (i, window) in policy.windows().iter().enumerate() {
            let start = now - window.within;
            let forgiven = if i == 0 { self.forgiven_until } else { None };
            let counted =
                self.failures.iter().rev().take_while(|&&t| t > start && forgiven.is_none_or(|f| t > f)).count();
            if counted >= usize::try_from(window.failures).unwrap_or(usize::MAX) {
                let lock = Lock { until: now + window.within, window: *window };
                if tripped.is_none_or(|t| lock.until > t.until) {
                    tripped = Some(lock);
                }
            }
        }
        let tripped = tripped?;
        if self.lock(now).is_some_and(|held| held.until >= tripped.until) {
            return None;
        }
        self.lock = Some(tripped);
        Some(tripped)
    }

    /// Records a success at `now`: the shortest window forgets the failures before it; longer
    /// windows still count them, and a lock in force stays.
    pub(crate) fn record_success(&mut self, now: OffsetDateTime) {
        self.forgiven_until = Some(self.forgiven_until.map_or(now, |f| f.max(now)));
    }
}

impl FailureLog {
    /// A compact text form for a shared backend: `forgiven|lock|failures`, times in Unix
    /// nanoseconds, `-` for none.
    pub(crate) fn encode(&self) -> String {
        let nanos = |t: OffsetDateTime| t.unix_timestamp_nanos().to_string();
        let forgiven = self.forgiven_until.map_or_else(|| "-".to_owned(), nanos);
        let lock = self.lock.map_or_else(
            || "-".to_owned(),
            |l| format!("{},{},{}", nanos(l.until), l.window.failures, l.window.within.as_millis()),
        );
        let failures: Vec<String> = self.failures.iter().map(|&t| nanos(t)).collect();
        format!("{forgiven}|{lock}|{}", failures.join(","))
    }

    /// Parses [`FailureLog::encode`]'s form; `None` when it is not that.
    pub(crate) fn decode(s: &str) -> Option<Self> {
        fn time(s: &str) -> Option<OffsetDateTime> {
            OffsetDateTime::from_unix_timestamp_nanos(s.parse().ok()?).ok()
        }
        let mut parts = s.split('|');
        let (forgiven, lock, failures) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let forgiven_until = if forgiven == "-" { None } else { Some(time(forgiven)?) };
        let lock = if lock == "-" {
            None
        } else {
            let mut l = lock.split(',');
            let until = time(l.next()?)?;
            let failures = l.next()?.parse().ok()?;
            let within = Duration::from_millis(l.next()?.parse().ok()?);
            Some(Lock { until, window: LockoutWindow { failures, within } })
        };
        let failures = if failures.is_empty() {
            VecDeque::new()
        } else {
            failures.split(',').map(time).collect::<Option<VecDeque<_>>>()?
        };
        Some(Self { failures, forgiven_until, lock })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_text_form_round_trips() {
        let p = policy();
        let mut log = FailureLog::default();
        assert_eq!(FailureLog::decode(&log.encode()).map(|l| l.encode()), Some(log.encode()));
        fail(&mut log, &p, T0 + Duration::from_millis(1500), 6);
        log.record_success(T0 + MIN);
        let back = FailureLog::decode(&log.encode()).expect("decodes");
        assert_eq!(back.failures, log.failures);
        assert_eq!(back.forgiven_until, log.forgiven_until);
        assert_eq!(back.lock, log.lock);
        for junk in ["", "-|-", "x|-|", "-|-|1,a", "-|1,2|", "-|-|-|"] {
            assert!(FailureLog::decode(junk).is_none(), "{junk}");
        }
    }

    use super::*;

    const MIN: Duration = Duration::from_secs(60);
    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn policy() -> LockoutPolicy {
        LockoutPolicy::new(
            true,
            vec![
                LockoutWindow { failures: 10, within: 60 * MIN },
                LockoutWindow { failures: 5, within: 10 * MIN },
                LockoutWindow { failures: 20, within: 24 * 60 * MIN },
            ],
        )
    }

    /// `n` failures one second apart from `from`; the last result.
    fn fail(log: &mut FailureLog, policy: &LockoutPolicy, from: OffsetDateTime, n: u32) -> Option<Lock> {
        (0..n).map(|i| log.record_failure(policy, None, from + Duration::from_secs(u64::from(i)))).last().flatten()
    }

    #[test]
    fn windows_are_kept_shortest_first() {
        let p = policy();
        assert_eq!(p.windows().iter().map(|w| w.failures).collect::<Vec<_>>(), [5, 10, 20]);
        assert_eq!(p.longest(), Some(24 * 60 * MIN));
        assert_eq!(p.most_failures(), 20);
        assert!(!LockoutPolicy::new(true, vec![]).enabled());
    }

    #[test]
    fn retry_after_rounds_up() {
        let lock = Lock { until: T0 + Duration::from_millis(1500), window: policy().windows()[0] };
        assert_eq!(lock.retry_after_secs(T0), 2);
        assert_eq!(lock.retry_after_secs(T0 + Duration::from_secs(1)), 1);
        assert_eq!(lock.retry_after_secs(T0 + Duration::from_secs(9)), 1);
    }

    #[test]
    fn failures_out_of_order_stay_sorted() {
        let p = policy();
        let mut log = FailureLog::default();
        log.record_failure(&p, None, T0 + Duration::from_secs(5));
        log.record_failure(&p, None, T0 + Duration::from_secs(3));
        log.record_failure(&p, None, T0 + Duration::from_secs(4));
        assert!(log.failures.iter().zip(log.failures.iter().skip(1)).all(|(a, b)| a <= b));
    }

    #[test]
    fn the_log_stays_bounded() {
        let p = policy();
        let mut log = FailureLog::default();
        for i in 0..100u64 {
            log.record_failure(&p, None, T0 + Duration::from_secs(i * 25 * 3600));
        }
        assert_eq!(log.failures.len(), 1, "only the last day is kept");
        fail(&mut log, &p, T0 + Duration::from_secs(4000 * 3600), 50);
        assert_eq!(log.failures.len(), p.most_failures());
    }

    #[test]
    fn an_unlock_clears_every_window_and_the_lock() {
        let p = policy();
        let mut log = FailureLog::default();
        fail(&mut log, &p, T0, 12).expect("locked for an hour");
        assert!(log.lock(T0 + MIN).is_some());
        assert!(!log.clear(None), "no unlock: nothing changes");
        assert!(log.clear(Some(T0 + MIN)));
        assert_eq!(log.lock(T0 + MIN), None);
        // The cleared failures no longer count: four more do not reach the 10m rule.
        assert_eq!(fail(&mut log, &p, T0 + 2 * MIN, 4), None);
        assert!(log.record_failure(&p, None, T0 + 3 * MIN).is_some(), "the fifth since the unlock does");
    }

    #[test]
    fn a_longer_lock_extends_a_shorter_one() {
        let p = policy();
        let mut log = FailureLog::default();
        let first = fail(&mut log, &p, T0, 5).expect("5 in 10m");
        // Failures recorded while locked (a caller that did not check first) still count.
        let second = fail(&mut log, &p, T0 + MIN, 5).expect("10 in 1h");
        assert_eq!(second.window.within, 60 * MIN);
        assert!(second.until > first.until);
        let third = log.record_failure(&p, None, T0 + 2 * MIN).expect("11 in 1h");
        assert_eq!(third.until, T0 + 2 * MIN + 60 * MIN);
        assert_eq!(log.lock(T0 + 2 * MIN), Some(third));
    }
}
