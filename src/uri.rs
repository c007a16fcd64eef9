//! The `otpauth://` key URI that authenticator apps scan (Google's Key URI Format): the
//! builder behind [`Secret::to_otpauth_uri`] and [`KeyUri`], its parser.

use core::fmt::Write as _;

use zeroize::Zeroizing;

use crate::config::{Algorithm, Digits, TotpConfig};
use crate::secret::{Secret, SecretError};

/// Builds `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…[&algorithm=…][&digits=…][&period=…]`.
pub(crate) fn key_uri(
    secret_base32: &str,
    config: &TotpConfig,
    issuer: &str,
    account: &str,
) -> Zeroizing<String> {
    // An upper bound, so the buffer holding the secret never reallocates (a reallocation
    // would free an unzeroized copy): the fixed text is at most 86 bytes, with a 20-digit
    // period, and percent-encoding at most triples the issuer (written twice) and account.
    let mut uri = Zeroizing::new(String::with_capacity(
        96 + secret_base32.len() + 3 * (2 * issuer.len() + account.len()),
    ));
    uri.push_str("otpauth://totp/");
    if !issuer.is_empty() {
        push_percent_encoded(&mut uri, issuer);
        uri.push(':');
    }
    push_percent_encoded(&mut uri, account);
    uri.push_str("?secret=");
    uri.push_str(secret_base32);
    if !issuer.is_empty() {
        uri.push_str("&issuer=");
        push_percent_encoded(&mut uri, issuer);
    }
    if config.algorithm() != Algorithm::Sha1 {
        uri.push_str("&algorithm=");
        uri.push_str(config.algorithm().uri_name());
    }
    if config.digits() != Digits::Six {
        // Writing into a String cannot fail.
        let _ = write!(uri, "&digits={}", config.digits().count());
    }
    if config.period_secs() != 30 {
        let _ = write!(uri, "&period={}", config.period_secs());
    }
    uri
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so a `:` or `&` in an
/// issuer or account name cannot change the URI's structure.
fn push_percent_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            for nibble in [byte >> 4, byte & 0x0f] {
                if let Some(hex) = HEX.get(usize::from(nibble)) {
                    out.push(char::from(*hex));
                }
            }
        }
    }
}

/// A parsed `otpauth://totp/` key URI: the secret, the TOTP parameters, and whose key it is.
///
/// [`KeyUri::parse`] reads what authenticator apps scan, in Google's Key URI Format:
///
/// ```text
/// otpauth://totp/LABEL?secret=SECRET[&issuer=ISSUER][&algorithm=…][&digits=…][&period=…]
/// ```
///
/// where `LABEL` is `ACCOUNT`, or `ISSUER:ACCOUNT` with optional spaces before the account.
/// [`KeyUri::to_uri`] writes one with [`Secret::to_otpauth_uri`].
///
/// `Debug` never shows the secret ([`Secret`]'s own `Debug` is redacted).
///
/// ```
/// use softtoken::{Algorithm, Digits, KeyUri, KeyUriError, Secret, SecretError};
///
/// let key = KeyUri::parse(
///     "otpauth://totp/ACME%20Co:%20alice%40example.com\
///      ?secret=gezdgnbvgy3tqojqgezdgnbvgy3tqojq&issuer=ACME%20Co\
///      &algorithm=sha256&digits=8&period=60&image=https%3A%2F%2Fexample.com%2Flogo.png",
/// )?;
/// assert_eq!(key.secret, Secret::from_bytes(b"12345678901234567890")?);
/// assert_eq!(key.config.algorithm(), Algorithm::Sha256);
/// assert_eq!(key.config.digits(), Digits::Eight);
/// assert_eq!(key.config.period_secs(), 60);
/// assert_eq!(key.issuer.as_deref(), Some("ACME Co"));
/// assert_eq!(key.account, "alice@example.com");
/// assert!(!format!("{key:?}").contains("GEZDGNBV"));
///
/// // Written back in canonical form: upper-case secret, no unknown parameters.
/// assert_eq!(
///     key.to_uri().as_str(),
///     "otpauth://totp/ACME%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
///      &issuer=ACME%20Co&algorithm=SHA256&digits=8&period=60"
/// );
///
/// // Google's own example has an 80-bit secret, below RFC 4226's 128 bits.
/// let google = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example";
/// assert_eq!(
///     KeyUri::parse(google).err(),
///     Some(KeyUriError::Secret(SecretError::TooShort { len: 10, min: 16 }))
/// );
/// assert_eq!(
///     KeyUri::parse("otpauth://hotp/ACME:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&counter=0")
///         .err(),
///     Some(KeyUriError::Hotp)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUri {
    /// The shared secret, from the `secret` parameter.
    pub secret: Secret,
    /// The algorithm, digits and period from the URI (SHA1, 6 and 30 when absent); T0 and the
    /// window, which key URIs do not carry, are [`TotpConfig::default`]'s.
    pub config: TotpConfig,
    /// The issuer, from the label's prefix or the `issuer` parameter; `None` when neither is
    /// given or both are empty.
    pub issuer: Option<String>,
    /// The account name: the label without its issuer prefix and the spaces after the colon.
    /// It may be empty.
    pub account: String,
}

impl KeyUri {
    /// The longest label accepted, in characters (Unicode scalar values) after
    /// percent-decoding, issuer prefix and colon included. The same limit applies to the
    /// `issuer` parameter.
    pub const MAX_LABEL_CHARS: usize = 256;

    /// Parses an `otpauth://totp/` key URI.
    ///
    /// - The scheme and the type are matched without regard to case; whitespace around the
    ///   URI and a `#fragment` are ignored.
    /// - The label and the parameter values are percent-decoded as UTF-8. In the label a `+`
    ///   is a plus sign; in the query it is a space (form encoding), as `%20` is.
    /// - The issuer prefix ends at the label's first literal `:`. An encoded colon (`%3A`)
    ///   separates it too when an `issuer` parameter is present, as Google's format allows;
    ///   without one, `%3A` is part of the account name (that is how
    ///   [`Secret::to_otpauth_uri`] writes an account containing a colon when there is no
    ///   issuer). Spaces after the separating colon are dropped. When both the prefix and the
    ///   `issuer` parameter are present and non-empty they must be equal.
    /// - The secret is read leniently by [`Secret::from_base32`]: lower case, `=` padding
    ///   (also as `%3D`), spaces and hyphens are accepted.
    /// - `algorithm` is `SHA1`, `SHA256` or `SHA512` in any case; `digits` is 6, 7 or 8;
    ///   `period` is a whole number of seconds, at least 1. Absent, they are SHA1, 6 and 30.
    /// - Parameter names are matched without regard to case; unknown parameters (`image`,
    ///   `counter`, …) are ignored, but a recognised one given twice is refused, since apps
    ///   disagree about which of the two they would use.
    ///
    /// # Errors
    /// - [`KeyUriError::NotOtpauth`]: the scheme is not `otpauth://`.
    /// - [`KeyUriError::Hotp`], [`KeyUriError::UnsupportedType`]: the type is not `totp`.
    /// - [`KeyUriError::MissingSecret`], [`KeyUriError::Secret`]: no or an empty `secret`, or
    ///   one [`Secret::from_base32`] refuses (not base32, shorter than [`Secret::MIN_LEN`]
    ///   bytes, …).
    /// - [`KeyUriError::UnsupportedAlgorithm`], [`KeyUriError::InvalidDigits`],
    ///   [`KeyUriError::InvalidPeriod`]: a parameter outside what is supported.
    /// - [`KeyUriError::IssuerMismatch`]: the label's prefix and the `issuer` parameter differ.
    /// - [`KeyUriError::LabelTooLong`], [`KeyUriError::IssuerTooLong`]: more than
    ///   [`KeyUri::MAX_LABEL_CHARS`] characters.
    /// - [`KeyUriError::DuplicateParameter`]: a recognised parameter appears twice.
    /// - [`KeyUriError::InvalidPercentEncoding`], [`KeyUriError::InvalidUtf8`]: a `%` not
    ///   followed by two hexadecimal digits, or decoded bytes that are not UTF-8.
    ///
    /// No error contains any part of the URI, so none can reveal the secret.
    pub fn parse(uri: &str) -> Result<KeyUri, KeyUriError> {
        let uri = uri.trim_matches(|character: char| character.is_ascii_whitespace());
        let (scheme, rest) = uri.split_once("://").ok_or(KeyUriError::NotOtpauth)?;
        if !scheme.eq_ignore_ascii_case("otpauth") {
            return Err(KeyUriError::NotOtpauth);
        }
        // RFC 3986: a fragment is not part of the resource.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (kind, raw_label) = path.split_once('/').unwrap_or((path, ""));
        if kind.eq_ignore_ascii_case("hotp") {
            return Err(KeyUriError::Hotp);
        }
        if !kind.eq_ignore_ascii_case("totp") {
            return Err(KeyUriError::UnsupportedType);
        }

        let parameters = Parameters::parse(query)?;
        let issuer_parameter = match parameters.issuer {
            Some(raw) => Some(decode_bounded(
                raw,
                true,
                KeyUriError::IssuerTooLong {
                    max: Self::MAX_LABEL_CHARS,
                },
            )?),
            None => None,
        }
        .filter(|issuer| !issuer.is_empty());
        let (prefix, account) = split_label(raw_label, issuer_parameter.as_deref())?;
        let issuer = match (prefix.filter(|prefix| !prefix.is_empty()), issuer_parameter) {
            (Some(prefix), Some(parameter)) => {
                // The parameter may have come with `+` meaning a plus sign (RFC 3986 does not
                // require encoding it in a query); either reading may match the label.
                let agrees = prefix == parameter
                    || parameters
                        .issuer
                        .and_then(|raw| decode(raw, false).ok())
                        .is_some_and(|literal| literal == prefix);
                if !agrees {
                    return Err(KeyUriError::IssuerMismatch);
                }
                Some(prefix)
            }
            (prefix, parameter) => prefix.or(parameter),
        };
        // With an issuer the account follows `ISSUER:`, where spaces before it are dropped;
        // drop them here too when the issuer came only from the parameter, so that the URI
        // `to_uri` writes back parses to this same key (found by the `otpauth_uri` fuzz target).
        let account = match (&issuer, account.strip_prefix(' ')) {
            (Some(_), Some(_)) => account.trim_start_matches(' ').to_owned(),
            _ => account,
        };

        let mut config = TotpConfig::default();
        if let Some(raw) = parameters.algorithm {
            config = config.with_algorithm(parse_algorithm(&decode(raw, true)?)?);
        }
        if let Some(raw) = parameters.digits {
            let digits = parse_number(&decode(raw, true)?)
                .and_then(|count| usize::try_from(count).ok())
                .and_then(Digits::from_count)
                .ok_or(KeyUriError::InvalidDigits)?;
            config = config.with_digits(digits);
        }
        if let Some(raw) = parameters.period {
            let period = parse_number(&decode(raw, true)?).ok_or(KeyUriError::InvalidPeriod)?;
            config = config
                .with_period_secs(period)
                .map_err(|_| KeyUriError::InvalidPeriod)?;
        }

        let raw_secret = parameters
            .secret
            .filter(|raw| !raw.is_empty())
            .ok_or(KeyUriError::MissingSecret)?;
        // Decoded into a buffer that never reallocates and is zeroized on drop.
        let mut secret_bytes = Zeroizing::new(Vec::with_capacity(raw_secret.len()));
        percent_decode_into(raw_secret, true, &mut secret_bytes)?;
        let secret_text =
            core::str::from_utf8(&secret_bytes).map_err(|_| KeyUriError::InvalidUtf8)?;
        let secret = Secret::from_base32(secret_text).map_err(KeyUriError::Secret)?;

        Ok(KeyUri {
            secret,
            config,
            issuer,
            account,
        })
    }

    /// The key URI for this key, written by [`Secret::to_otpauth_uri`]: canonical base32, the
    /// issuer (if any) as label prefix and parameter, and `algorithm`, `digits` and `period`
    /// only when they differ from SHA1, 6 and 30.
    ///
    /// [`KeyUri::parse`] gives back an equal `KeyUri`, except that an issuer of `Some("")`
    /// comes back as `None`, spaces at the start of the account are dropped when there is an
    /// issuer, a label over [`KeyUri::MAX_LABEL_CHARS`] is refused, and T0 and the window,
    /// which key URIs do not carry, come back as the defaults.
    ///
    /// This reveals the secret; the string is zeroized when dropped.
    #[must_use]
    pub fn to_uri(&self) -> Zeroizing<String> {
        self.secret.to_otpauth_uri(
            &self.config,
            self.issuer.as_deref().unwrap_or_default(),
            &self.account,
        )
    }
}

/// Why a key URI was refused. No variant holds any part of the URI, so none can reveal the
/// secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUriError {
    /// The URI does not begin with `otpauth://`.
    #[error("not a key URI: it must begin with otpauth://")]
    NotOtpauth,
    /// An `otpauth://hotp/` (counter-based) key.
    #[error("HOTP (counter-based) keys are not supported, only otpauth://totp/")]
    Hotp,
    /// A type other than `totp` or `hotp`.
    #[error("unsupported key type: only otpauth://totp/ is supported")]
    UnsupportedType,
    /// No `secret` parameter, or an empty one.
    #[error("the key URI has no secret parameter")]
    MissingSecret,
    /// The `secret` parameter is not an acceptable base32 secret.
    #[error("the key URI's secret is refused: {0}")]
    Secret(#[source] SecretError),
    /// An `algorithm` other than SHA1, SHA256 or SHA512.
    #[error("the algorithm parameter must be SHA1, SHA256 or SHA512")]
    UnsupportedAlgorithm,
    /// A `digits` parameter that is not 6, 7 or 8.
    #[error("the digits parameter must be 6, 7 or 8")]
    InvalidDigits,
    /// A `period` parameter that is 0, not a decimal number, or too large for 64 bits.
    #[error("the period parameter must be a whole number of seconds, at least 1")]
    InvalidPeriod,
    /// The label's issuer prefix and the `issuer` parameter differ.
    #[error("the label's issuer prefix and the issuer parameter differ")]
    IssuerMismatch,
    /// A label longer than [`KeyUri::MAX_LABEL_CHARS`] characters after decoding.
    #[error("the label is longer than {max} characters")]
    LabelTooLong {
        /// [`KeyUri::MAX_LABEL_CHARS`].
        max: usize,
    },
    /// An `issuer` parameter longer than [`KeyUri::MAX_LABEL_CHARS`] characters after
    /// decoding.
    #[error("the issuer parameter is longer than {max} characters")]
    IssuerTooLong {
        /// [`KeyUri::MAX_LABEL_CHARS`].
        max: usize,
    },
    /// A recognised parameter given more than once.
    #[error("the {name} parameter appears more than once")]
    DuplicateParameter {
        /// The parameter's name, in lower case: `secret`, `issuer`, `algorithm`, `digits`
        /// or `period`.
        name: &'static str,
    },
    /// A `%` not followed by two hexadecimal digits.
    #[error("a '%' in the key URI is not followed by two hexadecimal digits")]
    InvalidPercentEncoding,
    /// Percent-decoded bytes that are not UTF-8.
    #[error("the key URI's label or a parameter does not decode to UTF-8")]
    InvalidUtf8,
}

/// The recognised parameters' raw (still percent-encoded) values.
#[derive(Default)]
struct Parameters<'a> {
    secret: Option<&'a str>,
    issuer: Option<&'a str>,
    algorithm: Option<&'a str>,
    digits: Option<&'a str>,
    period: Option<&'a str>,
}

impl<'a> Parameters<'a> {
    fn parse(query: &'a str) -> Result<Parameters<'a>, KeyUriError> {
        let mut parameters = Parameters::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (raw_name, value) = pair.split_once('=').unwrap_or((pair, ""));
            // A name that does not decode is no name this parser knows.
            let Ok(name) = decode(raw_name, true) else {
                continue;
            };
            let (slot, name) = match name.to_ascii_lowercase().as_str() {
                "secret" => (&mut parameters.secret, "secret"),
                "issuer" => (&mut parameters.issuer, "issuer"),
                "algorithm" => (&mut parameters.algorithm, "algorithm"),
                "digits" => (&mut parameters.digits, "digits"),
                "period" => (&mut parameters.period, "period"),
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(KeyUriError::DuplicateParameter { name });
            }
        }
        Ok(parameters)
    }
}

/// Splits the raw label into its decoded issuer prefix (if any) and account name.
fn split_label(
    raw_label: &str,
    issuer_parameter: Option<&str>,
) -> Result<(Option<String>, String), KeyUriError> {
    let too_long = KeyUriError::LabelTooLong {
        max: KeyUri::MAX_LABEL_CHARS,
    };
    let (prefix, account) = if let Some((raw_prefix, raw_account)) = raw_label.split_once(':') {
        let prefix = decode_bounded(raw_prefix, false, too_long)?;
        let account = decode_bounded(raw_account, false, too_long)?;
        if prefix.chars().count() + 1 + account.chars().count() > KeyUri::MAX_LABEL_CHARS {
            return Err(too_long);
        }
        (Some(prefix), account)
    } else {
        let label = decode_bounded(raw_label, false, too_long)?;
        match label.split_once(':') {
            // Google's format allows an encoded colon as the separator; without an issuer
            // parameter it is read as part of the account name instead.
            Some((prefix, account)) if issuer_parameter.is_some() => {
                (Some(prefix.to_owned()), account.to_owned())
            }
            _ => return Ok((None, label)),
        }
    };
    let account = match account.strip_prefix(' ') {
        Some(_) => account.trim_start_matches(' ').to_owned(),
        None => account,
    };
    Ok((prefix, account))
}

/// Percent-decodes `raw` as UTF-8, refusing with `too_long` more than
/// [`KeyUri::MAX_LABEL_CHARS`] characters (before decoding anything much longer).
fn decode_bounded(
    raw: &str,
    plus_is_space: bool,
    too_long: KeyUriError,
) -> Result<String, KeyUriError> {
    // A character is at most 4 bytes of UTF-8, 12 when each byte is percent-encoded.
    if raw.len() > 12 * KeyUri::MAX_LABEL_CHARS {
        return Err(too_long);
    }
    let text = decode(raw, plus_is_space)?;
    if text.chars().count() > KeyUri::MAX_LABEL_CHARS {
        return Err(too_long);
    }
    Ok(text)
}

/// Percent-decodes `raw` as UTF-8; `+` becomes a space when `plus_is_space` (in a query).
fn decode(raw: &str, plus_is_space: bool) -> Result<String, KeyUriError> {
    let mut bytes = Vec::with_capacity(raw.len());
    percent_decode_into(raw, plus_is_space, &mut bytes)?;
    String::from_utf8(bytes).map_err(|_| KeyUriError::InvalidUtf8)
}

/// Appends `raw` percent-decoded to `out`, which needs at most `raw.len()` more bytes.
fn percent_decode_into(
    raw: &str,
    plus_is_space: bool,
    out: &mut Vec<u8>,
) -> Result<(), KeyUriError> {
    let mut bytes = raw.bytes();
    while let Some(byte) = bytes.next() {
        match byte {
            b'%' => {
                let high = bytes.next().and_then(hex_value);
                let low = bytes.next().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => out.push(high << 4 | low),
                    _ => return Err(KeyUriError::InvalidPercentEncoding),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            other => out.push(other),
        }
    }
    Ok(())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// A non-empty run of ASCII digits as a number (`str::parse` alone would accept a `+`).
fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_algorithm(name: &str) -> Result<Algorithm, KeyUriError> {
    [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512]
        .into_iter()
        .find(|algorithm| name.eq_ignore_ascii_case(algorithm.uri_name()))
        .ok_or(KeyUriError::UnsupportedAlgorithm)
}
