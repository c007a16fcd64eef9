//! Request validation at the edge (DESIGN.md §3): AccessToken and Session are mutually
//! exclusive on AssociateSoftwareToken and VerifySoftwareToken (both or neither →
//! InvalidParameterException, nothing stored, no session consumed or issued); sessions must be
//! 20..=2048 characters and access tokens non-empty; a UserCode that is not exactly six ASCII
//! digits is refused before any HMAC is computed and changes no state; FriendlyDeviceName is
//! limited to 131072 characters; and no error ever echoes the submitted value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use common::{Harness, code_at, wrong_code};
use softtoken::api::{
    AssociateSoftwareTokenRequest, ChallengeName, RespondToMfaSetupRequest,
    RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest, VerifySoftwareTokenRequest,
    VerifyStatus,
};
use softtoken::store::SessionStore;
use softtoken::{AccessToken, Error, MfaMode, PoolConfig, Secret, SessionId, TokenStore, UserId};

/// The malformed codes of DESIGN.md §3, plus a few more of the same kind.
const MALFORMED: [&str; 11] = [
    "",
    "12345",
    "1234567",
    " 123456",
    "123456 ",
    "12345a",
    "+12345",
    "-12345",
    "１２３４５６",
    "12 456",
    "123\u{0}56",
];

fn on_pool() -> PoolConfig {
    PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap()
}

/// HMAC computations on this thread so far (the crate's tests always build with its
/// `test-support` feature, through the self dev-dependency in Cargo.toml).
fn hmacs() -> u64 {
    softtoken::test_support::hmac_computations()
}

fn assert_invalid_parameter(error: &Error, context: &str) {
    assert!(
        matches!(error, Error::InvalidParameter { .. }),
        "{context}: expected InvalidParameter, got {error:?}"
    );
    assert_eq!(error.code(), "InvalidParameterException", "{context}");
    assert!(error.is_invalid_request(), "{context}");
}

/// Neither `Display` nor `Debug` of the error contains `value`.
fn assert_not_echoed(error: &Error, value: &str, context: &str) {
    assert!(!value.is_empty());
    assert!(
        !error.to_string().contains(value),
        "{context}: Display echoes the value: {error}"
    );
    assert!(
        !format!("{error:?}").contains(value),
        "{context}: Debug echoes the value: {error:?}"
    );
}

/// A wrong code that is unlikely to occur by chance in a timestamp or a counter (unlike
/// `wrong_code`'s `000000`), so a search of the output for it means something.
fn distinctive_wrong_code(secret: &Secret, now: softtoken::UnixTime) -> String {
    let step = now.0 / 30;
    let window: Vec<String> = (step - 2..=step + 2)
        .map(|s| common::code_at_step(secret, s))
        .collect();
    ["271828", "314159", "161803", "141421"]
        .into_iter()
        .find(|code| !window.iter().any(|taken| taken == code))
        .unwrap()
        .to_owned()
}

fn load(h: &Harness, user: &str) -> Option<(softtoken::TokenRecord, softtoken::store::Version)> {
    h.store.load(&UserId::new(user)).unwrap()
}

fn is_consumed(h: &Harness, session: &SessionId) -> bool {
    h.store
        .get(session)
        .unwrap()
        .expect("session stored")
        .consumed
}

/// begin_sign_in in an ON pool for a user with no token: the S1 session.
fn mfa_setup_session(h: &mut Harness, user: &str) -> SessionId {
    let challenge = h.begin_sign_in(user).expect("a challenge");
    assert_eq!(challenge.challenge_name, ChallengeName::MfaSetup);
    challenge.session
}

#[test]
fn associate_with_both_or_neither_principal_is_refused_and_nothing_is_stored() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = mfa_setup_session(&mut h, "alice");
    let sessions = h.store.session_count();

    let cases = [
        (
            "both",
            Harness::token("alice"),
            Some(s1.expose().to_owned()),
        ),
        ("neither", None, None),
        // Both present but one of them malformed is still "both".
        (
            "both, empty token",
            Some(String::new()),
            Some(s1.expose().to_owned()),
        ),
    ];
    for (name, access_token, session) in cases {
        let outcome = h.service.associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token,
                session,
            },
            h.now,
            &mut h.rng,
        );
        assert!(outcome.events.is_empty(), "{name}: no events");
        assert_invalid_parameter(&outcome.result.unwrap_err(), name);
        assert!(load(&h, "alice").is_none(), "{name}: nothing stored");
        assert_eq!(
            h.store.session_count(),
            sessions,
            "{name}: no session issued"
        );
        assert!(!is_consumed(&h, &s1), "{name}: S1 not consumed");
    }

    // Each principal alone works.
    let by_session = h.service.associate_software_token(
        &AssociateSoftwareTokenRequest {
            access_token: None,
            session: Some(s1.expose().to_owned()),
        },
        h.now,
        &mut h.rng,
    );
    assert!(by_session.result.unwrap().session.is_some());
    let _ = h.associate("bob");
}

#[test]
fn the_two_refusals_have_distinct_messages() {
    let mut h = Harness::new();
    let mut refuse = |access_token: Option<String>, session: Option<String>| {
        h.service
            .associate_software_token(
                &AssociateSoftwareTokenRequest {
                    access_token,
                    session,
                },
                h.now,
                &mut h.rng,
            )
            .result
            .unwrap_err()
    };
    let both = refuse(Harness::token("alice"), Some("S".repeat(40)));
    let neither = refuse(None, None);
    assert_ne!(both.to_string(), neither.to_string());
    assert!(!both.to_string().is_empty());
    assert!(!neither.to_string().is_empty());
}

#[test]
fn verify_with_both_or_neither_principal_is_refused_and_nothing_changes() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = mfa_setup_session(&mut h, "alice");
    let associated = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: None,
                session: Some(s1.expose().to_owned()),
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();
    let before = load(&h, "alice");
    let sessions = h.store.session_count();
    let code = code_at(&secret, h.now);

    for (name, access_token, session) in [
        (
            "both",
            Harness::token("alice"),
            Some(s2.expose().to_owned()),
        ),
        ("neither", None, None),
    ] {
        let outcome = h.service.verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token,
                session,
                user_code: code.clone(),
                friendly_device_name: None,
            },
            h.now,
            &mut h.rng,
        );
        assert!(outcome.events.is_empty(), "{name}: no events");
        assert_invalid_parameter(&outcome.result.unwrap_err(), name);
        assert_eq!(load(&h, "alice"), before, "{name}: record untouched");
        assert_eq!(
            h.store.session_count(),
            sessions,
            "{name}: no session issued"
        );
        assert!(!is_consumed(&h, &s2), "{name}: S2 not consumed");
    }

    // The right code with the session alone still verifies.
    let verified = h
        .service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: None,
                session: Some(s2.expose().to_owned()),
                user_code: code,
                friendly_device_name: None,
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    assert_eq!(verified.status, VerifyStatus::Success);
}

#[test]
fn sessions_outside_20_to_2048_characters_are_invalid_parameter_on_every_operation() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let code = code_at(&secret, h.now);
    let before = load(&h, "alice");

    let malformed = [
        String::new(),
        "S".to_owned(),
        "S".repeat(19),
        "é".repeat(19), // 38 bytes, 19 characters: lengths are counted in characters
        "S".repeat(2049),
        "S".repeat(100_000),
    ];
    for session in &malformed {
        let context = format!("session of {} characters", session.chars().count());
        let errors = [
            h.service
                .associate_software_token(
                    &AssociateSoftwareTokenRequest {
                        access_token: None,
                        session: Some(session.clone()),
                    },
                    h.now,
                    &mut h.rng,
                )
                .result
                .unwrap_err(),
            h.service
                .verify_software_token(
                    &VerifySoftwareTokenRequest {
                        access_token: None,
                        session: Some(session.clone()),
                        user_code: code.clone(),
                        friendly_device_name: None,
                    },
                    h.now,
                    &mut h.rng,
                )
                .result
                .unwrap_err(),
            h.service
                .respond_to_mfa_setup(
                    &RespondToMfaSetupRequest {
                        session: session.clone(),
                        username: "alice".to_owned(),
                    },
                    h.now,
                )
                .result
                .unwrap_err(),
            h.service
                .respond_to_software_token_mfa(
                    &RespondToSoftwareTokenMfaRequest {
                        session: session.clone(),
                        username: "alice".to_owned(),
                        software_token_mfa_code: code.clone(),
                    },
                    h.now,
                )
                .result
                .unwrap_err(),
        ];
        for error in &errors {
            assert_invalid_parameter(error, &context);
        }
        assert!(SessionId::parse(session).is_err(), "{context}");
    }
    assert_eq!(load(&h, "alice"), before, "nothing changed");

    // The boundaries themselves are well-formed: unknown, so "Invalid session for the user.".
    for session in [
        "S".repeat(20),
        "é".repeat(20),
        "S".repeat(2048),
        "é".repeat(2048),
    ] {
        let error = h
            .service
            .respond_to_software_token_mfa(
                &RespondToSoftwareTokenMfaRequest {
                    session,
                    username: "alice".to_owned(),
                    software_token_mfa_code: code.clone(),
                },
                h.now,
            )
            .result
            .unwrap_err();
        assert_eq!(error, Error::InvalidSession);
    }
}

#[test]
fn an_empty_access_token_is_invalid_parameter_not_an_unknown_token() {
    let mut h = Harness::new();
    let associate = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(String::new()),
                session: None,
            },
            h.now,
            &mut h.rng,
        )
        .result
        .unwrap_err();
    assert_invalid_parameter(&associate, "associate");

    let verify = h
        .service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: Some(String::new()),
                session: None,
                user_code: "123456".to_owned(),
                friendly_device_name: None,
            },
            h.now,
            &mut h.rng,
        )
        .result
        .unwrap_err();
    assert_invalid_parameter(&verify, "verify");

    let preference = h
        .service
        .set_user_mfa_preference(
            &SetUserMfaPreferenceRequest {
                access_token: String::new(),
                software_token_mfa_settings: None,
            },
            h.now,
        )
        .result
        .unwrap_err();
    assert_invalid_parameter(&preference, "set preference");

    assert_invalid_parameter(&h.service.get_user("").unwrap_err(), "get user");
    assert_eq!(h.store.session_count(), 0);

    // A non-empty unknown token is a different refusal.
    assert_eq!(
        h.service.get_user("nope").unwrap_err(),
        Error::InvalidAccessToken
    );
}

#[test]
fn access_tokens_over_8192_characters_are_invalid_parameter_and_nothing_is_stored() {
    let mut h = Harness::new();
    let overlong = "t".repeat(AccessToken::MAX_LEN + 1);
    let associate = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(overlong.clone()),
                session: None,
            },
            h.now,
            &mut h.rng,
        )
        .result
        .unwrap_err();
    assert_invalid_parameter(&associate, "associate");
    assert!(associate.to_string().contains("less than or equal to 8192"));
    assert_invalid_parameter(&h.service.get_user(&overlong).unwrap_err(), "get user");
    assert_eq!(h.store.session_count(), 0);

    // At the bound the token is well formed and goes to the resolver, which does not know it.
    let at_bound = "t".repeat(AccessToken::MAX_LEN);
    assert_eq!(
        h.service.get_user(&at_bound).unwrap_err(),
        Error::InvalidAccessToken
    );
}

#[test]
fn malformed_codes_on_verify_are_refused_before_any_hmac_and_change_nothing() {
    let mut h = Harness::with_pool(on_pool());
    // Alice has a pending secret (session path) and two counted failures.
    let s1 = mfa_setup_session(&mut h, "alice");
    let associated = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: None,
                session: Some(s1.expose().to_owned()),
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();
    let wrong = wrong_code(&secret, h.now);
    for _ in 0..2 {
        assert_eq!(
            h.verify_code("alice", &wrong).unwrap_err(),
            Error::VerifyCodeMismatch
        );
    }
    assert_eq!(h.stored_failures("alice"), 2);
    let before = load(&h, "alice");
    let sessions = h.store.session_count();

    for code in MALFORMED {
        for (path, access_token, session) in [
            ("access token", Harness::token("alice"), None),
            ("session", None, Some(s2.expose().to_owned())),
        ] {
            let context = format!("{code:?} on the {path} path");
            let request = VerifySoftwareTokenRequest {
                access_token,
                session,
                user_code: code.to_owned(),
                friendly_device_name: Some("phone".to_owned()),
            };
            let hmacs_before = hmacs();
            let outcome = h.service.verify_software_token(&request, h.now, &mut h.rng);
            assert_eq!(hmacs(), hmacs_before, "{context}: no HMAC computed");
            assert!(outcome.events.is_empty(), "{context}: no events");
            let error = outcome.result.unwrap_err();
            assert_invalid_parameter(&error, &context);
            if !code.is_empty() {
                assert_not_echoed(&error, code, &context);
            }
            assert_eq!(load(&h, "alice"), before, "{context}: record untouched");
            assert_eq!(h.stored_failures("alice"), 2, "{context}: not counted");
            assert_eq!(h.store.session_count(), sessions, "{context}");
            assert!(!is_consumed(&h, &s2), "{context}: S2 not consumed");
        }
    }

    // The right code still verifies on S2.
    let verified = h
        .service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: None,
                session: Some(s2.expose().to_owned()),
                user_code: code_at(&secret, h.now),
                friendly_device_name: None,
            },
            h.now,
            &mut h.rng,
        )
        .into_result()
        .unwrap();
    assert_eq!(verified.status, VerifyStatus::Success);
}

#[test]
fn malformed_codes_answering_software_token_mfa_are_refused_before_any_hmac_and_change_nothing() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let challenge = h.begin_sign_in("alice").unwrap();
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
    let session = challenge.session;
    let wrong = wrong_code(&secret, h.now);
    assert_eq!(
        h.respond("alice", &session, &wrong).unwrap_err(),
        Error::CodeMismatch
    );
    assert_eq!(h.stored_failures("alice"), 1);
    let before = load(&h, "alice");

    for code in MALFORMED {
        let context = format!("{code:?}");
        let hmacs_before = hmacs();
        let outcome = h.service.respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: session.expose().to_owned(),
                username: "alice".to_owned(),
                software_token_mfa_code: code.to_owned(),
            },
            h.now,
        );
        assert_eq!(hmacs(), hmacs_before, "{context}: no HMAC computed");
        assert!(outcome.events.is_empty(), "{context}: no events");
        let error = outcome.result.unwrap_err();
        assert_invalid_parameter(&error, &context);
        if !code.is_empty() {
            assert_not_echoed(&error, code, &context);
        }
        assert_eq!(load(&h, "alice"), before, "{context}: record untouched");
        assert_eq!(h.stored_failures("alice"), 1, "{context}: not counted");
        assert!(
            !is_consumed(&h, &session),
            "{context}: session not consumed"
        );
    }

    h.respond("alice", &session, &code_at(&secret, h.now))
        .unwrap();
}

#[test]
fn the_hmac_counter_does_move_for_a_well_formed_code() {
    // Guards the no-HMAC assertions above against a counter that never moves.
    let mut h = Harness::new();
    let secret = h.associate("alice");
    let wrong = wrong_code(&secret, h.now);
    let before = hmacs();
    assert_eq!(
        h.verify_code("alice", &wrong).unwrap_err(),
        Error::VerifyCodeMismatch
    );
    assert!(hmacs() > before);
}

/// VerifySoftwareToken on the access-token path with a device name.
fn verify_named(
    h: &mut Harness,
    user: &str,
    code: &str,
    name: String,
) -> Result<softtoken::api::VerifySoftwareTokenResponse, Error> {
    h.service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: Harness::token(user),
                session: None,
                user_code: code.to_owned(),
                friendly_device_name: Some(name),
            },
            h.now,
            &mut h.rng,
        )
        .result
}

#[test]
fn a_friendly_device_name_of_131072_characters_is_accepted_and_131073_refused() {
    let mut h = Harness::new();
    let secret = h.associate("alice");
    let code = code_at(&secret, h.now);
    let before = load(&h, "alice");

    let too_long = "d".repeat(131_073);
    let error = verify_named(&mut h, "alice", &code, too_long.clone()).unwrap_err();
    assert_invalid_parameter(&error, "131073 characters");
    assert_not_echoed(&error, &too_long, "device name");
    let too_long_wide = "é".repeat(131_073);
    assert_invalid_parameter(
        &verify_named(&mut h, "alice", &code, too_long_wide).unwrap_err(),
        "131073 two-byte characters",
    );
    assert_eq!(load(&h, "alice"), before, "still pending, nothing counted");

    let longest = "é".repeat(131_072); // 262144 bytes: the limit counts characters
    verify_named(&mut h, "alice", &code, longest.clone()).unwrap();
    let (record, _) = load(&h, "alice").unwrap();
    assert_eq!(
        record.verified().unwrap().friendly_device_name(),
        Some(longest.as_str())
    );

    let secret = h.associate("bob");
    let ascii = "d".repeat(131_072);
    let code = code_at(&secret, h.now);
    verify_named(&mut h, "bob", &code, ascii.clone()).unwrap();
    let (record, _) = load(&h, "bob").unwrap();
    assert_eq!(
        record.verified().unwrap().friendly_device_name(),
        Some(ascii.as_str())
    );
}

#[test]
fn errors_never_contain_the_submitted_value() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let wrong = distinctive_wrong_code(&secret, h.now);
    let challenge = h.begin_sign_in("alice").unwrap();

    // A wrong, well-formed sign-in code.
    let outcome = h.service.respond_to_software_token_mfa(
        &RespondToSoftwareTokenMfaRequest {
            session: challenge.session.expose().to_owned(),
            username: "alice".to_owned(),
            software_token_mfa_code: wrong.clone(),
        },
        h.now,
    );
    assert!(
        !format!("{outcome:?}").contains(&wrong),
        "outcome and events"
    );
    let error = outcome.result.unwrap_err();
    assert_eq!(error, Error::CodeMismatch);
    assert_not_echoed(&error, &wrong, "wrong sign-in code");

    // A wrong code on Verify.
    let pending = h.associate("bob");
    let wrong_bob = distinctive_wrong_code(&pending, h.now);
    let outcome = h.service.verify_software_token(
        &VerifySoftwareTokenRequest {
            access_token: Harness::token("bob"),
            session: None,
            user_code: wrong_bob.clone(),
            friendly_device_name: None,
        },
        h.now,
        &mut h.rng,
    );
    assert!(!format!("{outcome:?}").contains(&wrong_bob));
    assert_not_echoed(
        &outcome.result.unwrap_err(),
        &wrong_bob,
        "wrong verify code",
    );

    // Session values: malformed (too short, too long) and well-formed but unknown.
    for session in [
        "short-secret-value".to_owned(),
        format!("{}overlong", "Q".repeat(2048)),
        "UNKNOWNSESSIONVALUE7777777".to_owned(),
    ] {
        let outcome = h.service.associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: None,
                session: Some(session.clone()),
            },
            h.now,
            &mut h.rng,
        );
        assert!(!format!("{outcome:?}").contains(&session));
        assert_not_echoed(&outcome.result.unwrap_err(), &session, "session");
        let outcome = h.service.respond_to_mfa_setup(
            &RespondToMfaSetupRequest {
                session: session.clone(),
                username: "alice".to_owned(),
            },
            h.now,
        );
        assert_not_echoed(&outcome.result.unwrap_err(), &session, "session");
    }

    // An unknown access token.
    let token = "forged-access-token-value";
    let error = h
        .service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(token.to_owned()),
                session: None,
            },
            h.now,
            &mut h.rng,
        )
        .result
        .unwrap_err();
    assert_eq!(error, Error::InvalidAccessToken);
    assert_not_echoed(&error, token, "access token");
    assert_not_echoed(&h.service.get_user(token).unwrap_err(), token, "get user");
}
