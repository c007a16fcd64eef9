//! `softtoken` gives an auth service the software-token (TOTP) MFA of Amazon Cognito user
//! pools as a library. Its core is **sans-IO**: it never reads a clock, never draws from a
//! global or thread RNG, and performs no IO. Time comes in as a [`UnixTime`] argument and
//! randomness as a caller-supplied [`rand_core::CryptoRng`]; every decision comes back as a
//! value. After each call the caller persists what it was told to (for a verified code, the
//! returned [`Step`] becomes the replay watermark) and, where nothing was accepted, persists
//! nothing.
//!
//! # What is here
//!
//! The foundation every later layer stands on:
//!
//! | module | type | job |
//! |---|---|---|
//! | secret | [`Secret`] | 32 CSPRNG bytes (Cognito's 52-character SecretCode), lenient base32 import, canonical export, `otpauth://` URI; zeroized, redacted `Debug` |
//! | config | [`TotpConfig`], [`Algorithm`], [`Digits`], [`Window`] | Cognito's defaults (SHA-1, 6 digits, 30 s, T0 = 0, ±1); invalid values unrepresentable |
//! | code | [`Code`] | strict parsing of exactly *n* ASCII digits; a separate, explicit display-form normaliser |
//! | time | [`UnixTime`], [`Step`] | time as an argument; total step arithmetic |
//! | otp | [`TotpKey`] | RFC 4226/6238 codes with the HMAC key schedule run once per secret; constant-time window verification |
//!
//! # Verifying a code
//!
//! ```
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use softtoken::{Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError};
//!
//! // Enrolment: a fresh secret from the caller's CSPRNG (seeded here so the example is
//! // repeatable; a service uses OS randomness).
//! let mut rng = ChaCha20Rng::seed_from_u64(7);
//! let secret = Secret::generate(&mut rng);
//! let secret_code = secret.to_base32(); // what AssociateSoftwareToken returns
//! assert_eq!(secret_code.len(), 52);
//! let uri = secret.to_otpauth_uri(&TotpConfig::default(), "Example", "alice@example.com");
//! assert!(uri.starts_with("otpauth://totp/Example:alice%40example.com?secret="));
//!
//! // Prepare the key once; each verification then costs six hash compressions.
//! let key = TotpKey::new(&secret, TotpConfig::default());
//!
//! // The user's authenticator app shows the code for the current step.
//! let now = UnixTime(1_700_000_000);
//! let typed = key.code_at(now)?.reveal();
//!
//! // Sign-in: parse strictly, verify against the stored watermark, persist the new one.
//! let mut watermark: Option<Step> = None;
//! let code = key.parse_code(&typed)?;
//! watermark = Some(key.verify(&code, now, watermark)?);
//!
//! // The same code a second time, even from the same window, is a replay.
//! assert_eq!(key.verify(&code, UnixTime(1_700_000_010), watermark), Err(VerifyError::Replayed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security properties
//!
//! - Verification computes every candidate in the window, compares each in constant time with
//!   [`subtle`], folds the results with [`subtle::Choice`] and branches once; a right and a
//!   wrong code cost the same. It returns the **highest** fresh matching step, since two steps
//!   of one window can share a code.
//! - Replay protection is a watermark: only steps after the last used one are accepted.
//! - Secrets, prepared keys and codes are zeroized on drop and print redacted; they leave
//!   their types only through named reveals ([`Secret::to_base32`], [`Secret::to_otpauth_uri`],
//!   [`Code::reveal`]).
//! - Arithmetic is total: the first step has no step before it, times past 2³² work, and
//!   times past [`UnixTime::MAX`] are errors, never panics.
#![forbid(unsafe_code)]

pub mod api;
mod code;
mod config;
mod error;
mod event;
mod identity;
pub mod lifecycle;
mod lockout;
mod otp;
mod pool;
mod record;
mod secret;
mod service;
pub mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod time;
mod uri;

pub use code::{Code, CodeError};
pub use config::{Algorithm, ConfigError, Digits, TotpConfig, Window};
pub use error::{Error, StoreError};
pub use event::{CodeCheck, Event, EventKind, RejectReason};
pub use identity::{AccessToken, Principal, SessionId, UserId};
pub use lifecycle::{MfaView, SoftwareTokenMfaSettings};
pub use lockout::{LockoutPolicy, LockoutState};
pub use otp::{TotpKey, VerifyError};
pub use pool::{MfaMode, PoolConfig, ReassociationPolicy};
pub use record::{MfaPreference, PendingToken, TokenRecord, VerifiedToken};
pub use secret::{Secret, SecretError};
pub use service::{AccessTokenResolver, Outcome, Service};
pub use store::{MemoryStore, SessionStore, TokenStore};
pub use time::{Step, TimeError, UnixTime};

/// README's examples are compiled and run as doc tests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
