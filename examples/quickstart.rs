//! Enrol a software token the way AssociateSoftwareToken does: a fresh secret from OS
//! randomness, its otpauth URI for an authenticator app, and the code for the current step,
//! verified once and then refused as a replay.
//!
//! Run: `cargo run --example quickstart`

use getrandom::SysRng;
use rand_core::UnwrapErr;
use softtoken::{Secret, TotpConfig, TotpKey, UnixTime, VerifyError};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The core never draws randomness itself: the caller supplies a CSPRNG.
    let mut os_rng = UnwrapErr(SysRng);
    let secret = Secret::generate(&mut os_rng);
    let config = TotpConfig::default();

    println!("SecretCode:  {}", secret.to_base32().as_str());
    println!(
        "otpauth URI: {}",
        secret
            .to_otpauth_uri(&config, "softtoken demo", "alice@example.com")
            .as_str()
    );

    // The core never reads the clock either; this example does, once.
    let now = UnixTime::now();
    let key = TotpKey::new(&secret, config);
    let code = key.code_at(now)?;
    let seconds_left =
        config.period_secs() - (now.as_secs() - config.t0().as_secs()) % config.period_secs();
    println!(
        "code now:    {} (valid for {seconds_left} more seconds, ±1 step)",
        code.reveal()
    );

    let step = key.verify(&code, now, None)?;
    println!("verify:      accepted at {step}; store it as the replay watermark");
    match key.verify(&code, now, Some(step)) {
        Err(VerifyError::Replayed) => println!("verify again: refused, the code was already used"),
        other => return Err(format!("expected a replay refusal, got {other:?}").into()),
    }
    Ok(())
}
