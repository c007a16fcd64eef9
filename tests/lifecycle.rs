//! The software-token lifecycle end to end through the service on `MemoryStore`: associate →
//! verify → preference → sign in → admin delete, with each step's Cognito-visible effect.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod common;

use common::{Harness, code_at, wrong_code};
use softtoken::api::{AssociateSoftwareTokenRequest, VerifySoftwareTokenRequest, VerifyStatus};
use softtoken::{Error, EventKind, TokenStore, UserId};

#[test]
fn associate_issues_a_52_character_secret_pending_until_verified() {
    let mut h = Harness::new();
    let response = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Harness::token("alice"),
                session: None,
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    let secret_code = response.secret_code.expose();
    assert_eq!(secret_code.len(), 52);
    assert!(
        secret_code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(
        response.session, None,
        "no Session on the access-token path"
    );

    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    assert!(record.pending().is_some());
    assert!(record.verified().is_none());
    // Pending is not a factor: no MFA shown, no challenge in an OPTIONAL pool.
    assert_eq!(
        h.service
            .admin_get_user("alice")
            .unwrap()
            .user_mfa_setting_list,
        None
    );
    assert!(h.begin_sign_in("alice").is_none());
}

#[test]
fn each_association_issues_a_fresh_secret_replacing_the_pending_one() {
    let mut h = Harness::new();
    let first = h.associate("alice");
    let second = h.associate("alice");
    assert_ne!(first, second);
    // The first secret's code no longer verifies; the second's does.
    assert_eq!(
        h.verify_code("alice", &code_at(&first, h.now)),
        Err(Error::VerifyCodeMismatch)
    );
    h.verify_code("alice", &code_at(&second, h.now)).unwrap();
}

#[test]
fn verify_makes_the_token_verified_with_its_device_name() {
    let mut h = Harness::new();
    let secret = h.associate("alice");
    let outcome = h.service.verify_software_token(
        &VerifySoftwareTokenRequest {
            access_token: Harness::token("alice"),
            session: None,
            user_code: code_at(&secret, h.now),
            friendly_device_name: Some("Alice's phone".to_owned()),
        },
        h.now,
        &mut h.rng,
    );
    assert!(
        outcome
            .events
            .iter()
            .any(|event| matches!(event.kind, EventKind::Verified { .. }))
    );
    let response = outcome.result.unwrap();
    assert_eq!(response.status, VerifyStatus::Success);
    assert_eq!(
        response.session, None,
        "no Session on the access-token path"
    );

    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    let verified = record.verified().unwrap();
    assert_eq!(verified.friendly_device_name(), Some("Alice's phone"));
    assert_eq!(verified.verified_at(), h.now);
    assert_eq!(verified.last_used_step().unwrap().value(), h.now.0 / 30);
    assert!(record.pending().is_none());
}

#[test]
fn a_wrong_code_keeps_the_secret_pending_and_a_later_right_code_succeeds() {
    let mut h = Harness::new();
    let secret = h.associate("alice");
    let error = h
        .verify_code("alice", &wrong_code(&secret, h.now))
        .unwrap_err();
    assert_eq!(error, Error::VerifyCodeMismatch);
    assert_eq!(error.code(), "EnableSoftwareTokenMFAException");
    assert_eq!(
        error.to_string(),
        "Code mismatch and fail enable Software Token MFA"
    );
    assert_eq!(
        h.stored_failures("alice"),
        1,
        "the failure counts toward lockout"
    );
    h.advance(5);
    h.verify_code("alice", &code_at(&secret, h.now)).unwrap();
    assert_eq!(h.stored_failures("alice"), 0, "success resets the count");
}

#[test]
fn verify_with_nothing_pending_is_software_token_mfa_not_found() {
    let mut h = Harness::new();
    let error = h.verify_code("alice", "123456").unwrap_err();
    assert_eq!(error, Error::NothingPending);
    assert_eq!(error.code(), "SoftwareTokenMFANotFoundException");

    // After a successful verify nothing is pending either.
    let secret = h.enrol("bob");
    h.next_step();
    assert_eq!(
        h.verify_code("bob", &code_at(&secret, h.now)),
        Err(Error::NothingPending)
    );
}

#[test]
fn a_pool_without_software_tokens_refuses_associate_and_verify() {
    let pool = softtoken::PoolConfig::default()
        .with_software_token_mfa(false)
        .unwrap();
    let mut h = Harness::with_pool(pool);
    let outcome = h.service.associate_software_token(
        &AssociateSoftwareTokenRequest {
            access_token: Harness::token("alice"),
            session: None,
        },
        h.now,
        &mut h.rng,
    );
    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "SoftwareTokenMFANotFoundException");
    assert_eq!(
        error.to_string(),
        "Software Token MFA has not been enabled by the userPool."
    );
    assert_eq!(
        h.verify_code("alice", "123456").unwrap_err(),
        Error::SoftwareTokenMfaNotEnabled
    );
    assert!(
        h.store.load(&UserId::new("alice")).unwrap().is_none(),
        "nothing stored"
    );
}

#[test]
fn an_unknown_access_token_is_not_authorized() {
    let mut h = Harness::new();
    let error = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some("forged".to_owned()),
                session: None,
            },
            h.now,
            &mut h.rng,
        )
        .result
        .unwrap_err();
    assert_eq!(error.code(), "NotAuthorizedException");
    assert_eq!(error.to_string(), "Invalid Access Token");
    assert_eq!(h.service.get_user("forged"), Err(Error::InvalidAccessToken));
}

#[test]
fn full_lifecycle_enrol_enable_sign_in_delete() {
    let mut h = Harness::new();
    let secret = h.enrol("alice");
    h.service
        .set_user_mfa_preference(
            &softtoken::api::SetUserMfaPreferenceRequest {
                access_token: "token-alice".to_owned(),
                software_token_mfa_settings: Some(softtoken::SoftwareTokenMfaSettings {
                    enabled: true,
                    preferred_mfa: true,
                }),
            },
            h.now,
        )
        .into_result()
        .unwrap();
    let view = h.service.get_user("token-alice").unwrap();
    assert_eq!(
        view.user_mfa_setting_list,
        Some(vec!["SOFTWARE_TOKEN_MFA".to_owned()])
    );
    assert_eq!(
        view.preferred_mfa_setting.as_deref(),
        Some("SOFTWARE_TOKEN_MFA")
    );

    h.next_step();
    h.sign_in("alice", &code_at(&secret, h.now)).unwrap();

    let outcome = h.service.admin_delete_software_token("alice", h.now);
    assert!(outcome.events.iter().any(|e| e.kind == EventKind::Deleted));
    outcome.result.unwrap();
    assert!(h.store.load(&UserId::new("alice")).unwrap().is_none());
    let view = h.service.admin_get_user("alice").unwrap();
    assert_eq!(view.user_mfa_setting_list, None, "absent, not empty");
    assert_eq!(view.preferred_mfa_setting, None);
    assert!(
        h.begin_sign_in("alice").is_none(),
        "OPTIONAL pool: no challenge after delete"
    );
    // Deleting again is a no-op success.
    h.service
        .admin_delete_software_token("alice", h.now)
        .into_result()
        .unwrap();
}

#[test]
fn changing_the_pools_digit_count_does_not_lock_out_enrolled_tokens() {
    use softtoken::{Digits, TotpConfig};
    let mut h = Harness::with_pool(
        softtoken::PoolConfig::default()
            .with_mfa_mode(softtoken::MfaMode::On)
            .unwrap(),
    );
    let six = h.enrol("alice");
    // The pool moves to 8-digit codes; alice's token keeps its own 6-digit configuration.
    let eight_digit_pool = h
        .service
        .pool()
        .with_totp(TotpConfig::default().with_digits(Digits::Eight));
    let service = softtoken::Service::new(
        h.store.clone(),
        h.store.clone(),
        common::resolve as common::Resolver,
        eight_digit_pool,
    );
    h.next_step();
    let challenge = service
        .begin_sign_in(&UserId::new("alice"), h.now, &mut h.rng)
        .into_result()
        .unwrap()
        .unwrap();
    let respond = |code: String| {
        service
            .respond_to_software_token_mfa(
                &softtoken::api::RespondToSoftwareTokenMfaRequest {
                    session: challenge.session.expose().to_owned(),
                    username: "alice".to_owned(),
                    software_token_mfa_code: code,
                },
                h.now,
            )
            .result
    };
    // An 8-digit code is malformed for this token: refused, not counted.
    let error = respond("12345678".to_owned()).unwrap_err();
    assert_eq!(error.code(), "InvalidParameterException");
    assert_eq!(h.stored_failures("alice"), 0);
    respond(code_at(&six, h.now)).unwrap();
}

#[test]
fn an_absurd_clock_is_refused_before_anything_is_read_or_written() {
    let mut h = Harness::new();
    let absurd = softtoken::UnixTime(u64::MAX);
    let outcome = h.service.associate_software_token(
        &AssociateSoftwareTokenRequest {
            access_token: Harness::token("alice"),
            session: None,
        },
        absurd,
        &mut h.rng,
    );
    let error = outcome.result.unwrap_err();
    assert!(matches!(error, Error::Clock(_)));
    assert_eq!(error.code(), "InternalErrorException");
    assert!(h.store.load(&UserId::new("alice")).unwrap().is_none());
    assert!(
        h.service
            .begin_sign_in(&UserId::new("alice"), absurd, &mut h.rng)
            .result
            .is_err()
    );
    assert_eq!(h.store.session_count(), 0, "no session issued");
}
