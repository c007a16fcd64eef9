//! Importing `otpauth://totp/` key URIs (issue 8): a table of accepted and refused URIs, Google
//! Authenticator's documented example, URIs written by Python's `pyotp` at test time, a
//! round trip through this crate's own builder, and no panics on arbitrary input.
//!
//! The pyotp fixtures need the venv Python that `bash .ci/interop-tools` makes at
//! `target/interop-venv` (or `SOFTTOKEN_PYTHON`); a missing pyotp fails them unless
//! `SOFTTOKEN_SKIP_INTEROP=1`, as in `tests/interop.rs`.

// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::path::Path;

mod tools;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::{
    Algorithm, Digits, KeyUri, KeyUriError, Secret, SecretError, TotpConfig, TotpKey, UnixTime,
};

/// RFC 4226/6238's seed, the ASCII "12345678901234567890" (20 bytes), in base32.
const RFC_SEED_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn rfc_seed() -> Secret {
    Secret::from_bytes(b"12345678901234567890").unwrap()
}

fn config(algorithm: Algorithm, digits: Digits, period: u64) -> TotpConfig {
    TotpConfig::default()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_period_secs(period)
        .unwrap()
}

/// What a URI should parse to.
struct Expected {
    secret: Secret,
    config: TotpConfig,
    issuer: Option<&'static str>,
    account: &'static str,
}

fn expected(issuer: Option<&'static str>, account: &'static str) -> Expected {
    Expected {
        secret: rfc_seed(),
        config: TotpConfig::default(),
        issuer,
        account,
    }
}

fn assert_parses(uri: &str, expected: &Expected) {
    let key = KeyUri::parse(uri).unwrap_or_else(|error| panic!("{uri}: refused: {error}"));
    assert_eq!(key.secret, expected.secret, "{uri}");
    assert_eq!(key.config, expected.config, "{uri}");
    assert_eq!(key.issuer.as_deref(), expected.issuer, "{uri}");
    assert_eq!(key.account, expected.account, "{uri}");
}

// ---------------------------------------------------------------------------------------------
// The table

#[test]
fn accepted_uris() {
    let s = RFC_SEED_BASE32;
    let plain = |issuer, account| expected(issuer, account);
    let with_config = |algorithm, digits, period| Expected {
        config: config(algorithm, digits, period),
        ..expected(Some("ACME"), "alice")
    };
    let cases: Vec<(String, Expected)> = vec![
        // Defaults, issuer in both places.
        (
            format!("otpauth://totp/ACME:alice?secret={s}&issuer=ACME"),
            plain(Some("ACME"), "alice"),
        ),
        // Issuer only as the label's prefix, or only as the parameter.
        (
            format!("otpauth://totp/ACME:alice?secret={s}"),
            plain(Some("ACME"), "alice"),
        ),
        (
            format!("otpauth://totp/alice?secret={s}&issuer=ACME"),
            plain(Some("ACME"), "alice"),
        ),
        // No issuer at all.
        (
            format!("otpauth://totp/alice?secret={s}"),
            plain(None, "alice"),
        ),
        // Empty issuer prefix and parameter are no issuer (pyotp writes `issuer=""` so).
        (
            format!("otpauth://totp/:alice?secret={s}&issuer="),
            plain(None, "alice"),
        ),
        // "Issuer: account", spaces literal or encoded, one or several.
        (
            format!("otpauth://totp/ACME: alice?secret={s}&issuer=ACME"),
            plain(Some("ACME"), "alice"),
        ),
        (
            format!("otpauth://totp/ACME:%20%20alice?secret={s}"),
            plain(Some("ACME"), "alice"),
        ),
        // Google's "Big%20Corporation%3A%20alice%40bigco.com": an encoded colon separates the
        // prefix when the issuer parameter is present ...
        (
            format!(
                "otpauth://totp/Big%20Corporation%3A%20alice%40bigco.com?secret={s}&issuer=Big%20Corporation"
            ),
            plain(Some("Big Corporation"), "alice@bigco.com"),
        ),
        // ... and without it is part of the account (how the builder writes a colon in an
        // account when there is no issuer).
        (
            format!("otpauth://totp/a%3Ab?secret={s}"),
            plain(None, "a:b"),
        ),
        // Only the first literal colon separates; later ones belong to the account.
        (
            format!("otpauth://totp/ACME:a:b?secret={s}"),
            plain(Some("ACME"), "a:b"),
        ),
        // An encoded colon inside the issuer, before the literal separator.
        (
            format!("otpauth://totp/Dev%3AOps:alice?secret={s}&issuer=Dev%3AOps"),
            plain(Some("Dev:Ops"), "alice"),
        ),
        // `+` is a plus sign in the path; `%2B` is one everywhere.
        (
            format!("otpauth://totp/A%2BB:bob+mfa@example.com?secret={s}&issuer=A%2BB"),
            plain(Some("A+B"), "bob+mfa@example.com"),
        ),
        // In the query `+` is a space (form encoding) ...
        (
            format!("otpauth://totp/ACME%20Co:alice?secret={s}&issuer=ACME+Co"),
            plain(Some("ACME Co"), "alice"),
        ),
        // ... unless read as a plus sign makes it agree with the label.
        (
            format!("otpauth://totp/A%2BB:alice?secret={s}&issuer=A+B"),
            plain(Some("A+B"), "alice"),
        ),
        // UTF-8, percent-encoded (either hex case) or raw.
        (
            format!("otpauth://totp/%C3%9Cn%c3%afc%C3%B8d%C3%A9:j%C3%BCrgen?secret={s}"),
            plain(Some("Ünïcødé"), "jürgen"),
        ),
        (
            format!("otpauth://totp/東京:jürgen?secret={s}&issuer=%E6%9D%B1%E4%BA%AC"),
            plain(Some("東京"), "jürgen"),
        ),
        // A raw `/` in the label, as pyotp leaves it.
        (
            format!("otpauth://totp/ACME:dev/alice?secret={s}"),
            plain(Some("ACME"), "dev/alice"),
        ),
        // Empty label: an empty account.
        (format!("otpauth://totp/?secret={s}"), plain(None, "")),
        (format!("otpauth://totp?secret={s}"), plain(None, "")),
        // Lower-case, padded (raw or %3D), grouped secrets.
        (
            format!("otpauth://totp/alice?secret={}", s.to_ascii_lowercase()),
            plain(None, "alice"),
        ),
        (
            "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBV====".to_owned(),
            Expected {
                secret: Secret::from_bytes(b"1234567890123456789012345").unwrap(),
                ..plain(None, "alice")
            },
        ),
        (
            "otpauth://totp/alice?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojqgezdgnbv%3D%3D%3D%3D"
                .to_owned(),
            Expected {
                secret: Secret::from_bytes(b"1234567890123456789012345").unwrap(),
                ..plain(None, "alice")
            },
        ),
        (
            "otpauth://totp/alice?secret=GEZD%20GNBV-GY3T+QOJQ-GEZD-GNBV-GY3T-QOJQ".to_owned(),
            plain(None, "alice"),
        ),
        // Parameters: any order, any case of names and algorithm, unknown ones ignored.
        (
            format!(
                "otpauth://totp/ACME:alice?period=60&DIGITS=8&Algorithm=sha256&secret={s}\
                 &image=https%3A%2F%2Fexample.com%2Fa.png&counter=5&foo&&issuer=ACME&"
            ),
            with_config(Algorithm::Sha256, Digits::Eight, 60),
        ),
        (
            format!("otpauth://totp/ACME:alice?secret={s}&algorithm=SHA512&digits=7&period=1"),
            with_config(Algorithm::Sha512, Digits::Seven, 1),
        ),
        (
            format!("otpauth://totp/ACME:alice?secret={s}&algorithm=Sha1&digits=6&period=030"),
            with_config(Algorithm::Sha1, Digits::Six, 30),
        ),
        (
            format!("otpauth://totp/ACME:alice?secret={s}&period=18446744073709551615"),
            with_config(Algorithm::Sha1, Digits::Six, u64::MAX),
        ),
        // Scheme and type in any case; surrounding whitespace and a fragment ignored.
        (
            format!("  OTPAUTH://TOTP/ACME:alice?secret={s}&issuer=ACME\n"),
            plain(Some("ACME"), "alice"),
        ),
        (
            format!("otpauth://totp/ACME:alice?secret={s}#issuer=Other"),
            plain(Some("ACME"), "alice"),
        ),
    ];
    for (uri, expected) in &cases {
        assert_parses(uri, expected);
    }
}

#[test]
fn refused_uris() {
    let s = RFC_SEED_BASE32;
    let label_max = KeyUri::MAX_LABEL_CHARS;
    let cases: Vec<(String, KeyUriError)> = vec![
        // Not otpauth.
        (
            format!("https://totp/alice?secret={s}"),
            KeyUriError::NotOtpauth,
        ),
        (
            format!("otpauth:totp/alice?secret={s}"),
            KeyUriError::NotOtpauth,
        ),
        (
            format!("otpauth//totp/alice?secret={s}"),
            KeyUriError::NotOtpauth,
        ),
        (
            format!("xotpauth://totp/alice?secret={s}"),
            KeyUriError::NotOtpauth,
        ),
        (String::new(), KeyUriError::NotOtpauth),
        // Not TOTP.
        (
            format!("otpauth://hotp/alice?secret={s}&counter=0"),
            KeyUriError::Hotp,
        ),
        (
            format!("otpauth://HOTP/alice?secret={s}"),
            KeyUriError::Hotp,
        ),
        (
            format!("otpauth://steam/alice?secret={s}"),
            KeyUriError::UnsupportedType,
        ),
        (
            format!("otpauth:///alice?secret={s}"),
            KeyUriError::UnsupportedType,
        ),
        (
            format!("otpauth://totpx/alice?secret={s}"),
            KeyUriError::UnsupportedType,
        ),
        // The secret: missing, empty, short, not base32.
        (
            "otpauth://totp/alice".to_owned(),
            KeyUriError::MissingSecret,
        ),
        (
            "otpauth://totp/alice?issuer=ACME".to_owned(),
            KeyUriError::MissingSecret,
        ),
        (
            "otpauth://totp/alice?secret=&issuer=ACME".to_owned(),
            KeyUriError::MissingSecret,
        ),
        (
            "otpauth://totp/alice?secret".to_owned(),
            KeyUriError::MissingSecret,
        ),
        (
            format!("otpauth://totp/alice?Secret={s}&secret={s}"),
            KeyUriError::DuplicateParameter { name: "secret" },
        ),
        (
            "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQO".to_owned(),
            KeyUriError::Secret(SecretError::InvalidBase32Length),
        ),
        (
            "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQ".to_owned(),
            KeyUriError::Secret(SecretError::TooShort { len: 10, min: 16 }),
        ),
        (
            "otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1".to_owned(),
            KeyUriError::Secret(SecretError::InvalidBase32 { position: 31 }),
        ),
        (
            "otpauth://totp/alice?secret=3132333435363738393031323334353637383930".to_owned(),
            KeyUriError::Secret(SecretError::InvalidBase32 { position: 1 }),
        ),
        // Digits outside 6..=8 or not a number.
        (
            format!("otpauth://totp/alice?secret={s}&digits=5"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=9"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=10"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=0"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=-6"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=+6"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=six"),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits="),
            KeyUriError::InvalidDigits,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=99999999999999999999999"),
            KeyUriError::InvalidDigits,
        ),
        // Period 0, non-numeric, signed, fractional, out of range.
        (
            format!("otpauth://totp/alice?secret={s}&period=0"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=000"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=thirty"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=-30"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=30.5"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=%2030"),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period="),
            KeyUriError::InvalidPeriod,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=18446744073709551616"),
            KeyUriError::InvalidPeriod,
        ),
        // Algorithms other than SHA1/SHA256/SHA512.
        (
            format!("otpauth://totp/alice?secret={s}&algorithm=MD5"),
            KeyUriError::UnsupportedAlgorithm,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&algorithm=SHA-256"),
            KeyUriError::UnsupportedAlgorithm,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&algorithm=SHA384"),
            KeyUriError::UnsupportedAlgorithm,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&algorithm="),
            KeyUriError::UnsupportedAlgorithm,
        ),
        // The label's prefix and the issuer parameter disagree.
        (
            format!("otpauth://totp/ACME:alice?secret={s}&issuer=Evil"),
            KeyUriError::IssuerMismatch,
        ),
        (
            format!("otpauth://totp/ACME:alice?secret={s}&issuer=acme"),
            KeyUriError::IssuerMismatch,
        ),
        (
            format!("otpauth://totp/Evil%3Aalice?secret={s}&issuer=ACME"),
            KeyUriError::IssuerMismatch,
        ),
        // Duplicate recognised parameters, whatever the case of the name.
        (
            format!("otpauth://totp/alice?secret={s}&issuer=A&issuer=A"),
            KeyUriError::DuplicateParameter { name: "issuer" },
        ),
        (
            format!("otpauth://totp/alice?secret={s}&digits=6&DIGITS=8"),
            KeyUriError::DuplicateParameter { name: "digits" },
        ),
        (
            format!("otpauth://totp/alice?secret={s}&period=30&period=30"),
            KeyUriError::DuplicateParameter { name: "period" },
        ),
        (
            format!("otpauth://totp/alice?algorithm=SHA1&secret={s}&algorithm=SHA256"),
            KeyUriError::DuplicateParameter { name: "algorithm" },
        ),
        // Bad percent-encoding and non-UTF-8.
        (
            format!("otpauth://totp/al%ice?secret={s}"),
            KeyUriError::InvalidPercentEncoding,
        ),
        (
            format!("otpauth://totp/alice%4?secret={s}"),
            KeyUriError::InvalidPercentEncoding,
        ),
        (
            format!("otpauth://totp/alice%?secret={s}"),
            KeyUriError::InvalidPercentEncoding,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&issuer=%G0"),
            KeyUriError::InvalidPercentEncoding,
        ),
        (
            format!("otpauth://totp/alice?secret={s}%"),
            KeyUriError::InvalidPercentEncoding,
        ),
        (
            format!("otpauth://totp/%C3%A9%e9?secret={s}"),
            KeyUriError::InvalidUtf8,
        ),
        (
            format!("otpauth://totp/%C3?secret={s}"),
            KeyUriError::InvalidUtf8,
        ),
        (
            format!("otpauth://totp/alice?secret={s}&issuer=%FF"),
            KeyUriError::InvalidUtf8,
        ),
        (
            format!("otpauth://totp/alice?secret={s}%C3"),
            KeyUriError::InvalidUtf8,
        ),
        // Labels and issuers over the limit, counted in characters after decoding.
        (
            format!("otpauth://totp/{}?secret={s}", "a".repeat(label_max + 1)),
            KeyUriError::LabelTooLong { max: label_max },
        ),
        (
            format!(
                "otpauth://totp/{}?secret={s}",
                "%C3%A9".repeat(label_max + 1)
            ),
            KeyUriError::LabelTooLong { max: label_max },
        ),
        (
            format!(
                "otpauth://totp/{}:{}?secret={s}",
                "i".repeat(label_max / 2),
                "a".repeat(label_max / 2)
            ),
            KeyUriError::LabelTooLong { max: label_max },
        ),
        (
            format!("otpauth://totp/{}?secret={s}", "%41".repeat(100_000)),
            KeyUriError::LabelTooLong { max: label_max },
        ),
        (
            format!(
                "otpauth://totp/alice?secret={s}&issuer={}",
                "x".repeat(label_max + 1)
            ),
            KeyUriError::IssuerTooLong { max: label_max },
        ),
    ];
    let mut failures = String::new();
    for (uri, error) in &cases {
        let got = KeyUri::parse(uri).map(|key| format!("{key:?}"));
        if got.as_ref() != Err(error) {
            let shown: String = uri.chars().take(120).collect();
            writeln!(failures, "  {shown}: expected {error:?}, got {got:?}").unwrap();
        }
    }
    assert!(failures.is_empty(), "wrong answers:\n{failures}");
}

#[test]
fn limits_are_inclusive() {
    let max = KeyUri::MAX_LABEL_CHARS;
    assert_eq!(max, 256);
    let account = "é".repeat(max);
    let uri = format!(
        "otpauth://totp/{}?secret={RFC_SEED_BASE32}",
        "%C3%A9".repeat(max)
    );
    assert_eq!(KeyUri::parse(&uri).unwrap().account, account);
    // Prefix, colon and account together.
    let issuer = "i".repeat(max / 2);
    let account = "a".repeat(max - max / 2 - 1);
    let uri = format!("otpauth://totp/{issuer}:{account}?secret={RFC_SEED_BASE32}&issuer={issuer}");
    let key = KeyUri::parse(&uri).unwrap();
    assert_eq!(
        (key.issuer.as_deref(), key.account.as_str()),
        (Some(issuer.as_str()), account.as_str())
    );
    let issuer = "x".repeat(max);
    let uri = format!("otpauth://totp/alice?secret={RFC_SEED_BASE32}&issuer={issuer}");
    assert_eq!(KeyUri::parse(&uri).unwrap().issuer, Some(issuer));
}

#[test]
fn errors_and_debug_never_show_the_secret() {
    let secret = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU";
    let key = KeyUri::parse(&format!("otpauth://totp/ACME:alice?secret={secret}")).unwrap();
    let debug = format!("{key:?}");
    assert!(
        !debug.contains(secret) && !debug.contains("KRSX"),
        "{debug}"
    );
    assert!(debug.contains("<redacted>"), "{debug}");
    // Every error's message, for a URI whose secret is right there.
    for uri in [
        format!("otpauth://hotp/alice?secret={secret}"),
        format!("otpauth://totp/alice?secret={secret}x"),
        format!("otpauth://totp/alice?secret={secret}&digits=9"),
        format!("otpauth://totp/alice?secret={secret}&secret={secret}"),
        format!("otpauth://totp/alice?secret={}", &secret[..20]),
        format!("otpauth://totp/A:alice?secret={secret}&issuer=B"),
    ] {
        let error = KeyUri::parse(&uri).unwrap_err();
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains("KRSX"), "{text}");
        }
    }
}

#[test]
fn the_secret_error_is_the_source() {
    let error = KeyUri::parse("otpauth://totp/alice?secret=GEZDGNBVGY3TQOJQ").unwrap_err();
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(
        source.to_string(),
        SecretError::TooShort { len: 10, min: 16 }.to_string()
    );
    assert!(error.to_string().contains("at least 16 bytes"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// Google Authenticator's documented example

/// https://github.com/google/google-authenticator/wiki/Key-Uri-Format: its secret,
/// `JBSWY3DPEHPK3PXP`, is 10 bytes (80 bits), below RFC 4226 §4's 128 bits, so it is refused
/// with the secret's own error; everything else in it is read as documented.
#[test]
fn google_authenticator_example() {
    const GOOGLE: &str =
        "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example";
    assert_eq!(
        KeyUri::parse(GOOGLE),
        Err(KeyUriError::Secret(SecretError::TooShort {
            len: 10,
            min: 16
        }))
    );
    // The same URI with a 128-bit secret, and the format's "fully specified" example shape.
    let long_enough = GOOGLE.replace("JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP");
    let key = KeyUri::parse(&long_enough).unwrap();
    assert_eq!(key.issuer.as_deref(), Some("Example"));
    assert_eq!(key.account, "alice@google.com");
    assert_eq!(key.config, TotpConfig::default());
    assert_eq!(key.secret.len(), 20);
    let full = "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ\
                &issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30";
    let key = KeyUri::parse(full).unwrap();
    assert_eq!(key.issuer.as_deref(), Some("ACME Co"));
    assert_eq!(key.account, "john.doe@email.com");
    assert_eq!(key.config, TotpConfig::default());
}

// ---------------------------------------------------------------------------------------------
// Round trips through this crate's builder

/// Found by the `otpauth_uri` fuzz target: with the issuer only in the `issuer` parameter, an
/// account with leading spaces parsed with them, but `to_uri` writes `ISSUER:account`, whose
/// parse drops them, so parse → write → parse changed the account.
#[test]
fn an_issuer_parameter_alone_drops_the_accounts_leading_spaces_as_the_prefix_form_does() {
    let secret = rfc_seed().to_base32();
    let parameter_only = KeyUri::parse(&format!(
        "otpauth://totp/%20%20x?secret={}&issuer=A",
        secret.as_str()
    ))
    .unwrap();
    let prefixed = KeyUri::parse(&format!(
        "otpauth://totp/A:%20%20x?secret={}&issuer=A",
        secret.as_str()
    ))
    .unwrap();
    assert_eq!(parameter_only.account, "x");
    assert_eq!(prefixed.account, "x");
    let rewritten = KeyUri::parse(&parameter_only.to_uri()).unwrap();
    assert_eq!(rewritten.account, parameter_only.account);
    assert_eq!(rewritten.issuer, parameter_only.issuer);
}

#[test]
fn builder_output_parses_back() {
    let secret = rfc_seed();
    for (issuer, account) in [
        ("ACME", "alice"),
        ("", "alice"),
        ("Big Corp: Dev&Ops", "bob+mfa@example.com/é?"),
        ("", "a:b"),
        ("a:b", "c:d"),
        ("100% legit", "50%"),
        ("", ""),
        ("ACME", ""),
    ] {
        let config = config(Algorithm::Sha512, Digits::Seven, 45);
        let uri = secret.to_otpauth_uri(&config, issuer, account);
        let key = KeyUri::parse(&uri).unwrap();
        assert_eq!(key.secret, secret);
        assert_eq!(key.config, config);
        assert_eq!(
            key.issuer.as_deref().unwrap_or_default(),
            issuer,
            "{}",
            uri.as_str()
        );
        assert_eq!(key.issuer.is_none(), issuer.is_empty());
        assert_eq!(key.account, account, "{}", uri.as_str());
        assert_eq!(key.to_uri(), uri);
    }
}

fn algorithms() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn digit_counts() -> impl Strategy<Value = Digits> {
    prop_oneof![Just(Digits::Six), Just(Digits::Seven), Just(Digits::Eight)]
}

proptest! {
    // A fixed seed: every run checks the same cases, so a failure reproduces.
    #![proptest_config(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
        ..ProptestConfig::with_cases(2048)
    })]

    /// Any key the builder writes parses back to the same values. Issuers and accounts are
    /// printable Unicode (no control, format, private-use or unassigned characters), colons,
    /// `%`, `+`, `&` and spaces included; an issuer may be empty (no issuer); the account does
    /// not begin with a space, which "Issuer: account" would drop.
    #[test]
    fn builder_then_parse_round_trips(
        bytes in proptest::collection::vec(any::<u8>(), 16..=64),
        algorithm in algorithms(),
        digits in digit_counts(),
        period in 1u64..=300,
        issuer in "\\PC{0,24}",
        account in "[^\\pC ][\\PC:%+& ]{0,40}",
    ) {
        let secret = Secret::from_bytes(&bytes).unwrap();
        let config = config(algorithm, digits, period);
        let uri = secret.to_otpauth_uri(&config, &issuer, &account);
        let key = KeyUri::parse(&uri).unwrap();
        prop_assert_eq!(&key.secret, &secret);
        prop_assert_eq!(key.config, config);
        prop_assert_eq!(key.issuer.clone(), Some(issuer.clone()).filter(|issuer| !issuer.is_empty()));
        prop_assert_eq!(&key.account, &account);
        prop_assert_eq!(key.to_uri(), uri);
    }

    /// Arbitrary text never panics.
    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,200}|.{0,200}") {
        let _ = KeyUri::parse(&text);
    }

    /// Nearly-otpauth text — the right pieces in plausible shapes, with junk — never panics,
    /// and whatever it accepts is within the documented limits.
    #[test]
    fn near_otpauth_strings_never_panic(
        scheme in prop_oneof![
            Just("otpauth://"), Just("OTPAUTH://"), Just("otpauth:/"), Just("otpauth:"),
            Just("http://"), Just(""),
        ],
        kind in prop_oneof![Just("totp"), Just("TOTP"), Just("hotp"), Just(""), Just("t%6Ftp")],
        label in "[a-zA-Z0-9:%+ é東/#?&=]{0,24}",
        parameters in proptest::collection::vec(
            (
                prop_oneof![
                    Just("secret"), Just("SECRET"), Just("issuer"), Just("algorithm"),
                    Just("digits"), Just("period"), Just("image"), Just("counter"), Just(""),
                    Just("%"),
                ],
                prop_oneof![
                    Just(RFC_SEED_BASE32.to_owned()),
                    "[A-Za-z2-7=%+ -]{0,40}",
                    "[0-9%+-]{0,24}",
                    "(sha|SHA|Sha)(1|256|512|)",
                    "\\PC{0,12}",
                ],
            ),
            0..6,
        ),
        separator in prop_oneof![Just("/"), Just("//"), Just("")],
    ) {
        let mut uri = format!("{scheme}{kind}{separator}{label}?");
        for (name, value) in &parameters {
            write!(uri, "{name}={value}&").unwrap();
        }
        if let Ok(key) = KeyUri::parse(&uri) {
            prop_assert!(key.secret.len() >= Secret::MIN_LEN);
            prop_assert!(key.config.period_secs() >= 1);
            prop_assert!(key.account.chars().count() <= KeyUri::MAX_LABEL_CHARS);
            prop_assert!(key.issuer.as_ref().is_none_or(|issuer| !issuer.is_empty()));
        }
    }

    /// A valid URI with a few characters replaced, inserted or removed never panics.
    #[test]
    fn mutated_uris_never_panic(
        issuer in "\\PC{0,8}",
        account in "\\PC{1,8}",
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<char>()), 1..4),
    ) {
        let config = config(Algorithm::Sha256, Digits::Eight, 60);
        let uri = rfc_seed().to_otpauth_uri(&config, &issuer, &account);
        let mut characters: Vec<char> = uri.chars().collect();
        for (index, edit, character) in edits {
            let at = index.index(characters.len() + 1);
            match edit {
                0 if at < characters.len() => characters[at] = character,
                1 if at < characters.len() => {
                    characters.remove(at);
                }
                _ => characters.insert(at, character),
            }
        }
        let mutated: String = characters.into_iter().collect();
        let _ = KeyUri::parse(&mutated);
    }
}

// ---------------------------------------------------------------------------------------------
// pyotp

/// One key for pyotp to write a provisioning URI for.
struct Fixture {
    /// The secret as given to pyotp (it writes it into the URI unchanged).
    secret: String,
    algorithm: Algorithm,
    digits: Digits,
    period: u64,
    /// `None`: no issuer argument; `Some("")`: pyotp writes an empty prefix and `issuer=`.
    issuer: Option<&'static str>,
    name: &'static str,
    /// Extra parameters through `provisioning_uri(**kwargs)`, which we ignore.
    image: bool,
}

fn hex(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, byte| {
        write!(out, "{byte:02x}").unwrap();
        out
    })
}

/// The fixtures' URIs and codes at `time`, from one Python run: one fixture per stdin line,
/// `uri code` per stdout line.
fn pyotp_uris(python: &Path, fixtures: &[Fixture], time: u64) -> Vec<(String, String)> {
    const SCRIPT: &str = "\
import hashlib, sys
import pyotp
for line in sys.stdin:
    secret, algorithm, digits, period, issuer, name, image, time = line.split()
    text = lambda field: bytes.fromhex(field[1:]).decode()
    totp = pyotp.TOTP(
        secret,
        digits=int(digits),
        digest=getattr(hashlib, algorithm),
        name=text(name),
        issuer=text(issuer) if issuer != '-' else None,
        interval=int(period),
    )
    extra = {'image': 'https://example.com/logo.png'} if image == '1' else {}
    print(totp.provisioning_uri(**extra), totp.at(int(time)))
";
    let input: String = fixtures
        .iter()
        .map(|fixture| {
            format!(
                "{} {} {} {} {} x{} {} {time}\n",
                fixture.secret,
                fixture.algorithm.uri_name().to_ascii_lowercase(),
                fixture.digits.count(),
                fixture.period,
                fixture
                    .issuer
                    .map_or_else(|| "-".to_owned(), |issuer| format!("x{}", hex(issuer))),
                hex(fixture.name),
                u8::from(fixture.image),
            )
        })
        .collect();
    let stdout = tools::run_python(python, SCRIPT, input);
    let lines: Vec<(String, String)> = stdout
        .lines()
        .map(|line| {
            let (uri, code) = line.rsplit_once(' ').unwrap();
            (uri.to_owned(), code.to_owned())
        })
        .collect();
    assert_eq!(
        lines.len(),
        fixtures.len(),
        "pyotp printed one line per key"
    );
    lines
}

/// pyotp's provisioning URIs (its `build_uri`: `quote`d label with `/` left raw, `urlencode`d
/// parameters with `+` turned into `%20`, algorithm/digits/period only when not the defaults)
/// parse to the key pyotp was given, and that key's codes equal pyotp's. (pyotp 2.12 refuses
/// periods over 120 seconds, so the fixtures stay within that.)
#[test]
fn pyotp_provisioning_uris_parse() {
    let Some(python) = tools::python() else {
        return;
    };
    let generated = Secret::generate(&mut ChaCha20Rng::seed_from_u64(8))
        .to_base32()
        .as_str()
        .to_owned();
    // Lower case and `=`-padded to a multiple of 8, as Python's base64 writes it.
    let padded = {
        let padding = (8 - generated.len() % 8) % 8;
        format!("{}{}", generated.to_ascii_lowercase(), "=".repeat(padding))
    };
    assert!(padded.ends_with('='));
    let fixture = |secret: &str, algorithm, digits, period, issuer, name| Fixture {
        secret: secret.to_owned(),
        algorithm,
        digits,
        period,
        issuer,
        name,
        image: false,
    };
    let fixtures = vec![
        fixture(
            RFC_SEED_BASE32,
            Algorithm::Sha1,
            Digits::Six,
            30,
            Some("ACME Co"),
            "alice@example.com",
        ),
        fixture(
            &generated,
            Algorithm::Sha256,
            Digits::Eight,
            60,
            Some("Big Corp: Dev&Ops"),
            "bob+mfa@example.com/é?",
        ),
        fixture(
            &generated,
            Algorithm::Sha512,
            Digits::Seven,
            15,
            None,
            "carol",
        ),
        fixture(
            &padded,
            Algorithm::Sha1,
            Digits::Six,
            120,
            Some("Ünïcødé 東京"),
            "dave smith",
        ),
        fixture(
            &padded,
            Algorithm::Sha256,
            Digits::Six,
            30,
            Some("A+B=C?"),
            "x:y",
        ),
        fixture(
            RFC_SEED_BASE32,
            Algorithm::Sha512,
            Digits::Eight,
            1,
            None,
            "a:b",
        ),
        fixture(
            RFC_SEED_BASE32,
            Algorithm::Sha1,
            Digits::Seven,
            30,
            Some(""),
            "empty issuer",
        ),
        Fixture {
            image: true,
            ..fixture(
                &generated,
                Algorithm::Sha1,
                Digits::Six,
                30,
                Some("Logo Inc."),
                "eve",
            )
        },
    ];
    let time = 1_234_567_890;
    let written = pyotp_uris(&python, &fixtures, time);
    for (fixture, (uri, code)) in fixtures.iter().zip(&written) {
        let key = KeyUri::parse(uri).unwrap_or_else(|error| panic!("{uri}: refused: {error}"));
        assert_eq!(
            key.secret,
            Secret::from_base32(&fixture.secret).unwrap(),
            "{uri}"
        );
        assert_eq!(
            key.config,
            config(fixture.algorithm, fixture.digits, fixture.period),
            "{uri}"
        );
        assert_eq!(
            key.issuer.as_deref(),
            fixture.issuer.filter(|issuer| !issuer.is_empty()),
            "{uri}"
        );
        assert_eq!(key.account, fixture.name, "{uri}");
        let ours = TotpKey::new(&key.secret, key.config)
            .code_at(UnixTime(time))
            .unwrap()
            .reveal();
        assert_eq!(&ours, code, "{uri}");
        // Written back canonically, it parses to the same key again.
        assert_eq!(KeyUri::parse(&key.to_uri()).unwrap(), key, "{uri}");
    }
    // The fixtures did exercise what they are for.
    let uris: Vec<&str> = written.iter().map(|(uri, _)| uri.as_str()).collect();
    assert!(
        uris.iter()
            .any(|uri| uri.contains("%3A") && uri.contains("/%C3%A9")),
        "{uris:#?}"
    );
    assert!(
        uris.iter()
            .any(|uri| uri.contains("secret=") && uri.contains("%3D")),
        "{uris:#?}"
    );
    assert!(
        uris.iter().any(|uri| uri.contains("image=https")),
        "{uris:#?}"
    );
    assert!(uris.iter().any(|uri| uri.contains("/:empty")), "{uris:#?}");
    eprintln!(
        "pyotp: {} provisioning URIs parsed and compared",
        uris.len()
    );
}
