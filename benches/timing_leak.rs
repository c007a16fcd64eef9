//! A dudect-style timing-leak test of [`TotpKey::verify`] (the `dudect-bencher` crate): for
//! each pair of input classes, a Welch t-test over interleaved measurements of verification,
//! on the whole runtime distribution and cropped at about 100 percentiles; the largest |t| is
//! reported. |t| < 5 is no evidence of a leak; |t| > 5 is one.
//!
//! - `pair_a_right_vs_wrong`: a code matching the window (at a random position −1, 0 or +1)
//!   vs a random code matching none of it.
//! - `pair_b_first_vs_last_digit`: the current step's code with its first digit changed vs with
//!   its last digit changed (both match nothing).
//! - `pair_c_window_minus1_vs_plus1`: the code of step T−1 vs the code of step T+1, submitted at
//!   time T with window ±1 (both accepted, at different positions).
//! - `pair_a_same_verdict_replayed_vs_wrong` and `verdict_accepted_vs_replayed` split pair (a):
//!   a matching vs a non-matching code when both are rejected (watermark at T: `Replayed` vs
//!   `NoMatch`), and the same matching code accepted vs rejected. They found the one leak this
//!   bench has seen in softtoken: a branch on the verdict at the end of `verify`, mispredicted
//!   unequally for the two verdicts when they arrive in random order (pair (a) |t| ≈ 10–36,
//!   about 3 ns, while the same-verdict case stayed below 5). `verify` now builds its result
//!   with a conditional move; all three stay below 5.
//! - `control_leaky_compare_first_vs_last_digit`: not softtoken's verify but a deliberately leaky
//!   one (decimal strings compared byte by byte with an early exit, as in a `==`-based verifier),
//!   fed the inputs of pair (b). Its |t| should be far above 5: it shows the test can see a
//!   leak of a few nanoseconds under the noise of six SHA-1 compressions.
//!
//! Run by hand (not in CI):
//!
//! ```text
//! cargo bench --bench timing_leak                                   # every case
//! cargo bench --bench timing_leak -- --filter pair_b               # one case
//! TIMING_LEAK_MEASUREMENTS=10000000 cargo bench --bench timing_leak # a longer run
//! ```
//!
//! Each case takes `TIMING_LEAK_MEASUREMENTS` measurements, both classes together (default
//! 2,000,000, so about 1,000,000 per class; each measurement's class is drawn by a fair coin,
//! so the classes are interleaved in random order). All inputs are prepared and their expected
//! outcome checked before the timed loop, so only `verify` is timed; every measurement has its
//! own time (so its own steps and HMAC inputs) and one of several keys, drawn the same way for
//! both classes, so the classes differ only in what the pair defines. Keys come from a fixed
//! seed; the class order and times come from the RNG dudect-bencher seeds per case (the seed is
//! printed; `TIMING_LEAK_SEED=<u64>` fixes it). `--continuous <case>` keeps adding batches of
//! the same size to one case until Ctrl-C.
//!
//! In each result line, `n` is the number of measurements in the test that gave the largest
//! |t| (a cropped test keeps only the measurements below its percentile), not the total.

// Benchmarks are not library code: a failed setup step should simply abort the run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::path::PathBuf;

use dudect_bencher::ctbench::{BenchFn, BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::rand::RngExt;
use dudect_bencher::{BenchRng, Class, CtRunner};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::{Code, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError};

/// Measurements per case (both classes together) unless `TIMING_LEAK_MEASUREMENTS` says.
const DEFAULT_MEASUREMENTS: usize = 2_000_000;

/// Keys per case; each measurement uses one drawn uniformly, whatever its class.
const KEYS: usize = 8;

/// Untimed verifications before the timed loop, so caches and predictors are warm.
const WARM_UP: usize = 20_000;

/// Latest time drawn: keeps `now + 30` well inside [`UnixTime::MAX`].
const LATEST: u64 = 4_000_000_000;

fn measurements() -> usize {
    std::env::var("TIMING_LEAK_MEASUREMENTS")
        .map(|value| value.parse().expect("TIMING_LEAK_MEASUREMENTS: a count"))
        .unwrap_or(DEFAULT_MEASUREMENTS)
}

/// `KEYS` keys with secrets from a fixed seed: default config (SHA-1, 6 digits, 30 s, ±1).
fn keys() -> Vec<TotpKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(0x7107_1ea6);
    (0..KEYS)
        .map(|_| TotpKey::new(&Secret::generate(&mut rng), TotpConfig::default()))
        .collect()
}

/// One prepared measurement: which key, the submitted code, the time, the watermark, and the
/// class.
struct Input {
    key: usize,
    code: Code,
    now: UnixTime,
    last_used: Option<Step>,
    class: Class,
}

/// What a case builds for one measurement: the code, the watermark, and verify's outcome.
struct Prepared {
    code: Code,
    last_used: Option<Step>,
    expected: Result<Step, VerifyError>,
}

/// A first use (no watermark) of `code`, expected to give `expected`.
fn first_use(code: Code, expected: Result<Step, VerifyError>) -> Prepared {
    Prepared {
        code,
        last_used: None,
        expected,
    }
}

/// A random time at least two steps after T0, so step T−1 exists.
fn random_now(rng: &mut BenchRng) -> UnixTime {
    UnixTime(rng.random_range(60..LATEST))
}

fn current_step(key: &TotpKey, now: UnixTime) -> u64 {
    key.config().step_at(now).unwrap().0
}

fn parse(digits: &str) -> Code {
    Code::parse(digits, Digits::Six).unwrap()
}

/// A uniformly random 6-digit code.
fn random_code(rng: &mut BenchRng) -> Code {
    parse(&format!("{:06}", rng.random_range(0..1_000_000u32)))
}

/// `code` with the digit at `position` replaced by a different random digit.
fn change_digit(code: &str, position: usize, rng: &mut BenchRng) -> String {
    let mut bytes = code.as_bytes().to_vec();
    let old = bytes[position] - b'0';
    let new = (old + rng.random_range(1..10u8)) % 10;
    bytes[position] = b'0' + new;
    String::from_utf8(bytes).unwrap()
}

/// Draws `count` inputs: a fair coin picks each class, a key and a time are drawn uniformly,
/// and `make` builds that class's code with the outcome verify must give. The outcome is
/// checked here, untimed; a draw whose code also matches another step of the window (a
/// collision, about 1 in 500,000) is drawn again, and more than 1% of such draws is a bug.
fn prepare(
    rng: &mut BenchRng,
    keys: &[TotpKey],
    count: usize,
    make: impl Fn(&TotpKey, UnixTime, Class, &mut BenchRng) -> Prepared,
) -> Vec<Input> {
    let mut inputs = Vec::with_capacity(count);
    let mut redrawn = 0usize;
    while inputs.len() < count {
        let class = coin(rng);
        let key = rng.random_range(0..keys.len());
        let now = random_now(rng);
        let Prepared {
            code,
            last_used,
            expected,
        } = make(&keys[key], now, class, rng);
        if keys[key].verify(&code, now, last_used) != expected {
            redrawn += 1;
            assert!(
                redrawn <= count / 100 + 10,
                "verify disagrees with the class"
            );
            continue;
        }
        inputs.push(Input {
            key,
            code,
            now,
            last_used,
            class,
        });
    }
    inputs
}

/// A fair coin between the two classes.
fn coin(rng: &mut BenchRng) -> Class {
    if rng.random::<bool>() {
        Class::Left
    } else {
        Class::Right
    }
}

/// Warms up, then times `verify` alone for each prepared input, in the prepared (random)
/// class order.
fn run_verify(runner: &mut CtRunner, keys: &[TotpKey], inputs: &[Input]) {
    for input in inputs.iter().cycle().take(WARM_UP) {
        let key = &keys[input.key];
        let _ = black_box(key.verify(&input.code, input.now, input.last_used));
    }
    for input in inputs {
        let key = &keys[input.key];
        runner.run_one(input.class, || {
            black_box(key).verify(
                black_box(&input.code),
                black_box(input.now),
                black_box(input.last_used),
            )
        });
    }
}

/// (a) Left: the code of a random step of the window (T−1, T or T+1); Right: a random code
/// matching no step of the window.
fn pair_a_right_vs_wrong(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let inputs = prepare(
        rng,
        &keys,
        measurements(),
        |key, now, class, rng| match class {
            Class::Left => {
                let step = Step(current_step(key, now) - 1 + rng.random_range(0..3u64));
                first_use(key.code_at_step(step), Ok(step))
            }
            Class::Right => first_use(random_code(rng), Err(VerifyError::NoMatch)),
        },
    );
    run_verify(runner, &keys, &inputs);
}

/// (b) The current step's code with its first digit changed (Left) vs its last digit changed
/// (Right); both match nothing in the window.
fn pair_b_first_vs_last_digit(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let inputs = prepare(rng, &keys, measurements(), |key, now, class, rng| {
        let code = parse(&first_or_last_changed(key, now, class, rng));
        first_use(code, Err(VerifyError::NoMatch))
    });
    run_verify(runner, &keys, &inputs);
}

/// The current step's code at `now` with its first (Left) or last (Right) digit changed.
fn first_or_last_changed(key: &TotpKey, now: UnixTime, class: Class, rng: &mut BenchRng) -> String {
    let right = key.code_at(now).unwrap().reveal();
    let position = match class {
        Class::Left => 0,
        Class::Right => right.len() - 1,
    };
    change_digit(&right, position, rng)
}

/// (c) At time T with window ±1: the code of step T−1 (Left) vs of step T+1 (Right); both
/// accepted, at the step they were made for.
fn pair_c_window_minus1_vs_plus1(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let inputs = prepare(rng, &keys, measurements(), |key, now, class, _| {
        let current = current_step(key, now);
        let step = match class {
            Class::Left => Step(current - 1),
            Class::Right => Step(current + 1),
        };
        first_use(key.code_at_step(step), Ok(step))
    });
    run_verify(runner, &keys, &inputs);
}

/// (a′) Pair (a) with the public verdict held equal: the code of step T already used
/// (watermark T, so `Replayed`) vs a random wrong code (same watermark, `NoMatch`). Both are
/// rejected, so this isolates whether a code *matching* costs anything; the service answers
/// both with the same error.
fn pair_a_same_verdict_replayed_vs_wrong(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let inputs = prepare(rng, &keys, measurements(), |key, now, class, rng| {
        let current = Step(current_step(key, now));
        let (code, expected) = match class {
            Class::Left => (key.code_at_step(current), Err(VerifyError::Replayed)),
            Class::Right => (random_code(rng), Err(VerifyError::NoMatch)),
        };
        Prepared {
            code,
            last_used: Some(current),
            expected,
        }
    });
    run_verify(runner, &keys, &inputs);
}

/// The verdict alone: the code of step T with watermark T−2 (accepted) vs with watermark T
/// (`Replayed`). Same code, same matching position, same watermark path; only the verdict
/// differs, so any |t| here comes from returning `Ok` vs `Err` — what the caller learns anyway.
fn verdict_accepted_vs_replayed(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let inputs = prepare(rng, &keys, measurements(), |key, now, class, _| {
        let current = current_step(key, now);
        let (last_used, expected) = match class {
            Class::Left => (Step(current - 2), Ok(Step(current))),
            Class::Right => (Step(current), Err(VerifyError::Replayed)),
        };
        Prepared {
            code: key.code_at_step(Step(current)),
            last_used: Some(last_used),
            expected,
        }
    });
    run_verify(runner, &keys, &inputs);
}

/// The leaky control: walks the window from its oldest step, renders each candidate as a
/// decimal string and compares it byte by byte, returning at the first differing byte and at
/// the first match — the verifier STYLE.md §9 names as the counter-example.
fn leaky_verify(key: &TotpKey, submitted: &[u8], now: UnixTime) -> Option<Step> {
    let current = current_step(key, now);
    (current - 1..=current + 1)
        .map(Step)
        .find(|&step| leaky_eq(key.code_at_step(step).reveal().as_bytes(), submitted))
}

/// Early-exit byte comparison; `black_box` keeps the compiler from turning it branch-free.
fn leaky_eq(left: &[u8], right: &[u8]) -> bool {
    if left.len() != right.len() {
        return false;
    }
    for (a, b) in left.iter().zip(right) {
        if black_box(*a) != black_box(*b) {
            return false;
        }
    }
    true
}

/// The control for pair (b): the same inputs, through [`leaky_verify`]. Expected |t| ≫ 5.
fn control_leaky_compare_first_vs_last_digit(runner: &mut CtRunner, rng: &mut BenchRng) {
    let keys = keys();
    let count = measurements();
    let mut inputs = Vec::with_capacity(count);
    while inputs.len() < count {
        let class = coin(rng);
        let key = rng.random_range(0..keys.len());
        let now = random_now(rng);
        let submitted = first_or_last_changed(&keys[key], now, class, rng);
        if leaky_verify(&keys[key], submitted.as_bytes(), now).is_some() {
            continue;
        }
        inputs.push((key, submitted, now, class));
    }
    for (key, submitted, now, _) in inputs.iter().cycle().take(WARM_UP) {
        black_box(leaky_verify(
            &keys[*key],
            black_box(submitted.as_bytes()),
            *now,
        ));
    }
    for (key, submitted, now, class) in &inputs {
        let key = &keys[*key];
        runner.run_one(*class, || {
            leaky_verify(
                black_box(key),
                black_box(submitted.as_bytes()),
                black_box(*now),
            )
        });
    }
}

/// The cases, in the order dudect-bencher runs them (alphabetical).
const CASES: [(&str, BenchFn); 6] = [
    (
        "control_leaky_compare_first_vs_last_digit",
        control_leaky_compare_first_vs_last_digit,
    ),
    ("pair_a_right_vs_wrong", pair_a_right_vs_wrong),
    (
        "pair_a_same_verdict_replayed_vs_wrong",
        pair_a_same_verdict_replayed_vs_wrong,
    ),
    ("pair_b_first_vs_last_digit", pair_b_first_vs_last_digit),
    (
        "pair_c_window_minus1_vs_plus1",
        pair_c_window_minus1_vs_plus1,
    ),
    ("verdict_accepted_vs_replayed", verdict_accepted_vs_replayed),
];

/// dudect-bencher's own `ctbench_main!` rejects the `--bench` flag `cargo bench` passes to
/// every `harness = false` target, so this `main` parses the arguments itself (ignoring
/// `--bench`) and hands the cases to the crate's runner, which does the timing and statistics.
fn main() -> std::io::Result<()> {
    let mut opts = BenchOpts::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--filter" => opts.filter = args.next(),
            "--continuous" => {
                opts.continuous = true;
                opts.filter = args.next();
            }
            "--out" => opts.file_out = args.next().map(PathBuf::from),
            filter if !filter.starts_with('-') => opts.filter = Some(filter.to_owned()),
            other => panic!(
                "unknown argument {other}; use [--filter] CASE, --continuous CASE, --out FILE"
            ),
        }
    }
    // The runner prints seeds in hex; take them back in that form or in decimal.
    let seed = std::env::var("TIMING_LEAK_SEED").ok().map(|value| {
        match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        }
        .expect("TIMING_LEAK_SEED: a u64, decimal or 0x-hex")
    });
    let benches = CASES
        .iter()
        .map(|&(name, benchfn)| BenchMetadata {
            name: BenchName(name),
            seed,
            benchfn,
        })
        .collect();
    println!(
        "{} measurements per case (both classes together)",
        measurements()
    );
    run_benches_console(opts, benches)
}
