//! TOTP parameters: algorithm, digits, period, T0 and the verification window.

use core::fmt;
use core::num::NonZeroU64;

use crate::time::{Step, TimeError, UnixTime};

/// The HMAC hash function (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1: Cognito's algorithm and what every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` key URIs: `SHA1`, `SHA256` or `SHA512`.
    #[must_use]
    pub const fn uri_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri_name())
    }
}

/// How many decimal digits a code has. RFC 4226 §5.3 allows 6 to 8; other counts cannot be
/// expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Digits {
    /// Six digits: Cognito's and every authenticator app's default.
    #[default]
    Six,
    /// Seven digits.
    Seven,
    /// Eight digits.
    Eight,
}

impl Digits {
    /// The digit count as a number.
    #[must_use]
    pub const fn count(self) -> usize {
        match self {
            Digits::Six => 6,
            Digits::Seven => 7,
            Digits::Eight => 8,
        }
    }

    /// `10^count`: a code is the truncated HMAC value modulo this.
    #[must_use]
    pub const fn modulus(self) -> u32 {
        match self {
            Digits::Six => 1_000_000,
            Digits::Seven => 10_000_000,
            Digits::Eight => 100_000_000,
        }
    }

    /// The digit count for a number, if it is 6, 7 or 8.
    #[must_use]
    pub const fn from_count(count: usize) -> Option<Digits> {
        match count {
            6 => Some(Digits::Six),
            7 => Some(Digits::Seven),
            8 => Some(Digits::Eight),
            _ => None,
        }
    }

    /// Reduces a dynamically truncated HMAC value to a code. Each arm divides by a constant, so
    /// the compiler emits a multiply instead of a data-dependent `div`.
    #[inline]
    pub(crate) const fn reduce(self, truncated: u32) -> u32 {
        match self {
            Digits::Six => truncated % 1_000_000,
            Digits::Seven => truncated % 10_000_000,
            Digits::Eight => truncated % 100_000_000,
        }
    }
}

/// How many steps before and after the current one a code may come from.
///
/// The default is Cognito's ±1. A wider window accepts more guesses per step, so it is only
/// available by building one explicitly with [`Window::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    back: u8,
    ahead: u8,
}

impl Window {
    /// The widest window either way. Bounding it bounds the work one verification does.
    pub const MAX_STEPS: u8 = 10;

    /// Only the current step.
    pub const EXACT: Window = Window { back: 0, ahead: 0 };

    /// One step back and one ahead: RFC 6238 §5.2's recommendation and Cognito's behaviour.
    pub const ONE: Window = Window { back: 1, ahead: 1 };

    /// A window of `back` steps before and `ahead` steps after the current one.
    ///
    /// # Errors
    /// [`ConfigError::WindowTooWide`] when either side exceeds [`Window::MAX_STEPS`].
    pub const fn new(back: u8, ahead: u8) -> Result<Window, ConfigError> {
        if back > Self::MAX_STEPS || ahead > Self::MAX_STEPS {
            return Err(ConfigError::WindowTooWide { back, ahead });
        }
        Ok(Window { back, ahead })
    }

    /// Steps accepted before the current one.
    #[must_use]
    pub const fn back(self) -> u8 {
        self.back
    }

    /// Steps accepted after the current one.
    #[must_use]
    pub const fn ahead(self) -> u8 {
        self.ahead
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::ONE
    }
}

/// The parameters of a TOTP token. The default is Cognito's: HMAC-SHA-1, 6 digits, 30-second
/// steps, T0 = 0, window ±1.
///
/// ```
/// use softtoken::{Algorithm, Digits, TotpConfig, Window};
///
/// let cognito = TotpConfig::default();
/// assert_eq!(cognito.algorithm(), Algorithm::Sha1);
/// assert_eq!(cognito.digits(), Digits::Six);
/// assert_eq!(cognito.period_secs(), 30);
///
/// let custom = TotpConfig::default()
///     .with_algorithm(Algorithm::Sha256)
///     .with_digits(Digits::Eight)
///     .with_period_secs(60)?
///     .with_window(Window::new(2, 1)?);
/// assert_eq!(custom.window().back(), 2);
/// # Ok::<(), softtoken::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TotpConfig {
    algorithm: Algorithm,
    digits: Digits,
    period: NonZeroU64,
    t0: UnixTime,
    window: Window,
}

impl Default for TotpConfig {
    fn default() -> Self {
        TotpConfig {
            algorithm: Algorithm::Sha1,
            digits: Digits::Six,
            period: TotpConfig::DEFAULT_PERIOD,
            t0: UnixTime(0),
            window: Window::ONE,
        }
    }
}

impl TotpConfig {
    const DEFAULT_PERIOD: NonZeroU64 = NonZeroU64::MIN.saturating_add(29);

    /// The same configuration with another hash function.
    #[must_use]
    pub const fn with_algorithm(mut self, algorithm: Algorithm) -> TotpConfig {
        self.algorithm = algorithm;
        self
    }

    /// The same configuration with another digit count.
    #[must_use]
    pub const fn with_digits(mut self, digits: Digits) -> TotpConfig {
        self.digits = digits;
        self
    }

    /// The same configuration with another step length in seconds.
    ///
    /// # Errors
    /// [`ConfigError::ZeroPeriod`] for 0.
    pub const fn with_period_secs(mut self, seconds: u64) -> Result<TotpConfig, ConfigError> {
        match NonZeroU64::new(seconds) {
            Some(period) => {
                self.period = period;
                Ok(self)
            }
            None => Err(ConfigError::ZeroPeriod),
        }
    }

    /// The same configuration with another T0, the time step 0 begins.
    #[must_use]
    pub const fn with_t0(mut self, t0: UnixTime) -> TotpConfig {
        self.t0 = t0;
        self
    }

    /// The same configuration with another verification window. This is the only way to widen
    /// the window beyond ±1.
    #[must_use]
    pub const fn with_window(mut self, window: Window) -> TotpConfig {
        self.window = window;
        self
    }

    /// The hash function.
    #[must_use]
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digit count.
    #[must_use]
    pub const fn digits(&self) -> Digits {
        self.digits
    }

    /// The step length in seconds (never 0).
    #[must_use]
    pub const fn period_secs(&self) -> u64 {
        self.period.get()
    }

    /// The time step 0 begins.
    #[must_use]
    pub const fn t0(&self) -> UnixTime {
        self.t0
    }

    /// The verification window.
    #[must_use]
    pub const fn window(&self) -> Window {
        self.window
    }

    /// The step `now` falls in: `(now - T0) / period` (RFC 6238 §4.2).
    ///
    /// # Errors
    /// [`TimeError::BeforeEpoch`] when `now < T0`; [`TimeError::OutOfRange`] when
    /// `now > UnixTime::MAX`.
    pub const fn step_at(&self, now: UnixTime) -> Result<Step, TimeError> {
        if now.0 > UnixTime::MAX.0 {
            return Err(TimeError::OutOfRange { time: now });
        }
        match now.0.checked_sub(self.t0.0) {
            Some(elapsed) => Ok(Step(elapsed / self.period.get())),
            None => Err(TimeError::BeforeEpoch {
                time: now,
                t0: self.t0,
            }),
        }
    }
}

/// Why a TOTP configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A step of 0 seconds.
    #[error("the TOTP period must be at least one second")]
    ZeroPeriod,
    /// A window wider than [`Window::MAX_STEPS`] on either side.
    #[error(
        "a window of -{back}/+{ahead} steps is wider than the maximum of {max} either way",
        max = Window::MAX_STEPS
    )]
    WindowTooWide {
        /// Steps requested before the current one.
        back: u8,
        /// Steps requested after the current one.
        ahead: u8,
    },
}
