//! The `otpauth://` key URI that authenticator apps scan (Google's Key URI Format).

use core::fmt::Write as _;

use zeroize::Zeroizing;

use crate::config::{Algorithm, Digits, TotpConfig};

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
