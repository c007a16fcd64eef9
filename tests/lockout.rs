//! Brute-force lockout through the service on `MemoryStore` (DESIGN.md §3 "Lockout"): five free
//! consecutive failures, then locks of 1 s doubling to a 15-minute cap; while locked nothing is
//! evaluated (no HMAC), even the right code is refused, and the refusal neither counts nor extends
//! the lock; success or 15 quiet minutes after the lock ends resets the count; the hard cap
//! disables the token until an administrator deletes it or a new one is associated. Malformed and
//! replayed codes do not count; Verify and sign-in share one counter; beginning a sign-in is
//! never blocked.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use common::{Harness, code_at, wrong_code};
use softtoken::api::{
    Authenticated, ChallengeName, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
    VerifySoftwareTokenResponse,
};
use softtoken::store::Version;
use softtoken::test_support::hmac_computations;
use softtoken::{
    CodeCheck, Error, EventKind, LockoutPolicy, LockoutState, Outcome, RejectReason, Secret,
    SessionId, TokenStore, UnixTime, UserId,
};

const USER: &str = "alice";

const LOCKED_MESSAGE: &str =
    "Too many failed attempts to present a software token code. Try again later.";
const DISABLED_MESSAGE: &str =
    "Software token disabled after too many failed attempts; an administrator must reset it.";

/// A harness where `alice` has a verified token, moved to the start of the next step so the
/// current code is fresh.
fn enrolled(policy: LockoutPolicy) -> (Harness, Secret) {
    Harness::enrolled(policy, USER)
}

/// A small policy: 2 free failures, locks 1 s doubling to 4 s, disabled at 6 failures.
fn small_policy() -> LockoutPolicy {
    LockoutPolicy::new(2, 1, 4, 900, 6).unwrap()
}

fn at(seconds: u64) -> UnixTime {
    UnixTime(seconds)
}

fn respond(h: &Harness, session: &SessionId, code: &str) -> Outcome<Authenticated> {
    h.service.respond_to_software_token_mfa(
        &RespondToSoftwareTokenMfaRequest {
            session: session.expose().to_owned(),
            username: USER.to_owned(),
            software_token_mfa_code: code.to_owned(),
        },
        h.now,
    )
}

/// Begins a sign-in (expecting SOFTWARE_TOKEN_MFA) and answers it with `code`.
fn sign_in(h: &mut Harness, code: &str) -> Outcome<Authenticated> {
    let challenge = h.begin_sign_in(USER).expect("a challenge");
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
    respond(h, &challenge.session, code)
}

fn verify(h: &mut Harness, code: &str) -> Outcome<VerifySoftwareTokenResponse> {
    h.service.verify_software_token(
        &VerifySoftwareTokenRequest {
            access_token: Harness::token(USER),
            session: None,
            user_code: code.to_owned(),
            friendly_device_name: None,
        },
        h.now,
        &mut h.rng,
    )
}

/// Signs in with the code `secret` shows now.
fn sign_in_right(h: &mut Harness, secret: &Secret) -> Outcome<Authenticated> {
    let code = code_at(secret, h.now);
    sign_in(h, &code)
}

/// Signs in with a well-formed code `secret` does not show around now.
fn sign_in_wrong(h: &mut Harness, secret: &Secret) -> Outcome<Authenticated> {
    let code = wrong_code(secret, h.now);
    sign_in(h, &code)
}

fn verify_right(h: &mut Harness, secret: &Secret) -> Outcome<VerifySoftwareTokenResponse> {
    let code = code_at(secret, h.now);
    verify(h, &code)
}

fn verify_wrong(h: &mut Harness, secret: &Secret) -> Outcome<VerifySoftwareTokenResponse> {
    let code = wrong_code(secret, h.now);
    verify(h, &code)
}

fn kinds<T>(outcome: &Outcome<T>) -> Vec<EventKind> {
    outcome
        .events
        .iter()
        .map(|event| event.kind.clone())
        .collect()
}

/// A wrong sign-in code at `h.now`: refused as a mismatch. Returns the events.
fn fail(h: &mut Harness, secret: &Secret) -> Vec<EventKind> {
    let outcome = sign_in_wrong(h, secret);
    assert_eq!(outcome.result, Err(Error::CodeMismatch));
    kinds(&outcome)
}

/// Moves the clock to `now`, then fails once.
fn fail_at(h: &mut Harness, secret: &Secret, now: UnixTime) -> Vec<EventKind> {
    h.now = now;
    fail(h, secret)
}

/// `times` wrong sign-in codes in a row at `h.now`, each refused as a mismatch.
fn fail_times(h: &mut Harness, secret: &Secret, times: u32) {
    for _ in 1..=times {
        fail(h, secret);
    }
}

/// Moves the clock to the end of the current lock, if one runs, then fails once.
fn fail_at_retry(h: &mut Harness, secret: &Secret) -> Vec<EventKind> {
    if let Some(until) = state(h).locked_until()
        && until > h.now
    {
        h.now = until;
    }
    fail(h, secret)
}

fn load(h: &Harness) -> Option<(softtoken::TokenRecord, Version)> {
    h.store.load(&UserId::new(USER)).unwrap()
}

fn state(h: &Harness) -> LockoutState {
    load(h).map_or_else(LockoutState::default, |(record, _)| *record.lockout())
}

/// The stored failure count is `failures` and the lock, if any, runs until `locked_until`.
#[track_caller]
fn assert_lockout(h: &Harness, failures: u32, locked_until: Option<UnixTime>) {
    let state = state(h);
    assert_eq!(state.consecutive_failures(), failures);
    assert_eq!(state.locked_until(), locked_until);
}

fn version(h: &Harness) -> Version {
    load(h).expect("a record").1
}

fn locked(retry_at: UnixTime, retry_after_secs: u64) -> Error {
    Error::LockedOut {
        retry_at,
        retry_after_secs,
    }
}

#[test]
fn five_wrong_codes_are_free_and_the_sixth_locks_for_one_second() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    for n in 1..=5 {
        let events = fail(&mut h, &secret);
        assert_eq!(
            events,
            vec![EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::Mismatch,
            }],
            "failure {n} is free: no lock"
        );
        assert_lockout(&h, n, None);
    }

    let t = h.now;
    let events = fail(&mut h, &secret);
    assert_eq!(
        events,
        vec![
            EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::Mismatch,
            },
            EventKind::LockedOut {
                until: at(t.0 + 1),
                consecutive_failures: 6,
            },
        ]
    );
    assert_eq!(state(&h).locked_until(), Some(at(t.0 + 1)));

    let error = sign_in_wrong(&mut h, &secret).result.unwrap_err();
    assert_eq!(error, locked(at(t.0 + 1), 1));
    assert_eq!(error.code(), "NotAuthorizedException");
    assert_eq!(error.to_string(), LOCKED_MESSAGE);
}

#[test]
fn locks_double_from_one_second_and_stop_at_fifteen_minutes() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 5);
    let expected: [u64; 15] = [
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900, 900,
    ];
    for (failures, secs) in (6u32..).zip(expected) {
        let t = h.now;
        let until = at(t.0 + secs);
        let events = fail(&mut h, &secret);
        assert!(
            events.contains(&EventKind::LockedOut {
                until,
                consecutive_failures: failures,
            }),
            "failure {failures} locks for {secs} s: {events:?}"
        );
        assert_eq!(state(&h).locked_until(), Some(until));

        // One second before the end: refused, one second to go.
        h.now = at(until.0 - 1);
        assert_eq!(sign_in_wrong(&mut h, &secret).result, Err(locked(until, 1)));
        // At exactly the end: evaluated (the next iteration's failure counts).
        h.now = until;
    }
    assert_eq!(state(&h).consecutive_failures(), 20);
    fail(&mut h, &secret);
    assert_lockout(&h, 21, Some(at(h.now.0 + 900)));
}

#[test]
fn retry_after_counts_down_to_the_end_of_the_lock_where_the_right_code_is_accepted() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    for _ in 1..=8 {
        fail_at_retry(&mut h, &secret);
    }
    h.now = state(&h).locked_until().unwrap();
    let t = h.now;
    fail(&mut h, &secret); // the 9th failure: 8 s
    let until = at(t.0 + 8);
    for (elapsed, remaining) in [(0, 8), (3, 5), (7, 1)] {
        h.now = at(t.0 + elapsed);
        assert_eq!(
            sign_in_wrong(&mut h, &secret).result,
            Err(locked(until, remaining)),
            "{elapsed} s into the lock"
        );
    }
    h.now = until;
    let outcome = sign_in_right(&mut h, &secret);
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(state(&h), LockoutState::default(), "a success resets");
}

#[test]
fn an_attempt_refused_while_locked_neither_counts_nor_extends_the_lock() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    for _ in 1..=7 {
        fail_at_retry(&mut h, &secret); // the 7th locks for 2 s
    }
    let before = state(&h);
    let written = version(&h);
    let until = before.locked_until().unwrap();
    assert_eq!(until, at(h.now.0 + 2));

    let wrong = wrong_code(&secret, h.now);
    let challenge = h.begin_sign_in(USER).unwrap();
    for _ in 0..20 {
        let outcome = respond(&h, &challenge.session, &wrong);
        assert_eq!(outcome.result, Err(locked(until, 2)));
        assert_eq!(
            kinds(&outcome),
            vec![EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::LockedOut { until },
            }]
        );
    }
    h.advance(1);
    assert_eq!(
        respond(&h, &challenge.session, &wrong).result,
        Err(locked(until, 1))
    );
    assert_eq!(state(&h), before, "neither counted nor extended");
    assert_eq!(version(&h), written, "nothing was written");

    // At the end of the lock the next wrong code is the 8th failure: 4 s.
    let events = fail_at(&mut h, &secret, until);
    assert!(events.contains(&EventKind::LockedOut {
        until: at(until.0 + 4),
        consecutive_failures: 8,
    }));
}

#[test]
fn the_right_code_is_refused_while_locked_and_accepted_on_the_same_session_after() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 6);
    let until = state(&h).locked_until().unwrap();
    let right = code_at(&secret, h.now);
    let challenge = h.begin_sign_in(USER).unwrap();
    let error = respond(&h, &challenge.session, &right).result.unwrap_err();
    assert_eq!(error, locked(until, 1));
    assert_ne!(error, Error::CodeMismatch, "a lockout is its own error");
    let (record, _) = load(&h).unwrap();
    assert_eq!(
        record.verified().unwrap().last_used_step().unwrap().value(),
        h.now.0 / 30 - 1,
        "the refused code's step was not burned"
    );

    // The lock ends within the step: the same code on the same (unconsumed) session signs in.
    h.now = until;
    assert_eq!(h.now.0 / 30, until.0 / 30);
    let outcome = respond(&h, &challenge.session, &right);
    assert_eq!(
        outcome.result,
        Ok(Authenticated {
            user: UserId::new(USER)
        })
    );
    assert_eq!(state(&h), LockoutState::default());
}

#[test]
fn no_hmac_is_computed_while_locked() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    // An evaluated attempt does compute, so the counter can tell.
    let wrong = wrong_code(&secret, h.now);
    let challenge = h.begin_sign_in(USER).unwrap();
    let before = hmac_computations();
    assert_eq!(
        respond(&h, &challenge.session, &wrong).result,
        Err(Error::CodeMismatch)
    );
    assert!(hmac_computations() > before);

    for _ in 2..=6 {
        fail(&mut h, &secret);
    }
    let right = code_at(&secret, h.now);
    let wrong = wrong_code(&secret, h.now);
    let challenge = h.begin_sign_in(USER).unwrap();
    let before = hmac_computations();
    for code in [&right, &wrong] {
        assert!(matches!(
            respond(&h, &challenge.session, code).result,
            Err(Error::LockedOut { .. })
        ));
    }
    assert_eq!(hmac_computations(), before, "sign-in while locked");

    // Verify of a pending secret while locked: associating beside a live token keeps the
    // counters (and the lock), so the Verify path is locked at once.
    let pending = h.associate(USER);
    assert_eq!(
        state(&h).consecutive_failures(),
        6,
        "associating kept the count"
    );
    let right = code_at(&pending, h.now);
    let before = hmac_computations();
    assert!(matches!(
        verify(&mut h, &right).result,
        Err(Error::LockedOut { .. })
    ));
    assert_eq!(hmac_computations(), before, "Verify while locked");
}

const MALFORMED: [&str; 8] = [
    "",
    "12345",
    "1234567",
    " 123456",
    "12345a",
    "+12345",
    "１２３４５６",
    "abcdef",
];

#[test]
fn a_malformed_code_is_refused_before_any_hmac_and_does_not_count() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 5);
    let written = version(&h);
    let challenge = h.begin_sign_in(USER).unwrap();
    let before = hmac_computations();
    for _ in 0..3 {
        for code in MALFORMED {
            let error = respond(&h, &challenge.session, code).result.unwrap_err();
            assert_eq!(error.code(), "InvalidParameterException", "{code:?}");
        }
    }
    assert_eq!(hmac_computations(), before, "sign-in");
    assert_eq!(state(&h).consecutive_failures(), 5);
    assert_eq!(
        state(&h).locked_until(),
        None,
        "24 malformed codes did not lock"
    );
    assert_eq!(version(&h), written);

    // Verify: the same (associating beside the live token keeps the five failures).
    let pending = h.associate(USER);
    let before = hmac_computations();
    for code in MALFORMED {
        let error = verify(&mut h, code).result.unwrap_err();
        assert_eq!(error.code(), "InvalidParameterException", "{code:?}");
    }
    assert_eq!(hmac_computations(), before, "Verify");
    assert_lockout(&h, 5, None);

    // The next wrong code is the 6th and locks: the malformed ones were not counted.
    let wrong = wrong_code(&pending, h.now);
    assert_eq!(
        verify(&mut h, &wrong).result,
        Err(Error::VerifyCodeMismatch)
    );
    assert_lockout(&h, 6, Some(at(h.now.0 + 1)));
}

#[test]
fn a_replayed_code_does_not_count() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    let used = code_at(&secret, h.now);
    assert!(sign_in(&mut h, &used).result.is_ok());
    fail_times(&mut h, &secret, 5);
    let written = version(&h);
    for _ in 0..10 {
        let outcome = sign_in(&mut h, &used);
        assert_eq!(outcome.result, Err(Error::CodeReplayed));
        assert_eq!(
            kinds(&outcome),
            vec![EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::Replayed,
            }]
        );
    }
    assert_lockout(&h, 5, None);
    assert_eq!(version(&h), written);

    // The next wrong code is the 6th.
    fail(&mut h, &secret);
    assert_lockout(&h, 6, Some(at(h.now.0 + 1)));
}

#[test]
fn a_success_resets_the_count() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 5);
    assert!(sign_in_right(&mut h, &secret).result.is_ok());
    assert_eq!(state(&h), LockoutState::default());

    // Five more are free again, and the sixth locks for 1 s, not 2.
    fail_times(&mut h, &secret, 5);
    assert_eq!(state(&h).locked_until(), None);
    let t = h.now;
    fail(&mut h, &secret);
    assert_eq!(state(&h).locked_until(), Some(at(t.0 + 1)));

    // A success at the end of a longer lock resets it all too.
    fail_at_retry(&mut h, &secret);
    fail_at_retry(&mut h, &secret); // the 8th: 4 s
    h.now = state(&h).locked_until().unwrap();
    h.next_step(); // a step after the one used above
    assert!(sign_in_right(&mut h, &secret).result.is_ok());
    assert_eq!(state(&h), LockoutState::default());
    fail(&mut h, &secret);
    assert_lockout(&h, 1, None);
}

/// Five free failures at one instant; returns it.
fn five_failures() -> (Harness, Secret, UnixTime) {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 5);
    let t = h.now;
    (h, secret, t)
}

#[test]
fn fifteen_quiet_minutes_reset_the_count() {
    // 899 s later: still counted, so the next wrong code is the 6th and locks.
    let (mut h, secret, t) = five_failures();
    fail_at(&mut h, &secret, at(t.0 + 899));
    assert_lockout(&h, 6, Some(at(t.0 + 900)));

    // 900 s later: reset, so the next wrong code is the 1st.
    let (mut h, secret, t) = five_failures();
    fail_at(&mut h, &secret, at(t.0 + 900));
    assert_lockout(&h, 1, None);

    // After the reset five are free again: the lock comes at the 6th, not the 2nd.
    for _ in 2..=5 {
        fail(&mut h, &secret);
    }
    assert_eq!(state(&h).locked_until(), None);
    let locked_at = h.now;
    fail(&mut h, &secret);
    assert_eq!(state(&h).locked_until(), Some(at(locked_at.0 + 1)));
}

#[test]
fn the_quiet_period_counts_from_the_end_of_the_lock_not_the_last_failure() {
    // The 6th failure at t locks until t + 1. At t + 900 the last failure is 15 minutes old,
    // but the lock ended only 899 s ago: no reset, the next wrong code is the 7th (2 s).
    let (mut h, secret, _) = five_failures();
    let t = h.now;
    fail(&mut h, &secret);
    let events = fail_at(&mut h, &secret, at(t.0 + 900));
    assert!(events.contains(&EventKind::LockedOut {
        until: at(t.0 + 902),
        consecutive_failures: 7,
    }));

    // 15 minutes after that lock ends, the count resets.
    fail_at(&mut h, &secret, at(t.0 + 902 + 899));
    assert_eq!(state(&h).consecutive_failures(), 8, "899 s after the lock");
    let lock_end = state(&h).locked_until().unwrap();
    assert_eq!(lock_end, at(t.0 + 1801 + 4));
    fail_at(&mut h, &secret, at(lock_end.0 + 900));
    assert_eq!(state(&h).consecutive_failures(), 1, "900 s after the lock");
    assert_eq!(state(&h).locked_until(), None);
}

/// Failures at each lock's end up to the 16th, the first 900 s lock; returns when it began.
fn fifteen_minute_lock() -> (Harness, Secret, UnixTime) {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    for _ in 1..=15 {
        fail_at_retry(&mut h, &secret);
    }
    h.now = state(&h).locked_until().unwrap();
    let t = h.now;
    fail(&mut h, &secret);
    assert_lockout(&h, 16, Some(at(t.0 + 900)));
    (h, secret, t)
}

#[test]
fn after_a_fifteen_minute_lock_the_count_survives_until_fifteen_quiet_minutes_after_it_ends() {
    // At the lock's end (15 minutes after the last failure): counted, the 17th locks again.
    let (mut h, secret, t) = fifteen_minute_lock();
    fail_at(&mut h, &secret, at(t.0 + 900));
    assert_lockout(&h, 17, Some(at(t.0 + 1800)));

    // One second short of 15 quiet minutes after the lock: still counted.
    let (mut h, secret, t) = fifteen_minute_lock();
    fail_at(&mut h, &secret, at(t.0 + 1799));
    assert_eq!(state(&h).consecutive_failures(), 17);

    // 15 quiet minutes after the lock ended: reset.
    let (mut h, secret, t) = fifteen_minute_lock();
    fail_at(&mut h, &secret, at(t.0 + 1800));
    assert_lockout(&h, 1, None);
}

/// Fails at each lock's end until the token is disabled; returns the events of the last one.
fn fail_until_disabled(h: &mut Harness, secret: &Secret, cap: u32) -> Vec<EventKind> {
    for _ in 1..cap {
        fail_at_retry(h, secret);
    }
    assert_eq!(state(h).consecutive_failures(), cap - 1);
    fail_at_retry(h, secret)
}

#[test]
fn one_hundred_consecutive_failures_disable_the_token() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    let events = fail_until_disabled(&mut h, &secret, 100);
    assert_eq!(
        events,
        vec![
            EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::Mismatch,
            },
            EventKind::Disabled {
                consecutive_failures: 100,
            },
        ]
    );
    assert!(state(&h).is_disabled(&LockoutPolicy::default()));

    // A day later, past any lock and any quiet period: still disabled, even for the right code,
    // and nothing is evaluated.
    h.advance(24 * 60 * 60);
    let right = code_at(&secret, h.now);
    let wrong = wrong_code(&secret, h.now);
    let written = version(&h);
    let challenge = h
        .begin_sign_in(USER)
        .expect("beginning a sign-in is not blocked");
    let before = hmac_computations();
    for code in [&right, &wrong] {
        let outcome = respond(&h, &challenge.session, code);
        let error = outcome.result.as_ref().unwrap_err();
        assert_eq!(*error, Error::TokenDisabled);
        assert_eq!(error.code(), "NotAuthorizedException");
        assert_eq!(error.to_string(), DISABLED_MESSAGE);
        assert_eq!(
            kinds(&outcome),
            vec![EventKind::CodeRejected {
                check: CodeCheck::SignIn,
                reason: RejectReason::Disabled,
            }]
        );
    }
    assert_eq!(hmac_computations(), before);
    assert_eq!(state(&h).consecutive_failures(), 100);
    assert_eq!(version(&h), written);
}

#[test]
fn a_small_hard_cap_disables_at_its_count() {
    let (mut h, secret) = enrolled(small_policy());
    // 2 free, then 1 s, 2 s, 4 s, and the 6th disables.
    for (failures, lock) in (1u32..).zip([0u64, 0, 1, 2, 4]) {
        let t = h.now;
        fail(&mut h, &secret);
        assert_eq!(state(&h).consecutive_failures(), failures);
        let expected = (lock > 0).then(|| at(t.0 + lock));
        assert_eq!(state(&h).locked_until(), expected, "failure {failures}");
        h.now = expected.unwrap_or(h.now);
    }
    let events = fail(&mut h, &secret);
    assert!(events.contains(&EventKind::Disabled {
        consecutive_failures: 6
    }));
    h.advance(3600);
    assert_eq!(
        sign_in_right(&mut h, &secret).result,
        Err(Error::TokenDisabled)
    );
}

#[test]
fn an_admin_delete_recovers_a_disabled_token() {
    let (mut h, secret) = enrolled(small_policy());
    fail_until_disabled(&mut h, &secret, 6);
    h.advance(10);
    assert_eq!(
        sign_in_right(&mut h, &secret).result,
        Err(Error::TokenDisabled)
    );

    h.service
        .admin_delete_software_token(USER, h.now)
        .into_result()
        .unwrap();
    assert!(load(&h).is_none(), "token and counters are gone");
    let challenge = h.begin_sign_in(USER).unwrap();
    assert_eq!(challenge.challenge_name, ChallengeName::MfaSetup);

    let fresh = h.enrol(USER);
    assert_eq!(state(&h), LockoutState::default());
    h.next_step();
    assert!(sign_in_right(&mut h, &fresh).result.is_ok());
}

#[test]
fn a_new_association_recovers_a_disabled_token() {
    let (mut h, secret) = enrolled(small_policy());
    fail_until_disabled(&mut h, &secret, 6);
    h.advance(10);
    assert_eq!(
        sign_in_right(&mut h, &secret).result,
        Err(Error::TokenDisabled)
    );

    let fresh = h.associate(USER);
    assert_eq!(state(&h), LockoutState::default(), "associating resets");
    // The disabled token does not come back with the fresh budget, even under
    // KeepUntilVerified: the secret that was guessed at stays dead.
    // In this ON pool the user is asked to set up MFA again.
    assert_eq!(
        h.begin_sign_in(USER).unwrap().challenge_name.as_str(),
        "MFA_SETUP"
    );
    assert!(verify_right(&mut h, &fresh).result.is_ok());
    h.next_step();
    assert!(sign_in_right(&mut h, &fresh).result.is_ok());
    // And the counting starts over: two free failures again.
    fail(&mut h, &fresh);
    fail(&mut h, &fresh);
    assert_eq!(state(&h).locked_until(), None);
}

#[test]
fn verify_and_sign_in_share_one_counter() {
    let (mut h, old) = enrolled(LockoutPolicy::default());
    // A new secret pending beside the verified one (KeepUntilVerified): both paths are open.
    let pending = h.associate(USER);
    for n in 1..=5u32 {
        if n % 2 == 1 {
            let outcome = verify_wrong(&mut h, &pending);
            assert_eq!(outcome.result, Err(Error::VerifyCodeMismatch));
            assert_eq!(
                kinds(&outcome),
                vec![EventKind::CodeRejected {
                    check: CodeCheck::Verify,
                    reason: RejectReason::Mismatch,
                }]
            );
        } else {
            fail(&mut h, &old);
        }
        assert_eq!(state(&h).consecutive_failures(), n);
    }
    // The 6th, on Verify, locks both.
    let t = h.now;
    let outcome = verify_wrong(&mut h, &pending);
    assert_eq!(outcome.result, Err(Error::VerifyCodeMismatch));
    assert!(kinds(&outcome).contains(&EventKind::LockedOut {
        until: at(t.0 + 1),
        consecutive_failures: 6,
    }));
    let outcome = sign_in_right(&mut h, &old);
    assert_eq!(outcome.result, Err(locked(at(t.0 + 1), 1)));

    // The 7th, at sign-in, locks Verify for 2 s: the right pending code is refused.
    fail_at(&mut h, &old, at(t.0 + 1));
    assert_eq!(state(&h).consecutive_failures(), 7);
    let outcome = verify_right(&mut h, &pending);
    assert_eq!(outcome.result, Err(locked(at(t.0 + 3), 2)));
    assert_eq!(
        kinds(&outcome),
        vec![EventKind::CodeRejected {
            check: CodeCheck::Verify,
            reason: RejectReason::LockedOut { until: at(t.0 + 3) },
        }]
    );

    // At the end of the lock Verify succeeds and resets the shared count.
    h.now = at(t.0 + 3);
    assert!(verify_right(&mut h, &pending).result.is_ok());
    assert_eq!(state(&h), LockoutState::default());
}

#[test]
fn a_lock_does_not_block_beginning_a_sign_in() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    fail_times(&mut h, &secret, 6);
    let until = state(&h).locked_until().unwrap();
    assert!(until > h.now);
    let outcome = h
        .service
        .begin_sign_in(&UserId::new(USER), h.now, &mut h.rng);
    assert!(outcome.events.is_empty());
    let challenge = outcome.result.unwrap().expect("a challenge while locked");
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
    // The answer is what the lock refuses.
    assert_eq!(
        respond(&h, &challenge.session, &code_at(&secret, h.now)).result,
        Err(locked(until, until.0 - h.now.0))
    );
}

#[test]
fn re_associating_beside_a_live_token_keeps_its_failure_count() {
    // Associating must not hand the still-live secret a fresh budget of guesses.
    let (mut h, secret) = enrolled(small_policy());
    fail(&mut h, &secret);
    fail(&mut h, &secret);
    assert_eq!(state(&h).consecutive_failures(), 2);
    h.associate(USER);
    assert_eq!(
        state(&h).consecutive_failures(),
        2,
        "associating kept the count"
    );
    // The next wrong code on the old, still-live token is the third and locks.
    h.advance(1);
    fail(&mut h, &secret);
    assert_eq!(state(&h).consecutive_failures(), 3);
    assert!(state(&h).locked_until().is_some());
}
