//! `softtoken` gives an auth service the **software-token (TOTP) MFA lifecycle of Amazon
//! Cognito user pools** — AssociateSoftwareToken, VerifySoftwareToken, the MFA preference, the
//! `MFA_SETUP` and `SOFTWARE_TOKEN_MFA` sign-in challenges, and removal — with Cognito's
//! exception names and messages.
//!
//! # The sans-IO contract
//!
//! The core never reads a clock, never draws from a global or thread RNG, and performs no IO.
//! Every time-dependent call takes `now` as a [`UnixTime`]; every call that mints a secret or a
//! session takes the caller's [`rand_core::CryptoRng`]. The pure layer ([`lifecycle`],
//! [`TotpKey`]) returns decisions as values: a [`lifecycle::Transition`] holds the next record,
//! the events and the answer, and the caller persists the record with a compare-and-swap before
//! acting on the answer. [`Service`] is that caller, written once: it reaches storage only
//! through the [`TokenStore`] and [`SessionStore`] traits, and returns an [`Outcome`] — the
//! response or the Cognito error, plus the audit [`Event`]s — for the auth service to put on
//! the wire and in its log. [`UnixTime::now`] is the one function that reads a clock, for
//! callers outside the core.
//!
//! # The lifecycle
//!
//! ```text
//!            associate                verify(good code)
//!   None ─────────────────► Pending ─────────────────────► Verified ──┐
//!    ▲                        │  ▲ verify(bad code): stays Pending,   │ sign-in codes
//!    │                        │  │ failure counted                    │ (replay-guarded,
//!    │     associate again:   └──┘ (a new secret replaces a pending   │  throttled)
//!    │     one)                                                        │
//!    └──────────── admin delete ◄──────────────────────────────────────┘
//! ```
//!
//! Re-associating a user with a verified token follows the pool's [`ReassociationPolicy`]:
//! the old token keeps working until the new one verifies (default), or is dropped at once.
//!
//! # Layers
//!
//! | layer | items | IO |
//! |---|---|---|
//! | [`api`] | request/response types named after Cognito's operations, validated at the edge into [`Principal`], [`Code`], … | none |
//! | [`Service`] | resolve the caller, load, transition, compare-and-swap (bounded retries), sessions, events | only through the store traits |
//! | [`lifecycle`] | the pure state machine over a [`TokenRecord`], with [`LockoutPolicy`] | none |
//! | [`TotpKey`] | RFC 4226/6238: HMAC key states prepared once, constant-time window verification | none |
//! | [`Secret`], [`Code`], [`TotpConfig`], [`UnixTime`], [`PoolConfig`] | value types that make invalid states unrepresentable | none |
//! | [`store`] | [`TokenStore`], [`SessionStore`], [`MemoryStore`] (the embedded default), and the conformance suite (feature `test-support`) | the implementor's |
//!
//! # Enrol, verify, sign in
//!
//! ```
//! use rand_chacha::ChaCha20Rng;
//! use rand_core::SeedableRng;
//! use softtoken::api::{
//!     AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
//! };
//! use softtoken::{
//!     AccessToken, MemoryStore, MfaMode, PoolConfig, Secret, Service, TotpConfig, TotpKey,
//!     UnixTime, UserId,
//! };
//!
//! // The auth service verifies its own access tokens; the crate only asks whose one is.
//! fn resolve(token: &AccessToken) -> Option<UserId> {
//!     (token.expose() == "alice-token").then(|| UserId::new("alice"))
//! }
//!
//! let store = MemoryStore::new();
//! let pool = PoolConfig::default().with_mfa_mode(MfaMode::On)?;
//! let service = Service::new(store.clone(), store, resolve, pool);
//! let mut rng = ChaCha20Rng::seed_from_u64(7); // a service passes OS randomness
//! let now = UnixTime(1_700_000_000); // a service passes the current time
//!
//! // AssociateSoftwareToken: a 52-character SecretCode for the authenticator app.
//! let associate = AssociateSoftwareTokenRequest {
//!     access_token: Some("alice-token".into()),
//!     session: None,
//! };
//! let response = service.associate_software_token(&associate, now, &mut rng).into_result()?;
//! assert_eq!(response.secret_code.expose().len(), 52);
//! let app = TotpKey::new(&Secret::from_base32(response.secret_code.expose())?, TotpConfig::default());
//!
//! // VerifySoftwareToken with the code the app shows.
//! let verify = VerifySoftwareTokenRequest {
//!     access_token: Some("alice-token".into()),
//!     session: None,
//!     user_code: app.code_at(now)?.reveal(),
//!     friendly_device_name: Some("Alice's phone".into()),
//! };
//! let verified = service.verify_software_token(&verify, now, &mut rng).into_result()?;
//! assert_eq!(verified.status.as_str(), "SUCCESS");
//!
//! // Sign-in, after the password check: the pool is ON, so the challenge is SOFTWARE_TOKEN_MFA.
//! let later = UnixTime(now.as_secs() + 30);
//! let challenge = service
//!     .begin_sign_in(&UserId::new("alice"), later, &mut rng)
//!     .into_result()?
//!     .expect("a verified token is challenged");
//! assert_eq!(challenge.challenge_name.as_str(), "SOFTWARE_TOKEN_MFA");
//! let answer = RespondToSoftwareTokenMfaRequest {
//!     session: challenge.session.expose().to_owned(),
//!     username: "alice".into(),
//!     software_token_mfa_code: app.code_at(later)?.reveal(),
//! };
//! let signed_in = service.respond_to_software_token_mfa(&answer, later).into_result()?;
//! assert_eq!(signed_in.user, UserId::new("alice"));
//!
//! // The session is spent, and the code with it.
//! let error = service.respond_to_software_token_mfa(&answer, later).into_result().unwrap_err();
//! assert_eq!(error.code(), "NotAuthorizedException");
//! assert_eq!(error.to_string(), "Invalid session for the user, session can only be used once.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The OTP engine alone
//!
//! ```
//! use softtoken::{Secret, Step, TotpConfig, TotpKey, UnixTime, VerifyError};
//!
//! let key = TotpKey::new(&Secret::from_bytes(b"12345678901234567890")?, TotpConfig::default());
//! let code = key.parse_code("287082")?; // RFC 6238 Appendix B, T = 59, 6 digits
//! let watermark = key.verify(&code, UnixTime(59), None)?; // store it: Step(1)
//! assert_eq!(watermark, Step(1));
//! assert_eq!(key.verify(&code, UnixTime(60), Some(watermark)), Err(VerifyError::Replayed));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security properties
//!
//! - Verification computes every candidate in the window, compares each in constant time with
//!   [`subtle`], folds the results with [`subtle::Choice`] and branches once; a right and a
//!   wrong code cost the same. It returns the **highest** fresh matching step, since two steps
//!   of one window can share a code.
//! - Replay protection is a watermark written in the same compare-and-swap as the rest of the
//!   record; the lockout counters live in the record too, so parallel guesses on many
//!   instances cannot exceed the budget, and sessions are consumed with a conditional write.
//! - A store error is never read as success.
//! - Secrets, prepared keys, codes, sessions and access tokens are zeroized on drop and print
//!   redacted; secrets leave their types only through named reveals ([`Secret::to_base32`],
//!   [`Secret::to_otpauth_uri`], [`api::SecretCode::expose`]).
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
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "qr")]
pub mod qr;
mod record;
#[cfg(feature = "reference-server")]
pub mod reference_server;
mod secret;
mod service;
pub mod store;
#[cfg(feature = "test-support")]
pub mod test_support;
mod time;
#[cfg(feature = "tracing")]
mod trace;
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
pub use record::{
    DecodeError, MfaPreference, PendingToken, PlainSecrets, SealError, SecretSealer, TokenRecord,
    VerifiedToken,
};
pub use secret::{Secret, SecretError};
pub use service::{AccessTokenResolver, AsyncService, DEFAULT_MAX_ATTEMPTS, Outcome, Service};
pub use store::{AsyncSessionStore, AsyncTokenStore, MemoryStore, SessionStore, TokenStore};
pub use time::{Step, TimeError, UnixTime};
pub use uri::{KeyUri, KeyUriError};

/// README's examples are compiled and run as doc tests, so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
