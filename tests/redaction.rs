//! No `Debug` or `Display` of any public type holding a secret or a code contains the raw
//! bytes, the base32 form, the key URI, or the code's digits.

#![allow(clippy::unwrap_used)] // tests assert by panicking

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
