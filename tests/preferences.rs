//! SetUserMFAPreference and AdminSetUserMFAPreference: the "not set up" and "not verified"
//! refusals with Cognito's exact messages, turning the factor off always succeeding, and the
//! MFA view (absent, not empty, when nothing is enabled).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod common;

use common::Harness;
use softtoken::api::{AdminSetUserMfaPreferenceRequest, SetUserMfaPreferenceRequest};
use softtoken::{Error, EventKind, MfaView, Outcome, SoftwareTokenMfaSettings, TokenStore, UserId};

fn settings(enabled: bool, preferred_mfa: bool) -> Option<SoftwareTokenMfaSettings> {
    Some(SoftwareTokenMfaSettings {
        enabled,
        preferred_mfa,
    })
}

fn set_user(h: &Harness, user: &str, settings: Option<SoftwareTokenMfaSettings>) -> Outcome<()> {
    h.service.set_user_mfa_preference(
        &SetUserMfaPreferenceRequest {
            access_token: format!("token-{user}"),
            software_token_mfa_settings: settings,
        },
        h.now,
    )
}

fn set_admin(h: &Harness, user: &str, settings: Option<SoftwareTokenMfaSettings>) -> Outcome<()> {
    h.service.admin_set_user_mfa_preference(
        &AdminSetUserMfaPreferenceRequest {
            username: user.to_owned(),
            software_token_mfa_settings: settings,
        },
        h.now,
    )
}

#[test]
fn enabling_with_nothing_associated_is_refused_in_each_operations_words() {
    let h = Harness::new();
    let error = set_user(&h, "alice", settings(true, false))
        .result
        .unwrap_err();
    assert_eq!(error, Error::NotSetUp);
    assert_eq!(error.code(), "InvalidParameterException");
    assert_eq!(error.to_string(), "User has not set up software token mfa");

    let error = set_admin(&h, "alice", settings(true, true))
        .result
        .unwrap_err();
    assert_eq!(error, Error::AdminNotSetUp);
    assert_eq!(error.code(), "InvalidParameterException");
    assert_eq!(
        error.to_string(),
        "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA"
    );
    // Preferring without enabling is turning it on too.
    assert_eq!(
        set_user(&h, "alice", settings(false, true)).result,
        Err(Error::NotSetUp)
    );
    assert!(
        h.store.load(&UserId::new("alice")).unwrap().is_none(),
        "nothing stored"
    );
}

#[test]
fn enabling_an_associated_but_unverified_token_is_refused() {
    let mut h = Harness::new();
    h.associate("alice");
    for outcome in [
        set_user(&h, "alice", settings(true, false)),
        set_admin(&h, "alice", settings(true, true)),
    ] {
        let error = outcome.result.unwrap_err();
        assert_eq!(error, Error::NotVerified);
        assert_eq!(error.code(), "InvalidParameterException");
        assert_eq!(
            error.to_string(),
            "User has not verified software token mfa"
        );
    }
}

#[test]
fn disabling_for_a_user_who_never_set_up_totp_succeeds_and_stores_nothing() {
    let h = Harness::new();
    let outcome = set_user(&h, "alice", settings(false, false));
    assert_eq!(outcome.result, Ok(()));
    assert!(outcome.events.is_empty());
    assert_eq!(
        set_admin(&h, "alice", settings(false, false)).result,
        Ok(())
    );
    assert_eq!(
        set_user(&h, "alice", None).result,
        Ok(()),
        "no settings: no change"
    );
    assert!(h.store.load(&UserId::new("alice")).unwrap().is_none());
    assert_eq!(
        h.service.admin_get_user("alice").unwrap(),
        MfaView::default()
    );
}

#[test]
fn the_mfa_view_follows_the_preference() {
    let mut h = Harness::new();
    h.enrol("alice");
    // Verified but not enabled: both absent.
    let view = h.service.get_user("token-alice").unwrap();
    assert_eq!(view.user_mfa_setting_list, None);
    assert_eq!(view.preferred_mfa_setting, None);

    let outcome = set_user(&h, "alice", settings(true, false));
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(
        outcome
            .events
            .iter()
            .map(|event| &event.kind)
            .collect::<Vec<_>>(),
        [&EventKind::PreferenceChanged {
            enabled: true,
            preferred: false
        }]
    );
    let view = h.service.get_user("token-alice").unwrap();
    assert_eq!(
        view.user_mfa_setting_list,
        Some(vec!["SOFTWARE_TOKEN_MFA".to_owned()])
    );
    assert_eq!(
        view.preferred_mfa_setting, None,
        "enabled but not preferred"
    );

    set_admin(&h, "alice", settings(true, true))
        .into_result()
        .unwrap();
    let view = h.service.admin_get_user("alice").unwrap();
    assert_eq!(
        view.preferred_mfa_setting.as_deref(),
        Some("SOFTWARE_TOKEN_MFA")
    );

    // Setting the same preference again changes nothing and reports nothing.
    let again = set_admin(&h, "alice", settings(true, true));
    assert_eq!(again.result, Ok(()));
    assert!(again.events.is_empty());

    set_user(&h, "alice", settings(false, true))
        .into_result()
        .unwrap();
    let view = h.service.get_user("token-alice").unwrap();
    assert_eq!(
        view,
        MfaView::default(),
        "disabled: preferred is dropped with it"
    );
}

#[test]
fn preference_operations_validate_their_caller() {
    let h = Harness::new();
    let outcome = h.service.set_user_mfa_preference(
        &SetUserMfaPreferenceRequest {
            access_token: "not-a-token".to_owned(),
            software_token_mfa_settings: settings(false, false),
        },
        h.now,
    );
    assert_eq!(outcome.result, Err(Error::InvalidAccessToken));
    assert_eq!(
        set_admin(&h, "", settings(false, false))
            .result
            .unwrap_err()
            .code(),
        "InvalidParameterException"
    );
    assert_eq!(
        set_admin(&h, &"u".repeat(129), settings(false, false))
            .result
            .unwrap_err()
            .code(),
        "InvalidParameterException"
    );
}
