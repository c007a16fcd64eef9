//! Time as a value: the core never reads a clock.

use core::fmt;

/// Seconds since the Unix epoch, supplied by the caller.
///
/// The core of this crate never reads a clock: every time-dependent function takes a
/// `UnixTime`. [`UnixTime::now`] is the one convenience that does, for callers outside the core.
///
/// Times above [`UnixTime::MAX`] (the last second of the year 9999) are refused by every
/// function that turns a time into a TOTP step, with [`TimeError::OutOfRange`]: no OTP
/// deployment needs them, and the bound keeps all step arithmetic far from overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The latest time this crate computes a step for: 9999-12-31T23:59:59Z.
    pub const MAX: UnixTime = UnixTime(253_402_300_799);

    /// The current system time.
    ///
    /// A clock set before 1970 reads as the epoch. This is the only function in the crate that
    /// reads a clock; the core takes `now` as an argument instead.
    #[must_use]
    pub fn now() -> UnixTime {
        let seconds = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        UnixTime(seconds)
    }

    /// The number of seconds since the epoch.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// A TOTP time step: `(now - T0) / period`, the counter fed to HOTP (RFC 6238 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Step(pub u64);

impl Step {
    /// The counter value.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}", self.0)
    }
}

/// Why a time could not be turned into a TOTP step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The time is before the configuration's T0.
    #[error("time {time} is before the TOTP epoch T0 = {t0}")]
    BeforeEpoch {
        /// The time given.
        time: UnixTime,
        /// The configured T0.
        t0: UnixTime,
    },
    /// The time is after [`UnixTime::MAX`].
    #[error("time {time} is after the latest supported time {max}", max = UnixTime::MAX)]
    OutOfRange {
        /// The time given.
        time: UnixTime,
    },
}
