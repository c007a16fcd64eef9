//! The user pool's MFA configuration, validated as a whole.

use crate::config::TotpConfig;
use crate::error::Error;
use crate::lockout::LockoutPolicy;

/// The pool's `MfaConfiguration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum MfaMode {
    /// No MFA challenge at sign-in.
    Off,
    /// Users who enabled software-token MFA are challenged; others are not.
    #[default]
    Optional,
    /// Every user is challenged: with SOFTWARE_TOKEN_MFA when a verified token exists,
    /// otherwise with MFA_SETUP.
    On,
}

impl MfaMode {
    /// Cognito's wire name: `OFF`, `OPTIONAL` or `ON`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            MfaMode::Off => "OFF",
            MfaMode::Optional => "OPTIONAL",
            MfaMode::On => "ON",
        }
    }
}

/// What AssociateSoftwareToken does to an already verified token (the two Cognito documents
/// disagree; DESIGN.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum ReassociationPolicy {
    /// The current API reference: the new secret stays pending and the verified token keeps
    /// working for sign-in until the new one is verified, which replaces it.
    #[default]
    KeepUntilVerified,
    /// The CLI reference: associating drops the verified token at once.
    ReplaceImmediately,
}

/// The pool's configuration of software-token MFA.
///
/// Defaults: software-token MFA enabled, [`MfaMode::Optional`], AuthSessionValidity 3 minutes,
/// Cognito's TOTP parameters, the default [`LockoutPolicy`], and
/// [`ReassociationPolicy::KeepUntilVerified`]. (A new Cognito pool starts with MFA `OFF` and
/// software tokens disabled; a crate whose only job is software tokens starts with them on.)
///
/// ```
/// use softtoken::{MfaMode, PoolConfig};
///
/// let pool = PoolConfig::default().with_mfa_mode(MfaMode::On)?.with_auth_session_validity_minutes(5)?;
/// assert_eq!(pool.mfa_mode(), MfaMode::On);
///
/// // `ON` needs a factor, and this crate has only the software token.
/// assert_eq!(
///     pool.with_software_token_mfa(false).unwrap_err().code(),
///     "InvalidParameterException"
/// );
/// # Ok::<(), softtoken::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolConfig {
    software_token_mfa: bool,
    mfa_mode: MfaMode,
    auth_session_validity_minutes: u8,
    totp: TotpConfig,
    lockout: LockoutPolicy,
    reassociation: ReassociationPolicy,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            software_token_mfa: true,
            mfa_mode: MfaMode::Optional,
            auth_session_validity_minutes: 3,
            totp: TotpConfig::default(),
            lockout: LockoutPolicy::default(),
            reassociation: ReassociationPolicy::KeepUntilVerified,
        }
    }
}

impl PoolConfig {
    /// Switches software-token MFA (`SoftwareTokenMfaConfiguration.Enabled`) on or off.
    /// Users who already verified a token keep being challenged with it.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when switching it off in an `ON` pool.
    pub fn with_software_token_mfa(mut self, enabled: bool) -> Result<PoolConfig, Error> {
        self.software_token_mfa = enabled;
        self.validated()
    }

    /// Sets the pool's MFA mode.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `ON` while software-token MFA is off.
    pub fn with_mfa_mode(mut self, mode: MfaMode) -> Result<PoolConfig, Error> {
        self.mfa_mode = mode;
        self.validated()
    }

    /// Sets how long sign-in sessions live, in minutes.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] outside 3..=15.
    pub fn with_auth_session_validity_minutes(mut self, minutes: u8) -> Result<PoolConfig, Error> {
        if !(3..=15).contains(&minutes) {
            return Err(Error::invalid_parameter(
                "authSessionValidity",
                "1 validation error detected: Value at 'authSessionValidity' failed to satisfy \
                 constraint: Member must have value between 3 and 15",
            ));
        }
        self.auth_session_validity_minutes = minutes;
        Ok(self)
    }

    /// Sets the TOTP parameters for tokens associated from now on.
    #[must_use]
    pub const fn with_totp(mut self, totp: TotpConfig) -> PoolConfig {
        self.totp = totp;
        self
    }

    /// Sets the lockout numbers.
    #[must_use]
    pub const fn with_lockout(mut self, lockout: LockoutPolicy) -> PoolConfig {
        self.lockout = lockout;
        self
    }

    /// Sets what associating does to a verified token.
    #[must_use]
    pub const fn with_reassociation(mut self, policy: ReassociationPolicy) -> PoolConfig {
        self.reassociation = policy;
        self
    }

    fn validated(self) -> Result<PoolConfig, Error> {
        if self.mfa_mode == MfaMode::On && !self.software_token_mfa {
            return Err(Error::invalid_parameter(
                "mfaConfiguration",
                "MFA configuration ON requires software token MFA to be enabled",
            ));
        }
        Ok(self)
    }

    /// Whether software-token MFA is enabled for the pool.
    #[must_use]
    pub const fn software_token_mfa(&self) -> bool {
        self.software_token_mfa
    }

    /// The pool's MFA mode.
    #[must_use]
    pub const fn mfa_mode(&self) -> MfaMode {
        self.mfa_mode
    }

    /// AuthSessionValidity in minutes.
    #[must_use]
    pub const fn auth_session_validity_minutes(&self) -> u8 {
        self.auth_session_validity_minutes
    }

    /// AuthSessionValidity in seconds.
    #[must_use]
    pub const fn auth_session_validity_secs(&self) -> u64 {
        self.auth_session_validity_minutes as u64 * 60
    }

    /// The TOTP parameters for new tokens.
    #[must_use]
    pub const fn totp(&self) -> &TotpConfig {
        &self.totp
    }

    /// The lockout numbers.
    #[must_use]
    pub const fn lockout(&self) -> &LockoutPolicy {
        &self.lockout
    }

    /// The re-association policy.
    #[must_use]
    pub const fn reassociation(&self) -> ReassociationPolicy {
        self.reassociation
    }
}
