//! placeholder
#![forbid(unsafe_code)]

mod code;
mod config;
mod otp;
mod secret;
mod time;
mod uri;

pub use code::{Code, CodeError};
pub use config::{Algorithm, ConfigError, Digits, TotpConfig, Window};
pub use otp::{TotpKey, VerifyError};
pub use secret::{Secret, SecretError};
pub use time::{Step, TimeError, UnixTime};
