//! Brute-force protection: consecutive wrong codes lock the user out for exponentially longer
//! and, at a hard cap, disable the token.

use crate::error::Error;
use crate::time::UnixTime;

/// The numbers of the lockout. The defaults follow Cognito ("after five unsuccessful attempts …
/// exponential-timeout lockout") and NIST SP 800-63B §5.2.2 (at most 100 consecutive failures).
///
/// After `free_failures` consecutive wrong codes, each further wrong code locks the user for
/// `first_lock_secs`, doubling with each one, capped at `max_lock_secs`. A success, or
/// `quiet_reset_secs` without a failure **after the lock has ended**, resets the count (counting
/// the quiet time from the end of the lock keeps a lock as long as the quiet period from
/// wiping the count the moment it ends). At `hard_cap` consecutive failures the token is
/// disabled until the user associates a new one or an administrator deletes it.
///
/// ```
/// use softtoken::LockoutPolicy;
///
/// let policy = LockoutPolicy::default();
/// assert_eq!(policy.free_failures(), 5);
/// assert_eq!(policy.hard_cap(), 100);
/// assert!(LockoutPolicy::new(5, 1, 900, 900, 3).is_err()); // cap below the free failures
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LockoutPolicy {
    free_failures: u32,
    first_lock_secs: u64,
    max_lock_secs: u64,
    quiet_reset_secs: u64,
    hard_cap: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            free_failures: 5,
            first_lock_secs: 1,
            max_lock_secs: 15 * 60,
            quiet_reset_secs: 15 * 60,
            hard_cap: 100,
        }
    }
}

impl LockoutPolicy {
    /// A policy with explicit numbers.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when `first_lock_secs` is 0, `max_lock_secs` is below
    /// `first_lock_secs`, `quiet_reset_secs` is 0, or `hard_cap` is not above `free_failures`.
    pub fn new(
        free_failures: u32,
        first_lock_secs: u64,
        max_lock_secs: u64,
        quiet_reset_secs: u64,
        hard_cap: u32,
    ) -> Result<LockoutPolicy, Error> {
        if first_lock_secs == 0 || max_lock_secs < first_lock_secs {
            return Err(Error::invalid_parameter(
                "lockout",
                "the first lock must last at least a second and not exceed the longest lock",
            ));
        }
        if quiet_reset_secs == 0 {
            return Err(Error::invalid_parameter(
                "lockout",
                "the quiet period that resets the failure count must be at least a second",
            ));
        }
        if hard_cap <= free_failures {
            return Err(Error::invalid_parameter(
                "lockout",
                "the hard cap must be above the number of free failures",
            ));
        }
        Ok(LockoutPolicy {
            free_failures,
            first_lock_secs,
            max_lock_secs,
            quiet_reset_secs,
            hard_cap,
        })
    }

    /// Consecutive wrong codes allowed before the first lock.
    #[must_use]
    pub const fn free_failures(&self) -> u32 {
        self.free_failures
    }

    /// The first lock, in seconds.
    #[must_use]
    pub const fn first_lock_secs(&self) -> u64 {
        self.first_lock_secs
    }

    /// The longest lock, in seconds.
    #[must_use]
    pub const fn max_lock_secs(&self) -> u64 {
        self.max_lock_secs
    }

    /// Seconds without a failure, after any lock, that reset the count.
    #[must_use]
    pub const fn quiet_reset_secs(&self) -> u64 {
        self.quiet_reset_secs
    }

    /// Consecutive failures that disable the token.
    #[must_use]
    pub const fn hard_cap(&self) -> u32 {
        self.hard_cap
    }

    /// The lock imposed by the `failures`-th consecutive failure (0 while still free).
    #[must_use]
    pub fn lock_after(&self, failures: u32) -> u64 {
        let Some(locked_failures) = failures.checked_sub(self.free_failures) else {
            return 0;
        };
        if locked_failures == 0 {
            return 0;
        }
        1u64.checked_shl(locked_failures - 1)
            .and_then(|factor| self.first_lock_secs.checked_mul(factor))
            .map_or(self.max_lock_secs, |secs| secs.min(self.max_lock_secs))
    }
}

/// The persisted failure counters of one user, shared by Verify and sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct LockoutState {
    consecutive_failures: u32,
    last_failure_at: Option<UnixTime>,
    locked_until: Option<UnixTime>,
}

impl LockoutState {
    /// Consecutive wrong codes so far (as stored; a quiet period may since have reset it).
    #[must_use]
    pub const fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// When the last wrong code was evaluated.
    #[must_use]
    pub const fn last_failure_at(&self) -> Option<UnixTime> {
        self.last_failure_at
    }

    /// Until when codes are refused unevaluated.
    #[must_use]
    pub const fn locked_until(&self) -> Option<UnixTime> {
        self.locked_until
    }

    /// Whether the hard cap has been reached.
    #[must_use]
    pub const fn is_disabled(&self, policy: &LockoutPolicy) -> bool {
        self.consecutive_failures >= policy.hard_cap
    }

    /// Rebuilds counters from their persisted parts (record decoding).
    pub(crate) const fn from_parts(
        consecutive_failures: u32,
        last_failure_at: Option<UnixTime>,
        locked_until: Option<UnixTime>,
    ) -> LockoutState {
        LockoutState {
            consecutive_failures,
            last_failure_at,
            locked_until,
        }
    }

    /// Decides whether a code may be evaluated at `now`, and returns the counters to build on:
    /// reset when the quiet period has passed.
    ///
    /// # Errors
    /// [`Error::TokenDisabled`] at the hard cap; [`Error::LockedOut`] while a lock runs.
    pub(crate) fn admit(
        &self,
        policy: &LockoutPolicy,
        now: UnixTime,
    ) -> Result<LockoutState, Error> {
        if self.is_disabled(policy) {
            return Err(Error::TokenDisabled);
        }
        if let Some(until) = self.locked_until
            && now < until
        {
            return Err(Error::LockedOut {
                retry_at: until,
                retry_after_secs: until.0 - now.0,
            });
        }
        let quiet_from = match (self.locked_until, self.last_failure_at) {
            (Some(until), Some(last)) => until.max(last),
            (Some(at), None) | (None, Some(at)) => at,
            (None, None) => return Ok(*self),
        };
        if now.0 >= quiet_from.0.saturating_add(policy.quiet_reset_secs) {
            return Ok(LockoutState::default());
        }
        Ok(*self)
    }

    /// The counters after one more wrong code at `now`.
    pub(crate) fn after_failure(&self, policy: &LockoutPolicy, now: UnixTime) -> LockoutState {
        let consecutive_failures = self.consecutive_failures.saturating_add(1);
        let lock = policy.lock_after(consecutive_failures);
        LockoutState {
            consecutive_failures,
            last_failure_at: Some(now),
            locked_until: (lock > 0).then(|| UnixTime(now.0.saturating_add(lock))),
        }
    }
}
