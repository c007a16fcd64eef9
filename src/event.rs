//! Audit events: what each operation did, with time and user, never a secret or a code.

use crate::identity::UserId;
use crate::time::{Step, UnixTime};

/// One thing that happened to a user's software token, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Event {
    /// Whose token.
    pub user: UserId,
    /// When (the `now` the operation was given).
    pub at: UnixTime,
    /// What happened.
    pub kind: EventKind,
}

/// Which code check an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CodeCheck {
    /// VerifySoftwareToken, proving possession of a pending secret.
    Verify,
    /// The SOFTWARE_TOKEN_MFA sign-in challenge.
    SignIn,
}

/// Why a code was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum RejectReason {
    /// It matched no step of the window (counted toward the lockout).
    Mismatch,
    /// It matched only steps already used (not counted).
    Replayed,
    /// It was not evaluated: the user is locked out until then (not counted).
    LockedOut {
        /// When codes will be evaluated again.
        until: UnixTime,
    },
    /// It was not evaluated: the token is disabled (not counted).
    Disabled,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum EventKind {
    /// A new secret was issued and is pending verification.
    Associated {
        /// The policy was `ReplaceImmediately` and a verified token was dropped.
        dropped_verified: bool,
    },
    /// A pending secret was verified and became the user's token.
    Verified {
        /// The step its code matched, now the replay watermark.
        step: Step,
        /// An earlier verified token was replaced.
        replaced_previous: bool,
    },
    /// A sign-in code was accepted.
    SignInAccepted {
        /// The step it matched, now the replay watermark.
        step: Step,
    },
    /// A code was refused.
    CodeRejected {
        /// Verify or sign-in.
        check: CodeCheck,
        /// Why.
        reason: RejectReason,
    },
    /// A wrong code started or extended a lock.
    LockedOut {
        /// Until when.
        until: UnixTime,
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// The hard cap was reached: the token is disabled.
    Disabled {
        /// Consecutive failures so far.
        consecutive_failures: u32,
    },
    /// The software-token MFA preference changed.
    PreferenceChanged {
        /// Now enabled.
        enabled: bool,
        /// Now preferred.
        preferred: bool,
    },
    /// An administrator deleted the token, the pending secret and the preference.
    Deleted,
}
