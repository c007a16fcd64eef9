//! Interop: for the same base32 secret, the codes this crate computes equal those of two
//! independent implementations, `oathtool --totp` (OATH Toolkit, Debian package `oathtool`)
//! and Python's `pyotp`, at fixed times from the epoch to past 2³², for HMAC-SHA-1, SHA-256
//! and SHA-512 and 6, 7 and 8 digits. A secret written as other tools write it (lower case,
//! `=`-padded) imports to the same key and gives the same codes in all three.
//!
//! Like every authenticator app, both tools key HMAC with the base32-decoded secret whatever
//! the algorithm, so every algorithm here uses the same secret bytes (not RFC 6238's per-hash
//! seeds, which only the tools' own sanity check below uses).
//!
//! Both tools are required: `bash .ci/interop-tools` installs oathtool on PATH and pyotp in a
//! venv at `target/interop-venv`, whose Python is used unless `SOFTTOKEN_PYTHON` names another.
//! A missing tool fails these tests; `SOFTTOKEN_SKIP_INTEROP=1` skips them with a notice on
//! stderr instead.

// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Stdio};

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::{Algorithm, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime};

mod tools;

/// RFC 4226/6238's SHA-1 seed, the ASCII "12345678901234567890", in base32.
const RFC_SEED_BASE32: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/// Times in seconds: the epoch, both sides of the first step boundaries, RFC 6238 Appendix B's
/// times, and one past 2³².
const TIMES: [u64; 9] = [
    0,
    29,
    30,
    59,
    1_111_111_109,
    1_111_111_111,
    1_234_567_890,
    2_000_000_000,
    20_000_000_000,
];

const ALGORITHMS: [Algorithm; 3] = [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512];

const DIGITS: [Digits; 3] = [Digits::Six, Digits::Seven, Digits::Eight];

// ---------------------------------------------------------------------------------------------
// The cases

/// One code to compute: a base32 secret as given to every implementation, and its parameters.
#[derive(Clone, Debug)]
struct Case {
    secret: String,
    algorithm: Algorithm,
    digits: Digits,
    time: u64,
}

/// A 32-byte secret (Cognito's 52-character SecretCode) from a seeded RNG.
fn generated_secret() -> String {
    let secret = Secret::generate(&mut ChaCha20Rng::seed_from_u64(7));
    let text = secret.to_base32().as_str().to_owned();
    assert_eq!(text.len(), 52);
    text
}

/// The secrets every implementation is given, in canonical form.
fn secrets() -> Vec<String> {
    vec![RFC_SEED_BASE32.to_owned(), generated_secret()]
}

/// Every secret × algorithm × digit count × time.
fn cases_for(secrets: &[String]) -> Vec<Case> {
    let mut cases = Vec::new();
    for secret in secrets {
        for algorithm in ALGORITHMS {
            for digits in DIGITS {
                for time in TIMES {
                    cases.push(Case {
                        secret: secret.clone(),
                        algorithm,
                        digits,
                        time,
                    });
                }
            }
        }
    }
    cases
}

fn key_for(secret: &str, algorithm: Algorithm, digits: Digits) -> TotpKey {
    let secret = Secret::from_base32(secret).unwrap();
    let config = TotpConfig::default()
        .with_algorithm(algorithm)
        .with_digits(digits);
    TotpKey::new(&secret, config)
}

/// This crate's code for a case.
fn ours(case: &Case) -> String {
    key_for(&case.secret, case.algorithm, case.digits)
        .code_at(UnixTime(case.time))
        .unwrap()
        .reveal()
}

// ---------------------------------------------------------------------------------------------
// Running the tools

/// Runs `oathtool --totp=ALG --base32 --digits=N --now=@TIME [--window=W] SECRET` and returns its
/// output lines: the code for TIME's step, then one for each of the next W steps.
fn run_oathtool(oathtool: &Path, case: &Case, window: u32) -> Vec<String> {
    let output = Command::new(oathtool)
        .env("TZ", "UTC")
        .arg(format!("--totp={}", case.algorithm.uri_name()))
        .arg("--base32")
        .arg(format!("--digits={}", case.digits.count()))
        .arg(format!("--now=@{}", case.time))
        .arg(format!("--window={window}"))
        .arg(&case.secret)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "oathtool failed for {case:?}: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines.len(),
        window as usize + 1,
        "oathtool output for {case:?}"
    );
    lines
}

/// One oathtool run per case.
fn oathtool_codes(oathtool: &Path, cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .map(|case| run_oathtool(oathtool, case, 0).remove(0))
        .collect()
}

/// Every case in one Python run: the cases go in on stdin, one code per line comes out.
fn pyotp_codes(python: &Path, cases: &[Case]) -> Vec<String> {
    const SCRIPT: &str = "\
import hashlib, sys
import pyotp
for line in sys.stdin:
    secret, algorithm, digits, time = line.split()
    totp = pyotp.TOTP(secret, digits=int(digits), digest=getattr(hashlib, algorithm))
    print(totp.at(int(time)))
";
    let input: String = cases
        .iter()
        .map(|case| {
            format!(
                "{} {} {} {}\n",
                case.secret,
                case.algorithm.uri_name().to_ascii_lowercase(),
                case.digits.count(),
                case.time
            )
        })
        .collect();
    let stdout = tools::run_python(python, SCRIPT, input);
    let codes: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(codes.len(), cases.len(), "pyotp printed one line per case");
    codes
}

/// Compares `theirs` with ours case by case and fails listing every difference.
fn assert_all_equal(tool: &str, cases: &[Case], theirs: &[String]) {
    assert_eq!(theirs.len(), cases.len());
    let mismatches: Vec<String> = cases
        .iter()
        .zip(theirs)
        .filter_map(|(case, their_code)| {
            let our_code = ours(case);
            (our_code != *their_code)
                .then(|| format!("  {case:?}: softtoken {our_code}, {tool} {their_code}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} codes differ from {tool}:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
    eprintln!("interop: {} codes equal to {tool}", cases.len());
}

// ---------------------------------------------------------------------------------------------
// The tests

/// The tools themselves, invoked as the other tests invoke them, give RFC 6238 Appendix B's
/// answers with its per-hash seeds: a wrong flag (say, `--now` ignored) shows up here first.
#[test]
fn reference_tools_give_rfc_6238_answers() {
    let (Some(oathtool), Some(python)) = (tools::oathtool(), tools::python()) else {
        return;
    };
    let seed = |len: usize| -> String {
        let bytes: Vec<u8> = b"1234567890".iter().copied().cycle().take(len).collect();
        Secret::from_bytes(&bytes)
            .unwrap()
            .to_base32()
            .as_str()
            .to_owned()
    };
    // (time, SHA-1, SHA-256, SHA-512), 8 digits.
    let appendix_b: [(u64, [&str; 3]); 6] = [
        (59, ["94287082", "46119246", "90693936"]),
        (1_111_111_109, ["07081804", "68084774", "25091201"]),
        (1_111_111_111, ["14050471", "67062674", "99943326"]),
        (1_234_567_890, ["89005924", "91819424", "93441116"]),
        (2_000_000_000, ["69279037", "90698825", "38618901"]),
        (20_000_000_000, ["65353130", "77737706", "47863826"]),
    ];
    let mut cases = Vec::new();
    let mut expected = Vec::new();
    for (time, answers) in appendix_b {
        for ((algorithm, len), answer) in ALGORITHMS.into_iter().zip([20, 32, 64]).zip(answers) {
            cases.push(Case {
                secret: seed(len),
                algorithm,
                digits: Digits::Eight,
                time,
            });
            expected.push(answer.to_owned());
        }
    }
    assert_eq!(oathtool_codes(&oathtool, &cases), expected, "oathtool");
    assert_eq!(pyotp_codes(&python, &cases), expected, "pyotp");
}

#[test]
fn codes_equal_oathtool() {
    let Some(oathtool) = tools::oathtool() else {
        return;
    };
    let cases = cases_for(&secrets());
    assert_all_equal("oathtool", &cases, &oathtool_codes(&oathtool, &cases));
}

#[test]
fn codes_equal_pyotp() {
    let Some(python) = tools::python() else {
        return;
    };
    let cases = cases_for(&secrets());
    assert_all_equal("pyotp", &cases, &pyotp_codes(&python, &cases));
}

/// Runs of consecutive steps, through oathtool's `--window`, which prints the codes for the
/// steps after `--now` too.
#[test]
fn consecutive_steps_equal_oathtool_window() {
    let Some(oathtool) = tools::oathtool() else {
        return;
    };
    const WINDOW: u32 = 49;
    let mut compared = 0;
    for secret in secrets() {
        for algorithm in ALGORITHMS {
            for digits in DIGITS {
                for time in [0, 1_234_567_890] {
                    let case = Case {
                        secret: secret.clone(),
                        algorithm,
                        digits,
                        time,
                    };
                    let key = key_for(&secret, algorithm, digits);
                    let first = time / 30;
                    let ours: Vec<String> = (first..=first + u64::from(WINDOW))
                        .map(|step| key.code_at_step(Step(step)).reveal())
                        .collect();
                    assert_eq!(run_oathtool(&oathtool, &case, WINDOW), ours, "{case:?}");
                    compared += ours.len();
                }
            }
        }
    }
    eprintln!("interop: {compared} consecutive-step codes equal to oathtool --window");
}

/// A secret as other tools write it — lower case and `=`-padded to a multiple of 8, the form
/// Python's `base64.b32encode(...).lower()` gives and pyotp accepts — imports to the same key
/// as the canonical form, and oathtool and pyotp given that same text agree with us.
#[test]
fn lower_case_padded_secrets_import_equal() {
    let canonical = secrets();
    let pasted: Vec<String> = canonical
        .iter()
        .map(|secret| {
            let padding = (8 - secret.len() % 8) % 8;
            format!("{}{}", secret.to_ascii_lowercase(), "=".repeat(padding))
        })
        .collect();
    // The 52-character secret really is padded (52 = 6 × 8 + 4).
    assert!(pasted.iter().any(|secret| secret.ends_with("====")));

    for (canonical, pasted) in canonical.iter().zip(&pasted) {
        let imported = Secret::from_base32(pasted).unwrap();
        assert_eq!(imported, Secret::from_base32(canonical).unwrap());
        assert_eq!(imported.to_base32().as_str(), canonical);
    }

    let (Some(oathtool), Some(python)) = (tools::oathtool(), tools::python()) else {
        return;
    };
    let cases = cases_for(&pasted);
    assert_all_equal("oathtool", &cases, &oathtool_codes(&oathtool, &cases));
    assert_all_equal("pyotp", &cases, &pyotp_codes(&python, &cases));
}
