//! The versioned byte encoding of a [`TokenRecord`], for stores that persist bytes (SQL,
//! DynamoDB, Redis) without interpreting them.
//!
//! Format version 1, all integers big-endian:
//!
//! ```text
//! u8  format version (1)
//! u8  flags: 1 = verified present, 2 = pending present, 4 = enabled, 8 = preferred
//! u32 consecutive failures, opt<u64> last failure at, opt<u64> locked until
//! if verified: sealed secret, config, opt<str> friendly device name, u64 verified at,
//!              opt<u64> last used step
//! if pending:  sealed secret, config, u64 created at
//!
//! opt<T>        = u8 0 | u8 1 T
//! sealed secret = u32 length, bytes (what the sealer's `seal` returned)
//! str           = u32 length, UTF-8 bytes
//! config        = u8 algorithm (1 SHA-1, 2 SHA-256, 3 SHA-512), u8 digits (6..=8),
//!                 u64 period, u64 T0, u8 window back, u8 window ahead
//! ```
//!
//! Decoding checks everything a constructor would (digits, period, window, secret length, device
//! name length, the preference only beside a verified token, preferred only when enabled) and
//! refuses anything else, including trailing bytes, with a [`DecodeError`]; it never panics.

use zeroize::Zeroizing;

use super::{MfaPreference, PendingToken, TokenRecord, VerifiedToken};
use crate::config::{Algorithm, Digits, TotpConfig, Window};
use crate::lockout::LockoutState;
use crate::secret::Secret;
use crate::time::{Step, UnixTime};

const VERIFIED: u8 = 1;
const PENDING: u8 = 2;
const ENABLED: u8 = 4;
const PREFERRED: u8 = 8;

/// Bytes of an encoded [`TotpConfig`]: algorithm, digits, period, T0, window back and ahead.
const CONFIG_LEN: usize = 1 + 1 + 8 + 8 + 1 + 1;

/// Protects secrets at rest: `seal` runs on every secret a record encodes, `open` on every one
/// it decodes. Implement it with a KMS or an AEAD key so the database never holds a usable
/// secret. [`PlainSecrets`] stores them as is.
pub trait SecretSealer {
    /// Encrypts (or otherwise protects) a secret's bytes.
    ///
    /// # Errors
    /// [`SealError`] when the key service fails.
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, SealError>;

    /// Recovers a secret's bytes from what `seal` returned.
    ///
    /// # Errors
    /// [`SealError`] when the data is not authentic or the key service fails.
    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// The default sealer: secrets are stored as plain bytes. Whoever reads the database can
/// compute codes; use a real [`SecretSealer`] where that matters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlainSecrets;

impl SecretSealer for PlainSecrets {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, SealError> {
        Ok(secret.to_vec())
    }

    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        Ok(Zeroizing::new(sealed.to_vec()))
    }
}

/// A sealer could not seal or open a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("secret sealing failed: {0}")]
pub struct SealError(pub String);

/// Why bytes are not a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first byte is not a format this version of the crate reads.
    #[error("unsupported record format version {0}")]
    UnsupportedVersion(u8),
    /// The bytes end before the record does.
    #[error("the record is truncated")]
    Truncated,
    /// Bytes follow the end of the record.
    #[error("{0} unexpected bytes after the record")]
    TrailingBytes(usize),
    /// A field holds a value no record can have.
    #[error("invalid record field: {0}")]
    InvalidField(&'static str),
    /// The sealer refused a secret.
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl TokenRecord {
    /// The current format version, the first byte of every encoding.
    pub const FORMAT_VERSION: u8 = 1;

    /// Encodes the record (format above), sealing each secret with `sealer`.
    ///
    /// # Errors
    /// [`SealError`] when the sealer fails.
    pub fn encode(&self, sealer: &(impl SecretSealer + ?Sized)) -> Result<Vec<u8>, SealError> {
        // Sealed forms are wrapped at once: for `PlainSecrets` they are the secret itself.
        let verified_secret = self
            .verified
            .as_ref()
            .map(|token| sealer.seal(token.secret.key_bytes()).map(Zeroizing::new))
            .transpose()?;
        let pending_secret = self
            .pending
            .as_ref()
            .map(|token| sealer.seal(token.secret.key_bytes()).map(Zeroizing::new))
            .transpose()?;
        // Sized exactly up front: a reallocation would free a copy of the secrets unzeroized.
        let name_len = self
            .verified
            .as_ref()
            .and_then(|token| token.friendly_device_name.as_ref())
            .map_or(0, String::len);
        let capacity = 2
            + 22
            + verified_secret.as_ref().map_or(0, |sealed| {
                4 + sealed.len() + CONFIG_LEN + 5 + name_len + 8 + 9
            })
            + pending_secret
                .as_ref()
                .map_or(0, |sealed| 4 + sealed.len() + CONFIG_LEN + 8);
        let mut out = Vec::with_capacity(capacity);
        out.push(Self::FORMAT_VERSION);
        let mut flags = 0u8;
        if self.verified.is_some() {
            flags |= VERIFIED;
        }
        if self.pending.is_some() {
            flags |= PENDING;
        }
        if self.preference.enabled {
            flags |= ENABLED;
        }
        if self.preference.preferred {
            flags |= PREFERRED;
        }
        out.push(flags);
        out.extend_from_slice(&self.lockout.consecutive_failures().to_be_bytes());
        put_opt_u64(
            &mut out,
            self.lockout.last_failure_at().map(UnixTime::as_secs),
        );
        put_opt_u64(&mut out, self.lockout.locked_until().map(UnixTime::as_secs));
        if let (Some(verified), Some(sealed)) = (&self.verified, &verified_secret) {
            put_bytes(&mut out, sealed);
            put_config(&mut out, &verified.config);
            match &verified.friendly_device_name {
                Some(name) => {
                    out.push(1);
                    put_bytes(&mut out, name.as_bytes());
                }
                None => out.push(0),
            }
            out.extend_from_slice(&verified.verified_at.as_secs().to_be_bytes());
            put_opt_u64(&mut out, verified.last_used_step.map(Step::value));
        }
        if let (Some(pending), Some(sealed)) = (&self.pending, &pending_secret) {
            put_bytes(&mut out, sealed);
            put_config(&mut out, &pending.config);
            out.extend_from_slice(&pending.created_at.as_secs().to_be_bytes());
        }
        debug_assert!(out.len() <= capacity, "encode must not reallocate");
        Ok(out)
    }

    /// Decodes bytes written by [`TokenRecord::encode`], opening secrets with `sealer`.
    ///
    /// # Errors
    /// [`DecodeError`] for anything that is not a valid record; never panics.
    pub fn decode(
        bytes: &[u8],
        sealer: &(impl SecretSealer + ?Sized),
    ) -> Result<TokenRecord, DecodeError> {
        let mut reader = Reader { bytes };
        let version = reader.u8()?;
        if version != Self::FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let flags = reader.u8()?;
        if flags & !(VERIFIED | PENDING | ENABLED | PREFERRED) != 0 {
            return Err(DecodeError::InvalidField("flags"));
        }
        let preference = MfaPreference {
            enabled: flags & ENABLED != 0,
            preferred: flags & PREFERRED != 0,
        };
        // The lifecycle only turns the factor on beside a verified token, and keeps
        // `preferred` only with `enabled`; a record saying otherwise was not written by it.
        if (preference.enabled && flags & VERIFIED == 0)
            || (preference.preferred && !preference.enabled)
        {
            return Err(DecodeError::InvalidField("flags"));
        }
        let lockout = LockoutState::from_parts(
            reader.u32()?,
            reader.opt_u64()?.map(UnixTime),
            reader.opt_u64()?.map(UnixTime),
        );
        let verified = if flags & VERIFIED != 0 {
            let secret = reader.secret(sealer)?;
            let config = reader.config()?;
            let friendly_device_name = match reader.u8()? {
                0 => None,
                1 => Some(
                    String::from_utf8(reader.bytes()?.to_vec())
                        .ok()
                        .filter(|name| {
                            name.chars().count() <= crate::api::MAX_FRIENDLY_DEVICE_NAME_CHARS
                        })
                        .ok_or(DecodeError::InvalidField("friendly device name"))?,
                ),
                _ => return Err(DecodeError::InvalidField("friendly device name tag")),
            };
            Some(VerifiedToken {
                secret,
                config,
                friendly_device_name,
                verified_at: UnixTime(reader.u64()?),
                last_used_step: reader.opt_u64()?.map(Step),
            })
        } else {
            None
        };
        let pending = if flags & PENDING != 0 {
            Some(PendingToken {
                secret: reader.secret(sealer)?,
                config: reader.config()?,
                created_at: UnixTime(reader.u64()?),
            })
        } else {
            None
        };
        if !reader.bytes.is_empty() {
            return Err(DecodeError::TrailingBytes(reader.bytes.len()));
        }
        Ok(TokenRecord {
            verified,
            pending,
            preference,
            lockout,
        })
    }
}

fn put_opt_u64(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        Some(value) => {
            out.push(1);
            out.extend_from_slice(&value.to_be_bytes());
        }
        None => out.push(0),
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Secrets are at most Secret::MAX_LEN bytes and device names at most 131072 characters
    // (4 bytes each), far below u32::MAX.
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(bytes);
}

fn put_config(out: &mut Vec<u8>, config: &TotpConfig) {
    out.push(match config.algorithm() {
        Algorithm::Sha1 => 1,
        Algorithm::Sha256 => 2,
        Algorithm::Sha512 => 3,
    });
    out.push(match config.digits() {
        Digits::Six => 6,
        Digits::Seven => 7,
        Digits::Eight => 8,
    });
    out.extend_from_slice(&config.period_secs().to_be_bytes());
    out.extend_from_slice(&config.t0().as_secs().to_be_bytes());
    out.push(config.window().back());
    out.push(config.window().ahead());
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < count {
            return Err(DecodeError::Truncated);
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            _ => Err(DecodeError::InvalidField("optional tag")),
        }
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = usize::try_from(self.u32()?).map_err(|_| DecodeError::Truncated)?;
        self.take(length)
    }

    fn secret(&mut self, sealer: &(impl SecretSealer + ?Sized)) -> Result<Secret, DecodeError> {
        let opened = sealer.open(self.bytes()?)?;
        Secret::from_bytes(&opened).map_err(|_| DecodeError::InvalidField("secret length"))
    }

    fn config(&mut self) -> Result<TotpConfig, DecodeError> {
        let algorithm = match self.u8()? {
            1 => Algorithm::Sha1,
            2 => Algorithm::Sha256,
            3 => Algorithm::Sha512,
            _ => return Err(DecodeError::InvalidField("algorithm")),
        };
        let digits = Digits::from_count(usize::from(self.u8()?))
            .ok_or(DecodeError::InvalidField("digits"))?;
        let period = self.u64()?;
        let t0 = UnixTime(self.u64()?);
        let window =
            Window::new(self.u8()?, self.u8()?).map_err(|_| DecodeError::InvalidField("window"))?;
        TotpConfig::default()
            .with_algorithm(algorithm)
            .with_digits(digits)
            .with_period_secs(period)
            .map(|config| config.with_t0(t0).with_window(window))
            .map_err(|_| DecodeError::InvalidField("period"))
    }
}
