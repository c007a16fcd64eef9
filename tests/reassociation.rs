//! Re-association under both policies: `KeepUntilVerified` (the old token keeps signing in
//! until the new one verifies, which replaces it) and `ReplaceImmediately` (associating drops
//! the old token at once).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod common;

use common::{Harness, code_at};
use softtoken::{
    Error, EventKind, MfaMode, PoolConfig, ReassociationPolicy, SoftwareTokenMfaSettings,
    TokenStore, UserId,
};

fn pool(policy: ReassociationPolicy) -> PoolConfig {
    PoolConfig::default()
        .with_mfa_mode(MfaMode::On)
        .unwrap()
        .with_reassociation(policy)
}

fn enable(h: &Harness, user: &str) {
    h.service
        .admin_set_user_mfa_preference(
            &softtoken::api::AdminSetUserMfaPreferenceRequest {
                username: user.to_owned(),
                software_token_mfa_settings: Some(SoftwareTokenMfaSettings {
                    enabled: true,
                    preferred_mfa: true,
                }),
            },
            h.now,
        )
        .into_result()
        .unwrap();
}

#[test]
fn keep_until_verified_is_the_default() {
    assert_eq!(
        PoolConfig::default().reassociation(),
        ReassociationPolicy::KeepUntilVerified
    );
}

#[test]
fn keep_until_verified_the_old_token_signs_in_until_the_new_one_verifies() {
    let mut h = Harness::with_pool(pool(ReassociationPolicy::KeepUntilVerified));
    let old = h.enrol("alice");
    enable(&h, "alice");
    let new = h.associate("alice");
    assert_ne!(old, new);

    h.next_step();
    h.sign_in("alice", &code_at(&old, h.now)).unwrap();
    assert_eq!(
        h.service
            .admin_get_user("alice")
            .unwrap()
            .preferred_mfa_setting
            .as_deref(),
        Some("SOFTWARE_TOKEN_MFA")
    );

    h.next_step();
    let outcome = h.service.verify_software_token(
        &softtoken::api::VerifySoftwareTokenRequest {
            access_token: Harness::token("alice"),
            session: None,
            user_code: code_at(&new, h.now),
            friendly_device_name: Some("new phone".to_owned()),
        },
        h.now,
        &mut h.rng,
    );
    assert!(outcome.events.iter().any(|event| matches!(
        event.kind,
        EventKind::Verified {
            replaced_previous: true,
            ..
        }
    )));
    outcome.result.unwrap();

    // The old token is gone; the new one signs in; the preference carried over.
    h.next_step();
    assert_eq!(
        h.sign_in("alice", &code_at(&old, h.now)),
        Err(Error::CodeMismatch)
    );
    h.advance(1);
    h.sign_in("alice", &code_at(&new, h.now)).unwrap();
    let challenge = h.begin_sign_in("alice").unwrap();
    assert_eq!(
        challenge
            .challenge_parameters
            .get("FRIENDLY_DEVICE_NAME")
            .map(String::as_str),
        Some("new phone")
    );
    assert_eq!(
        h.service
            .admin_get_user("alice")
            .unwrap()
            .preferred_mfa_setting
            .as_deref(),
        Some("SOFTWARE_TOKEN_MFA")
    );
}

#[test]
fn replace_immediately_drops_the_old_token_at_association() {
    let mut h = Harness::with_pool(pool(ReassociationPolicy::ReplaceImmediately));
    let old = h.enrol("alice");
    enable(&h, "alice");

    let outcome = h.service.associate_software_token(
        &softtoken::api::AssociateSoftwareTokenRequest {
            access_token: Harness::token("alice"),
            session: None,
        },
        h.now,
        &mut h.rng,
    );
    assert!(outcome.events.iter().any(|event| event.kind
        == EventKind::Associated {
            dropped_verified: true
        }));
    let new = softtoken::Secret::from_base32(outcome.result.unwrap().secret_code.expose()).unwrap();

    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    assert!(
        record.verified().is_none(),
        "the verified token is gone at once"
    );
    assert!(record.pending().is_some());
    // The preference went with the token.
    assert_eq!(
        h.service
            .admin_get_user("alice")
            .unwrap()
            .user_mfa_setting_list,
        None
    );

    // In an ON pool the user is now asked to set up MFA, and the old code is useless.
    h.next_step();
    let challenge = h.begin_sign_in("alice").unwrap();
    assert_eq!(challenge.challenge_name.as_str(), "MFA_SETUP");
    h.verify_code("alice", &code_at(&old, h.now)).unwrap_err();
    h.verify_code("alice", &code_at(&new, h.now)).unwrap();
    assert_eq!(
        h.begin_sign_in("alice").unwrap().challenge_name.as_str(),
        "SOFTWARE_TOKEN_MFA"
    );
}
