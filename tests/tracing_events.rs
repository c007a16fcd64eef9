//! Feature `tracing`: every event the service returns is also emitted as a `tracing` event with
//! target `softtoken` — rejections at WARN, everything else at INFO — with `user`, `at`, `kind`
//! and the kind's fields, once per returned event and in the same order, and the output never
//! contains a secret, a submitted code, a session value or an access token.
//!
//! The subscriber is installed with `tracing::subscriber::with_default`, which is thread-local,
//! so the other tests of this binary (run on other threads) cannot write into its buffer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use common::{Harness, code_at, wrong_code};
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    VerifySoftwareTokenRequest,
};
use softtoken::{
    CodeCheck, Event, EventKind, LockoutPolicy, MfaMode, Outcome, PoolConfig, RejectReason,
    SoftwareTokenMfaSettings, UserId,
};
use tracing_subscriber::fmt::MakeWriter;

const USER: &str = "alice";

/// An in-memory log: every writer the subscriber makes appends to one shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    fn contents(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("poisoned log buffer"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// Everything a scripted flow handed out or was handed that must never reach the log.
#[derive(Default)]
struct Credentials {
    /// SecretCodes as returned (base32).
    secret_codes: Vec<String>,
    /// Every code string submitted, right or wrong.
    codes: Vec<String>,
    /// Every session value issued.
    sessions: Vec<String>,
    /// Every access token presented.
    access_tokens: Vec<String>,
}

/// Runs the service operations of a scripted flow, collecting every returned event in order
/// and every credential involved.
struct Flow {
    h: Harness,
    events: Vec<Event>,
    credentials: Credentials,
}

impl Flow {
    fn new() -> Flow {
        // ON: every user with a verified token is challenged. A small lockout: 2 free failures,
        // locks of 1 s doubling to 4 s, disabled at the 6th consecutive failure.
        let pool = PoolConfig::default()
            .with_mfa_mode(MfaMode::On)
            .unwrap()
            .with_lockout(LockoutPolicy::new(2, 1, 4, 900, 6).unwrap());
        Flow {
            h: Harness::with_pool(pool),
            events: Vec::new(),
            credentials: Credentials::default(),
        }
    }

    fn record<T>(&mut self, outcome: Outcome<T>) -> Result<T, softtoken::Error> {
        self.events.extend(outcome.events.iter().cloned());
        outcome.into_result()
    }

    fn access_token(&mut self) -> String {
        let token = Harness::token(USER).unwrap();
        self.credentials.access_tokens.push(token.clone());
        token
    }

    fn associate(&mut self) -> String {
        let request = AssociateSoftwareTokenRequest {
            access_token: Some(self.access_token()),
            session: None,
        };
        let outcome =
            self.h
                .service
                .associate_software_token(&request, self.h.now, &mut self.h.rng);
        let secret_code = self
            .record(outcome)
            .expect("associate")
            .secret_code
            .expose()
            .to_owned();
        self.credentials.secret_codes.push(secret_code.clone());
        secret_code
    }

    fn verify(&mut self, code: &str) -> Result<(), softtoken::Error> {
        self.credentials.codes.push(code.to_owned());
        let request = VerifySoftwareTokenRequest {
            access_token: Some(self.access_token()),
            session: None,
            user_code: code.to_owned(),
            friendly_device_name: Some("Alice's phone".to_owned()),
        };
        let outcome = self
            .h
            .service
            .verify_software_token(&request, self.h.now, &mut self.h.rng);
        self.record(outcome).map(drop)
    }

    fn prefer(&mut self) {
        let request = SetUserMfaPreferenceRequest {
            access_token: self.access_token(),
            software_token_mfa_settings: Some(SoftwareTokenMfaSettings {
                enabled: true,
                preferred_mfa: true,
            }),
        };
        let outcome = self.h.service.set_user_mfa_preference(&request, self.h.now);
        self.record(outcome).expect("set preference");
    }

    /// Begins a sign-in and answers its SOFTWARE_TOKEN_MFA challenge with `code`.
    fn sign_in(&mut self, code: &str) -> Result<(), softtoken::Error> {
        let begun = self
            .h
            .service
            .begin_sign_in(&UserId::new(USER), self.h.now, &mut self.h.rng);
        let challenge = self
            .record(begun)
            .expect("begin sign-in")
            .expect("a challenge");
        let session = challenge.session.expose().to_owned();
        self.credentials.sessions.push(session.clone());
        self.credentials.codes.push(code.to_owned());
        let request = RespondToSoftwareTokenMfaRequest {
            session,
            username: USER.to_owned(),
            software_token_mfa_code: code.to_owned(),
        };
        let outcome = self
            .h
            .service
            .respond_to_software_token_mfa(&request, self.h.now);
        self.record(outcome).map(drop)
    }

    fn admin_delete(&mut self) {
        let outcome = self.h.service.admin_delete_software_token(USER, self.h.now);
        self.record(outcome).expect("admin delete");
    }
}

/// Associate, a wrong then a right verify, a preference, an accepted sign-in, a replay, wrong
/// codes into a lock, a refusal while locked, more wrong codes up to the hard cap, a refusal of
/// the disabled token, and an administrator's deletion.
fn scripted_flow() -> (Vec<Event>, Credentials) {
    let mut flow = Flow::new();
    let secret_code = flow.associate();
    let secret = softtoken::Secret::from_base32(&secret_code).unwrap();

    let wrong = wrong_code(&secret, flow.h.now);
    flow.verify(&wrong).unwrap_err();
    flow.verify(&code_at(&secret, flow.h.now)).expect("verify");
    flow.prefer();

    flow.h.next_step();
    let good = code_at(&secret, flow.h.now);
    flow.sign_in(&good).expect("sign-in");
    flow.sign_in(&good).unwrap_err(); // replayed

    let wrong = wrong_code(&secret, flow.h.now);
    for _ in 0..3 {
        flow.sign_in(&wrong).unwrap_err(); // two free failures, then a 1 s lock
    }
    flow.sign_in(&wrong).unwrap_err(); // refused unevaluated while locked
    for _ in 0..3 {
        flow.h.advance(5); // past the lock
        flow.sign_in(&wrong).unwrap_err(); // locks again; the 6th failure disables
    }
    flow.h.advance(5);
    flow.sign_in(&wrong).unwrap_err(); // refused: disabled
    flow.admin_delete();
    (flow.events, flow.credentials)
}

/// The line the `fmt` subscriber (no time, no ANSI) prints for `event`, written out
/// independently of the crate's mapping.
fn expected_line(event: &Event) -> String {
    let (level, kind, fields) = match &event.kind {
        EventKind::Associated { dropped_verified } => (
            "INFO",
            "associated",
            format!(" dropped_verified={dropped_verified}"),
        ),
        EventKind::Verified {
            step,
            replaced_previous,
        } => (
            "INFO",
            "verified",
            format!(
                " step={} replaced_previous={replaced_previous}",
                step.value()
            ),
        ),
        EventKind::SignInAccepted { step } => (
            "INFO",
            "sign_in_accepted",
            format!(" step={}", step.value()),
        ),
        EventKind::CodeRejected { check, reason } => {
            let check = match check {
                CodeCheck::Verify => "verify",
                CodeCheck::SignIn => "sign_in",
            };
            let reason = match reason {
                RejectReason::Mismatch => "reason=\"mismatch\"".to_owned(),
                RejectReason::Replayed => "reason=\"replayed\"".to_owned(),
                RejectReason::LockedOut { until } => {
                    format!("reason=\"locked_out\" until={}", until.as_secs())
                }
                RejectReason::Disabled => "reason=\"disabled\"".to_owned(),
            };
            (
                "WARN",
                "code_rejected",
                format!(" check=\"{check}\" {reason}"),
            )
        }
        EventKind::LockedOut {
            until,
            consecutive_failures,
        } => (
            "WARN",
            "locked_out",
            format!(
                " until={} consecutive_failures={consecutive_failures}",
                until.as_secs()
            ),
        ),
        EventKind::Disabled {
            consecutive_failures,
        } => (
            "WARN",
            "disabled",
            format!(" consecutive_failures={consecutive_failures}"),
        ),
        EventKind::PreferenceChanged { enabled, preferred } => (
            "INFO",
            "preference_changed",
            format!(" enabled={enabled} preferred={preferred}"),
        ),
        EventKind::Deleted => ("INFO", "deleted", String::new()),
        other => panic!("no expected line for {other:?}"),
    };
    format!(
        "{level:>5} softtoken: user=\"{}\" at={} kind=\"{kind}\"{fields}",
        event.user,
        event.at.as_secs()
    )
}

/// Runs the scripted flow under an in-memory `fmt` subscriber (thread-local), returning the
/// returned events, the credentials and the log.
fn traced_flow() -> (Vec<Event>, Credentials, String) {
    let buffer = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(buffer.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let (events, credentials) = tracing::subscriber::with_default(subscriber, scripted_flow);
    (events, credentials, buffer.contents())
}

#[test]
fn every_returned_event_is_emitted_once_in_order_with_its_level_and_fields() {
    let (events, _, log) = traced_flow();

    // The flow reaches every kind and every reason, so the comparison covers the whole mapping.
    let has = |wanted: fn(&EventKind) -> bool| events.iter().any(|event| wanted(&event.kind));
    assert!(has(|kind| matches!(kind, EventKind::Associated { .. })));
    assert!(has(|kind| matches!(kind, EventKind::Verified { .. })));
    assert!(has(|kind| matches!(
        kind,
        EventKind::PreferenceChanged { .. }
    )));
    assert!(has(|kind| matches!(kind, EventKind::SignInAccepted { .. })));
    assert!(has(|kind| matches!(kind, EventKind::LockedOut { .. })));
    assert!(has(|kind| matches!(kind, EventKind::Disabled { .. })));
    assert!(has(|kind| matches!(kind, EventKind::Deleted)));
    for reason in [
        |reason: &RejectReason| matches!(reason, RejectReason::Mismatch),
        |reason: &RejectReason| matches!(reason, RejectReason::Replayed),
        |reason: &RejectReason| matches!(reason, RejectReason::LockedOut { .. }),
        |reason: &RejectReason| matches!(reason, RejectReason::Disabled),
    ] {
        assert!(events.iter().any(|event| matches!(
            &event.kind,
            EventKind::CodeRejected { reason: r, .. } if reason(r)
        )));
    }
    assert!(events.iter().any(|event| matches!(
        event.kind,
        EventKind::CodeRejected {
            check: CodeCheck::Verify,
            ..
        }
    )));
    assert!(events.iter().all(|event| event.user == UserId::new(USER)));

    // One line per returned event, in order, and nothing else.
    let lines: Vec<&str> = log.lines().collect();
    let expected: Vec<String> = events.iter().map(expected_line).collect();
    assert_eq!(lines, expected, "log:\n{log}");

    // Spot checks in the words of the issue.
    for line in &lines {
        assert!(line.contains(" softtoken: "), "{line}");
        assert!(line.contains("user=\"alice\""), "{line}");
    }
    assert!(log.contains(
        "WARN softtoken: user=\"alice\" at=1700000000 kind=\"code_rejected\" check=\"verify\" \
         reason=\"mismatch\""
    ));
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(" INFO") && line.contains("kind=\"sign_in_accepted\""))
    );
    assert!(lines.iter().any(|line| line.starts_with(" WARN")
        && line.contains("kind=\"code_rejected\" check=\"sign_in\" reason=\"replayed\"")));
}

#[test]
fn the_log_never_holds_a_secret_a_code_a_session_or_an_access_token() {
    let (_, credentials, log) = traced_flow();
    assert!(!log.is_empty());
    assert_eq!(credentials.secret_codes.len(), 1);

    for secret_code in &credentials.secret_codes {
        assert_eq!(secret_code.len(), 52);
        assert!(!log.contains(secret_code.as_str()));
        assert!(!log.contains(&secret_code.to_lowercase()));
        let bytes = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret_code)
            .expect("base32");
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        assert!(!log.contains(&hex));
        assert!(!log.contains(&hex.to_uppercase()));
        assert!(!log.contains(&format!("{bytes:?}")));
    }
    for session in &credentials.sessions {
        assert!(!log.contains(session.as_str()));
    }
    for token in &credentials.access_tokens {
        assert!(!log.contains(token.as_str()));
    }
    // A 6-digit code could occur inside a 10-digit time ("000000" in "1700000000"), so codes
    // are compared with whole words of the log; no field of the log is 6 digits long.
    assert!(!credentials.codes.is_empty());
    let words: Vec<&str> = log
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    for code in &credentials.codes {
        assert!(!words.contains(&code.as_str()), "code {code} in the log");
    }
    assert!(
        words
            .iter()
            .all(|word| !(word.len() == 6 && word.bytes().all(|b| b.is_ascii_digit()))),
        "a 6-digit word in the log:\n{log}"
    );
}
