//! `TokenRecord::encode`/`decode`: every reachable record round-trips, secrets pass through the
//! sealing hook, and any malformed input is a typed error, never a panic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

use proptest::prelude::*;
use softtoken::lifecycle::{self, AssociationOrigin, Next, PreferenceActor, Transition};
use softtoken::{
    Code, DecodeError, Digits, PlainSecrets, PoolConfig, SealError, Secret, SecretSealer,
    SoftwareTokenMfaSettings, TokenRecord, TotpConfig, TotpKey, UnixTime,
};
use zeroize::Zeroizing;

fn stored<T>(transition: Transition<T>) -> TokenRecord {
    match transition.next {
        Next::Store(record) => record,
        other => panic!("expected a stored record, got {other:?}"),
    }
}

/// Records in every state the lifecycle reaches: pending; verified with name and watermark,
/// enabled and preferred, with failures and a lock; verified plus a new pending secret.
fn sample_records() -> Vec<TokenRecord> {
    let pool = PoolConfig::default();
    let now = UnixTime(1_700_000_000);
    let secret = Secret::from_bytes(&[0x42; 32]).unwrap();
    let pending = stored(lifecycle::associate(
        None,
        &pool,
        secret.clone(),
        AssociationOrigin::AccessToken,
        now,
    ));
    let code = TotpKey::new(&secret, TotpConfig::default())
        .code_at(now)
        .unwrap();
    let verified = stored(lifecycle::verify(
        Some(&pending),
        &code,
        Some("Ålice's phöne".to_owned()),
        &pool,
        now,
    ));
    let enabled = stored(lifecycle::set_preference(
        Some(&verified),
        SoftwareTokenMfaSettings {
            enabled: true,
            preferred_mfa: true,
        },
        PreferenceActor::User,
    ));
    let mut failing = enabled.clone();
    let wrong = Code::parse("000000", Digits::Six).unwrap();
    for second in 0..7 {
        let transition = lifecycle::check_sign_in_code(
            Some(&failing),
            &wrong,
            &pool,
            UnixTime(now.0 + 100 * second),
        );
        if let Next::Store(next) = transition.next {
            failing = next;
        }
    }
    assert!(failing.lockout().locked_until().is_some());
    let sha512 = PoolConfig::default().with_totp(
        TotpConfig::default()
            .with_algorithm(softtoken::Algorithm::Sha512)
            .with_digits(Digits::Eight)
            .with_period_secs(60)
            .unwrap(),
    );
    let both = stored(lifecycle::associate(
        Some(&failing),
        &sha512,
        Secret::from_bytes(&[7; 64]).unwrap(),
        AssociationOrigin::AccessToken,
        now,
    ));
    vec![pending, verified, enabled, failing, both]
}

#[test]
fn every_sample_record_round_trips() {
    for record in sample_records() {
        let bytes = record.encode(&PlainSecrets).unwrap();
        assert_eq!(bytes[0], TokenRecord::FORMAT_VERSION);
        assert_eq!(TokenRecord::decode(&bytes, &PlainSecrets).unwrap(), record);
    }
}

/// A toy sealer (XOR with a key byte, plus a tag) standing in for a KMS.
struct XorSealer(u8);

impl SecretSealer for XorSealer {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut sealed = vec![0xAA];
        sealed.extend(secret.iter().map(|byte| byte ^ self.0));
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        match sealed.split_first() {
            Some((0xAA, body)) => Ok(Zeroizing::new(
                body.iter().map(|byte| byte ^ self.0).collect(),
            )),
            _ => Err(SealError("not sealed by this key".to_owned())),
        }
    }
}

#[test]
fn secrets_pass_through_the_sealer() {
    let record = sample_records().remove(1);
    let plain = record.encode(&PlainSecrets).unwrap();
    let sealed = record.encode(&XorSealer(0x5c)).unwrap();
    let secret_bytes = [0x42u8; 32];
    assert!(
        plain.windows(32).any(|window| window == secret_bytes),
        "plain stores as is"
    );
    assert!(
        !sealed.windows(8).any(|window| window == [0x42; 8]),
        "sealed hides the secret"
    );
    assert_eq!(
        TokenRecord::decode(&sealed, &XorSealer(0x5c)).unwrap(),
        record
    );
    assert!(matches!(
        TokenRecord::decode(&plain, &XorSealer(0x5c)),
        Err(DecodeError::Seal(_))
    ));
}

#[test]
fn malformed_encodings_are_typed_errors() {
    let bytes = sample_records().remove(4).encode(&PlainSecrets).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            TokenRecord::decode(&bytes[..cut], &PlainSecrets).is_err(),
            "a record truncated to {cut} bytes must not decode"
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        TokenRecord::decode(&trailing, &PlainSecrets),
        Err(DecodeError::TrailingBytes(1))
    );
    let mut future = bytes.clone();
    future[0] = 2;
    assert_eq!(
        TokenRecord::decode(&future, &PlainSecrets),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let mut flags = bytes;
    flags[1] |= 0x80;
    assert_eq!(
        TokenRecord::decode(&flags, &PlainSecrets),
        Err(DecodeError::InvalidField("flags"))
    );
    assert_eq!(
        TokenRecord::decode(&[], &PlainSecrets),
        Err(DecodeError::Truncated)
    );
}

/// Records the lifecycle never writes are refused like any other malformed input: the factor
/// turned on without a verified token, `preferred` without `enabled`, and a device name over
/// the 131072 characters the API allows.
#[test]
fn records_the_lifecycle_cannot_write_do_not_decode() {
    let records = sample_records();
    let pending = records[0].encode(&PlainSecrets).unwrap();
    assert!(records[0].verified().is_none());
    for on in [4u8, 4 | 8] {
        let mut bytes = pending.clone();
        bytes[1] |= on;
        assert_eq!(
            TokenRecord::decode(&bytes, &PlainSecrets),
            Err(DecodeError::InvalidField("flags")),
            "flags {:#x} without a verified token",
            bytes[1]
        );
    }
    let enabled = records
        .iter()
        .find(|record| record.preference().preferred)
        .unwrap()
        .encode(&PlainSecrets)
        .unwrap();
    let mut preferred_only = enabled;
    preferred_only[1] &= !4;
    assert_eq!(
        TokenRecord::decode(&preferred_only, &PlainSecrets),
        Err(DecodeError::InvalidField("flags"))
    );

    let pool = PoolConfig::default();
    let now = UnixTime(1_700_000_000);
    let secret = Secret::from_bytes(&[0x24; 32]).unwrap();
    let code = TotpKey::new(&secret, TotpConfig::default())
        .code_at(now)
        .unwrap();
    let pending = stored(lifecycle::associate(
        None,
        &pool,
        secret,
        AssociationOrigin::AccessToken,
        now,
    ));
    let longest = "n".repeat(131_072);
    let verified = stored(lifecycle::verify(
        Some(&pending),
        &code,
        Some(longest.clone()),
        &pool,
        now,
    ));
    let bytes = verified.encode(&PlainSecrets).unwrap();
    assert_eq!(TokenRecord::decode(&bytes, &PlainSecrets), Ok(verified));
    // Lengthen the stored name by one character: its u32 length prefix and one more byte.
    let mut prefix = 131_072u32.to_be_bytes().to_vec();
    prefix.extend_from_slice(b"nn");
    let at = bytes
        .windows(prefix.len())
        .position(|window| window == prefix.as_slice())
        .unwrap();
    let mut overlong = bytes[..at].to_vec();
    overlong.extend_from_slice(&131_073u32.to_be_bytes());
    overlong.push(b'n');
    overlong.extend_from_slice(&bytes[at + 4..]);
    assert_eq!(
        TokenRecord::decode(&overlong, &PlainSecrets),
        Err(DecodeError::InvalidField("friendly device name"))
    );
}

proptest! {
    // A fixed seed: every run checks the same cases, so a failure reproduces.
    #![proptest_config(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
        ..ProptestConfig::with_cases(4096)
    })]

    #[test]
    fn no_input_panics_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = TokenRecord::decode(&bytes, &PlainSecrets);
    }

    #[test]
    fn mutated_encodings_never_panic_and_decode_only_to_valid_records(
        index in 0usize..5,
        position in any::<prop::sample::Index>(),
        value in any::<u8>(),
    ) {
        let mut bytes = sample_records()[index].encode(&PlainSecrets).unwrap();
        let at = position.index(bytes.len());
        bytes[at] = value;
        if let Ok(record) = TokenRecord::decode(&bytes, &PlainSecrets) {
            // Whatever decodes re-encodes to the same bytes: no two encodings of one record.
            prop_assert_eq!(record.encode(&PlainSecrets).unwrap(), bytes);
        }
    }
}
