//! Replay protection: the code Verify used cannot sign in, a step at or below the watermark is
//! refused as ExpiredCodeException without counting, and the next step is accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod common;

use common::{Harness, code_at, code_at_step};
use softtoken::{Error, EventKind, RejectReason, TokenStore, UserId};

#[test]
fn the_code_verify_used_cannot_sign_in() {
    let mut h = Harness::new();
    let secret = h.associate("alice");
    let code = code_at(&secret, h.now);
    h.verify_code("alice", &code).unwrap();
    h.service
        .admin_set_user_mfa_preference(
            &softtoken::api::AdminSetUserMfaPreferenceRequest {
                username: "alice".to_owned(),
                software_token_mfa_settings: Some(softtoken::SoftwareTokenMfaSettings {
                    enabled: true,
                    preferred_mfa: false,
                }),
            },
            h.now,
        )
        .into_result()
        .unwrap();

    let error = h.sign_in("alice", &code).unwrap_err();
    assert_eq!(error, Error::CodeReplayed);
    assert_eq!(error.code(), "ExpiredCodeException");
    assert_eq!(
        error.to_string(),
        "Your software token has already been used once."
    );
    assert_eq!(
        h.stored_failures("alice"),
        0,
        "a replay proves nothing and is not counted"
    );
}

#[test]
fn a_code_signs_in_once_and_only_the_next_step_is_accepted_after_it() {
    let mut h = Harness::with_pool(
        softtoken::PoolConfig::default()
            .with_mfa_mode(softtoken::MfaMode::On)
            .unwrap(),
    );
    let secret = h.enrol("alice");
    let enrolled_step = h.now.0 / 30;

    h.next_step();
    let step = h.now.0 / 30;
    let code = code_at(&secret, h.now);
    h.sign_in("alice", &code).unwrap();
    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    assert_eq!(
        record.verified().unwrap().last_used_step().unwrap().value(),
        step
    );

    // The same code, a fresh challenge, later in the same step: refused.
    h.advance(10);
    let challenge = h.begin_sign_in("alice").unwrap();
    let outcome = h.service.respond_to_software_token_mfa(
        &softtoken::api::RespondToSoftwareTokenMfaRequest {
            session: challenge.session.expose().to_owned(),
            username: "alice".to_owned(),
            software_token_mfa_code: code.clone(),
        },
        h.now,
    );
    assert_eq!(outcome.result, Err(Error::CodeReplayed));
    assert!(outcome.events.iter().any(|event| matches!(
        event.kind,
        EventKind::CodeRejected {
            reason: RejectReason::Replayed,
            ..
        }
    )));

    // Any step at or below the watermark inside the window: the previous step's code too.
    assert_eq!(
        h.respond(
            "alice",
            &challenge.session,
            &code_at_step(&secret, enrolled_step)
        ),
        Err(Error::CodeReplayed)
    );
    // A replay leaves the session standing: the next step's code (inside the ±1 window)
    // answers the same challenge.
    h.respond(
        "alice",
        &challenge.session,
        &code_at_step(&secret, step + 1),
    )
    .unwrap();
    // Which moved the watermark past the current step: the current step's code is now a
    // replay even though it was never used.
    h.advance(1);
    let fresh = h.begin_sign_in("alice").unwrap();
    assert_eq!(
        h.respond("alice", &fresh.session, &code_at(&secret, h.now)),
        Err(Error::CodeReplayed)
    );
}

#[test]
fn replay_holds_across_service_instances_sharing_the_store() {
    let mut h = Harness::with_pool(
        softtoken::PoolConfig::default()
            .with_mfa_mode(softtoken::MfaMode::On)
            .unwrap(),
    );
    let secret = h.enrol("alice");
    h.next_step();
    let code = code_at(&secret, h.now);
    let first = h.begin_sign_in("alice").unwrap();
    let second = h.begin_sign_in("alice").unwrap();
    h.respond("alice", &first.session, &code).unwrap();

    let other = h.another_instance();
    let replayed = other.respond_to_software_token_mfa(
        &softtoken::api::RespondToSoftwareTokenMfaRequest {
            session: second.session.expose().to_owned(),
            username: "alice".to_owned(),
            software_token_mfa_code: code,
        },
        h.now,
    );
    assert_eq!(replayed.result, Err(Error::CodeReplayed));
}
