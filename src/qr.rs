//! QR codes of an `otpauth://` key URI, for enrolment screens (feature `qr`).
//!
//! [`svg`] renders a standalone SVG document for a web page; [`terminal`] renders text with
//! Unicode half blocks (`▀`, `▄`, `█` and space), two module rows per line, that a phone camera
//! reads off the screen. [`Secret::to_otpauth_qr_svg`] and [`Secret::to_otpauth_qr_terminal`]
//! build the URI and render it in one call.
//!
//! Both keep the 4-module quiet zone the QR specification requires, and encode at error
//! correction level M (15 % of the symbol may be damaged), which a screenshot survives.
//!
//! **The output encodes the secret** as surely as the URI does: treat it like the secret
//! (never log it, never cache it). It is returned as a [`Zeroizing`] string, written into a
//! buffer sized in advance so that no copy is left behind by a reallocation, and the module
//! matrix is zeroized too. The working buffers inside the `qrcode` encoder are not zeroized:
//! that crate offers no way to.
//!
//! ```
//! use softtoken::{Secret, TotpConfig, qr};
//!
//! let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")?;
//! let uri = secret.to_otpauth_uri(&TotpConfig::default(), "Example Co", "alice@example.com");
//!
//! let svg = qr::svg(&uri)?;
//! assert!(svg.starts_with("<?xml"));
//!
//! let text = qr::terminal(&uri)?;
//! let first_line = text.lines().next().unwrap_or_default();
//! // A version 6 symbol (41 modules) for this URI, plus 4 modules of quiet zone each side.
//! assert_eq!(first_line.chars().count(), 41 + 2 * 4);
//! assert!(text.lines().all(|line| line.chars().all(|c| " ▀▄█".contains(c))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use qrcode::types::QrError as EncoderError;
use qrcode::{Color, EcLevel, QrCode};
use zeroize::Zeroizing;

use crate::config::TotpConfig;
use crate::secret::Secret;

/// Light modules around the symbol on every side, as ISO/IEC 18004 requires.
pub const QUIET_ZONE: usize = 4;

/// Pixels per module in the SVG's `width` and `height` (its `viewBox` is in modules, so it
/// scales without blurring).
const SVG_PIXELS_PER_MODULE: usize = 8;

/// Why a URI could not be rendered as a QR code. Never contains the URI, which holds the
/// secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The URI does not fit in the largest QR code (version 40) at error correction level M,
    /// about 2 300 bytes. A secret of [`Secret::DEFAULT_LEN`] bytes with short issuer and
    /// account names needs under 200.
    #[error("the key URI ({len} bytes) is too long for a QR code")]
    TooLong {
        /// The URI's length in bytes.
        len: usize,
    },
    /// The QR encoder refused the input for another reason (not expected for a URI).
    #[error("the QR encoder refused the key URI: {reason}")]
    Encoder {
        /// The encoder's reason, a fixed phrase.
        reason: &'static str,
    },
}

impl QrError {
    fn from_encoder(error: EncoderError, len: usize) -> QrError {
        match error {
            EncoderError::DataTooLong => QrError::TooLong { len },
            EncoderError::InvalidVersion => QrError::Encoder {
                reason: "invalid version",
            },
            EncoderError::UnsupportedCharacterSet => QrError::Encoder {
                reason: "unsupported character set",
            },
            EncoderError::InvalidEciDesignator => QrError::Encoder {
                reason: "invalid ECI designator",
            },
            EncoderError::InvalidCharacter => QrError::Encoder {
                reason: "invalid character",
            },
        }
    }
}

/// The encoded symbol: `width × width` modules, row by row, `true` for dark.
struct Modules {
    width: usize,
    dark: Zeroizing<Vec<bool>>,
}

impl Modules {
    fn encode(uri: &str) -> Result<Modules, QrError> {
        let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
            .map_err(|error| QrError::from_encoder(error, uri.len()))?;
        let width = code.width();
        // Colors and booleans have one layout, so the standard library (as an optimisation,
        // not a promise) collects in place: the zeroized vector is the encoder's own matrix.
        let dark = code
            .into_colors()
            .into_iter()
            .map(|color| color == Color::Dark)
            .collect();
        Ok(Modules {
            width,
            dark: Zeroizing::new(dark),
        })
    }

    /// Modules per side including the quiet zone.
    fn size(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// Whether the module at `(x, y)` of the quiet-zoned canvas is dark; anything outside
    /// the symbol is light.
    fn is_dark(&self, x: usize, y: usize) -> bool {
        match (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) {
            (Some(x), Some(y)) if x < self.width && y < self.width => {
                self.dark.get(y * self.width + x).copied().unwrap_or(false)
            }
            _ => false,
        }
    }

    /// Writes the SVG document. Run once into a counter and once into the sized buffer.
    fn write_svg(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let size = self.size();
        let pixels = size * SVG_PIXELS_PER_MODULE;
        write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" \
             width=\"{pixels}\" height=\"{pixels}\" viewBox=\"0 0 {size} {size}\" \
             shape-rendering=\"crispEdges\">\
             <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
             <path fill=\"#000\" d=\""
        )?;
        // One closed rectangle per horizontal run of dark modules.
        for y in 0..size {
            let mut x = 0;
            while x < size {
                if self.is_dark(x, y) {
                    let start = x;
                    while x < size && self.is_dark(x, y) {
                        x += 1;
                    }
                    let run = x - start;
                    write!(out, "M{start} {y}h{run}v1h-{run}z")?;
                } else {
                    x += 1;
                }
            }
        }
        out.write_str("\"/></svg>\n")
    }
}

/// Counts the bytes a rendering would write, to size its buffer exactly.
struct ByteCounter(usize);

impl fmt::Write for ByteCounter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0 += text.len();
        Ok(())
    }
}

/// Renders `uri` (an `otpauth://` key URI, or any text) as a standalone SVG document: a white
/// square with the quiet zone, black modules drawn as one `<path>`, `viewBox` in modules and
/// `width`/`height` at 8 pixels per module.
///
/// The SVG encodes the secret in the URI; it is zeroized when dropped.
///
/// # Errors
/// [`QrError::TooLong`] when the URI does not fit in a QR code.
pub fn svg(uri: &str) -> Result<Zeroizing<String>, QrError> {
    let modules = Modules::encode(uri)?;
    // Measure first, so the buffer holding the secret never reallocates. Writing into a
    // counter or a String cannot fail.
    let mut counter = ByteCounter(0);
    let _ = modules.write_svg(&mut counter);
    let mut out = Zeroizing::new(String::with_capacity(counter.0));
    let _ = modules.write_svg(&mut *out);
    Ok(out)
}

/// Renders `uri` as terminal text: Unicode half blocks, each character two modules tall
/// (`▀` top dark, `▄` bottom dark, `█` both, space neither), each line ending in `\n`, the
/// 4-module quiet zone included. Terminal cells are about twice as tall as wide, so modules
/// come out square.
///
/// The glyphs are the dark modules, which suits a terminal with dark text on a light
/// background. On a light-on-dark terminal the symbol appears inverted, which some phone
/// scanners do not read; use [`terminal_inverted`] there.
///
/// The text encodes the secret in the URI; it is zeroized when dropped.
///
/// # Errors
/// [`QrError::TooLong`] when the URI does not fit in a QR code.
pub fn terminal(uri: &str) -> Result<Zeroizing<String>, QrError> {
    Ok(render_terminal(&Modules::encode(uri)?, false))
}

/// Like [`terminal`], with the glyphs drawing the *light* modules and the quiet zone, for a
/// terminal with light text on a dark background: the dark background shows through as the
/// dark modules, so the phone sees dark on light.
///
/// The text encodes the secret in the URI; it is zeroized when dropped.
///
/// # Errors
/// [`QrError::TooLong`] when the URI does not fit in a QR code.
pub fn terminal_inverted(uri: &str) -> Result<Zeroizing<String>, QrError> {
    Ok(render_terminal(&Modules::encode(uri)?, true))
}

fn render_terminal(modules: &Modules, inverted: bool) -> Zeroizing<String> {
    let size = modules.size();
    let lines = size.div_ceil(2);
    // Every glyph is at most 3 bytes in UTF-8, so the buffer never reallocates.
    let mut out = Zeroizing::new(String::with_capacity(lines * (3 * size + 1)));
    for line in 0..lines {
        let (top_row, bottom_row) = (2 * line, 2 * line + 1);
        for x in 0..size {
            // The row below an odd-sized canvas is outside it, so light: more quiet zone.
            let top = modules.is_dark(x, top_row) != inverted;
            let bottom = modules.is_dark(x, bottom_row) != inverted;
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    out
}

impl Secret {
    /// The secret's [key URI](Secret::to_otpauth_uri) as an SVG QR code (see [`svg`]).
    ///
    /// This reveals the secret; the string is zeroized when dropped.
    ///
    /// # Errors
    /// [`QrError::TooLong`] when the URI does not fit in a QR code, which takes a secret far
    /// longer than [`Secret::DEFAULT_LEN`] or very long issuer and account names.
    pub fn to_otpauth_qr_svg(
        &self,
        config: &TotpConfig,
        issuer: &str,
        account: &str,
    ) -> Result<Zeroizing<String>, QrError> {
        svg(&self.to_otpauth_uri(config, issuer, account))
    }

    /// The secret's [key URI](Secret::to_otpauth_uri) as a terminal QR code (see
    /// [`terminal`]).
    ///
    /// This reveals the secret; the string is zeroized when dropped.
    ///
    /// # Errors
    /// [`QrError::TooLong`] when the URI does not fit in a QR code, which takes a secret far
    /// longer than [`Secret::DEFAULT_LEN`] or very long issuer and account names.
    pub fn to_otpauth_qr_terminal(
        &self,
        config: &TotpConfig,
        issuer: &str,
        account: &str,
    ) -> Result<Zeroizing<String>, QrError> {
        terminal(&self.to_otpauth_uri(config, issuer, account))
    }
}
