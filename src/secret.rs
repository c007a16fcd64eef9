//! The shared TOTP secret: generation, import, and the named ways out.

use core::fmt;

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::config::TotpConfig;

/// A TOTP shared secret.
///
/// The bytes never leave the type except through [`Secret::to_base32`] and
/// [`Secret::to_otpauth_uri`], both of which return [`Zeroizing`] strings. `Debug` prints only
/// the length, and the bytes are zeroized when the secret is dropped.
///
/// ```
/// use softtoken::Secret;
///
/// // As a user pastes it: lower case, grouped, padded.
/// let imported = Secret::from_base32("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq====")?;
/// assert_eq!(imported.to_base32().as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
/// assert_eq!(format!("{imported:?}"), "Secret(<redacted>, 20 bytes)");
///
/// // Too short for RFC 4226 §4.
/// assert!(Secret::from_base32("JBSWY3DPEHPK3PXP").is_err());
/// # Ok::<(), softtoken::SecretError>(())
/// ```
pub struct Secret {
    bytes: Zeroizing<Vec<u8>>,
}

impl Secret {
    /// Bytes in a generated secret: 256 bits, which Cognito shows as a 52-character SecretCode.
    pub const DEFAULT_LEN: usize = 32;
    /// The fewest bytes accepted: RFC 4226 §4 requires at least 128 bits.
    pub const MIN_LEN: usize = 16;
    /// The most bytes accepted. Longer keys are hashed down by HMAC anyway; anything this long
    /// is a mistake or an attack on memory.
    pub const MAX_LEN: usize = 1024;

    /// A fresh [`Secret::DEFAULT_LEN`]-byte secret from the caller's CSPRNG.
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Secret {
        let mut bytes = Zeroizing::new(vec![0u8; Self::DEFAULT_LEN]);
        rng.fill_bytes(&mut bytes);
        Secret { bytes }
    }

    /// A copy of `bytes` as a secret.
    ///
    /// # Errors
    /// [`SecretError::TooShort`] below [`Secret::MIN_LEN`] bytes, [`SecretError::TooLong`] above
    /// [`Secret::MAX_LEN`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, SecretError> {
        check_length(bytes.len())?;
        Ok(Secret {
            bytes: Zeroizing::new(bytes.to_vec()),
        })
    }

    /// Imports a base32 secret (RFC 4648 alphabet) as users paste it: upper or lower case, with
    /// or without trailing `=` padding, with spaces or hyphens anywhere as group separators.
    ///
    /// # Errors
    /// [`SecretError::InvalidBase32`] for any other character, padding that is not at the end,
    /// or a length no base32 encoding has; [`SecretError::TooShort`] / [`SecretError::TooLong`]
    /// for the decoded length.
    pub fn from_base32(input: &str) -> Result<Secret, SecretError> {
        // Refuse absurd input before copying it: 8 base32 characters carry 5 bytes, so even
        // with a separator after every character a valid secret is under 4 × MAX_LEN.
        if input.len() > 4 * Self::MAX_LEN {
            return Err(SecretError::TooLong {
                len: input.len() / 8 * 5,
                max: Self::MAX_LEN,
            });
        }
        let mut canonical = Zeroizing::new(String::with_capacity(input.len()));
        let mut padding_seen = false;
        for (position, character) in input.chars().enumerate() {
            match character {
                ' ' | '-' => {}
                '=' => padding_seen = true,
                'a'..='z' | 'A'..='Z' | '2'..='7' if !padding_seen => {
                    canonical.push(character.to_ascii_uppercase());
                }
                _ => return Err(SecretError::InvalidBase32 { position }),
            }
        }
        // Lengths 1, 3 and 6 modulo 8 cannot come from encoding whole bytes.
        if matches!(canonical.len() % 8, 1 | 3 | 6) {
            return Err(SecretError::InvalidBase32Length);
        }
        let decoded = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &canonical)
            .map(Zeroizing::new)
            .ok_or(SecretError::InvalidBase32Length)?;
        check_length(decoded.len())?;
        Ok(Secret { bytes: decoded })
    }

    /// The secret in canonical base32: upper case, unpadded, `[A-Z2-7]+`. A 32-byte secret gives
    /// Cognito's 52-character SecretCode.
    ///
    /// This reveals the secret; the string is zeroized when dropped.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            &self.bytes,
        ))
    }

    /// The secret as an `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER` key URI for
    /// authenticator apps, with `algorithm`, `digits` and `period` added only when they differ
    /// from SHA1, 6 and 30. Issuer and account are percent-encoded; an empty issuer is left out
    /// of both the label and the parameters.
    ///
    /// This reveals the secret; the string is zeroized when dropped.
    ///
    /// ```
    /// use softtoken::{Secret, TotpConfig};
    ///
    /// let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
    /// let uri = secret.to_otpauth_uri(&TotpConfig::default(), "Example Co", "alice@example.com");
    /// assert_eq!(
    ///     uri.as_str(),
    ///     "otpauth://totp/Example%20Co:alice%40example.com\
    ///      ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Co"
    /// );
    /// # Ok::<(), softtoken::SecretError>(())
    /// ```
    #[must_use]
    pub fn to_otpauth_uri(
        &self,
        config: &TotpConfig,
        issuer: &str,
        account: &str,
    ) -> Zeroizing<String> {
        crate::uri::key_uri(&self.to_base32(), config, issuer, account)
    }

    /// The length in bytes (not secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always `false`: a secret has at least [`Secret::MIN_LEN`] bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The key bytes, for keying HMAC inside the crate.
    pub(crate) fn key_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn check_length(len: usize) -> Result<(), SecretError> {
    if len < Secret::MIN_LEN {
        return Err(SecretError::TooShort {
            len,
            min: Secret::MIN_LEN,
        });
    }
    if len > Secret::MAX_LEN {
        return Err(SecretError::TooLong {
            len,
            max: Secret::MAX_LEN,
        });
    }
    Ok(())
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret {
            bytes: self.bytes.clone(),
        }
    }
}

impl ConstantTimeEq for Secret {
    /// Constant-time in the contents; the lengths are public.
    fn ct_eq(&self, other: &Secret) -> subtle::Choice {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        bool::from(self.ct_eq(other))
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted>, {} bytes)", self.bytes.len())
    }
}

impl Zeroize for Secret {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
    }
}

/// Why a secret was refused. The message never contains the secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// Fewer bytes than RFC 4226 §4 allows.
    #[error("a secret must be at least {min} bytes (RFC 4226 §4); got {len}")]
    TooShort {
        /// Bytes given.
        len: usize,
        /// [`Secret::MIN_LEN`].
        min: usize,
    },
    /// More bytes than [`Secret::MAX_LEN`].
    #[error("a secret may be at most {max} bytes; got {len}")]
    TooLong {
        /// Bytes given (estimated from the encoded length when refused before decoding).
        len: usize,
        /// [`Secret::MAX_LEN`].
        max: usize,
    },
    /// A character that is not base32, a space or a hyphen, or a `=` followed by more data.
    #[error(
        "a base32 secret may contain only A-Z, 2-7, spaces, hyphens and trailing '='; character {position} is not allowed there"
    )]
    InvalidBase32 {
        /// Zero-based character position.
        position: usize,
    },
    /// A number of base32 characters that no whole number of bytes encodes to.
    #[error("the base32 secret has a length no encoding of whole bytes produces")]
    InvalidBase32Length,
}
