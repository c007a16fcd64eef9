//! No `Debug` or `Display` of any public type holding a secret or a code contains the raw
//! bytes, the base32 form, the key URI, or the code's digits.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests assert by panicking

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::{Code, Digits, Secret, SecretError, Step, TotpConfig, TotpKey, VerifyError};

/// Every textual form of a secret a leak could take.
fn forbidden_forms(secret: &Secret) -> Vec<String> {
    let base32 = secret.to_base32().to_string();
    let raw = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &base32).unwrap();
    vec![
        base32.clone(),
        base32.to_lowercase(),
        base32.get(..16).unwrap().to_string(),
        secret
            .to_otpauth_uri(&TotpConfig::default(), "ACME", "alice")
            .to_string(),
        format!("{raw:?}"),
        format!("{:?}", raw.get(..8).unwrap()),
        raw.iter().map(|b| format!("{b:02x}")).collect(),
        raw.iter().map(|b| format!("{b:02X}")).collect(),
    ]
}

fn assert_clean(output: &str, forbidden: &[String]) {
    for form in forbidden {
        assert!(!output.contains(form.as_str()), "{output:?} leaks {form:?}");
    }
}

#[test]
fn secrets_and_prepared_keys_print_redacted() {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let generated = Secret::generate(&mut rng);
    let raw = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11";
    let imported = Secret::from_bytes(raw).unwrap();

    for secret in [&generated, &imported] {
        let forbidden = forbidden_forms(secret);
        for config in [
            TotpConfig::default(),
            TotpConfig::default().with_algorithm(softtoken::Algorithm::Sha256),
            TotpConfig::default().with_algorithm(softtoken::Algorithm::Sha512),
        ] {
            let key = TotpKey::new(secret, config);
            assert_clean(&format!("{key:?}"), &forbidden);
            assert_clean(&format!("{key:#?}"), &forbidden);
        }
        assert_clean(&format!("{secret:?}"), &forbidden);
        assert_clean(&format!("{secret:#?}"), &forbidden);
        assert_eq!(
            format!("{secret:?}"),
            format!("Secret(<redacted>, {} bytes)", secret.len())
        );
    }
}

#[test]
fn codes_print_redacted() {
    let key = TotpKey::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        TotpConfig::default().with_digits(Digits::Eight),
    );
    let generated = key.code_at_step(Step(1));
    assert_eq!(generated.reveal(), "94287082");
    let parsed = Code::parse("94287082", Digits::Eight).unwrap();
    for code in [&generated, &parsed] {
        for output in [format!("{code:?}"), format!("{code:#?}")] {
            assert!(
                !output.contains("94287082") && !output.contains("287082"),
                "{output}"
            );
        }
    }
}

#[test]
fn errors_carry_neither_secret_nor_code() {
    let bad_secret = "GEZDGNBVGY3TQOJQ1GEZDGNBVGY3TQOJQ";
    let error = Secret::from_base32(bad_secret).unwrap_err();
    for output in [format!("{error}"), format!("{error:?}")] {
        assert!(!output.contains("GEZDGNBV"), "{output}");
    }
    assert!(matches!(error, SecretError::InvalidBase32 { .. }));

    let key = TotpKey::new(
        &Secret::from_bytes(b"12345678901234567890").unwrap(),
        TotpConfig::default(),
    );
    let wrong = Code::parse("123457", Digits::Six).unwrap();
    let error = key
        .verify(&wrong, softtoken::UnixTime(59), None)
        .unwrap_err();
    assert_eq!(error, VerifyError::NoMatch);
    for output in [format!("{error}"), format!("{error:?}")] {
        assert!(!output.contains("123457"), "{output}");
    }
}

mod service_types {
    //! The service's requests, responses, events, errors and stored records: a full enrolment
    //! and sign-in, every value printed, none containing the secret, a code, a session or an
    //! access token.

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use softtoken::api::{
        AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest,
        SetUserMfaPreferenceRequest, VerifySoftwareTokenRequest,
    };
    use softtoken::{
        AccessToken, MemoryStore, MfaMode, PoolConfig, Secret, Service, SessionStore, TokenStore,
        TotpConfig, TotpKey, UnixTime, UserId,
    };

    fn resolve(token: &AccessToken) -> Option<UserId> {
        (token.expose() == "access-token-of-alice-0123456789").then(|| UserId::new("alice"))
    }

    #[test]
    fn nothing_printed_by_the_service_carries_a_credential() {
        let store = MemoryStore::new();
        let pool = PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap();
        let service = Service::new(store.clone(), store.clone(), resolve, pool);
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let access_token = "access-token-of-alice-0123456789".to_owned();
        let mut now = UnixTime(1_700_000_000);
        let mut printed = Vec::new();
        let mut forbidden = vec![access_token.clone()];

        let associate = AssociateSoftwareTokenRequest {
            access_token: Some(access_token.clone()),
            session: None,
        };
        printed.push(format!("{associate:?}"));
        let outcome = service.associate_software_token(&associate, now, &mut rng);
        printed.push(format!("{outcome:?}"));
        let response = outcome.result.unwrap();
        let secret = Secret::from_base32(response.secret_code.expose()).unwrap();
        forbidden.push(response.secret_code.expose().to_owned());
        forbidden.push(response.secret_code.expose()[..20].to_owned());
        let key = TotpKey::new(&secret, TotpConfig::default());

        let wrong = VerifySoftwareTokenRequest {
            access_token: Some(access_token.clone()),
            session: None,
            user_code: "000001".to_owned(),
            friendly_device_name: None,
        };
        printed.push(format!("{wrong:?}"));
        let outcome = service.verify_software_token(&wrong, now, &mut rng);
        printed.push(format!("{outcome:?}"));
        printed.push(outcome.result.unwrap_err().to_string());

        let code = key.code_at(now).unwrap().reveal();
        forbidden.push(code.clone());
        let verify = VerifySoftwareTokenRequest {
            user_code: code,
            ..wrong
        };
        printed.push(format!("{verify:?}"));
        let outcome = service.verify_software_token(&verify, now, &mut rng);
        printed.push(format!("{outcome:?}"));

        let preference = SetUserMfaPreferenceRequest {
            access_token: access_token.clone(),
            software_token_mfa_settings: None,
        };
        printed.push(format!("{preference:?}"));

        now = UnixTime(now.0 + 30);
        let challenge = service
            .begin_sign_in(&UserId::new("alice"), now, &mut rng)
            .result
            .unwrap()
            .unwrap();
        forbidden.push(challenge.session.expose().to_owned());
        printed.push(format!("{challenge:?}"));
        let code = key.code_at(now).unwrap().reveal();
        forbidden.push(code.clone());
        let respond = RespondToSoftwareTokenMfaRequest {
            session: challenge.session.expose().to_owned(),
            username: "alice".to_owned(),
            software_token_mfa_code: code,
        };
        printed.push(format!("{respond:?}"));
        let outcome = service.respond_to_software_token_mfa(&respond, now);
        printed.push(format!("{outcome:?}"));
        let replay = service.respond_to_software_token_mfa(&respond, now);
        printed.push(format!("{replay:?}"));
        printed.push(replay.result.unwrap_err().to_string());

        let (record, version) = store.load(&UserId::new("alice")).unwrap().unwrap();
        printed.push(format!("{record:?} {version:?}"));
        printed.push(format!("{record:#?}"));
        printed.push(format!("{:?}", store.get(&challenge.session).unwrap()));
        printed.push(format!("{store:?}"));

        for output in &printed {
            for secret_form in &forbidden {
                assert!(
                    !output.contains(secret_form.as_str()),
                    "{output:?} contains {secret_form:?}"
                );
            }
        }
    }
}

mod reference_server {
    //! The reference server's `Debug` (and its responses' `Debug`) after a password sign-in
    //! and a challenged one: no password, access token, session or secret code in it.

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use serde_json::{Value, json};
    use softtoken::reference_server::ReferenceServer;
    use softtoken::reference_server::wire::TARGET_PREFIX;
    use softtoken::{Secret, TotpConfig, TotpKey, UnixTime};

    const PASSWORD: &str = "Redaction-Passw0rd!";

    #[test]
    fn the_servers_debug_carries_no_credential() {
        let server = ReferenceServer::new();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let now = UnixTime(1_700_000_000);
        let mut printed = Vec::new();
        let mut call = |operation: &str, body: Value, now: UnixTime| -> Value {
            let response = server.handle(
                Some(&format!("{TARGET_PREFIX}{operation}")),
                body.to_string().as_bytes(),
                now,
                &mut rng,
            );
            assert_eq!(response.status, 200, "{operation}: {}", response.body);
            printed.push(format!("{response:?}"));
            serde_json::from_str(&response.body).unwrap()
        };
        let pool = call("CreateUserPool", json!({"PoolName": "redaction"}), now);
        let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_owned();
        call(
            "SetUserPoolMfaConfig",
            json!({"UserPoolId": pool_id, "SoftwareTokenMfaConfiguration": {"Enabled": true}, "MfaConfiguration": "OPTIONAL"}),
            now,
        );
        let client = call(
            "CreateUserPoolClient",
            json!({"UserPoolId": pool_id, "ClientName": "c", "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
            now,
        );
        let client_id = client["UserPoolClient"]["ClientId"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            "AdminCreateUser",
            json!({"UserPoolId": pool_id, "Username": "alice", "TemporaryPassword": "Temporary-Passw0rd!"}),
            now,
        );
        call(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool_id, "Username": "alice", "Password": PASSWORD, "Permanent": true}),
            now,
        );
        let sign_in = json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id, "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD}});
        let signed_in = call("InitiateAuth", sign_in.clone(), now);
        let access_token = signed_in["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let associated = call(
            "AssociateSoftwareToken",
            json!({"AccessToken": access_token}),
            now,
        );
        let secret_code = associated["SecretCode"].as_str().unwrap().to_owned();
        let key = TotpKey::new(
            &Secret::from_base32(&secret_code).unwrap(),
            TotpConfig::default(),
        );
        call(
            "VerifySoftwareToken",
            json!({"AccessToken": access_token, "UserCode": key.code_at(now).unwrap().reveal()}),
            now,
        );
        call(
            "SetUserMFAPreference",
            json!({"AccessToken": access_token, "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}}),
            now,
        );
        // A challenged sign-in: its session is live (not yet answered) in the directory.
        let challenge = call("InitiateAuth", sign_in, now);
        let session = challenge["Session"].as_str().unwrap().to_owned();

        let forbidden = [
            PASSWORD.to_owned(),
            "Temporary-Passw0rd!".to_owned(),
            access_token.clone(),
            access_token[..16].to_owned(),
            session.clone(),
            session[..16].to_owned(),
            secret_code.clone(),
            secret_code[..16].to_owned(),
        ];
        let debug = format!("{server:?}");
        // Counts, so the output says something.
        assert!(debug.contains("pools: 1"), "{debug}");
        assert!(debug.contains("grants: 1"), "{debug}");
        assert!(debug.contains("sessions: 1"), "{debug}");
        printed.push(debug);
        printed.push(format!("{server:#?}"));
        for output in &printed {
            for form in &forbidden {
                assert!(
                    !output.contains(form.as_str()),
                    "{output:?} contains {form:?}"
                );
            }
        }
    }
}
