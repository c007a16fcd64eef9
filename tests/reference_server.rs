//! The reference server's request handler on hostile input: unknown operations, malformed or
//! mistyped JSON and random bytes all get a clean AWS-style error (HTTP 400, a JSON body with
//! `__type`), never a panic. The Cognito behaviour itself is proven by the boto3 suite under
//! `tests/conformance/`, run by `.ci/conformance`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests assert by panicking

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::UnixTime;
use softtoken::reference_server::ReferenceServer;
use softtoken::reference_server::wire::WireResponse;

const NOW: UnixTime = UnixTime(1_700_000_000);

fn call(server: &ReferenceServer, target: Option<&str>, body: &[u8]) -> WireResponse {
    server.handle(target, body, NOW, &mut ChaCha20Rng::seed_from_u64(1))
}

fn op(name: &str) -> String {
    format!("AWSCognitoIdentityProviderService.{name}")
}

fn error_type(response: &WireResponse) -> String {
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    body["__type"].as_str().unwrap().to_owned()
}

#[test]
fn unknown_operations_and_missing_targets_are_clean_400s() {
    let server = ReferenceServer::new();
    for target in [None, Some("Nope"), Some(op("DeleteEverything").as_str())] {
        let response = call(&server, target, b"{}");
        assert_eq!(response.status, 400, "{target:?}");
        assert_eq!(error_type(&response), "UnknownOperationException");
    }
}

#[test]
fn an_unknown_operation_is_refused_before_its_body_is_read() {
    let server = ReferenceServer::new();
    let mut oversized = br#"{"AccessToken": ""}"#.to_vec();
    oversized.resize(softtoken::reference_server::wire::MAX_BODY_BYTES + 1, b' ');
    // Names with the right prefix that the server does not implement, or misspells.
    let targets = [
        op("DeleteEverything"),
        op("getuser"),
        op("GetUser "),
        op(""),
        format!(" {}", op("GetUser")),
    ];
    for target in &targets {
        for body in [&b"{bad"[..], b"", b"[]", b"\xff\xfe", &oversized] {
            let response = call(&server, Some(target), body);
            assert_eq!(response.status, 400, "{target:?}");
            assert_eq!(
                error_type(&response),
                "UnknownOperationException",
                "{target:?} with a {}-byte body",
                body.len()
            );
        }
    }
    // The same bodies to a known operation are read: SerializationException.
    for body in [&b"{bad"[..], &oversized] {
        let response = call(&server, Some(&op("GetUser")), body);
        assert_eq!(error_type(&response), "SerializationException");
    }
}

#[test]
fn malformed_and_mistyped_bodies_are_serialization_errors() {
    let server = ReferenceServer::new();
    for body in [&b"{bad"[..], b"", b"[]", b"\"text\"", b"null", b"\xff\xfe"] {
        let response = call(&server, Some(&op("GetUser")), body);
        assert_eq!(response.status, 400);
        assert_eq!(error_type(&response), "SerializationException", "{body:?}");
    }
    let response = call(&server, Some(&op("GetUser")), br#"{"AccessToken": 42}"#);
    assert_eq!(error_type(&response), "SerializationException");
    let response = call(&server, Some(&op("GetUser")), br#"{}"#);
    assert_eq!(error_type(&response), "InvalidParameterException");
}

#[test]
fn a_whole_enrolment_works_through_the_handler() {
    let server = ReferenceServer::new();
    let json = |target: &str, body: serde_json::Value| -> serde_json::Value {
        let response = call(&server, Some(&op(target)), body.to_string().as_bytes());
        assert_eq!(response.status, 200, "{target}: {}", response.body);
        serde_json::from_str(&response.body).unwrap()
    };
    let pool = json("CreateUserPool", serde_json::json!({"PoolName": "p"}));
    let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_owned();
    json(
        "SetUserPoolMfaConfig",
        serde_json::json!({"UserPoolId": pool_id, "SoftwareTokenMfaConfiguration": {"Enabled": true}, "MfaConfiguration": "OPTIONAL"}),
    );
    let client = json(
        "CreateUserPoolClient",
        serde_json::json!({"UserPoolId": pool_id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
    );
    let client_id = client["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    json(
        "AdminCreateUser",
        serde_json::json!({"UserPoolId": pool_id, "Username": "alice"}),
    );
    json(
        "AdminSetUserPassword",
        serde_json::json!({"UserPoolId": pool_id, "Username": "alice", "Password": "pw", "Permanent": true}),
    );
    let signed_in = json(
        "InitiateAuth",
        serde_json::json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": "alice", "PASSWORD": "pw"}}),
    );
    let token = signed_in["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let associated = json(
        "AssociateSoftwareToken",
        serde_json::json!({"AccessToken": token}),
    );
    let secret_code = associated["SecretCode"].as_str().unwrap();
    assert_eq!(secret_code.len(), 52);
    assert!(associated.get("Session").is_none(), "absent, not null");
    let secret = softtoken::Secret::from_base32(secret_code).unwrap();
    let code = softtoken::TotpKey::new(&secret, softtoken::TotpConfig::default())
        .code_at(NOW)
        .unwrap()
        .reveal();
    let verified = json(
        "VerifySoftwareToken",
        serde_json::json!({"AccessToken": token, "UserCode": code}),
    );
    assert_eq!(verified["Status"], "SUCCESS");
    let user = json("GetUser", serde_json::json!({"AccessToken": token}));
    assert!(
        user.get("UserMFASettingList").is_none(),
        "absent until enabled"
    );
}

/// Grants and the clients of sessions are forgotten once no token or session can still be
/// live (an hour for a token, 15 minutes — the longest AuthSessionValidity — for a session), so
/// a long-running server's memory does not grow with every sign-in.
#[test]
fn expired_grants_and_session_clients_are_forgotten() {
    let server = ReferenceServer::new();
    let json = |target: &str, body: serde_json::Value| -> serde_json::Value {
        let response = call(&server, Some(&op(target)), body.to_string().as_bytes());
        assert_eq!(response.status, 200, "{target}: {}", response.body);
        serde_json::from_str(&response.body).unwrap()
    };
    let pool = json("CreateUserPool", serde_json::json!({"PoolName": "p"}));
    let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_owned();
    let mfa = |mode: &str| {
        json(
            "SetUserPoolMfaConfig",
            serde_json::json!({"UserPoolId": pool_id, "SoftwareTokenMfaConfiguration": {"Enabled": true}, "MfaConfiguration": mode}),
        );
    };
    let client = json(
        "CreateUserPoolClient",
        serde_json::json!({"UserPoolId": pool_id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
    );
    let client_id = client["UserPoolClient"]["ClientId"].as_str().unwrap();
    json(
        "AdminCreateUser",
        serde_json::json!({"UserPoolId": pool_id, "Username": "alice"}),
    );
    json(
        "AdminSetUserPassword",
        serde_json::json!({"UserPoolId": pool_id, "Username": "alice", "Password": "pw", "Permanent": true}),
    );
    let sign_in = serde_json::json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": "alice", "PASSWORD": "pw"}});
    mfa("OPTIONAL");
    let token = json("InitiateAuth", sign_in.clone())["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    mfa("ON");
    let challenged = json("InitiateAuth", sign_in);
    assert_eq!(challenged["ChallengeName"], "MFA_SETUP");
    let census = server.census();
    assert_eq!((census.grants, census.sessions), (1, 1));

    assert_eq!(server.forget_expired(UnixTime(NOW.0 + 15 * 60 - 1)), 0);
    assert_eq!(server.forget_expired(UnixTime(NOW.0 + 15 * 60)), 1);
    assert_eq!(server.census().sessions, 0);
    assert_eq!(server.census().grants, 1);
    // The token still works at NOW: forgetting went by time, not by accident.
    json("GetUser", serde_json::json!({"AccessToken": token}));
    assert_eq!(server.forget_expired(UnixTime(NOW.0 + 3600)), 1);
    let census = server.census();
    assert_eq!(
        (census.pools, census.users, census.grants, census.sessions),
        (1, 1, 0, 0)
    );
}

proptest! {
    // A fixed seed: every run checks the same cases, so a failure reproduces.
    #![proptest_config(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
        ..ProptestConfig::with_cases(512)
    })]

    #[test]
    fn no_body_panics_the_handler(
        operation in prop::sample::select(vec![
            "AssociateSoftwareToken", "VerifySoftwareToken", "RespondToAuthChallenge",
            "InitiateAuth", "GetUser", "AdminGetUser", "SetUserMFAPreference",
            "AdminSetUserMFAPreference", "AdminDeleteSoftwareToken", "CreateUserPool",
            "CreateUserPoolClient", "SetUserPoolMfaConfig", "AdminCreateUser",
        ]),
        body in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "\\{(\"[A-Za-z]{1,12}\": ?(\"[ -~]{0,30}\"|[0-9]{1,5}|true|null|\\{\\}|\\[\\]), ?){0,4}\\}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let server = ReferenceServer::new();
        let response = call(&server, Some(&op(operation)), &body);
        if response.status != 200 {
            prop_assert!(response.status == 400 || response.status == 500);
            let parsed: serde_json::Value = serde_json::from_str(&response.body).unwrap();
            prop_assert!(parsed["__type"].is_string());
        }
    }
}

#[test]
fn member_errors_name_the_member() {
    let server = ReferenceServer::new();
    let answer = |operation: &str, body: serde_json::Value| -> (String, String) {
        let response = call(&server, Some(&op(operation)), body.to_string().as_bytes());
        assert_eq!(response.status, 400, "{operation}: {}", response.body);
        let parsed: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        (
            parsed["__type"].as_str().unwrap().to_owned(),
            parsed["message"].as_str().unwrap().to_owned(),
        )
    };
    let serialization = |message: &str| ("SerializationException".to_owned(), message.to_owned());
    let not_null = |member: &str| {
        (
            "InvalidParameterException".to_owned(),
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy \
                 constraint: Member must not be null"
            ),
        )
    };
    let session = "s".repeat(40);
    for (operation, body, expected) in [
        // A member of the wrong JSON type names the member (the innermost one when nested).
        (
            "AssociateSoftwareToken",
            serde_json::json!({"AccessToken": 42}),
            serialization("Member 'AccessToken' must be a string"),
        ),
        (
            "VerifySoftwareToken",
            serde_json::json!({"Session": session, "UserCode": 123456}),
            serialization("Member 'UserCode' must be a string"),
        ),
        (
            "VerifySoftwareToken",
            serde_json::json!({"Session": session, "UserCode": "123456", "FriendlyDeviceName": ["x"]}),
            serialization("Member 'FriendlyDeviceName' must be a string"),
        ),
        (
            "SetUserMFAPreference",
            serde_json::json!({"AccessToken": "t", "SoftwareTokenMfaSettings": {"Enabled": "yes"}}),
            serialization("Member 'Enabled' must be a boolean"),
        ),
        (
            "AdminSetUserMFAPreference",
            serde_json::json!({"UserPoolId": "p", "Username": "u", "SoftwareTokenMfaSettings": []}),
            serialization("Member 'SoftwareTokenMfaSettings' must be a structure"),
        ),
        (
            "RespondToAuthChallenge",
            serde_json::json!({"ClientId": "c", "ChallengeName": "MFA_SETUP", "Session": session, "ChallengeResponses": {"USERNAME": 7}}),
            serialization("Member 'USERNAME' must be a string"),
        ),
        (
            "CreateUserPoolClient",
            serde_json::json!({"UserPoolId": "p", "ClientName": "c", "ExplicitAuthFlows": ["A", 1]}),
            serialization("Member 'ExplicitAuthFlows' must be a list of strings"),
        ),
        (
            "CreateUserPoolClient",
            serde_json::json!({"UserPoolId": "p", "ClientName": "c", "ExplicitAuthFlows": "A"}),
            serialization("Member 'ExplicitAuthFlows' must be a list of strings"),
        ),
        (
            "CreateUserPoolClient",
            serde_json::json!({"UserPoolId": "p", "ClientName": "c", "AuthSessionValidity": 3.5}),
            serialization("Member 'AuthSessionValidity' must be an integer"),
        ),
        // A required member absent, or null (null is absent in the AWS JSON protocol).
        (
            "VerifySoftwareToken",
            serde_json::json!({"Session": session}),
            not_null("userCode"),
        ),
        (
            "VerifySoftwareToken",
            serde_json::json!({"Session": session, "UserCode": null}),
            not_null("userCode"),
        ),
        (
            "SetUserMFAPreference",
            serde_json::json!({"SoftwareTokenMfaSettings": {"Enabled": false}}),
            not_null("accessToken"),
        ),
        (
            "AdminDeleteSoftwareToken",
            serde_json::json!({"UserPoolId": "p"}),
            not_null("username"),
        ),
        (
            "RespondToAuthChallenge",
            serde_json::json!({"ClientId": "c", "ChallengeName": "MFA_SETUP"}),
            not_null("session"),
        ),
        // An optional member that is null counts as absent.
        (
            "AssociateSoftwareToken",
            serde_json::json!({"AccessToken": null, "Session": null}),
            (
                "InvalidParameterException".to_owned(),
                "Either AccessToken or Session must be provided.".to_owned(),
            ),
        ),
    ] {
        assert_eq!(
            answer(operation, body.clone()),
            expected,
            "{operation} {body}"
        );
    }
}
