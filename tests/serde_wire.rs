//! The `serde` feature: the API types read and write Cognito's JSON request and response
//! bodies (member names as in the AWS API reference and the boto3 suite in
//! `tests/conformance/cognito_conformance.py`), absent optionals are omitted rather than
//! `null`, and nothing serialisable carries a secret or a code except the `SecretCode` of an
//! AssociateSoftwareToken response.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)] // tests assert by panicking

use std::collections::BTreeMap;
use std::marker::PhantomData;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use softtoken::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest,
    AssociateSoftwareTokenResponse, ChallengeName, RespondToMfaSetupRequest,
    RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest, SignInChallenge,
    VerifySoftwareTokenRequest, VerifySoftwareTokenResponse, VerifyStatus,
};
use softtoken::{
    CodeCheck, Event, EventKind, MfaMode, MfaView, ReassociationPolicy, RejectReason, Secret,
    SessionId, SoftwareTokenMfaSettings, Step, UnixTime, UserId,
};

const SESSION: &str = "AYABeC0d3-session-value-abcdefghij";
const CODE: &str = "482913";

/// Reads `body` into `T`, writes it back, and checks the result is `expected` (the body
/// without the members this crate does not model).
fn round_trip<T: Serialize + DeserializeOwned>(body: Value, expected: Value) -> T {
    let parsed: T = serde_json::from_value(body).unwrap();
    assert_eq!(serde_json::to_value(&parsed).unwrap(), expected);
    let again: T = serde_json::from_value(expected).unwrap();
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&parsed).unwrap()
    );
    parsed
}

fn no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("a null member was serialised"),
        Value::Array(items) => items.iter().for_each(no_nulls),
        Value::Object(members) => members.values().for_each(no_nulls),
        _ => {}
    }
}

#[test]
fn associate_software_token_request() {
    let body = json!({ "AccessToken": "eyJ.access.token" });
    let request: AssociateSoftwareTokenRequest = round_trip(body.clone(), body);
    assert_eq!(request.access_token.as_deref(), Some("eyJ.access.token"));
    assert_eq!(request.session, None);

    let body = json!({ "Session": SESSION });
    let request: AssociateSoftwareTokenRequest = round_trip(body.clone(), body);
    assert_eq!(request.session.as_deref(), Some(SESSION));
    assert_eq!(request.access_token, None);

    let empty = serde_json::to_string(&AssociateSoftwareTokenRequest::default()).unwrap();
    assert_eq!(empty, "{}");
}

#[test]
fn associate_software_token_response() {
    let secret = Secret::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let base32 = secret.to_base32().to_string();
    let body = json!({ "SecretCode": base32, "Session": SESSION });
    let response: AssociateSoftwareTokenResponse = round_trip(body.clone(), body);
    assert_eq!(response.secret_code.expose(), base32);
    assert_eq!(response.session.as_ref().unwrap().expose(), SESSION);

    // The access-token path has no session: omitted, not null.
    let body = json!({ "SecretCode": base32 });
    let response: AssociateSoftwareTokenResponse = round_trip(body.clone(), body);
    assert!(response.session.is_none());

    // Deserialisation validates: not base32, and a session too short for SessionId::parse.
    assert!(
        serde_json::from_value::<AssociateSoftwareTokenResponse>(
            json!({ "SecretCode": "not base32!" })
        )
        .is_err()
    );
    let short = serde_json::from_value::<AssociateSoftwareTokenResponse>(
        json!({ "SecretCode": base32, "Session": "short" }),
    )
    .unwrap_err();
    assert!(
        short.to_string().contains("greater than or equal to 20"),
        "{short}"
    );
}

#[test]
fn verify_software_token_request_and_response() {
    let body = json!({
        "AccessToken": "eyJ.access.token",
        "UserCode": CODE,
        "FriendlyDeviceName": "Alice's phone",
    });
    let request: VerifySoftwareTokenRequest = round_trip(body.clone(), body);
    assert_eq!(request.user_code, CODE);
    assert_eq!(
        request.friendly_device_name.as_deref(),
        Some("Alice's phone")
    );
    assert_eq!(request.session, None);

    let body = json!({ "Session": SESSION, "UserCode": CODE });
    let request: VerifySoftwareTokenRequest = round_trip(body.clone(), body);
    assert_eq!(request.session.as_deref(), Some(SESSION));
    assert_eq!(request.friendly_device_name, None);

    let body = json!({ "Status": "SUCCESS", "Session": SESSION });
    let response: VerifySoftwareTokenResponse = round_trip(body.clone(), body);
    assert_eq!(response.status, VerifyStatus::Success);
    let body = json!({ "Status": "ERROR" });
    let response: VerifySoftwareTokenResponse = round_trip(body.clone(), body);
    assert_eq!(response.status, VerifyStatus::Error);
    assert!(response.session.is_none());
    for status in [VerifyStatus::Success, VerifyStatus::Error] {
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            Value::String(status.as_str().to_owned())
        );
    }
    assert!(serde_json::from_value::<VerifyStatus>(json!("Success")).is_err());
}

#[test]
fn mfa_preference_requests() {
    // SetUserMFAPreference as boto3 sends it; SMSMfaSettings/EmailMfaSettings are not modelled.
    let body = json!({
        "AccessToken": "eyJ.access.token",
        "SMSMfaSettings": { "Enabled": false, "PreferredMfa": false },
        "SoftwareTokenMfaSettings": { "Enabled": true, "PreferredMfa": true },
    });
    let expected = json!({
        "AccessToken": "eyJ.access.token",
        "SoftwareTokenMfaSettings": { "Enabled": true, "PreferredMfa": true },
    });
    let request: SetUserMfaPreferenceRequest = round_trip(body, expected);
    assert_eq!(
        request.software_token_mfa_settings,
        Some(SoftwareTokenMfaSettings {
            enabled: true,
            preferred_mfa: true
        })
    );

    // Cognito's members of SoftwareTokenMfaSettings are both optional: absent is false.
    let request: SetUserMfaPreferenceRequest = serde_json::from_value(json!({
        "AccessToken": "eyJ.access.token",
        "SoftwareTokenMfaSettings": { "Enabled": true },
    }))
    .unwrap();
    assert_eq!(
        request.software_token_mfa_settings,
        Some(SoftwareTokenMfaSettings {
            enabled: true,
            preferred_mfa: false
        })
    );

    let body = json!({ "UserPoolId": "us-east-1_Example", "Username": "alice" });
    let expected = json!({ "Username": "alice" });
    let request: AdminSetUserMfaPreferenceRequest = round_trip(body, expected);
    assert_eq!(request.username, "alice");
    assert_eq!(request.software_token_mfa_settings, None);
}

#[test]
fn respond_to_auth_challenge_requests() {
    let body = json!({
        "ChallengeName": "SOFTWARE_TOKEN_MFA",
        "ClientId": "example-client-id",
        "Session": SESSION,
        "ChallengeResponses": { "USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": CODE },
    });
    let expected = json!({
        "ChallengeName": "SOFTWARE_TOKEN_MFA",
        "Session": SESSION,
        "ChallengeResponses": { "USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": CODE },
    });
    let request: RespondToSoftwareTokenMfaRequest = round_trip(body, expected);
    assert_eq!(request.session, SESSION);
    assert_eq!(request.username, "alice");
    assert_eq!(request.software_token_mfa_code, CODE);

    let body = json!({
        "ChallengeName": "MFA_SETUP",
        "ClientId": "example-client-id",
        "Session": SESSION,
        "ChallengeResponses": { "USERNAME": "alice" },
    });
    let expected = json!({
        "ChallengeName": "MFA_SETUP",
        "Session": SESSION,
        "ChallengeResponses": { "USERNAME": "alice" },
    });
    let request: RespondToMfaSetupRequest = round_trip(body.clone(), expected);
    assert_eq!(request.username, "alice");

    // The challenge name must match the request type, and SOFTWARE_TOKEN_MFA needs its code.
    assert!(serde_json::from_value::<RespondToSoftwareTokenMfaRequest>(body).is_err());
    assert!(
        serde_json::from_value::<RespondToSoftwareTokenMfaRequest>(json!({
            "ChallengeName": "SOFTWARE_TOKEN_MFA",
            "Session": SESSION,
            "ChallengeResponses": { "USERNAME": "alice" },
        }))
        .is_err()
    );
}

#[test]
fn sign_in_challenge_and_wire_enums() {
    let body = json!({
        "ChallengeName": "MFA_SETUP",
        "ChallengeParameters": { "MFAS_CAN_SETUP": "[\"SOFTWARE_TOKEN_MFA\"]" },
        "Session": SESSION,
    });
    let challenge: SignInChallenge = round_trip(body.clone(), body);
    assert_eq!(challenge.challenge_name, ChallengeName::MfaSetup);
    assert_eq!(challenge.session.expose(), SESSION);

    for name in [ChallengeName::SoftwareTokenMfa, ChallengeName::MfaSetup] {
        let text = serde_json::to_value(name).unwrap();
        assert_eq!(text, Value::String(name.as_str().to_owned()));
        assert_eq!(serde_json::from_value::<ChallengeName>(text).unwrap(), name);
    }
    for mode in [MfaMode::Off, MfaMode::Optional, MfaMode::On] {
        let text = serde_json::to_value(mode).unwrap();
        assert_eq!(text, Value::String(mode.as_str().to_owned()));
        assert_eq!(serde_json::from_value::<MfaMode>(text).unwrap(), mode);
    }
    for policy in [
        ReassociationPolicy::KeepUntilVerified,
        ReassociationPolicy::ReplaceImmediately,
    ] {
        let text = serde_json::to_value(policy).unwrap();
        assert_eq!(
            serde_json::from_value::<ReassociationPolicy>(text).unwrap(),
            policy
        );
    }
    assert_eq!(
        serde_json::to_value(ReassociationPolicy::KeepUntilVerified).unwrap(),
        json!("KEEP_UNTIL_VERIFIED")
    );
}

#[test]
fn mfa_view_members_are_absent_when_none() {
    assert_eq!(serde_json::to_string(&MfaView::default()).unwrap(), "{}");
    let body = json!({
        "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"],
        "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA",
    });
    let view: MfaView = round_trip(body.clone(), body);
    assert_eq!(
        view.preferred_mfa_setting.as_deref(),
        Some("SOFTWARE_TOKEN_MFA")
    );
    let body = json!({ "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"] });
    let view: MfaView = round_trip(body.clone(), body);
    assert!(view.preferred_mfa_setting.is_none());
}

fn every_event_kind() -> Vec<EventKind> {
    let until = UnixTime(1_700_000_090);
    let mut kinds = vec![
        EventKind::Associated {
            dropped_verified: true,
        },
        EventKind::Verified {
            step: Step(56_666_666),
            replaced_previous: false,
        },
        EventKind::SignInAccepted {
            step: Step(56_666_667),
        },
        EventKind::LockedOut {
            until,
            consecutive_failures: 5,
        },
        EventKind::Disabled {
            consecutive_failures: 20,
        },
        EventKind::PreferenceChanged {
            enabled: true,
            preferred: true,
        },
        EventKind::Deleted,
    ];
    for check in [CodeCheck::Verify, CodeCheck::SignIn] {
        for reason in [
            RejectReason::Mismatch,
            RejectReason::Replayed,
            RejectReason::LockedOut { until },
            RejectReason::Disabled,
        ] {
            kinds.push(EventKind::CodeRejected { check, reason });
        }
    }
    kinds
}

#[test]
fn events_serialise() {
    let event = Event {
        user: UserId::new("alice"),
        at: UnixTime(1_700_000_000),
        kind: EventKind::CodeRejected {
            check: CodeCheck::SignIn,
            reason: RejectReason::LockedOut {
                until: UnixTime(1_700_000_090),
            },
        },
    };
    let value = serde_json::to_value(&event).unwrap();
    assert_eq!(
        value,
        json!({
            "user": "alice",
            "at": 1_700_000_000,
            "kind": {
                "type": "code_rejected",
                "check": "sign_in",
                "reason": { "type": "locked_out", "until": 1_700_000_090 },
            },
        })
    );
    assert_eq!(serde_json::from_value::<Event>(value).unwrap(), event);
    for kind in every_event_kind() {
        let value = serde_json::to_value(&kind).unwrap();
        no_nulls(&value);
        assert_eq!(serde_json::from_value::<EventKind>(value).unwrap(), kind);
    }
}

/// Whether `T` implements `Serialize` (inherent associated consts take precedence over the
/// blanket trait's, and apply only when the bound holds).
struct Probe<T: ?Sized>(PhantomData<T>);
trait NotSerializable {
    const SERIALIZABLE: bool = false;
}
impl<T: ?Sized> NotSerializable for Probe<T> {}
impl<T: ?Sized + Serialize> Probe<T> {
    const SERIALIZABLE: bool = true;
}

// Checked at compile time: secrets, codes, keys, records and access tokens do not serialise.
const _: () = {
    assert!(!Probe::<Secret>::SERIALIZABLE);
    assert!(!Probe::<softtoken::TotpKey>::SERIALIZABLE);
    assert!(!Probe::<softtoken::Code>::SERIALIZABLE);
    assert!(!Probe::<softtoken::TokenRecord>::SERIALIZABLE);
    assert!(!Probe::<softtoken::AccessToken>::SERIALIZABLE);
    assert!(!Probe::<softtoken::Error>::SERIALIZABLE);
    // The probe itself works.
    assert!(Probe::<MfaView>::SERIALIZABLE);
    assert!(Probe::<AssociateSoftwareTokenResponse>::SERIALIZABLE);
};

#[test]
fn only_the_secret_code_member_carries_the_secret() {
    let secret = Secret::generate(&mut ChaCha20Rng::seed_from_u64(42));
    let base32 = secret.to_base32().to_string();
    let raw = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &base32).unwrap();
    let forbidden: Vec<String> = vec![
        base32.clone(),
        base32.to_lowercase(),
        base32[..16].to_owned(),
        raw.iter().map(|b| format!("{b:02x}")).collect(),
        format!("{:?}", &raw[..8]),
        CODE.to_owned(),
    ];
    let assert_clean = |what: &str, output: String| {
        for form in &forbidden {
            assert!(
                !output.contains(form.as_str()),
                "{what}: {output} leaks {form:?}"
            );
        }
    };

    // By design: the response that reveals a new secret, and nowhere but `SecretCode`.
    let response: AssociateSoftwareTokenResponse =
        serde_json::from_value(json!({ "SecretCode": base32, "Session": SESSION })).unwrap();
    let mut value = serde_json::to_value(&response).unwrap();
    assert_eq!(value["SecretCode"], json!(base32));
    value.as_object_mut().unwrap().remove("SecretCode");
    assert_clean("AssociateSoftwareTokenResponse", value.to_string());

    for kind in every_event_kind() {
        let event = Event {
            user: UserId::new("alice"),
            at: UnixTime(1_700_000_000),
            kind,
        };
        assert_clean("Event", serde_json::to_string(&event).unwrap());
    }
    let view = MfaView {
        user_mfa_setting_list: Some(vec!["SOFTWARE_TOKEN_MFA".to_owned()]),
        preferred_mfa_setting: Some("SOFTWARE_TOKEN_MFA".to_owned()),
    };
    assert_clean("MfaView", serde_json::to_string(&view).unwrap());
    let challenge = SignInChallenge {
        challenge_name: ChallengeName::SoftwareTokenMfa,
        challenge_parameters: BTreeMap::from([(
            "FRIENDLY_DEVICE_NAME".to_owned(),
            "Alice's phone".to_owned(),
        )]),
        session: SessionId::parse(SESSION).unwrap(),
    };
    assert_clean(
        "SignInChallenge",
        serde_json::to_string(&challenge).unwrap(),
    );
    let verified = VerifySoftwareTokenResponse {
        status: VerifyStatus::Success,
        session: Some(SessionId::parse(SESSION).unwrap()),
    };
    assert_clean(
        "VerifySoftwareTokenResponse",
        serde_json::to_string(&verified).unwrap(),
    );
    for error in [
        softtoken::Error::CodeMismatch,
        softtoken::Error::VerifyCodeMismatch,
        softtoken::Error::CodeReplayed,
        softtoken::Error::InvalidSession,
    ] {
        assert_clean("Error", format!("{error} {error:?}"));
    }
}
