//! The hot path allocates nothing: parsing a code, generating one and verifying a window run
//! without touching the heap, for every algorithm.

#![allow(clippy::unwrap_used)] // tests assert by panicking

use std::hint::black_box;

use softtoken::{Algorithm, Code, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime};

#[test]
fn parse_generate_and_verify_do_not_allocate() {
    let secret = Secret::from_bytes(&[0x5a; 32]).unwrap();
    for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        let key = TotpKey::new(&secret, TotpConfig::default().with_algorithm(algorithm));
        let now = UnixTime(1_700_000_000);
        let right = key.code_at(now).unwrap().reveal();
        let counted = allocation_counter::measure(|| {
            let code = Code::parse(black_box(&right), Digits::Six).unwrap();
            let _ = black_box(key.code_at_step(black_box(Step(7))));
            let _ = black_box(key.verify(&code, black_box(now), None));
            let wrong = Code::parse(black_box("000000"), Digits::Six).unwrap();
            let _ = black_box(key.verify(&wrong, black_box(now), Some(Step(1))));
            let _ = black_box(Code::parse_display_form(
                black_box(" 123 456 "),
                Digits::Six,
            ));
        });
        assert_eq!(counted.count_total, 0, "{algorithm:?}: {counted:?}");
    }
}

#[test]
fn the_counter_does_count() {
    // Guards the test above against a counter that is not installed.
    let counted = allocation_counter::measure(|| {
        black_box(Code::parse("123456", Digits::Six).unwrap().reveal());
    });
    assert!(counted.count_total > 0);
}
