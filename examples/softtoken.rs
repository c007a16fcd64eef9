//! `softtoken`: a TOTP command line on this crate — mint a secret, show the code an
//! authenticator app would show, check a code, and print the key URI (and its QR code).
//!
//! ```text
//! cargo run --example softtoken -- new --issuer "Example Co" --account alice
//! cargo run --example softtoken -- code GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ --at 59 --digits 8
//! cargo run --example softtoken -- verify GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ 287082 --at 59
//! cargo run --example softtoken -- uri - --issuer "Example Co" --account alice --qr dark-on-light
//! ```
//!
//! - `new` draws a fresh 32-byte secret from the OS and prints it in base32, its `otpauth://`
//!   URI, and the URI as a terminal QR code (with the crate's `qr` feature, which the crate's
//!   own examples always have).
//! - `code SECRET` prints the code at `--at` (Unix seconds; default now).
//! - `verify SECRET CODE` exits 0 and prints the matched step when the code is valid within
//!   `--window` steps either way of `--at` (default ±1), and exits 1 with the reason when not.
//! - `uri SECRET` prints the key URI, and with `--qr` its QR code.
//!
//! Every command takes `--sha256` or `--sha512` (default SHA-1), `--digits 6|7|8` and
//! `--period SECONDS` (default 30). SECRET is base32 as users paste it (any case, spaces,
//! hyphens, `=` padding), or `-` to read it from the first line of standard input: a secret
//! on the command line is visible to other users in the process list and stays in the shell
//! history.
//!
//! Exit status: 0 success, 1 a code `verify` refused, 2 unusable input (bad secret, time out
//! of range, bad option).

use std::io::{BufRead as _, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use getrandom::SysRng;
use rand_core::TryRng as _;
use softtoken::{
    Algorithm, Code, Digits, Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError, Window,
};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "softtoken",
    version,
    about = "TOTP secrets, codes and key URIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a fresh secret from OS randomness; print it, its key URI and QR code.
    New {
        #[command(flatten)]
        names: Names,
        #[command(flatten)]
        totp: TotpOptions,
        /// How to draw the QR code, for the terminal's colours.
        #[arg(long, value_enum, default_value_t = QrStyle::DarkOnLight)]
        qr: QrStyle,
    },
    /// Print the code for SECRET at a time (default now).
    Code {
        /// Base32 secret, or `-` to read it from standard input.
        secret: String,
        #[command(flatten)]
        time: TimeOption,
        #[command(flatten)]
        totp: TotpOptions,
    },
    /// Check CODE against SECRET: exit 0 and print the matched step, or exit 1.
    Verify {
        /// Base32 secret, or `-` to read it from standard input.
        secret: String,
        /// The code, as the app shows it (`123456`, `123 456`).
        code: String,
        #[command(flatten)]
        time: TimeOption,
        /// Steps accepted either side of the current one.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=i64::from(Window::MAX_STEPS)))]
        window: u8,
        #[command(flatten)]
        totp: TotpOptions,
    },
    /// Print SECRET's otpauth:// key URI (and with --qr its QR code).
    Uri {
        /// Base32 secret, or `-` to read it from standard input.
        secret: String,
        #[command(flatten)]
        names: Names,
        #[command(flatten)]
        totp: TotpOptions,
        /// Also draw the URI as a QR code, for the terminal's colours.
        #[arg(long, value_enum, default_value_t = QrStyle::Off)]
        qr: QrStyle,
    },
}

#[derive(Args)]
struct Names {
    /// The issuer shown in the authenticator app (empty: none).
    #[arg(long, default_value = "softtoken")]
    issuer: String,
    /// The account name shown in the authenticator app.
    #[arg(long, default_value = "user")]
    account: String,
}

#[derive(Args)]
struct TimeOption {
    /// The time, in seconds since the Unix epoch (default: now).
    #[arg(long, value_name = "UNIX")]
    at: Option<u64>,
}

impl TimeOption {
    fn time(&self) -> UnixTime {
        self.at.map_or_else(UnixTime::now, UnixTime)
    }
}

#[derive(Args)]
struct TotpOptions {
    /// HMAC-SHA-256 instead of SHA-1.
    #[arg(long, conflicts_with = "sha512")]
    sha256: bool,
    /// HMAC-SHA-512 instead of SHA-1.
    #[arg(long)]
    sha512: bool,
    /// Digits per code.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(6..=8))]
    digits: u8,
    /// Seconds per step.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    period: u64,
}

impl TotpOptions {
    fn config(&self) -> Result<TotpConfig, Box<dyn std::error::Error>> {
        let algorithm = if self.sha512 {
            Algorithm::Sha512
        } else if self.sha256 {
            Algorithm::Sha256
        } else {
            Algorithm::Sha1
        };
        let digits =
            Digits::from_count(usize::from(self.digits)).ok_or("--digits must be 6, 7 or 8")?;
        Ok(TotpConfig::default()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_period_secs(self.period)?)
    }
}

/// Which terminal the QR code is drawn for: the glyphs are dark modules on a light
/// background, or light modules on a dark one.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QrStyle {
    /// Dark text on a light background.
    DarkOnLight,
    /// Light text on a dark background.
    LightOnDark,
    /// No QR code.
    Off,
}

/// A failure to report on stderr with exit status 2.
type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Written with `writeln!`, not `println!`, so a closed pipe is an error, not a panic.
    let mut out = std::io::stdout().lock();
    match run(cli.command, &mut out) {
        Ok(status) => status,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "softtoken: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command, out: &mut impl Write) -> Result<ExitCode, Failure> {
    match command {
        Command::New { names, totp, qr } => {
            let secret = fresh_secret()?;
            let uri = secret.to_otpauth_uri(&totp.config()?, &names.issuer, &names.account);
            writeln!(out, "secret: {}", secret.to_base32().as_str())?;
            writeln!(out, "uri:    {}", uri.as_str())?;
            print_qr(out, &uri, qr)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Code { secret, time, totp } => {
            let key = TotpKey::new(&read_secret(&secret)?, totp.config()?);
            writeln!(out, "{}", key.code_at(time.time())?.reveal())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            secret,
            code,
            time,
            window,
            totp,
        } => {
            let config = totp.config()?.with_window(Window::new(window, window)?);
            let key = TotpKey::new(&read_secret(&secret)?, config);
            let now = time.time();
            let current = config.step_at(now)?;
            let code = match Code::parse_display_form(&code, config.digits()) {
                Ok(code) => code,
                Err(error) => return Ok(refuse(&error)),
            };
            match key.verify(&code, now, None) {
                Ok(Step(step)) => {
                    let offset = i128::from(step) - i128::from(current.0);
                    writeln!(
                        out,
                        "valid: step {step} ({offset:+} from the current step {})",
                        current.0
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(VerifyError::Time(error)) => Err(error.into()),
                Err(error) => Ok(refuse(&error)),
            }
        }
        Command::Uri {
            secret,
            names,
            totp,
            qr,
        } => {
            let secret = read_secret(&secret)?;
            let uri = secret.to_otpauth_uri(&totp.config()?, &names.issuer, &names.account);
            writeln!(out, "{}", uri.as_str())?;
            print_qr(out, &uri, qr)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `verify`'s answer for a code that is not valid: the reason on stderr, exit status 1.
fn refuse(reason: &dyn std::fmt::Display) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "invalid: {reason}");
    ExitCode::from(1)
}

/// [`Secret::DEFAULT_LEN`] bytes from the OS. `Secret::generate(&mut UnwrapErr(SysRng))`
/// would do the same but panic if the OS refused; this reports it instead.
fn fresh_secret() -> Result<Secret, Failure> {
    let mut bytes = Zeroizing::new([0u8; Secret::DEFAULT_LEN]);
    SysRng
        .try_fill_bytes(bytes.as_mut_slice())
        .map_err(|error| format!("the OS random number generator failed: {error}"))?;
    Ok(Secret::from_bytes(bytes.as_slice())?)
}

/// The secret from the argument, or from the first line of stdin for `-`.
fn read_secret(argument: &str) -> Result<Secret, Failure> {
    if argument != "-" {
        return Ok(Secret::from_base32(argument)?);
    }
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| format!("cannot read the secret from standard input: {error}"))?;
    Ok(Secret::from_base32(line.trim())?)
}

#[cfg(feature = "qr")]
fn print_qr(out: &mut impl Write, uri: &str, style: QrStyle) -> Result<(), Failure> {
    let text = match style {
        QrStyle::DarkOnLight => softtoken::qr::terminal(uri)?,
        QrStyle::LightOnDark => softtoken::qr::terminal_inverted(uri)?,
        QrStyle::Off => return Ok(()),
    };
    out.write_all(b"\n")?;
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

#[cfg(not(feature = "qr"))]
fn print_qr(_out: &mut impl Write, _uri: &str, style: QrStyle) -> Result<(), Failure> {
    if style != QrStyle::Off {
        writeln!(
            std::io::stderr(),
            "(no QR code: built without the `qr` feature)"
        )?;
    }
    Ok(())
}
