//! Public types can cross threads, so a service can share prepared keys and configurations.

use softtoken::{
    Algorithm, Code, CodeError, ConfigError, Digits, Secret, SecretError, Step, TimeError,
    TotpConfig, TotpKey, UnixTime, VerifyError, Window,
};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn public_types_are_send_and_sync() {
    assert_send_sync::<Secret>();
    assert_send_sync::<TotpKey>();
    assert_send_sync::<TotpConfig>();
    assert_send_sync::<Code>();
    assert_send_sync::<Algorithm>();
    assert_send_sync::<Digits>();
    assert_send_sync::<Window>();
    assert_send_sync::<UnixTime>();
    assert_send_sync::<Step>();
}

#[test]
fn errors_are_std_errors() {
    assert_error::<CodeError>();
    assert_error::<ConfigError>();
    assert_error::<SecretError>();
    assert_error::<TimeError>();
    assert_error::<VerifyError>();
}
