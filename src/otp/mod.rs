//! RFC 4226/6238 codes: a key prepared once per secret, generation, and constant-time window
//! verification.

mod keyed_hash;

use core::fmt;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater};

use crate::code::{Code, CodeError};
use crate::config::{Algorithm, TotpConfig};
use crate::secret::Secret;
use crate::time::{Step, TimeError, UnixTime};

use keyed_hash::{
    KeyedHash, MAX_CANDIDATES, Sha1Compression, Sha256Compression, Sha512Compression,
};

/// The HMAC key states for one secret, per algorithm.
#[derive(Clone)]
enum PreparedMac {
    Sha1(KeyedHash<Sha1Compression, 5, 64>),
    Sha256(KeyedHash<Sha256Compression, 8, 64>),
    Sha512(KeyedHash<Sha512Compression, 8, 128>),
}

/// A secret prepared for computing and checking codes under one [`TotpConfig`].
///
/// Preparing runs the HMAC key schedule once; after that a code costs two compressions of the
/// hash and no allocation, and verifying a ±1 window costs six. Keep a `TotpKey` for as long as
/// the secret is in use rather than rebuilding it per request. The key states are zeroized on
/// drop and `Debug` shows only the configuration.
///
/// ```
/// use softtoken::{Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError};
///
/// let secret = Secret::from_bytes(b"12345678901234567890")?;
/// let key = TotpKey::new(&secret, TotpConfig::default());
///
/// let now = UnixTime(59);
/// let code = key.code_at(now)?;
/// assert_eq!(code.reveal(), "287082"); // RFC 6238 Appendix B, 6-digit form
///
/// // First use: accepted, and the step it matched becomes the caller's watermark.
/// let step = key.verify(&code, now, None)?;
/// assert_eq!(step, Step(1));
/// // The same code again is a replay.
/// assert_eq!(key.verify(&code, now, Some(step)), Err(VerifyError::Replayed));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TotpKey {
    mac: PreparedMac,
    config: TotpConfig,
}

impl TotpKey {
    /// Runs the HMAC key schedule for `secret` under `config`'s algorithm.
    #[must_use]
    pub fn new(secret: &Secret, config: TotpConfig) -> TotpKey {
        #[cfg(feature = "test-support")]
        crate::test_support::count_key_schedule();
        let key = secret.key_bytes();
        let mac = match config.algorithm() {
            Algorithm::Sha1 => PreparedMac::Sha1(KeyedHash::new(key)),
            Algorithm::Sha256 => PreparedMac::Sha256(KeyedHash::new(key)),
            Algorithm::Sha512 => PreparedMac::Sha512(KeyedHash::new(key)),
        };
        TotpKey { mac, config }
    }

    /// The configuration the key was prepared for.
    #[must_use]
    pub const fn config(&self) -> &TotpConfig {
        &self.config
    }

    /// Parses user input strictly with this key's digit count (see [`Code::parse`]).
    ///
    /// # Errors
    /// [`CodeError`] when the input is not exactly the configured number of ASCII digits.
    pub fn parse_code(&self, input: &str) -> Result<Code, CodeError> {
        Code::parse(input, self.config.digits())
    }

    /// The HOTP code for a counter (RFC 4226 §5.3); for TOTP the counter is the time step.
    #[must_use]
    pub fn code_at_step(&self, step: Step) -> Code {
        let digits = self.config.digits();
        let truncated = match &self.mac {
            PreparedMac::Sha1(mac) => mac.truncated_mac(step.0),
            PreparedMac::Sha256(mac) => mac.truncated_mac(step.0),
            PreparedMac::Sha512(mac) => mac.truncated_mac(step.0),
        };
        Code::from_reduced(digits.reduce(truncated), digits)
    }

    /// The TOTP code for the step `now` falls in.
    ///
    /// # Errors
    /// [`TimeError`] when `now` is before T0 or after [`UnixTime::MAX`].
    pub fn code_at(&self, now: UnixTime) -> Result<Code, TimeError> {
        Ok(self.code_at_step(self.config.step_at(now)?))
    }

    /// Checks `code` against every step of the window around `now`, and returns the highest
    /// matching step after `last_used` — the value to store as the new watermark.
    ///
    /// Every candidate in the window is computed and compared in constant time; the results
    /// are folded with [`subtle::Choice`] and turned into the `Result` without a branch, so not
    /// even the verdict (accepted or not) is branched on inside `verify`. The time taken depends
    /// on the window and `now`, never on the code, which step matched or the verdict. Steps
    /// before 0 do not exist and are skipped, so `now` in the first step with a window reaching
    /// back is fine.
    ///
    /// The caller owns the replay guard: persist the returned step as `last_used` atomically
    /// with accepting the code (the service layer does this with compare-and-swap).
    ///
    /// # Errors
    /// - [`VerifyError::NoMatch`]: the code matches no step in the window.
    /// - [`VerifyError::Replayed`]: it matches only steps at or before `last_used`.
    /// - [`VerifyError::DigitsMismatch`]: the code was parsed for another digit count.
    /// - [`VerifyError::Time`]: `now` is before T0 or after [`UnixTime::MAX`].
    pub fn verify(
        &self,
        code: &Code,
        now: UnixTime,
        last_used: Option<Step>,
    ) -> Result<Step, VerifyError> {
        let current = self.config.step_at(now)?;
        if code.digits() != self.config.digits() {
            return Err(VerifyError::DigitsMismatch);
        }
        #[cfg(feature = "test-support")]
        crate::test_support::count_verification();
        let window = self.config.window();
        // `current` ≤ UnixTime::MAX and `ahead` ≤ Window::MAX_STEPS: no overflow.
        let first = current.0.saturating_sub(u64::from(window.back()));
        let last = current.0.saturating_add(u64::from(window.ahead()));
        // At most 2 × Window::MAX_STEPS + 1 steps: the window type bounds both sides.
        let count = usize::try_from(last - first + 1).unwrap_or(MAX_CANDIDATES);
        let mut candidates = [0u32; MAX_CANDIDATES];
        match &self.mac {
            PreparedMac::Sha1(mac) => mac.truncated_macs(first, &mut candidates, count),
            PreparedMac::Sha256(mac) => mac.truncated_macs(first, &mut candidates, count),
            PreparedMac::Sha512(mac) => mac.truncated_macs(first, &mut candidates, count),
        }
        let candidates = candidates.iter().take(count).copied();
        let outcome = fold_window((first..).zip(candidates), code, last_used);
        outcome.into_result()
    }
}

/// What the window said, still in constant-time form.
struct WindowOutcome {
    fresh_match: Choice,
    any_match: Choice,
    highest_fresh_step: u64,
}

impl WindowOutcome {
    /// The verdict as `verify`'s `Result`, built without a branch on it.
    ///
    /// A branch on the verdict (`if fresh { Ok } else if any { Err(Replayed) } else { … }`) is
    /// mispredicted whenever the verdict differs from the predictor's guess, and with accepted
    /// and rejected codes interleaved at random that costs the two verdicts unequally: the
    /// dudect bench (`benches/timing_leak.rs`, pair (a)) saw |t| ≈ 10–36, about 3 ns, and
    /// |t| < 5 once the classes merely alternated so the branch became predictable. So the
    /// `Ok` is written first, step included, and then only the discriminant is overwritten for
    /// a rejection: a store after a store to the same place, which LLVM turns into a
    /// conditional move (`cmov`), as it does the choice between the two errors (`sbb`). The
    /// shape matters: a `match` on a verdict tag compiles to branches again, and a table of the
    /// three `Result`s indexed by the verdict, though branch-free, leaks more (|t| > 30, even
    /// between the two rejections): the load at a secret index reads stack slots stored just
    /// before. Re-run the timing bench after touching this.
    ///
    /// A rejection's payload bytes keep `highest_fresh_step`, which is 0 when nothing fresh
    /// matched.
    #[inline(always)]
    fn into_result(self) -> Result<Step, VerifyError> {
        let fresh = bool::from(self.fresh_match);
        let error = if bool::from(self.any_match) {
            VerifyError::Replayed
        } else {
            VerifyError::NoMatch
        };
        let mut result = Ok(Step(self.highest_fresh_step));
        if !fresh {
            result = Err(error);
        }
        result
    }
}

/// Compares every `(step, truncated HMAC)` candidate with the submitted code and folds the
/// comparisons without branching on them. Ascending order makes the last fresh match selected
/// the highest.
#[inline(always)]
fn fold_window(
    candidates: impl Iterator<Item = (u64, u32)>,
    code: &Code,
    last_used: Option<Step>,
) -> WindowOutcome {
    let digits = code.digits();
    let submitted = code.value();
    let mut outcome = WindowOutcome {
        fresh_match: Choice::from(0),
        any_match: Choice::from(0),
        highest_fresh_step: 0,
    };
    for (step, truncated) in candidates {
        let matches = digits.reduce(truncated).ct_eq(&submitted);
        let fresh = match last_used {
            None => Choice::from(1),
            Some(watermark) => step.ct_gt(&watermark.0),
        };
        let accepted = matches & fresh;
        outcome.highest_fresh_step =
            u64::conditional_select(&outcome.highest_fresh_step, &step, accepted);
        outcome.fresh_match |= accepted;
        outcome.any_match |= matches;
    }
    outcome
}

impl fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpKey")
            .field("config", &self.config)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Why a code was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The code matches no step in the window.
    #[error("the code does not match")]
    NoMatch,
    /// The code matches, but only for steps already used (at or before the watermark).
    #[error("the code has already been used")]
    Replayed,
    /// The code has a different digit count from the key's configuration.
    #[error("the code has a different number of digits from the configuration")]
    DigitsMismatch,
    /// `now` cannot be turned into a step.
    #[error(transparent)]
    Time(#[from] TimeError),
}
