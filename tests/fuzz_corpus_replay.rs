//! Replays every committed fuzz input through the same functions the `cargo fuzz` targets
//! call (`softtoken::test_support::fuzz_targets`), on the stable toolchain: the minimised
//! corpus under `fuzz/corpus/<target>/` and the crash inputs kept under
//! `fuzz/regressions/<target>/`. A crash once fixed stays fixed, and every property the
//! targets assert is checked again on each input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests assert by panicking

use std::fs;
use std::path::{Path, PathBuf};

use softtoken::test_support::fuzz_targets;

/// The files in `fuzz/<kind>/<target>/`, sorted so a failure names the same file each run.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&directory) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `body` on every corpus and regression input of `target`; the corpus must not be empty.
fn replay(target: &str, body: fn(&[u8])) {
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is missing or empty: the replay would prove nothing"
    );
    for path in corpus.iter().chain(&inputs("regressions", target)) {
        let data = fs::read(path).unwrap();
        // On a failed property the panic message says which; this names the input.
        eprintln!("replaying {}", path.display());
        body(&data);
    }
}

#[test]
fn secret_base32() {
    replay("secret_base32", fuzz_targets::secret_base32);
}

#[test]
fn code_parse() {
    replay("code_parse", fuzz_targets::code_parse);
}

#[test]
fn otpauth_uri() {
    replay("otpauth_uri", fuzz_targets::otpauth_uri);
}

#[test]
fn record_decode() {
    replay("record_decode", fuzz_targets::record_decode);
}

#[test]
fn request_validation() {
    replay("request_validation", fuzz_targets::request_validation);
}

#[test]
fn server_handler() {
    replay("server_handler", fuzz_targets::server_handler);
}
