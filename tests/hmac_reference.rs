//! The fast HMAC path (key states prepared once, two compressions per code) against the `hmac`
//! crate as reference: random keys of every length class, random counters, all three hashes.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests assert by panicking

use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use softtoken::{Algorithm, Digits, Secret, Step, TotpConfig, TotpKey};

/// RFC 4226 §5.3 HOTP written the slow, obvious way on `hmac::Hmac`.
fn reference_hotp(algorithm: Algorithm, key: &[u8], counter: u64, digits: Digits) -> u32 {
    let message = counter.to_be_bytes();
    let digest: Vec<u8> = match algorithm {
        Algorithm::Sha1 => {
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
            mac.update(&message);
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(&message);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = hmac::Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            mac.update(&message);
            mac.finalize().into_bytes().to_vec()
        }
    };
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let truncated =
        u32::from_be_bytes(digest[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    truncated % digits.modulus()
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Sha1),
        Just(Algorithm::Sha256),
        Just(Algorithm::Sha512)
    ]
}

fn digits() -> impl Strategy<Value = Digits> {
    prop_oneof![Just(Digits::Six), Just(Digits::Seven), Just(Digits::Eight)]
}

/// Key lengths around every boundary the key schedule has: the minimum, the 64-byte block of
/// SHA-1/SHA-256, the 128-byte block of SHA-512 (longer keys are hashed first), the maximum.
fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), Secret::MIN_LEN..=Secret::MIN_LEN + 8),
        proptest::collection::vec(any::<u8>(), 60..=68),
        proptest::collection::vec(any::<u8>(), 124..=132),
        proptest::collection::vec(any::<u8>(), Secret::MIN_LEN..=Secret::MAX_LEN),
    ]
}

proptest! {
    // A fixed seed: every run checks the same cases, so a failure reproduces.
    #![proptest_config(ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
        ..ProptestConfig::with_cases(2048)
    })]

    #[test]
    fn prepared_key_equals_hmac_crate(
        algorithm in algorithm(),
        digits in digits(),
        key in key(),
        counter in any::<u64>(),
    ) {
        let secret = Secret::from_bytes(&key).unwrap();
        let config = TotpConfig::default().with_algorithm(algorithm).with_digits(digits);
        let prepared = TotpKey::new(&secret, config);
        let ours = prepared.code_at_step(Step(counter)).reveal();
        let expected = format!(
            "{:0width$}",
            reference_hotp(algorithm, &key, counter, digits),
            width = digits.count()
        );
        prop_assert_eq!(ours, expected);
    }
}
