//! The sign-in decision after the password check (DESIGN.md §3 "Sign-in decision"): every pool
//! mode (OFF / OPTIONAL / ON) against every user state (nothing, pending only, verified not
//! enabled, verified enabled, verified enabled and preferred), with the challenge parameters
//! Cognito sends; verified users stay challenged when the pool later switches software tokens
//! off; `ON` without software tokens is refused; AdminDeleteSoftwareToken in an `ON` pool brings
//! back MFA_SETUP; a locked-out user still gets the challenge; and answering a challenge whose
//! token was deleted meanwhile is SoftwareTokenMFANotFoundException.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use std::collections::BTreeMap;

use common::{Harness, MemoryService, code_at, wrong_code};
use softtoken::api::{
    AdminSetUserMfaPreferenceRequest, ChallengeName, RespondToMfaSetupRequest, SignInChallenge,
};
use softtoken::store::{SessionPurpose, SessionStore};
use softtoken::{Error, MfaMode, PoolConfig, Secret, Service, SoftwareTokenMfaSettings, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UserState {
    Nothing,
    PendingOnly,
    VerifiedNotEnabled,
    VerifiedEnabled,
    VerifiedEnabledPreferred,
}

const STATES: [UserState; 5] = [
    UserState::Nothing,
    UserState::PendingOnly,
    UserState::VerifiedNotEnabled,
    UserState::VerifiedEnabled,
    UserState::VerifiedEnabledPreferred,
];

/// What `begin_sign_in` should answer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    NoChallenge,
    SoftwareTokenMfa,
    MfaSetup,
}

fn pool(mode: MfaMode) -> PoolConfig {
    PoolConfig::default().with_mfa_mode(mode).unwrap()
}

fn set_preference(h: &Harness, user: &str, enabled: bool, preferred_mfa: bool) {
    h.service
        .admin_set_user_mfa_preference(
            &AdminSetUserMfaPreferenceRequest {
                username: user.to_owned(),
                software_token_mfa_settings: Some(SoftwareTokenMfaSettings {
                    enabled,
                    preferred_mfa,
                }),
            },
            h.now,
        )
        .into_result()
        .unwrap();
}

/// Puts `user` into `state` through the public API (OPTIONAL pool); returns the verified secret.
fn build(h: &mut Harness, user: &str, state: UserState) -> Option<Secret> {
    match state {
        UserState::Nothing => None,
        UserState::PendingOnly => {
            let _ = h.associate(user);
            None
        }
        UserState::VerifiedNotEnabled => Some(h.enrol(user)),
        UserState::VerifiedEnabled => {
            let secret = h.enrol(user);
            set_preference(h, user, true, false);
            Some(secret)
        }
        UserState::VerifiedEnabledPreferred => {
            let secret = h.enrol(user);
            set_preference(h, user, true, true);
            Some(secret)
        }
    }
}

/// A service over `h`'s store with another pool configuration.
fn service_with(h: &Harness, pool: PoolConfig) -> MemoryService {
    Service::new(
        h.store.clone(),
        h.store.clone(),
        common::resolve as common::Resolver,
        pool,
    )
}

fn begin(h: &mut Harness, service: &MemoryService, user: &str) -> Option<SignInChallenge> {
    service
        .begin_sign_in(&UserId::new(user), h.now, &mut h.rng)
        .into_result()
        .unwrap()
}

/// DESIGN.md §3 as a table: rows are pool modes, columns the user states in `STATES` order.
const TABLE: [(MfaMode, [Expected; 5]); 3] = {
    use Expected::{MfaSetup, NoChallenge, SoftwareTokenMfa};
    [
        (
            MfaMode::Off,
            [
                NoChallenge,
                NoChallenge,
                NoChallenge,
                NoChallenge,
                NoChallenge,
            ],
        ),
        (
            MfaMode::Optional,
            [
                NoChallenge,
                NoChallenge,
                NoChallenge,
                SoftwareTokenMfa,
                SoftwareTokenMfa,
            ],
        ),
        (
            MfaMode::On,
            [
                MfaSetup,
                MfaSetup,
                SoftwareTokenMfa,
                SoftwareTokenMfa,
                SoftwareTokenMfa,
            ],
        ),
    ]
};

fn mfas_can_setup() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "MFAS_CAN_SETUP".to_owned(),
        "[\"SOFTWARE_TOKEN_MFA\"]".to_owned(),
    )])
}

fn friendly_device_name(user: &str) -> BTreeMap<String, String> {
    // The harness verifies with FriendlyDeviceName "<user>'s phone".
    BTreeMap::from([("FRIENDLY_DEVICE_NAME".to_owned(), format!("{user}'s phone"))])
}

/// Checks `challenge` against `expected`, including its parameters and that its session is
/// stored for `user` with the purpose that answers it.
fn check(
    h: &Harness,
    challenge: Option<&SignInChallenge>,
    expected: &Expected,
    user: &str,
    context: &str,
) {
    match (expected, challenge) {
        (Expected::NoChallenge, None) => {}
        (Expected::SoftwareTokenMfa, Some(challenge)) => {
            assert_eq!(
                challenge.challenge_name,
                ChallengeName::SoftwareTokenMfa,
                "{context}"
            );
            assert_eq!(challenge.challenge_name.as_str(), "SOFTWARE_TOKEN_MFA");
            assert_eq!(
                challenge.challenge_parameters,
                friendly_device_name(user),
                "{context}"
            );
            let session = h.store.get(&challenge.session).unwrap().unwrap();
            assert_eq!(
                session.purpose,
                SessionPurpose::SoftwareTokenMfa,
                "{context}"
            );
            assert_eq!(session.user, UserId::new(user), "{context}");
            assert!(!session.consumed, "{context}");
        }
        (Expected::MfaSetup, Some(challenge)) => {
            assert_eq!(
                challenge.challenge_name,
                ChallengeName::MfaSetup,
                "{context}"
            );
            assert_eq!(challenge.challenge_name.as_str(), "MFA_SETUP");
            assert_eq!(
                challenge.challenge_parameters,
                mfas_can_setup(),
                "{context}"
            );
            let session = h.store.get(&challenge.session).unwrap().unwrap();
            assert_eq!(
                session.purpose,
                SessionPurpose::MfaSetupAssociate,
                "{context}"
            );
            assert_eq!(session.user, UserId::new(user), "{context}");
            assert!(!session.consumed, "{context}");
        }
        (expected, challenge) => {
            panic!("{context}: expected {expected:?}, got {challenge:?}")
        }
    }
}

#[test]
fn every_pool_mode_against_every_user_state() {
    for (mode, row) in TABLE {
        for (state, want) in STATES.into_iter().zip(row) {
            let context = format!("pool {} × user {state:?}", mode.as_str());
            // The state is built in an OPTIONAL pool, then decided by a service with `mode`
            // over the same store.
            let mut h = Harness::new();
            let _ = build(&mut h, "alice", state);
            let service = service_with(&h, pool(mode));
            let sessions = h.store.session_count();
            let challenge = begin(&mut h, &service, "alice");
            check(&h, challenge.as_ref(), &want, "alice", &context);
            let issued = usize::from(want != Expected::NoChallenge);
            assert_eq!(
                h.store.session_count(),
                sessions + issued,
                "{context}: a session exactly when there is a challenge"
            );
        }
    }
}

#[test]
fn mfas_can_setup_is_the_json_encoded_string_of_a_one_element_array() {
    let mut h = Harness::with_pool(pool(MfaMode::On));
    let challenge = h.begin_sign_in("alice").unwrap();
    let value = &challenge.challenge_parameters["MFAS_CAN_SETUP"];
    assert_eq!(value, r#"["SOFTWARE_TOKEN_MFA"]"#);
    assert_eq!(value.len(), 22);
    assert!(value.starts_with("[\"") && value.ends_with("\"]"));
}

#[test]
fn the_challenged_token_answers_its_challenge_in_every_challenging_pool() {
    for (mode, state) in [
        (MfaMode::On, UserState::VerifiedNotEnabled),
        (MfaMode::On, UserState::VerifiedEnabledPreferred),
        (MfaMode::Optional, UserState::VerifiedEnabled),
    ] {
        let mut h = Harness::new();
        let secret = build(&mut h, "alice", state).unwrap();
        let service = service_with(&h, pool(mode));
        h.next_step();
        let challenge = begin(&mut h, &service, "alice").unwrap();
        let outcome = service.respond_to_software_token_mfa(
            &softtoken::api::RespondToSoftwareTokenMfaRequest {
                session: challenge.session.expose().to_owned(),
                username: "alice".to_owned(),
                software_token_mfa_code: code_at(&secret, h.now),
            },
            h.now,
        );
        assert_eq!(
            outcome.into_result().unwrap().user,
            UserId::new("alice"),
            "{} × {state:?}",
            mode.as_str()
        );
    }
}

#[test]
fn verified_users_keep_being_challenged_after_the_pool_switches_software_tokens_off() {
    let mut h = Harness::new();
    let enabled = build(&mut h, "alice", UserState::VerifiedEnabled).unwrap();
    let _ = build(&mut h, "bob", UserState::VerifiedNotEnabled);
    let _ = build(&mut h, "carol", UserState::PendingOnly);

    let off = PoolConfig::default()
        .with_software_token_mfa(false)
        .unwrap();
    assert_eq!(off.mfa_mode(), MfaMode::Optional);
    let service = service_with(&h, off);

    let challenge = begin(&mut h, &service, "alice");
    check(
        &h,
        challenge.as_ref(),
        &Expected::SoftwareTokenMfa,
        "alice",
        "verified + enabled, pool switched off",
    );
    // And the token still answers it.
    h.next_step();
    let challenge = begin(&mut h, &service, "alice").unwrap();
    service
        .respond_to_software_token_mfa(
            &softtoken::api::RespondToSoftwareTokenMfaRequest {
                session: challenge.session.expose().to_owned(),
                username: "alice".to_owned(),
                software_token_mfa_code: code_at(&enabled, h.now),
            },
            h.now,
        )
        .into_result()
        .unwrap();

    // Not enabled, or not verified: still no challenge in an OPTIONAL pool.
    assert!(begin(&mut h, &service, "bob").is_none());
    assert!(begin(&mut h, &service, "carol").is_none());

    // With the pool OFF as well, no one is challenged.
    let off_off = off.with_mfa_mode(MfaMode::Off).unwrap();
    let service = service_with(&h, off_off);
    assert!(begin(&mut h, &service, "alice").is_none());
}

#[test]
fn on_with_software_token_mfa_disabled_is_refused_by_the_configuration() {
    let error = PoolConfig::default()
        .with_software_token_mfa(false)
        .unwrap()
        .with_mfa_mode(MfaMode::On)
        .unwrap_err();
    assert_eq!(error.code(), "InvalidParameterException");
    let error = PoolConfig::default()
        .with_mfa_mode(MfaMode::On)
        .unwrap()
        .with_software_token_mfa(false)
        .unwrap_err();
    assert_eq!(error.code(), "InvalidParameterException");
    // The other combinations are fine.
    for mode in [MfaMode::Off, MfaMode::Optional] {
        let pool = PoolConfig::default()
            .with_software_token_mfa(false)
            .unwrap()
            .with_mfa_mode(mode)
            .unwrap();
        assert!(!pool.software_token_mfa());
    }
}

#[test]
fn admin_delete_in_an_on_pool_brings_back_mfa_setup() {
    let mut h = Harness::with_pool(pool(MfaMode::On));
    let _ = h.enrol("alice");
    set_preference(&h, "alice", true, true);
    let challenge = h.begin_sign_in("alice");
    check(
        &h,
        challenge.as_ref(),
        &Expected::SoftwareTokenMfa,
        "alice",
        "before delete",
    );

    h.service
        .admin_delete_software_token("alice", h.now)
        .into_result()
        .unwrap();
    let challenge = h.begin_sign_in("alice");
    check(
        &h,
        challenge.as_ref(),
        &Expected::MfaSetup,
        "alice",
        "after delete",
    );
    let view = h.service.admin_get_user("alice").unwrap();
    assert_eq!(view.user_mfa_setting_list, None);
    assert_eq!(view.preferred_mfa_setting, None);
}

#[test]
fn a_locked_out_user_still_gets_the_challenge_and_only_the_answer_is_refused() {
    for mode in [MfaMode::Optional, MfaMode::On] {
        let mut h = Harness::new();
        let secret = build(&mut h, "alice", UserState::VerifiedEnabled).unwrap();
        let service = service_with(&h, pool(mode));
        h.next_step();
        let wrong = wrong_code(&secret, h.now);
        let challenge = begin(&mut h, &service, "alice").unwrap();
        let respond = |session: &softtoken::SessionId, code: &str, now| {
            service
                .respond_to_software_token_mfa(
                    &softtoken::api::RespondToSoftwareTokenMfaRequest {
                        session: session.expose().to_owned(),
                        username: "alice".to_owned(),
                        software_token_mfa_code: code.to_owned(),
                    },
                    now,
                )
                .into_result()
        };
        let free = service.pool().lockout().free_failures();
        for _ in 0..=free {
            assert_eq!(
                respond(&challenge.session, &wrong, h.now).unwrap_err(),
                Error::CodeMismatch
            );
        }
        let right = code_at(&secret, h.now);
        let locked = respond(&challenge.session, &right, h.now).unwrap_err();
        assert!(
            matches!(locked, Error::LockedOut { .. }),
            "{}: locked, got {locked:?}",
            mode.as_str()
        );

        // Beginning a sign-in is not blocked.
        let again = begin(&mut h, &service, "alice");
        check(
            &h,
            again.as_ref(),
            &Expected::SoftwareTokenMfa,
            "alice",
            &format!("{}: locked out", mode.as_str()),
        );
        // Answering it is, with the right code too.
        let again = again.unwrap();
        assert!(matches!(
            respond(&again.session, &right, h.now).unwrap_err(),
            Error::LockedOut { .. }
        ));
    }
}

#[test]
fn a_locked_out_user_in_mfa_setup_still_gets_mfa_setup() {
    let mut h = Harness::with_pool(pool(MfaMode::On));
    let secret = h.associate("alice");
    let wrong = wrong_code(&secret, h.now);
    let free = h.service.pool().lockout().free_failures();
    for _ in 0..=free {
        assert_eq!(
            h.verify_code("alice", &wrong).unwrap_err(),
            Error::VerifyCodeMismatch
        );
    }
    assert!(matches!(
        h.verify_code("alice", &code_at(&secret, h.now))
            .unwrap_err(),
        Error::LockedOut { .. }
    ));
    let challenge = h.begin_sign_in("alice");
    check(
        &h,
        challenge.as_ref(),
        &Expected::MfaSetup,
        "alice",
        "locked, pending",
    );
}

#[test]
fn answering_software_token_mfa_after_the_token_was_deleted_is_not_found() {
    let mut h = Harness::with_pool(pool(MfaMode::On));
    let secret = h.enrol("alice");
    h.next_step();
    let challenge = h.begin_sign_in("alice").unwrap();
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);

    h.service
        .admin_delete_software_token("alice", h.now)
        .into_result()
        .unwrap();
    let error = h
        .respond("alice", &challenge.session, &code_at(&secret, h.now))
        .unwrap_err();
    assert_eq!(error, Error::NoVerifiedToken);
    assert_eq!(error.code(), "SoftwareTokenMFANotFoundException");
    assert_eq!(
        error.to_string(),
        "Software Token MFA does not exist for the user."
    );
    assert!(
        !h.store.get(&challenge.session).unwrap().unwrap().consumed,
        "a refused answer does not consume the session"
    );
}

#[test]
fn answering_mfa_setup_after_the_token_was_deleted_is_not_found() {
    let mut h = Harness::with_pool(pool(MfaMode::On));
    let s1 = h.begin_sign_in("alice").unwrap().session;
    let associated = h
        .service
        .associate_software_token(
            &softtoken::api::AssociateSoftwareTokenRequest {
                access_token: None,
                session: Some(s1.expose().to_owned()),
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s3 = h
        .service
        .verify_software_token(
            &softtoken::api::VerifySoftwareTokenRequest {
                access_token: None,
                session: associated.session.map(|s| s.expose().to_owned()),
                user_code: code_at(&secret, h.now),
                friendly_device_name: None,
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap()
        .session
        .unwrap();
    h.service
        .admin_delete_software_token("alice", h.now)
        .into_result()
        .unwrap();
    let error = h
        .service
        .respond_to_mfa_setup(
            &RespondToMfaSetupRequest {
                session: s3.expose().to_owned(),
                username: "alice".to_owned(),
            },
            h.now,
        )
        .into_result()
        .unwrap_err();
    assert_eq!(error, Error::NoVerifiedToken);
    assert_eq!(error.code(), "SoftwareTokenMFANotFoundException");
}
