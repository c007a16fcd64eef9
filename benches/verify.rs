//! Side-by-side benchmarks of `softtoken` and `totp-rs` 6: generating one code per hash,
//! verifying a correct and a wrong 6-digit SHA-1 code with a ±1 window, and one bare SHA-1
//! compression as the lower bound everything else is measured against.
//!
//! Run with `cargo bench --bench verify`. Both libraries get the RFC 6238 Appendix B seed for
//! each hash, 6 digits, 30-second steps and T = 1111111109 (an Appendix B time), and the
//! generated codes are checked against each other and against the RFC before anything is timed.

// Benchmarks are not library code: a failed setup step should simply abort the run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use softtoken::{
    Algorithm, Code, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError,
};

/// RFC 6238 Appendix B seed for HMAC-SHA-1 (20 bytes).
const SEED_SHA1: &[u8] = b"12345678901234567890";
/// RFC 6238 Appendix B seed for HMAC-SHA-256 (32 bytes).
const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
/// RFC 6238 Appendix B seed for HMAC-SHA-512 (64 bytes).
const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// An RFC 6238 Appendix B time; its step is 37037036.
const NOW: u64 = 1_111_111_109;

/// One hash under test: names, seed and the RFC 6238 code at [`NOW`] (last six of the eight
/// digits Appendix B lists).
struct Case {
    name: &'static str,
    algorithm: Algorithm,
    totp_rs_algorithm: totp_rs::Algorithm,
    seed: &'static [u8],
    expected: &'static str,
}

const CASES: [Case; 3] = [
    Case {
        name: "sha1",
        algorithm: Algorithm::Sha1,
        totp_rs_algorithm: totp_rs::Algorithm::SHA1,
        seed: SEED_SHA1,
        expected: "081804",
    },
    Case {
        name: "sha256",
        algorithm: Algorithm::Sha256,
        totp_rs_algorithm: totp_rs::Algorithm::SHA256,
        seed: SEED_SHA256,
        expected: "084774",
    },
    Case {
        name: "sha512",
        algorithm: Algorithm::Sha512,
        totp_rs_algorithm: totp_rs::Algorithm::SHA512,
        seed: SEED_SHA512,
        expected: "091201",
    },
];

/// A softtoken key: `algorithm`, 6 digits, 30 s, window ±1 (the default).
fn softtoken_key(seed: &[u8], algorithm: Algorithm) -> TotpKey {
    let secret = Secret::from_bytes(seed).unwrap();
    TotpKey::new(&secret, TotpConfig::default().with_algorithm(algorithm))
}

/// A totp-rs TOTP with the same parameters: 6 digits, 30 s, skew 1.
fn totp_rs_totp(seed: &[u8], algorithm: totp_rs::Algorithm) -> totp_rs::Totp {
    totp_rs::Builder::new()
        .with_algorithm(algorithm)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(1)
        .with_secret(seed.to_vec())
        .build()
        .unwrap()
}

/// `generate/<library>/<hash>`: one code at a fixed time.
fn bench_generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    for case in &CASES {
        let key = softtoken_key(case.seed, case.algorithm);
        let totp = totp_rs_totp(case.seed, case.totp_rs_algorithm);

        let ours = key.code_at(UnixTime(NOW)).unwrap().reveal();
        let theirs = totp.generate(NOW).to_string();
        assert_eq!(ours, case.expected, "softtoken {} vs RFC 6238", case.name);
        assert_eq!(theirs, case.expected, "totp-rs {} vs RFC 6238", case.name);

        group.bench_function(BenchmarkId::new("softtoken", case.name), |b| {
            b.iter(|| black_box(&key).code_at(black_box(UnixTime(NOW))));
        });
        group.bench_function(BenchmarkId::new("totp-rs", case.name), |b| {
            b.iter(|| black_box(&totp).generate(black_box(NOW)));
        });
    }
    group.finish();
}

/// `verify_ok/<library>`: parse and verify the current step's SHA-1 code, window ±1.
///
/// Both sides parse the string inside the timed closure, since totp-rs `check` takes a `&str`.
/// softtoken always computes all three candidates. totp-rs `check` walks the window from the
/// oldest step and stops at the first match, so with the current step's code it computes two
/// candidates (previous, current) and skips the third.
fn bench_verify_ok(c: &mut Criterion) {
    let key = softtoken_key(SEED_SHA1, Algorithm::Sha1);
    let totp = totp_rs_totp(SEED_SHA1, totp_rs::Algorithm::SHA1);
    let input = key.code_at(UnixTime(NOW)).unwrap().reveal();
    let current = Step(NOW / 30);

    let parsed = Code::parse(&input, Digits::Six).unwrap();
    assert_eq!(key.verify(&parsed, UnixTime(NOW), None), Ok(current));
    assert_eq!(totp.check(&input, NOW), Some(current.0));

    let mut group = c.benchmark_group("verify_ok");
    group.bench_function("softtoken", |b| {
        b.iter(|| {
            let code = Code::parse(black_box(input.as_str()), Digits::Six).unwrap();
            black_box(&key).verify(&code, black_box(UnixTime(NOW)), None)
        });
    });
    group.bench_function("totp-rs", |b| {
        b.iter(|| black_box(&totp).check(black_box(input.as_str()), black_box(NOW)));
    });
    group.finish();
}

/// `verify_wrong/<library>`: parse and verify a 6-digit SHA-1 code that matches none of the
/// three candidates, so both libraries compute the whole window.
fn bench_verify_wrong(c: &mut Criterion) {
    let key = softtoken_key(SEED_SHA1, Algorithm::Sha1);
    let totp = totp_rs_totp(SEED_SHA1, totp_rs::Algorithm::SHA1);
    let current = NOW / 30;
    let candidates: Vec<String> = (current - 1..=current + 1)
        .map(|step| key.code_at_step(Step(step)).reveal())
        .collect();
    let input = (0..1_000_000u32)
        .map(|value| format!("{value:06}"))
        .find(|code| !candidates.contains(code))
        .expect("three candidates cannot cover a million codes");

    let parsed = Code::parse(&input, Digits::Six).unwrap();
    assert_eq!(
        key.verify(&parsed, UnixTime(NOW), None),
        Err(VerifyError::NoMatch)
    );
    assert_eq!(totp.check(&input, NOW), None);

    let mut group = c.benchmark_group("verify_wrong");
    group.bench_function("softtoken", |b| {
        b.iter(|| {
            let code = Code::parse(black_box(input.as_str()), Digits::Six).unwrap();
            black_box(&key).verify(&code, black_box(UnixTime(NOW)), None)
        });
    });
    group.bench_function("totp-rs", |b| {
        b.iter(|| black_box(&totp).check(black_box(input.as_str()), black_box(NOW)));
    });
    group.finish();
}

/// `limit/sha1_compress`: one SHA-1 compression of one block, the unit the HMAC work above is
/// made of (a code is an inner and an outer compression, the outer waiting for the inner).
/// Each iteration compresses into the state the previous one left, so this is the latency of
/// one compression — the floor a chained HMAC pays.
///
/// `limit/sha1_compress_throughput` starts each iteration from a fresh state, so consecutive
/// compressions are independent and overlap in the CPU: the rate the hardware sustains when
/// there is independent work to interleave, as the candidates of a window are.
fn bench_limit(c: &mut Criterion) {
    const SHA1_IV: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let block = [0x36u8; 64];
    let mut group = c.benchmark_group("limit");
    group.bench_function("sha1_compress", |b| {
        let mut state = SHA1_IV;
        b.iter(|| {
            sha1::block_api::compress(&mut state, core::slice::from_ref(black_box(&block)));
            black_box(state[0])
        });
    });
    group.bench_function("sha1_compress_throughput", |b| {
        b.iter(|| {
            let mut state = black_box(SHA1_IV);
            sha1::block_api::compress(&mut state, core::slice::from_ref(black_box(&block)));
            state
        });
    });
    group.finish();
}

/// Short runs: the whole file finishes in about a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_limit, bench_generate, bench_verify_ok, bench_verify_wrong
}
criterion_main!(benches);
