//! The pure state machine over a user's [`TokenRecord`]: each transition takes the current
//! record, the input and `now` (and a fresh secret when one is needed) and returns the next
//! record, the events and the outcome. No clock, no RNG, no IO.
//!
//! The states and moves are drawn in the [crate documentation](crate#the-lifecycle).

use crate::code::Code;
use crate::config::TotpConfig;
use crate::error::Error;
use crate::event::{CodeCheck, EventKind, RejectReason};
use crate::lockout::{LockoutPolicy, LockoutState};
use crate::otp::{TotpKey, VerifyError};
use crate::pool::{MfaMode, PoolConfig, ReassociationPolicy};
use crate::record::{MfaPreference, PendingToken, TokenRecord, VerifiedToken};
use crate::secret::Secret;
use crate::time::{Step, UnixTime};

/// What to do with the stored record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing changed: write nothing.
    Keep,
    /// Compare-and-swap this record in.
    Store(TokenRecord),
    /// Compare-and-swap the record away.
    Delete,
}

/// The result of one transition: persist `next` (atomically, with compare-and-swap), then
/// report `events` and `outcome`. An outcome can be an error *and* change state: a wrong code
/// is refused and counted.
#[must_use = "a transition does nothing until its next record is persisted"]
#[derive(Debug)]
pub struct Transition<T> {
    /// The record to persist.
    pub next: Next,
    /// What happened, for the audit log.
    pub events: Vec<EventKind>,
    /// The operation's answer.
    pub outcome: Result<T, Error>,
}

impl<T> Transition<T> {
    /// Nothing to write, nothing to report.
    fn keep(outcome: Result<T, Error>) -> Transition<T> {
        Transition {
            next: Next::Keep,
            events: Vec::new(),
            outcome,
        }
    }

    fn refuse(error: Error) -> Transition<T> {
        Transition::keep(Err(error))
    }

    fn store(record: TokenRecord, events: Vec<EventKind>, outcome: Result<T, Error>) -> Self {
        let next = if record.is_empty() {
            Next::Delete
        } else {
            Next::Store(record)
        };
        Transition {
            next,
            events,
            outcome,
        }
    }
}

/// How an AssociateSoftwareToken request was authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssociationOrigin {
    /// A signed-in user's access token.
    AccessToken,
    /// An MFA_SETUP session: issued only to a user with no verified token.
    MfaSetupSession,
}

/// Whether a user in state `current` may associate at all from `origin`: an MFA_SETUP
/// session is refused (`Invalid session for the user.`) once the user has a verified token, as
/// it was issued for setting up a first token, not for replacing one. [`associate`] checks it;
/// the service also checks it before consuming the session, which only a call that succeeds
/// may do.
///
/// # Errors
/// [`Error::InvalidSession`] for an MFA_SETUP session of a user with a verified token.
pub fn check_association(
    current: Option<&TokenRecord>,
    origin: AssociationOrigin,
) -> Result<(), Error> {
    let verified = current.is_some_and(|record| record.verified.is_some());
    if origin == AssociationOrigin::MfaSetupSession && verified {
        return Err(Error::InvalidSession);
    }
    Ok(())
}

/// AssociateSoftwareToken: `secret` becomes the pending secret, replacing any earlier pending
/// one. Under [`ReassociationPolicy::ReplaceImmediately`] a verified token and its preference
/// are dropped at once; under `KeepUntilVerified` it keeps working until the new secret is
/// verified — unless the hard cap disabled it, in which case it is dropped under either
/// policy, so the guessed-at secret never returns.
///
/// The failure counters restart only when no verified token remains: a live token keeps its
/// count, or re-associating would hand its secret a fresh guessing budget. Refused as
/// [`check_association`] says.
pub fn associate(
    current: Option<&TokenRecord>,
    pool: &PoolConfig,
    secret: Secret,
    origin: AssociationOrigin,
    now: UnixTime,
) -> Transition<()> {
    if let Err(error) = check_association(current, origin) {
        return Transition::refuse(error);
    }
    let mut record = current.cloned().unwrap_or_default();
    let disabled = record.lockout.is_disabled(pool.lockout());
    let dropped_verified = (pool.reassociation() == ReassociationPolicy::ReplaceImmediately
        || disabled)
        && record.verified.is_some();
    if dropped_verified {
        record.verified = None;
        record.preference = MfaPreference::default();
    }
    if record.verified.is_none() {
        record.lockout = LockoutState::default();
    }
    record.pending = Some(PendingToken {
        secret,
        config: *pool.totp(),
        created_at: now,
    });
    Transition::store(
        record,
        vec![EventKind::Associated { dropped_verified }],
        Ok(()),
    )
}

/// VerifySoftwareToken: a code for the pending secret makes it the verified token (replacing
/// any earlier one, keeping the preference) with the matched step burned. A wrong code leaves
/// the secret pending and counts toward the lockout.
pub fn verify(
    current: Option<&TokenRecord>,
    code: &Code,
    friendly_device_name: Option<String>,
    pool: &PoolConfig,
    now: UnixTime,
) -> Transition<Step> {
    let lockout = pool.lockout();
    let pending = current.and_then(|record| record.pending.as_ref());
    let expected = pending.map_or(pool.totp(), |pending| &pending.config);
    if let Err(error) = check_digits(code, expected, CodeCheck::Verify) {
        return Transition::refuse(error);
    }
    let (Some(record), Some(pending)) = (current, pending) else {
        return Transition::refuse(Error::NothingPending);
    };
    let admitted = match record.lockout.admit(lockout, now) {
        Ok(admitted) => admitted,
        Err(error) => return refuse_unevaluated(error, CodeCheck::Verify),
    };
    let key = TotpKey::new(&pending.secret, pending.config);
    match key.verify(code, now, None) {
        Ok(step) => {
            let mut next = record.clone();
            let replaced_previous = next.verified.is_some();
            next.verified = Some(VerifiedToken {
                secret: pending.secret.clone(),
                config: pending.config,
                friendly_device_name,
                verified_at: now,
                last_used_step: Some(step),
            });
            next.pending = None;
            next.lockout = LockoutState::default();
            Transition::store(
                next,
                vec![EventKind::Verified {
                    step,
                    replaced_previous,
                }],
                Ok(step),
            )
        }
        Err(error) => refuse_code(record, admitted, lockout, now, CodeCheck::Verify, error),
    }
}

/// The answer to a SOFTWARE_TOKEN_MFA challenge: a code for a step after the watermark is
/// accepted and the step burned; a replay is refused without counting; a wrong code is
/// counted.
pub fn check_sign_in_code(
    current: Option<&TokenRecord>,
    code: &Code,
    pool: &PoolConfig,
    now: UnixTime,
) -> Transition<Step> {
    let lockout = pool.lockout();
    let verified = current.and_then(|record| record.verified.as_ref());
    let expected = verified.map_or(pool.totp(), |verified| &verified.config);
    if let Err(error) = check_digits(code, expected, CodeCheck::SignIn) {
        return Transition::refuse(error);
    }
    let (Some(record), Some(verified)) = (current, verified) else {
        return Transition::refuse(Error::NoVerifiedToken);
    };
    let admitted = match record.lockout.admit(lockout, now) {
        Ok(admitted) => admitted,
        Err(error) => return refuse_unevaluated(error, CodeCheck::SignIn),
    };
    let key = TotpKey::new(&verified.secret, verified.config);
    match key.verify(code, now, verified.last_used_step) {
        Ok(step) => {
            let mut next = record.clone();
            if let Some(token) = &mut next.verified {
                token.last_used_step = Some(step);
            }
            next.lockout = LockoutState::default();
            Transition::store(next, vec![EventKind::SignInAccepted { step }], Ok(step))
        }
        Err(error) => refuse_code(record, admitted, lockout, now, CodeCheck::SignIn, error),
    }
}

/// A code of another length than the token's (or, with no token, the pool's) is malformed:
/// refused like any malformed code, before any HMAC and without counting. The request edge
/// accepts 6 to 8 digits, so a pool can change its digit count without locking out tokens
/// enrolled under the old one.
fn check_digits(code: &Code, config: &TotpConfig, check: CodeCheck) -> Result<(), Error> {
    if code.digits() == config.digits() {
        return Ok(());
    }
    let field = match check {
        CodeCheck::Verify => "userCode",
        CodeCheck::SignIn => "softwareTokenMfaCode",
    };
    Err(Error::invalid_parameter(
        field,
        format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length {}",
            config.digits().count()
        ),
    ))
}

/// A code refused unevaluated (and uncounted) because the user is locked out or the token
/// disabled.
fn refuse_unevaluated<T>(error: Error, check: CodeCheck) -> Transition<T> {
    let reason = match &error {
        Error::LockedOut { retry_at, .. } => RejectReason::LockedOut { until: *retry_at },
        _ => RejectReason::Disabled,
    };
    Transition {
        next: Next::Keep,
        events: vec![EventKind::CodeRejected { check, reason }],
        outcome: Err(error),
    }
}

/// A code that was evaluated and not accepted: a mismatch is counted (and may lock or
/// disable), a replay is not.
fn refuse_code<T>(
    record: &TokenRecord,
    admitted: LockoutState,
    lockout: &LockoutPolicy,
    now: UnixTime,
    check: CodeCheck,
    error: VerifyError,
) -> Transition<T> {
    let mismatch = match check {
        CodeCheck::Verify => Error::VerifyCodeMismatch,
        CodeCheck::SignIn => Error::CodeMismatch,
    };
    match error {
        VerifyError::NoMatch => {
            let counters = admitted.after_failure(lockout, now);
            let mut events = vec![EventKind::CodeRejected {
                check,
                reason: RejectReason::Mismatch,
            }];
            if counters.is_disabled(lockout) {
                events.push(EventKind::Disabled {
                    consecutive_failures: counters.consecutive_failures(),
                });
            } else if let Some(until) = counters.locked_until() {
                events.push(EventKind::LockedOut {
                    until,
                    consecutive_failures: counters.consecutive_failures(),
                });
            }
            let mut next = record.clone();
            next.lockout = counters;
            Transition::store(next, events, Err(mismatch))
        }
        VerifyError::Replayed => Transition {
            next: Next::Keep,
            events: vec![EventKind::CodeRejected {
                check,
                reason: RejectReason::Replayed,
            }],
            outcome: Err(Error::CodeReplayed),
        },
        // Checked before the key was prepared (`check_digits`); kept total all the same.
        VerifyError::DigitsMismatch => Transition::refuse(Error::invalid_parameter(
            "userCode",
            "1 validation error detected: Value at 'userCode' failed to satisfy constraint: \
             Member must have the token's number of digits",
        )),
        VerifyError::Time(time) => Transition::refuse(Error::Clock(time)),
    }
}

/// `SoftwareTokenMfaSettings` of a SetUserMFAPreference request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, rename_all = "PascalCase"))]
pub struct SoftwareTokenMfaSettings {
    /// Turn software-token MFA on or off.
    pub enabled: bool,
    /// Make it the preferred MFA method (only meaningful with `enabled`).
    pub preferred_mfa: bool,
}

/// Who is setting the preference: the two operations word "nothing associated" differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PreferenceActor {
    /// SetUserMFAPreference (the user, by access token).
    User,
    /// AdminSetUserMFAPreference.
    Admin,
}

/// Set(Admin)UserMFAPreference. Turning the factor on (enabled or preferred) needs a verified
/// token; turning it off always succeeds. `preferred` is only kept with `enabled`.
pub fn set_preference(
    current: Option<&TokenRecord>,
    settings: SoftwareTokenMfaSettings,
    actor: PreferenceActor,
) -> Transition<()> {
    let record = current.cloned().unwrap_or_default();
    let turning_on = settings.enabled || settings.preferred_mfa;
    if turning_on && record.verified.is_none() {
        let error = match (record.pending.is_some(), actor) {
            (true, _) => Error::NotVerified,
            (false, PreferenceActor::User) => Error::NotSetUp,
            (false, PreferenceActor::Admin) => Error::AdminNotSetUp,
        };
        return Transition::refuse(error);
    }
    let preference = MfaPreference {
        enabled: settings.enabled,
        preferred: settings.enabled && settings.preferred_mfa,
    };
    if preference == record.preference {
        return Transition::keep(Ok(()));
    }
    let mut next = record;
    next.preference = preference;
    Transition::store(
        next,
        vec![EventKind::PreferenceChanged {
            enabled: preference.enabled,
            preferred: preference.preferred,
        }],
        Ok(()),
    )
}

/// AdminDeleteSoftwareToken: removes the verified token, any pending secret, the preference and
/// the failure counters (this is how an administrator clears a disabled token).
pub fn admin_delete(current: Option<&TokenRecord>) -> Transition<()> {
    match current {
        None => Transition::keep(Ok(())),
        Some(_) => Transition {
            next: Next::Delete,
            events: vec![EventKind::Deleted],
            outcome: Ok(()),
        },
    }
}

/// The challenge, if any, after the caller has checked the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInDecision {
    /// Sign-in completes without MFA.
    NoChallenge,
    /// `SOFTWARE_TOKEN_MFA`: answer with a code.
    SoftwareTokenMfa {
        /// `FRIENDLY_DEVICE_NAME` for the challenge parameters.
        friendly_device_name: Option<String>,
    },
    /// `MFA_SETUP`: associate and verify a token first.
    MfaSetup,
}

/// Cognito's decision: `ON` challenges every user (SOFTWARE_TOKEN_MFA with a verified token,
/// even with no preference set; MFA_SETUP without); `OPTIONAL` challenges those who enabled
/// it; `OFF` challenges no one. Switching software tokens off for the pool does not stop
/// users who verified one from being challenged. Lockout does not block this step; it blocks
/// the answer.
#[must_use]
pub fn sign_in_decision(current: Option<&TokenRecord>, pool: &PoolConfig) -> SignInDecision {
    let verified = current.and_then(|record| record.verified.as_ref());
    let enabled = current.is_some_and(|record| record.preference.enabled);
    let challenge = |token: &VerifiedToken| SignInDecision::SoftwareTokenMfa {
        friendly_device_name: token.friendly_device_name.clone(),
    };
    match (pool.mfa_mode(), verified) {
        (MfaMode::Off, _) => SignInDecision::NoChallenge,
        (MfaMode::On, Some(token)) => challenge(token),
        (MfaMode::On, None) => SignInDecision::MfaSetup,
        (MfaMode::Optional, Some(token)) if enabled => challenge(token),
        (MfaMode::Optional, _) => SignInDecision::NoChallenge,
    }
}

/// `SOFTWARE_TOKEN_MFA`, the only MFA setting name this crate reports.
pub const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";

/// The MFA part of GetUser / AdminGetUser.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MfaView {
    /// `UserMFASettingList`: `["SOFTWARE_TOKEN_MFA"]` when enabled; absent (not empty) when
    /// no MFA is enabled.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    #[cfg_attr(feature = "serde", serde(rename = "UserMFASettingList"))]
    pub user_mfa_setting_list: Option<Vec<String>>,
    /// `PreferredMfaSetting`: `SOFTWARE_TOKEN_MFA` when enabled and preferred; else absent.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    #[cfg_attr(feature = "serde", serde(rename = "PreferredMfaSetting"))]
    pub preferred_mfa_setting: Option<String>,
}

/// The user's MFA view.
#[must_use]
pub fn mfa_view(current: Option<&TokenRecord>) -> MfaView {
    let Some(record) = current.filter(|record| record.verified.is_some()) else {
        return MfaView::default();
    };
    let preference = record.preference;
    MfaView {
        user_mfa_setting_list: preference
            .enabled
            .then(|| vec![SOFTWARE_TOKEN_MFA.to_owned()]),
        preferred_mfa_setting: preference.preferred.then(|| SOFTWARE_TOKEN_MFA.to_owned()),
    }
}
