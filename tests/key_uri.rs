//! The `otpauth://totp/` key URI: label and issuer percent-encoded, non-default parameters
//! only when they differ from SHA1/6/30.

#![allow(clippy::unwrap_used)] // tests assert by panicking

use softtoken::{Algorithm, Digits, Secret, TotpConfig, UnixTime, Window};

fn secret() -> Secret {
    Secret::from_bytes(b"12345678901234567890").unwrap()
}

#[test]
fn cognito_defaults_leave_out_algorithm_digits_and_period() {
    let uri = secret().to_otpauth_uri(&TotpConfig::default(), "ACME", "alice");
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME"
    );
}

#[test]
fn window_and_t0_are_server_side_and_never_in_the_uri() {
    let config = TotpConfig::default()
        .with_window(Window::new(2, 2).unwrap())
        .with_t0(UnixTime(0));
    let uri = secret().to_otpauth_uri(&config, "ACME", "alice");
    assert!(
        !uri.contains("window") && !uri.contains("t0"),
        "{}",
        uri.as_str()
    );
}

#[test]
fn non_default_parameters_are_written() {
    let config = TotpConfig::default()
        .with_algorithm(Algorithm::Sha512)
        .with_digits(Digits::Eight)
        .with_period_secs(60)
        .unwrap();
    let uri = secret().to_otpauth_uri(&config, "ACME", "alice");
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME\
         &algorithm=SHA512&digits=8&period=60"
    );
    let sha256 = TotpConfig::default().with_algorithm(Algorithm::Sha256);
    assert!(
        secret()
            .to_otpauth_uri(&sha256, "A", "b")
            .ends_with("&algorithm=SHA256")
    );
    let seven = TotpConfig::default().with_digits(Digits::Seven);
    assert!(
        secret()
            .to_otpauth_uri(&seven, "A", "b")
            .ends_with("&digits=7")
    );
}

#[test]
fn issuer_and_account_are_percent_encoded() {
    let uri = secret().to_otpauth_uri(
        &TotpConfig::default(),
        "Big Corp: Dev&Ops",
        "bob+mfa@example.com/é?",
    );
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/Big%20Corp%3A%20Dev%26Ops:bob%2Bmfa%40example.com%2F%C3%A9%3F\
         ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Big%20Corp%3A%20Dev%26Ops"
    );
}

#[test]
fn an_empty_issuer_is_left_out() {
    let uri = secret().to_otpauth_uri(&TotpConfig::default(), "", "alice");
    assert_eq!(
        uri.as_str(),
        "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    );
}
