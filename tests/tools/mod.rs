//! Finding the reference tools the interop tests compare against (`oathtool`, Python with
//! pyotp) and running a Python script over them. A missing tool fails the test, unless
//! `SOFTTOKEN_SKIP_INTEROP=1` is set, in which case a loud notice is printed and the test skips.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)] // test support asserts by panicking

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const INSTALL_HINT: &str = "run `bash .ci/interop-tools` to install oathtool and pyotp \
                            (or set SOFTTOKEN_SKIP_INTEROP=1 to skip the interop tests)";

/// Returns the tool, or — when it is missing — fails the test, unless `SOFTTOKEN_SKIP_INTEROP=1`
/// is set, in which case it prints a notice and returns `None` for the test to return early.
pub fn require(tool: Result<PathBuf, String>) -> Option<PathBuf> {
    match tool {
        Ok(path) => Some(path),
        Err(why) if std::env::var("SOFTTOKEN_SKIP_INTEROP").as_deref() == Ok("1") => {
            // Straight to the process's stderr: the test harness captures `eprintln!`, and a
            // skip must never be silent.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !!! SKIPPED interop test (SOFTTOKEN_SKIP_INTEROP=1): {why}\n\
                 !!! Nothing was compared. Run `bash .ci/interop-tools` to install the tools.\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
        Err(why) => panic!("interop reference tool missing: {why}\n{INSTALL_HINT}"),
    }
}

/// `oathtool` from PATH.
pub fn oathtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("oathtool"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "`oathtool` is not on PATH".to_owned());
    require(found)
}

/// The Python that has pyotp: `SOFTTOKEN_PYTHON`, else the venv `.ci/interop-tools` makes.
pub fn python() -> Option<PathBuf> {
    let path = std::env::var_os("SOFTTOKEN_PYTHON")
        .filter(|value| !value.is_empty())
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop-venv/bin/python"),
            PathBuf::from,
        );
    let probe = Command::new(&path)
        .args(["-I", "-c", "import pyotp"])
        .stdin(Stdio::null())
        .output();
    let found = match probe {
        Ok(output) if output.status.success() => Ok(path),
        Ok(output) => Err(format!(
            "`{}` cannot import pyotp: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )),
        Err(error) => Err(format!("cannot run `{}`: {error}", path.display())),
    };
    require(found)
}

/// Runs `script` with `input` on its standard input and returns its standard output; a failed
/// script fails the test with its error output.
pub fn run_python(python: &Path, script: &str, input: String) -> String {
    let mut child = Command::new(python)
        .args(["-I", "-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "pyotp failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8(output.stdout).unwrap()
}
