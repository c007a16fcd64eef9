//! The `tracing` integration (feature `tracing`): every [`Event`] the service returns is also
//! emitted as a [`tracing`] event, so an auth service that already collects `tracing` output
//! gets the software-token audit trail without forwarding [`Outcome::events`] itself.
//!
//! [`Outcome::events`]: crate::Outcome
//!
//! # Where and how often
//!
//! The service driver calls [`emit`] at the one place events are recorded: after a transition's
//! record has been written (its compare-and-swap succeeded), for each of its events, just as
//! the event is appended to the operation's [`Outcome`](crate::Outcome). A compare-and-swap
//! that loses a race is retried without emitting, so each returned event is emitted exactly
//! once, and nothing is emitted that is not returned.
//!
//! # Target, level, fields
//!
//! Every event has target `softtoken` (so `RUST_LOG=softtoken=info` or an `EnvFilter` directive
//! selects them) and no message. The level follows the kind:
//!
//! | kind (`kind` field) | level | further fields |
//! |---|---|---|
//! | [`CodeRejected`](EventKind::CodeRejected) (`code_rejected`) | `WARN` | `check`, `reason`, and `until` when the reason is `locked_out` |
//! | [`LockedOut`](EventKind::LockedOut) (`locked_out`) | `WARN` | `until`, `consecutive_failures` |
//! | [`Disabled`](EventKind::Disabled) (`disabled`) | `WARN` | `consecutive_failures` |
//! | [`Verified`](EventKind::Verified) (`verified`) | `INFO` | `step`, `replaced_previous` |
//! | [`SignInAccepted`](EventKind::SignInAccepted) (`sign_in_accepted`) | `INFO` | `step` |
//! | [`Associated`](EventKind::Associated) (`associated`) | `INFO` | `dropped_verified` |
//! | [`PreferenceChanged`](EventKind::PreferenceChanged) (`preference_changed`) | `INFO` | `enabled`, `preferred` |
//! | [`Deleted`](EventKind::Deleted) (`deleted`) | `INFO` | — |
//!
//! Refusals are `WARN` because a run of them is what an operator watches for (guessing,
//! replay, a locked or disabled token). Acceptances are `INFO`. The remaining kinds —
//! association, a preference change, an administrator's deletion — are changes to a user's
//! security settings, which belong in an audit log by default rather than only at `DEBUG`;
//! they are `INFO` too, so one `softtoken=info` directive keeps the whole audit trail.
//!
//! Every event carries:
//!
//! - `user`: the [`UserId`](crate::UserId), as a string field (the `fmt` subscriber prints it
//!   quoted and escaped, so an odd user id cannot forge a log line);
//! - `at`: the operation's `now`, in Unix seconds;
//! - `kind`: the stable snake_case name of the [`EventKind`] in the table above.
//!
//! The kind's own fields are recorded under their [`EventKind`] names, as plain values: `step`
//! (the step's counter), `until` (Unix seconds), `consecutive_failures`, `dropped_verified`,
//! `replaced_previous`, `enabled` and `preferred` (booleans), and `check` (`verify` or
//! `sign_in`) and `reason` (`mismatch`, `replayed`, `locked_out` or `disabled`) as stable
//! snake_case names. Fields a kind does not have are absent, not empty.
//!
//! # What is never emitted
//!
//! An [`Event`] carries no secret, code, session value or access token, and this module records
//! only the fields listed above, each built from the event alone — numbers, booleans, fixed
//! names and the user id. Nothing is formatted with `Debug` or `Display` of a crate type.

use tracing::Level;

use crate::event::{CodeCheck, Event, EventKind, RejectReason};

/// Emits `event` as a `tracing` event with target `softtoken`, at the level and with the
/// fields described in the [module documentation](self).
pub(crate) fn emit(event: &Event) {
    let fields = Fields::of(&event.kind);
    // The level of a `tracing` event is part of its static callsite, so each level gets its
    // own invocation of one field list.
    macro_rules! emit_at {
        ($level:expr) => {
            tracing::event!(
                target: "softtoken",
                $level,
                user = event.user.as_str(),
                at = event.at.as_secs(),
                kind = fields.kind,
                check = fields.check,
                reason = fields.reason,
                step = fields.step,
                until = fields.until,
                consecutive_failures = fields.consecutive_failures,
                dropped_verified = fields.dropped_verified,
                replaced_previous = fields.replaced_previous,
                enabled = fields.enabled,
                preferred = fields.preferred,
            )
        };
    }
    if fields.level == Level::WARN {
        emit_at!(Level::WARN);
    } else {
        emit_at!(Level::INFO);
    }
}

/// The level and fields of one event kind; a field the kind does not have is `None`, which
/// `tracing` leaves out of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    level: Level,
    kind: &'static str,
    check: Option<&'static str>,
    reason: Option<&'static str>,
    step: Option<u64>,
    until: Option<u64>,
    consecutive_failures: Option<u32>,
    dropped_verified: Option<bool>,
    replaced_previous: Option<bool>,
    enabled: Option<bool>,
    preferred: Option<bool>,
}

impl Fields {
    /// No fields: filled in per kind by [`Fields::of`].
    const fn named(level: Level, kind: &'static str) -> Fields {
        Fields {
            level,
            kind,
            check: None,
            reason: None,
            step: None,
            until: None,
            consecutive_failures: None,
            dropped_verified: None,
            replaced_previous: None,
            enabled: None,
            preferred: None,
        }
    }

    /// The mapping of the [module documentation](self). The match is exhaustive (inside the
    /// crate `#[non_exhaustive]` does not apply), so a new kind cannot go unmapped.
    fn of(kind: &EventKind) -> Fields {
        match *kind {
            EventKind::Associated { dropped_verified } => Fields {
                dropped_verified: Some(dropped_verified),
                ..Fields::named(Level::INFO, "associated")
            },
            EventKind::Verified {
                step,
                replaced_previous,
            } => Fields {
                step: Some(step.value()),
                replaced_previous: Some(replaced_previous),
                ..Fields::named(Level::INFO, "verified")
            },
            EventKind::SignInAccepted { step } => Fields {
                step: Some(step.value()),
                ..Fields::named(Level::INFO, "sign_in_accepted")
            },
            EventKind::CodeRejected { check, reason } => Fields {
                check: Some(check_name(check)),
                reason: Some(reason_name(reason)),
                until: match reason {
                    RejectReason::LockedOut { until } => Some(until.as_secs()),
                    RejectReason::Mismatch | RejectReason::Replayed | RejectReason::Disabled => {
                        None
                    }
                },
                ..Fields::named(Level::WARN, "code_rejected")
            },
            EventKind::LockedOut {
                until,
                consecutive_failures,
            } => Fields {
                until: Some(until.as_secs()),
                consecutive_failures: Some(consecutive_failures),
                ..Fields::named(Level::WARN, "locked_out")
            },
            EventKind::Disabled {
                consecutive_failures,
            } => Fields {
                consecutive_failures: Some(consecutive_failures),
                ..Fields::named(Level::WARN, "disabled")
            },
            EventKind::PreferenceChanged { enabled, preferred } => Fields {
                enabled: Some(enabled),
                preferred: Some(preferred),
                ..Fields::named(Level::INFO, "preference_changed")
            },
            EventKind::Deleted => Fields::named(Level::INFO, "deleted"),
        }
    }
}

/// The stable name of a [`CodeCheck`].
const fn check_name(check: CodeCheck) -> &'static str {
    match check {
        CodeCheck::Verify => "verify",
        CodeCheck::SignIn => "sign_in",
    }
}

/// The stable name of a [`RejectReason`] (a lock's end is the separate `until` field).
const fn reason_name(reason: RejectReason) -> &'static str {
    match reason {
        RejectReason::Mismatch => "mismatch",
        RejectReason::Replayed => "replayed",
        RejectReason::LockedOut { .. } => "locked_out",
        RejectReason::Disabled => "disabled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Step, UnixTime};

    #[test]
    fn rejections_warn_and_the_rest_inform() {
        let until = UnixTime(1_700_000_100);
        let warn = [
            EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::LockedOut { until },
            },
            EventKind::LockedOut {
                until,
                consecutive_failures: 6,
            },
            EventKind::Disabled {
                consecutive_failures: 100,
            },
        ];
        let info = [
            EventKind::Associated {
                dropped_verified: false,
            },
            EventKind::Verified {
                step: Step(1),
                replaced_previous: false,
            },
            EventKind::SignInAccepted { step: Step(2) },
            EventKind::PreferenceChanged {
                enabled: true,
                preferred: false,
            },
            EventKind::Deleted,
        ];
        assert!(
            warn.iter()
                .all(|kind| Fields::of(kind).level == Level::WARN)
        );
        assert!(
            info.iter()
                .all(|kind| Fields::of(kind).level == Level::INFO)
        );
    }

    #[test]
    fn a_locked_out_rejection_carries_its_end() {
        let fields = Fields::of(&EventKind::CodeRejected {
            check: CodeCheck::Verify,
            reason: RejectReason::LockedOut {
                until: UnixTime(42),
            },
        });
        assert_eq!(
            (fields.kind, fields.check, fields.reason, fields.until),
            (
                "code_rejected",
                Some("verify"),
                Some("locked_out"),
                Some(42)
            )
        );
    }
}
