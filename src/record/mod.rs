//! The persisted state of one user's software token, and its byte encoding.

mod encoding;

pub use encoding::{DecodeError, PlainSecrets, SealError, SecretSealer};

use crate::config::TotpConfig;
use crate::lockout::LockoutState;
use crate::secret::Secret;
use crate::time::{Step, UnixTime};

/// Everything stored for one user: the verified token, a pending secret, the MFA preference
/// and the lockout counters. Stores keep it opaque and swap it whole (DESIGN.md §5).
///
/// Read accessors expose everything but the secrets; `Debug` shows secrets only as their
/// redacted form.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TokenRecord {
    pub(crate) verified: Option<VerifiedToken>,
    pub(crate) pending: Option<PendingToken>,
    pub(crate) preference: MfaPreference,
    pub(crate) lockout: LockoutState,
}

impl TokenRecord {
    /// The verified token, if any.
    #[must_use]
    pub fn verified(&self) -> Option<&VerifiedToken> {
        self.verified.as_ref()
    }

    /// The pending (associated, not yet verified) secret, if any.
    #[must_use]
    pub fn pending(&self) -> Option<&PendingToken> {
        self.pending.as_ref()
    }

    /// The user's software-token MFA preference.
    #[must_use]
    pub const fn preference(&self) -> MfaPreference {
        self.preference
    }

    /// The failure counters.
    #[must_use]
    pub const fn lockout(&self) -> &LockoutState {
        &self.lockout
    }

    /// Whether the record says nothing: no token, nothing pending, no preference, no failures.
    /// The service deletes such a record instead of storing it.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == TokenRecord::default()
    }
}

/// A token whose possession the user proved with a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub(crate) secret: Secret,
    pub(crate) config: TotpConfig,
    pub(crate) friendly_device_name: Option<String>,
    pub(crate) verified_at: UnixTime,
    pub(crate) last_used_step: Option<Step>,
}

impl VerifiedToken {
    /// The TOTP parameters the token was associated with.
    #[must_use]
    pub const fn config(&self) -> &TotpConfig {
        &self.config
    }

    /// The name the user gave the device at Verify.
    #[must_use]
    pub fn friendly_device_name(&self) -> Option<&str> {
        self.friendly_device_name.as_deref()
    }

    /// When Verify succeeded.
    #[must_use]
    pub const fn verified_at(&self) -> UnixTime {
        self.verified_at
    }

    /// The replay watermark: the highest step accepted so far. Only later steps are accepted.
    #[must_use]
    pub const fn last_used_step(&self) -> Option<Step> {
        self.last_used_step
    }
}

/// A secret issued by AssociateSoftwareToken and not yet verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingToken {
    pub(crate) secret: Secret,
    pub(crate) config: TotpConfig,
    pub(crate) created_at: UnixTime,
}

impl PendingToken {
    /// The TOTP parameters the secret was issued with.
    #[must_use]
    pub const fn config(&self) -> &TotpConfig {
        &self.config
    }

    /// When it was associated.
    #[must_use]
    pub const fn created_at(&self) -> UnixTime {
        self.created_at
    }
}

/// `SoftwareTokenMfaSettings` as stored: whether the factor is enabled and preferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MfaPreference {
    /// The user turned software-token MFA on (challenged in an `OPTIONAL` pool).
    pub enabled: bool,
    /// It is the preferred MFA method (reported as `PreferredMfaSetting`).
    pub preferred: bool,
}
