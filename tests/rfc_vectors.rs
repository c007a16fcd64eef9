//! Known answers: RFC 6238 Appendix B and RFC 4226 Appendix D, table-driven.

#![allow(clippy::unwrap_used)] // tests assert by panicking

use softtoken::{Algorithm, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime};

/// RFC 6238 Appendix B seeds: the ASCII "1234567890" repeated to the hash's output length.
fn rfc6238_seed(algorithm: Algorithm) -> Secret {
    let len = match algorithm {
        Algorithm::Sha1 => 20,
        Algorithm::Sha256 => 32,
        Algorithm::Sha512 => 64,
        _ => unreachable!("no other algorithm in RFC 6238"),
    };
    let seed: Vec<u8> = b"1234567890".iter().copied().cycle().take(len).collect();
    Secret::from_bytes(&seed).unwrap()
}

/// (time, SHA-1, SHA-256, SHA-512), 8 digits, 30-second steps.
const RFC6238_APPENDIX_B: [(u64, &str, &str, &str); 6] = [
    (59, "94287082", "46119246", "90693936"),
    (1_111_111_109, "07081804", "68084774", "25091201"),
    (1_111_111_111, "14050471", "67062674", "99943326"),
    (1_234_567_890, "89005924", "91819424", "93441116"),
    (2_000_000_000, "69279037", "90698825", "38618901"),
    (20_000_000_000, "65353130", "77737706", "47863826"),
];

fn eight_digit_key(algorithm: Algorithm) -> TotpKey {
    let config = TotpConfig::default()
        .with_algorithm(algorithm)
        .with_digits(Digits::Eight);
    TotpKey::new(&rfc6238_seed(algorithm), config)
}

#[test]
fn rfc6238_appendix_b_all_hashes_all_times() {
    let keys = [
        eight_digit_key(Algorithm::Sha1),
        eight_digit_key(Algorithm::Sha256),
        eight_digit_key(Algorithm::Sha512),
    ];
    for (time, sha1, sha256, sha512) in RFC6238_APPENDIX_B {
        for (key, expected) in keys.iter().zip([sha1, sha256, sha512]) {
            let code = key.code_at(UnixTime(time)).unwrap();
            assert_eq!(
                code.reveal(),
                expected,
                "{:?} at T={time}",
                key.config().algorithm()
            );
        }
    }
}

#[test]
fn rfc6238_appendix_b_codes_verify_at_their_time() {
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let key = eight_digit_key(algorithm);
        for (time, sha1, sha256, sha512) in RFC6238_APPENDIX_B {
            let expected = match algorithm {
                Algorithm::Sha1 => sha1,
                Algorithm::Sha256 => sha256,
                _ => sha512,
            };
            let code = key.parse_code(expected).unwrap();
            let step = key.verify(&code, UnixTime(time), None).unwrap();
            assert_eq!(step, Step(time / 30), "{algorithm:?} at T={time}");
        }
    }
}

#[test]
fn rfc4226_appendix_d_hotp_counters_0_to_9() {
    const EXPECTED: [&str; 10] = [
        "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
        "520489",
    ];
    let key = TotpKey::new(&rfc6238_seed(Algorithm::Sha1), TotpConfig::default());
    for (counter, expected) in (0u64..).zip(EXPECTED) {
        assert_eq!(
            key.code_at_step(Step(counter)).reveal(),
            expected,
            "counter {counter}"
        );
    }
}
