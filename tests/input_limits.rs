//! Bounded input everywhere: every member the reference server reads has a maximum (and a
//! minimum where Cognito has one). Each limit is shown at its bound (accepted by validation)
//! and one past it (refused with Cognito's exception and message), and a refused request
//! stores nothing: no pool, client or user is created, no password changes, no token becomes
//! pending or verified, no step is burned. The request body limit (`MAX_BODY_BYTES`, 1 MiB)
//! is shown over a real TCP socket, for a `Content-Length` body and a chunked one: both are
//! answered with an AWS-style JSON error before the server has read them whole.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)] // tests assert by panicking

use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};
use softtoken::reference_server::wire::{MAX_BODY_BYTES, TARGET_PREFIX};
use softtoken::reference_server::{Census, ReferenceServer, serve};
use softtoken::{Secret, TotpConfig, TotpKey, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NOW: UnixTime = UnixTime(1_700_000_000);
const IPE: &str = "InvalidParameterException";
const PASSWORD: &str = "Limits-Passw0rd!";

/// Cognito's wording of a length constraint.
fn too_long(member: &str, max: usize) -> String {
    format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member \
         must have length less than or equal to {max}"
    )
}

fn too_short(member: &str, min: usize) -> String {
    format!(
        "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member \
         must have length greater than or equal to {min}"
    )
}

/// A server with one pool (software tokens on, MFA optional), a client, and `alice` signed
/// in; calls go through `ReferenceServer::handle` with one advancing seeded RNG.
struct Fixture {
    server: ReferenceServer,
    rng: ChaCha20Rng,
    pool_id: String,
    client_id: String,
    token: String,
}

impl Fixture {
    fn new() -> Fixture {
        let mut fixture = Fixture {
            server: ReferenceServer::new(),
            rng: ChaCha20Rng::seed_from_u64(7),
            pool_id: String::new(),
            client_id: String::new(),
            token: String::new(),
        };
        let pool = fixture.ok("CreateUserPool", json!({"PoolName": "limits"}));
        fixture.pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_owned();
        fixture.ok(
            "SetUserPoolMfaConfig",
            json!({"UserPoolId": fixture.pool_id, "SoftwareTokenMfaConfiguration": {"Enabled": true}, "MfaConfiguration": "OPTIONAL"}),
        );
        let client = fixture.ok(
            "CreateUserPoolClient",
            json!({"UserPoolId": fixture.pool_id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
        );
        fixture.client_id = client["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned();
        fixture.create_user("alice", PASSWORD);
        fixture.token = fixture.sign_in("alice", PASSWORD).unwrap();
        fixture
    }

    fn call(&mut self, operation: &str, body: Value) -> (u16, Value) {
        let target = format!("{TARGET_PREFIX}{operation}");
        let response = self.server.handle(
            Some(&target),
            body.to_string().as_bytes(),
            NOW,
            &mut self.rng,
        );
        (
            response.status,
            serde_json::from_str(&response.body).unwrap(),
        )
    }

    fn ok(&mut self, operation: &str, body: Value) -> Value {
        let (status, body) = self.call(operation, body);
        assert_eq!(status, 200, "{operation}: {body}");
        body
    }

    /// Asserts the exception (and the message, if given) of a refused call.
    fn refused(&mut self, operation: &str, body: Value, exception: &str, message: Option<&str>) {
        let (status, answer) = self.call(operation, body);
        assert_eq!(status, 400, "{operation}: {answer}");
        assert_eq!(answer["__type"], exception, "{operation}: {answer}");
        if let Some(message) = message {
            assert_eq!(answer["message"], message, "{operation}");
        }
    }

    fn create_user(&mut self, username: &str, password: &str) {
        self.ok(
            "AdminCreateUser",
            json!({"UserPoolId": self.pool_id, "Username": username}),
        );
        self.ok(
            "AdminSetUserPassword",
            json!({"UserPoolId": self.pool_id, "Username": username, "Password": password, "Permanent": true}),
        );
    }

    /// The access token of a password sign-in, or the exception that refused it.
    fn sign_in(&mut self, username: &str, password: &str) -> Result<String, String> {
        let (status, body) = self.call(
            "InitiateAuth",
            json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": self.client_id, "AuthParameters": {"USERNAME": username, "PASSWORD": password}}),
        );
        if status == 200 {
            Ok(body["AuthenticationResult"]["AccessToken"]
                .as_str()
                .unwrap()
                .to_owned())
        } else {
            Err(body["__type"].as_str().unwrap().to_owned())
        }
    }

    fn census(&self) -> Census {
        self.server.census()
    }

    /// Associates a token for alice; returns the code at `NOW`.
    fn associate(&mut self) -> String {
        let associated = self.ok("AssociateSoftwareToken", json!({"AccessToken": self.token}));
        let secret = Secret::from_base32(associated["SecretCode"].as_str().unwrap()).unwrap();
        TotpKey::new(&secret, TotpConfig::default())
            .code_at(NOW)
            .unwrap()
            .reveal()
            .to_owned()
    }

    fn mfa_view(&mut self) -> Value {
        let mut user = self.ok(
            "AdminGetUser",
            json!({"UserPoolId": self.pool_id, "Username": "alice"}),
        );
        let object = user.as_object_mut().unwrap();
        object.retain(|name, _| name == "UserMFASettingList" || name == "PreferredMfaSetting");
        user
    }
}

#[test]
fn pool_name_is_1_to_128_characters() {
    let mut f = Fixture::new();
    let before = f.census();
    for (name, message) in [
        ("p".repeat(129), too_long("poolName", 128)),
        (String::new(), too_short("poolName", 1)),
    ] {
        f.refused(
            "CreateUserPool",
            json!({"PoolName": name}),
            IPE,
            Some(&message),
        );
        assert_eq!(f.census(), before, "nothing stored");
    }
    let pool = f.ok("CreateUserPool", json!({"PoolName": "p".repeat(128)}));
    assert_eq!(pool["UserPool"]["Name"], "p".repeat(128));
    assert_eq!(f.census().pools, before.pools + 1);
}

#[test]
fn client_name_is_1_to_128_characters() {
    let mut f = Fixture::new();
    let before = f.census();
    for (name, message) in [
        ("c".repeat(129), too_long("clientName", 128)),
        (String::new(), too_short("clientName", 1)),
    ] {
        f.refused(
            "CreateUserPoolClient",
            json!({"UserPoolId": f.pool_id, "ClientName": name}),
            IPE,
            Some(&message),
        );
        assert_eq!(f.census(), before, "nothing stored");
    }
    f.ok(
        "CreateUserPoolClient",
        json!({"UserPoolId": f.pool_id, "ClientName": "c".repeat(128)}),
    );
    assert_eq!(f.census().clients, before.clients + 1);
}

#[test]
fn user_pool_id_is_1_to_55_characters() {
    let mut f = Fixture::new();
    // At the bound, validation passes and the lookup answers.
    let at_max = format!("us-east-1_{}", "x".repeat(55 - 10));
    f.refused(
        "GetUserPoolMfaConfig",
        json!({"UserPoolId": at_max}),
        "ResourceNotFoundException",
        None,
    );
    let over = format!("{at_max}x");
    let before = f.census();
    f.refused(
        "GetUserPoolMfaConfig",
        json!({"UserPoolId": over}),
        IPE,
        Some(&too_long("userPoolId", 55)),
    );
    f.refused(
        "AdminCreateUser",
        json!({"UserPoolId": over, "Username": "bob"}),
        IPE,
        Some(&too_long("userPoolId", 55)),
    );
    f.refused(
        "CreateUserPoolClient",
        json!({"UserPoolId": "", "ClientName": "c"}),
        IPE,
        Some(&too_short("userPoolId", 1)),
    );
    assert_eq!(f.census(), before, "nothing stored");
}

#[test]
fn client_id_is_1_to_128_characters() {
    let mut f = Fixture::new();
    let sign_in = |client_id: String| json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD}});
    f.refused(
        "InitiateAuth",
        sign_in("c".repeat(128)),
        "ResourceNotFoundException",
        None,
    );
    f.refused(
        "InitiateAuth",
        sign_in("c".repeat(129)),
        IPE,
        Some(&too_long("clientId", 128)),
    );
    f.refused(
        "RespondToAuthChallenge",
        json!({"ClientId": "c".repeat(129), "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": "s".repeat(40), "ChallengeResponses": {"USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": "123456"}}),
        IPE,
        Some(&too_long("clientId", 128)),
    );
}

#[test]
fn username_is_1_to_128_characters() {
    let mut f = Fixture::new();
    let before = f.census();
    for (name, message) in [
        ("u".repeat(129), too_long("username", 128)),
        (String::new(), too_short("username", 1)),
    ] {
        f.refused(
            "AdminCreateUser",
            json!({"UserPoolId": f.pool_id, "Username": name}),
            IPE,
            Some(&message),
        );
        assert_eq!(f.census(), before, "nothing stored");
        // Every operation that names a user checks the same constraint before any lookup.
        for operation in [
            "AdminGetUser",
            "AdminDeleteSoftwareToken",
            "AdminSetUserMFAPreference",
        ] {
            f.refused(
                operation,
                json!({"UserPoolId": f.pool_id, "Username": name}),
                IPE,
                Some(&message),
            );
        }
        f.refused(
            "AdminSetUserPassword",
            json!({"UserPoolId": f.pool_id, "Username": name, "Password": "x"}),
            IPE,
            Some(&message),
        );
    }
    let longest = "u".repeat(128);
    f.create_user(&longest, PASSWORD);
    assert_eq!(f.census().users, before.users + 1);
    assert!(f.sign_in(&longest, PASSWORD).is_ok());
}

#[test]
fn passwords_are_at_most_256_characters() {
    let mut f = Fixture::new();
    let longest = "P".repeat(256);
    let over = "P".repeat(257);

    f.refused(
        "AdminSetUserPassword",
        json!({"UserPoolId": f.pool_id, "Username": "alice", "Password": over, "Permanent": true}),
        IPE,
        Some(&too_long("password", 256)),
    );
    // Nothing stored: the old password still signs in, the refused one does not.
    assert!(f.sign_in("alice", PASSWORD).is_ok());
    assert!(f.sign_in("alice", &over).is_err());

    f.ok(
        "AdminSetUserPassword",
        json!({"UserPoolId": f.pool_id, "Username": "alice", "Password": longest, "Permanent": true}),
    );
    assert!(f.sign_in("alice", &longest).is_ok());

    let before = f.census();
    f.refused(
        "AdminCreateUser",
        json!({"UserPoolId": f.pool_id, "Username": "bob", "TemporaryPassword": over}),
        IPE,
        Some(&too_long("temporaryPassword", 256)),
    );
    assert_eq!(f.census(), before, "bob was not created");
    f.ok(
        "AdminCreateUser",
        json!({"UserPoolId": f.pool_id, "Username": "bob", "TemporaryPassword": longest}),
    );
    assert_eq!(f.census().users, before.users + 1);
}

#[test]
fn access_token_is_1_to_8192_characters() {
    let mut f = Fixture::new();
    let at_max = "t".repeat(8192);
    let over = "t".repeat(8193);
    let bodies = |token: &str| {
        [
            ("GetUser", json!({"AccessToken": token})),
            ("AssociateSoftwareToken", json!({"AccessToken": token})),
            (
                "VerifySoftwareToken",
                json!({"AccessToken": token, "UserCode": "123456"}),
            ),
            (
                "SetUserMFAPreference",
                json!({"AccessToken": token, "SoftwareTokenMfaSettings": {"Enabled": false}}),
            ),
        ]
    };
    for (operation, body) in bodies(&at_max) {
        f.refused(
            operation,
            body,
            "NotAuthorizedException",
            Some("Invalid Access Token"),
        );
    }
    for (operation, body) in bodies(&over) {
        f.refused(operation, body, IPE, Some(&too_long("accessToken", 8192)));
    }
    f.refused(
        "GetUser",
        json!({"AccessToken": ""}),
        IPE,
        Some(&too_short("accessToken", 1)),
    );
}

#[test]
fn session_is_20_to_2048_characters() {
    let mut f = Fixture::new();
    for session in ["s".repeat(20), "s".repeat(2048)] {
        f.refused(
            "AssociateSoftwareToken",
            json!({"Session": session}),
            "NotAuthorizedException",
            Some("Invalid session for the user."),
        );
    }
    for (session, message) in [
        ("s".repeat(19), too_short("session", 20)),
        ("s".repeat(2049), too_long("session", 2048)),
    ] {
        f.refused(
            "AssociateSoftwareToken",
            json!({"Session": session}),
            IPE,
            Some(&message),
        );
        f.refused(
            "VerifySoftwareToken",
            json!({"Session": session, "UserCode": "123456"}),
            IPE,
            Some(&message),
        );
        f.refused(
            "RespondToAuthChallenge",
            json!({"ClientId": f.client_id, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": session, "ChallengeResponses": {"USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": "123456"}}),
            IPE,
            Some(&message),
        );
    }
}

#[test]
fn user_code_is_six_digits_on_a_default_pool() {
    let mut f = Fixture::new();
    let code = f.associate();
    for (user_code, message) in [
        ("12345".to_owned(), too_short("userCode", 6)),
        (format!("{code}0"), String::new()),
        (format!("{code}000"), too_long("userCode", 8)),
    ] {
        let (status, answer) = f.call(
            "VerifySoftwareToken",
            json!({"AccessToken": f.token, "UserCode": user_code}),
        );
        assert_eq!(status, 400);
        assert_eq!(answer["__type"], IPE, "{user_code:?}: {answer}");
        if !message.is_empty() {
            assert_eq!(answer["message"], message.as_str());
        }
    }
    // Nothing stored: the token is still pending and the right code at the same step is
    // accepted (no step was burned, no failure counted).
    let verified = f.ok(
        "VerifySoftwareToken",
        json!({"AccessToken": f.token, "UserCode": code}),
    );
    assert_eq!(verified["Status"], "SUCCESS");
}

#[test]
fn friendly_device_name_is_at_most_131072_characters() {
    let mut f = Fixture::new();
    let code = f.associate();
    f.refused(
        "VerifySoftwareToken",
        json!({"AccessToken": f.token, "UserCode": code, "FriendlyDeviceName": "d".repeat(131_073)}),
        IPE,
        Some(&too_long("friendlyDeviceName", 131_072)),
    );
    assert_eq!(f.mfa_view(), json!({}), "MFA view unchanged");
    // Still pending, the step not burned: the same code verifies with the longest name.
    let verified = f.ok(
        "VerifySoftwareToken",
        json!({"AccessToken": f.token, "UserCode": code, "FriendlyDeviceName": "d".repeat(131_072)}),
    );
    assert_eq!(verified["Status"], "SUCCESS");
    f.ok(
        "SetUserMFAPreference",
        json!({"AccessToken": f.token, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}}),
    );
    assert_eq!(
        f.mfa_view(),
        json!({"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"})
    );
}

#[test]
fn a_refused_associate_leaves_nothing_pending() {
    let mut f = Fixture::new();
    f.refused(
        "AssociateSoftwareToken",
        json!({"AccessToken": "t".repeat(8193)}),
        IPE,
        None,
    );
    f.refused(
        "VerifySoftwareToken",
        json!({"AccessToken": f.token, "UserCode": "123456"}),
        "SoftwareTokenMFANotFoundException",
        None,
    );
}

/// Cognito's nine `ExplicitAuthFlowsType` values, in the order its message lists them.
const FLOWS: [&str; 9] = [
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
];

#[test]
fn explicit_auth_flows_are_cognitos_enum_at_most_nine_stored() {
    let mut f = Fixture::new();
    let before = f.census();
    let message = format!(
        "1 validation error detected: Value at 'explicitAuthFlows' failed to satisfy constraint: \
         Member must satisfy constraint: [Member must satisfy enum value set: [{}]]",
        FLOWS.join(", ")
    );
    let long = "A".repeat(100_000);
    for flows in [
        json!(["NOT_A_FLOW"]),
        json!(["ALLOW_USER_PASSWORD_AUTH", "allow_user_password_auth"]),
        json!(["ALLOW_USER_PASSWORD_AUTH", ""]),
        json!([long]),
        json!(
            vec!["ALLOW_CUSTOM_AUTH"; 10_000]
                .into_iter()
                .chain(["X"])
                .collect::<Vec<_>>()
        ),
    ] {
        f.refused(
            "CreateUserPoolClient",
            json!({"UserPoolId": f.pool_id, "ClientName": "c", "ExplicitAuthFlows": flows}),
            IPE,
            Some(&message),
        );
        assert_eq!(f.census(), before, "nothing stored");
    }
    // Every value accepted; repeated ones (here 1,000 copies of the nine) stored once, in
    // the order first sent.
    let repeated: Vec<&str> = FLOWS.iter().copied().cycle().take(9 * 1_000).collect();
    let client = f.ok(
        "CreateUserPoolClient",
        json!({"UserPoolId": f.pool_id, "ClientName": "c", "ExplicitAuthFlows": repeated}),
    );
    assert_eq!(client["UserPoolClient"]["ExplicitAuthFlows"], json!(FLOWS));
    assert_eq!(f.census().clients, before.clients + 1);
    // None at all is a client without explicit flows.
    let client = f.ok(
        "CreateUserPoolClient",
        json!({"UserPoolId": f.pool_id, "ClientName": "c", "ExplicitAuthFlows": []}),
    );
    assert_eq!(client["UserPoolClient"]["ExplicitAuthFlows"], json!([]));
}

#[test]
fn auth_parameters_username_is_1_to_128_and_password_at_most_256_characters() {
    let mut f = Fixture::new();
    let longest_name = "u".repeat(128);
    let longest_password = "P".repeat(256);
    f.create_user(&longest_name, &longest_password);
    let before = f.census();
    let sign_in = |client_id: &str, username: &str, password: &str| json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": username, "PASSWORD": password, "UNKNOWN_PARAMETER": "ignored"}});
    let unknown_client = "c".repeat(26);
    for (username, password, message) in [
        (
            "u".repeat(129),
            PASSWORD.to_owned(),
            too_long("username", 128),
        ),
        (String::new(), PASSWORD.to_owned(), too_short("username", 1)),
        (
            "alice".to_owned(),
            "P".repeat(257),
            too_long("password", 256),
        ),
    ] {
        let client_id = f.client_id.clone();
        f.refused(
            "InitiateAuth",
            sign_in(&client_id, &username, &password),
            IPE,
            Some(&message),
        );
        // Checked before the client is looked up.
        f.refused(
            "InitiateAuth",
            sign_in(&unknown_client, &username, &password),
            IPE,
            Some(&message),
        );
    }
    assert_eq!(f.census(), before, "nothing stored");
    // At both bounds: validation passes, and the user signs in.
    assert!(f.sign_in(&longest_name, &longest_password).is_ok());
    // Within the bounds but wrong: the lookup answers.
    assert_eq!(
        f.sign_in(&"v".repeat(128), PASSWORD),
        Err("NotAuthorizedException".to_owned())
    );
    assert_eq!(
        f.sign_in("alice", &"P".repeat(256)),
        Err("NotAuthorizedException".to_owned())
    );
    assert!(f.sign_in("alice", PASSWORD).is_ok(), "alice unaffected");
}

#[test]
fn challenge_responses_username_is_1_to_128_characters() {
    let mut f = Fixture::new();
    // alice turns software-token MFA on, so a sign-in is challenged with a session.
    let associated = f.ok("AssociateSoftwareToken", json!({"AccessToken": f.token}));
    let secret = Secret::from_base32(associated["SecretCode"].as_str().unwrap()).unwrap();
    let key = TotpKey::new(&secret, TotpConfig::default());
    let code_at = |now: UnixTime| key.code_at(now).unwrap().reveal().to_owned();
    f.ok(
        "VerifySoftwareToken",
        json!({"AccessToken": f.token, "UserCode": code_at(NOW)}),
    );
    f.ok(
        "SetUserMFAPreference",
        json!({"AccessToken": f.token, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}}),
    );
    let (status, challenge) = f.call(
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": f.client_id, "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD}}),
    );
    assert_eq!(status, 200, "{challenge}");
    assert_eq!(challenge["ChallengeName"], "SOFTWARE_TOKEN_MFA");
    let session = challenge["Session"].as_str().unwrap().to_owned();
    let respond = |client_id: &str, session: &str, username: &str, code: &str| json!({"ClientId": client_id, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": session, "ChallengeResponses": {"USERNAME": username, "SOFTWARE_TOKEN_MFA_CODE": code, "UNKNOWN_RESPONSE": "ignored"}});
    let client_id = f.client_id.clone();
    let unknown_client = "c".repeat(26);
    let later = UnixTime(NOW.0 + 30);
    for (username, message) in [
        ("u".repeat(129), too_long("username", 128)),
        (String::new(), too_short("username", 1)),
    ] {
        // Checked before the client is looked up, and before the session is.
        for client in [client_id.as_str(), unknown_client.as_str()] {
            f.refused(
                "RespondToAuthChallenge",
                respond(client, &session, &username, &code_at(later)),
                IPE,
                Some(&message),
            );
        }
    }
    // At the bound: validation passes and the session is looked up (this one is unknown).
    f.refused(
        "RespondToAuthChallenge",
        respond(&client_id, &"s".repeat(40), &"u".repeat(128), "000000"),
        "NotAuthorizedException",
        None,
    );
    // Nothing stored by the refusals: the session was neither consumed nor charged, and the
    // right code, one step later, signs alice in with it.
    let response = f.server.handle(
        Some(&format!("{TARGET_PREFIX}RespondToAuthChallenge")),
        respond(&client_id, &session, "alice", &code_at(later))
            .to_string()
            .as_bytes(),
        later,
        &mut f.rng,
    );
    assert_eq!(response.status, 200, "{}", response.body);
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert!(answer["AuthenticationResult"]["AccessToken"].is_string());
}

#[test]
fn an_unknown_operation_is_refused_before_its_body_is_read() {
    let mut f = Fixture::new();
    let before = f.census();
    let mut oversized = br#"{"PoolName": "p"}"#.to_vec();
    oversized.resize(MAX_BODY_BYTES + 1, b' ');
    for target in [
        format!("{TARGET_PREFIX}DeleteUserPool"),
        format!("{TARGET_PREFIX}createuserpool"),
        "CreateUserPool".to_owned(),
    ] {
        for body in [&b"{malformed"[..], &oversized] {
            let response = f.server.handle(Some(&target), body, NOW, &mut f.rng);
            assert_eq!(response.status, 400);
            assert_eq!(
                response.exception,
                Some("UnknownOperationException"),
                "{target} with a {}-byte body",
                body.len()
            );
        }
    }
    assert_eq!(f.census(), before, "nothing stored");
}

#[test]
fn handle_refuses_a_body_over_the_limit() {
    let mut f = Fixture::new();
    let target = format!("{TARGET_PREFIX}GetUser");
    // Exactly the limit: read and parsed (a JSON object padded with spaces).
    let mut body = br#"{"AccessToken": ""}"#.to_vec();
    body.resize(MAX_BODY_BYTES, b' ');
    let response = f.server.handle(Some(&target), &body, NOW, &mut f.rng);
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["__type"], IPE, "parsed: {answer}");
    // One byte more: refused unread.
    body.push(b' ');
    let response = f.server.handle(Some(&target), &body, NOW, &mut f.rng);
    assert_eq!(response.status, 400);
    assert_eq!(response.exception, Some("SerializationException"));
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        answer["message"],
        format!("The request body is larger than {MAX_BODY_BYTES} bytes")
    );
}

// -- Over a real socket ----------------------------------------------------------------------

/// A served `ReferenceServer` on a free loopback port.
async fn start() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, Arc::new(ReferenceServer::new())));
    address
}

/// The request line and headers of a keep-alive `GetUser` call, with `framing` (a
/// `Content-Length` or `Transfer-Encoding` header).
fn head(address: std::net::SocketAddr, framing: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: {TARGET_PREFIX}GetUser\r\n\
         Content-Type: application/x-amz-json-1.1\r\n{framing}\r\n\r\n"
    )
}

/// After refusing a body unread, the server closes the connection (it never reads the rest):
/// the next read ends (end of stream, or a reset) within 10 s.
async fn assert_closed(stream: &mut TcpStream) {
    let mut sink = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut sink))
            .await
            .expect("the server closed the connection within 10 s");
        if !matches!(read, Ok(n) if n > 0) {
            return;
        }
    }
}

/// Reads one HTTP response (status, lower-cased headers, body) within 10 s. A reset after
/// the whole response arrived is not an error: the server closes a connection whose body it
/// left unread.
async fn read_response(stream: &mut TcpStream) -> HttpResponse {
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(response) = parse_response(&received) {
            return response;
        }
        let mut buffer = [0u8; 8192];
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("the server answered within 10 s");
        match read {
            Ok(0) | Err(_) => {
                return parse_response(&received).unwrap_or_else(|| {
                    panic!(
                        "connection ended before a whole response: {:?}",
                        String::from_utf8_lossy(&received)
                    )
                });
            }
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

/// Status, lower-cased headers, and the JSON body.
type HttpResponse = (u16, Vec<(String, String)>, Value);

fn parse_response(received: &[u8]) -> Option<HttpResponse> {
    let text = std::str::from_utf8(received).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")?
        .1
        .parse()
        .ok()?;
    let body = body.as_bytes().get(..length)?;
    Some((status, headers, serde_json::from_slice(body).ok()?))
}

fn assert_body_too_large(status: u16, headers: &[(String, String)], body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], "SerializationException", "{body}");
    assert_eq!(
        body["message"],
        format!("The request body is larger than {MAX_BODY_BYTES} bytes")
    );
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(
        header("content-type"),
        Some("application/x-amz-json-1.1"),
        "an AWS JSON error, not a plain-text rejection"
    );
    assert_eq!(header("x-amzn-errortype"), Some("SerializationException"));
    assert!(header("x-amzn-requestid").is_some());
    assert_eq!(header("connection"), Some("close"));
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_before_the_body_is_sent() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    // The headers declare one byte over the limit; not one byte of the body is sent. The
    // answer arriving anyway shows the server did not wait to read it.
    let framing = format!("Content-Length: {}", MAX_BODY_BYTES + 1);
    stream
        .write_all(head(address, &framing).as_bytes())
        .await
        .unwrap();
    let (status, headers, body) = read_response(&mut stream).await;
    assert_body_too_large(status, &headers, &body);
    assert_closed(&mut stream).await;
}

#[tokio::test]
async fn an_unknown_operation_is_refused_before_a_content_length_over_the_limit() {
    let address = start().await;
    for target in [
        format!("{TARGET_PREFIX}DeleteEverything"),
        format!("{TARGET_PREFIX}getuser"),
    ] {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // The headers declare a body over the limit; none of it is sent. The answer names
        // the operation, not the size: the target is judged first, from the header alone.
        let request = format!(
            "POST / HTTP/1.1\r\nHost: {address}\r\nX-Amz-Target: {target}\r\n\
             Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let (status, headers, body) = read_response(&mut stream).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["__type"], "UnknownOperationException",
            "{target}: {body}"
        );
        assert!(headers.iter().any(
            |(name, value)| name == "x-amzn-errortype" && value == "UnknownOperationException"
        ));
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == "connection" && value == "close"),
            "the unread body ends the connection"
        );
        assert_closed(&mut stream).await;
    }
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_refused_before_its_end() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(head(address, "Transfer-Encoding: chunked").as_bytes())
        .await
        .unwrap();
    // 17 chunks of 64 KiB (1 MiB + 64 KiB), and never the final zero-length chunk: the
    // body has no end, so an answer shows the server stopped reading at the limit.
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(&chunk);
        framed.extend_from_slice(b"\r\n");
        // Once the server has answered and closed, further writes may fail: that is fine.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let (status, headers, body) = read_response(&mut stream).await;
    assert_body_too_large(status, &headers, &body);
    assert_closed(&mut stream).await;
}

#[tokio::test]
async fn bodies_up_to_the_limit_are_read_whole_either_way() {
    let address = start().await;
    let mut body = br#"{"AccessToken": ""}"#.to_vec();
    body.resize(MAX_BODY_BYTES, b' ');

    // Content-Length, with a real HTTP client.
    let response = reqwest::Client::new()
        .post(format!("http://{address}/"))
        .header("X-Amz-Target", format!("{TARGET_PREFIX}GetUser"))
        .header("Content-Type", "application/x-amz-json-1.1")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer["__type"], IPE, "read and parsed: {answer}");

    // Chunked: 16 chunks of 64 KiB, exactly the limit, then the final chunk.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(head(address, "Transfer-Encoding: chunked").as_bytes())
        .await
        .unwrap();
    for chunk in body.chunks(64 * 1024) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        stream.write_all(&framed).await.unwrap();
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let (status, headers, answer) = read_response(&mut stream).await;
    assert_eq!(status, 400);
    assert_eq!(answer["__type"], IPE, "read and parsed: {answer}");
    assert!(!headers.iter().any(|(name, _)| name == "connection"));

    // A body read whole keeps the connection open for the next request.
    let small = br#"{"AccessToken": "unknown"}"#;
    let framing = format!("Content-Length: {}", small.len());
    stream
        .write_all(head(address, &framing).as_bytes())
        .await
        .unwrap();
    stream.write_all(small).await.unwrap();
    let (status, _, answer) = read_response(&mut stream).await;
    assert_eq!(status, 400);
    assert_eq!(answer["__type"], "NotAuthorizedException", "{answer}");
}
