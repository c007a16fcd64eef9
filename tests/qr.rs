//! Feature `qr`: the terminal text and the SVG decode back to the exact key URI with an
//! independent QR reader (`rqrr`), after being rasterised the way a screen shows them; the
//! quiet zone is there; the SVG holds no readable secret; and `QrError` never shows the URI.

// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use softtoken::qr::{self, QrError};
use softtoken::{Algorithm, Digits, Secret, TotpConfig};

/// Screen pixels per module side when rasterising.
const SCALE: usize = 4;

/// A few key URIs: Cognito's defaults, every parameter changed, names that need
/// percent-encoding, and a long secret (a larger symbol version).
fn uris() -> Vec<(String, String)> {
    let rfc = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
    let cognito = Secret::from_bytes(&[0x5a; Secret::DEFAULT_LEN]).unwrap();
    let long = Secret::from_bytes(&(0..=255).collect::<Vec<u8>>()).unwrap();
    let custom = TotpConfig::default()
        .with_algorithm(Algorithm::Sha512)
        .with_digits(Digits::Eight)
        .with_period_secs(60)
        .unwrap();
    [
        (
            &rfc,
            TotpConfig::default(),
            "Example Co",
            "alice@example.com",
        ),
        (&cognito, TotpConfig::default(), "", "bob"),
        (
            &cognito,
            custom,
            "Zürich Bank: Prod & Test",
            "carol+mfa@example.org",
        ),
        (&long, TotpConfig::default(), "softtoken", "dave"),
    ]
    .into_iter()
    .map(|(secret, config, issuer, account)| {
        (
            secret.to_otpauth_uri(&config, issuer, account).to_string(),
            secret.to_base32().to_string(),
        )
    })
    .collect()
}

/// The module grid the terminal text shows: each character is two rows, `ink` is whether a
/// glyph's filled half is dark on screen (dark text on light) or light (light on dark).
fn modules_from_terminal(text: &str, ink_is_dark: bool) -> Vec<Vec<bool>> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for glyph in line.chars() {
            let (upper, lower) = match glyph {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in the terminal QR"),
            };
            top.push(upper == ink_is_dark);
            bottom.push(lower == ink_is_dark);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

/// Decodes a module grid (`true` = dark) as a camera would see it: every module SCALE × SCALE
/// grey pixels, dark 0, light 255; one QR code must be found.
fn decode(dark: &[Vec<bool>]) -> String {
    let height = dark.len() * SCALE;
    let width = dark.iter().map(Vec::len).max().unwrap() * SCALE;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let is_dark = dark[y / SCALE].get(x / SCALE).copied().unwrap_or(false);
        if is_dark { 0 } else { 255 }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the image");
    let (_meta, content) = grids[0].decode().expect("the QR code decodes");
    content
}

#[test]
fn terminal_text_decodes_to_the_exact_uri() {
    for (uri, _) in uris() {
        let text = qr::terminal(&uri).unwrap();
        assert_eq!(decode(&modules_from_terminal(&text, true)), uri);
    }
}

#[test]
fn inverted_terminal_text_decodes_on_a_dark_background() {
    for (uri, _) in uris() {
        let text = qr::terminal_inverted(&uri).unwrap();
        // Light-on-dark: the glyphs are light, the background dark.
        assert_eq!(decode(&modules_from_terminal(&text, false)), uri);
        // The inverse of the plain rendering, glyph for glyph.
        let plain = qr::terminal(&uri).unwrap();
        let flip = |c| match c {
            '█' => ' ',
            ' ' => '█',
            '▀' => '▄',
            '▄' => '▀',
            other => other,
        };
        assert_eq!(text.chars().map(flip).collect::<String>(), plain.as_str());
    }
}

#[test]
fn terminal_text_has_the_quiet_zone_and_square_shape() {
    for (uri, _) in uris() {
        let text = qr::terminal(&uri).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<Vec<char>> = text.lines().map(|line| line.chars().collect()).collect();
        let size = lines[0].len();
        // 21 + 4 × version modules, plus 4 each side.
        assert_eq!((size - 2 * qr::QUIET_ZONE - 21) % 4, 0, "size {size}");
        assert!(lines.iter().all(|line| line.len() == size));
        assert_eq!(lines.len(), size.div_ceil(2));
        let blank = |line: &Vec<char>| line.iter().all(|&c| c == ' ');
        // 4 module rows above and below are 2 text lines; 4 columns left and right.
        assert!(blank(&lines[0]) && blank(&lines[1]));
        assert!(blank(&lines[lines.len() - 1]) && blank(&lines[lines.len() - 2]));
        for line in &lines {
            assert!(line[..qr::QUIET_ZONE].iter().all(|&c| c == ' '));
            assert!(line[size - qr::QUIET_ZONE..].iter().all(|&c| c == ' '));
        }
        // The top-left finder pattern starts right inside the quiet zone.
        assert_eq!(lines[2][qr::QUIET_ZONE], '█');
    }
}

/// Reads the SVG this crate writes back into modules: the `viewBox` gives the size, and the
/// one path is `M{x} {y}h{run}v1h-{run}z` per horizontal run of dark modules.
fn modules_from_svg(svg: &str) -> Vec<Vec<bool>> {
    let view_box = svg
        .split("viewBox=\"0 0 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("a viewBox");
    let size: usize = view_box.parse().unwrap();
    let path = svg
        .split("<path fill=\"#000\" d=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the module path");
    let mut dark = vec![vec![false; size]; size];
    for rect in path.split('z').filter(|rect| !rect.is_empty()) {
        let rect = rect.strip_prefix('M').expect("each run starts with M");
        let (position, rest) = rect.split_once('h').unwrap();
        let (x, y) = position.split_once(' ').unwrap();
        let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
        let (run, back) = rest.split_once("v1h-").unwrap();
        assert_eq!(run, back, "a run goes back to where it started");
        let run: usize = run.parse().unwrap();
        for cell in &mut dark[y][x..x + run] {
            *cell = true;
        }
    }
    dark
}

#[test]
fn svg_decodes_to_the_exact_uri_and_matches_the_terminal_text() {
    for (uri, _) in uris() {
        let svg = qr::svg(&uri).unwrap();
        let from_svg = modules_from_svg(&svg);
        assert_eq!(decode(&from_svg), uri);
        // The same symbol as the terminal text (which has one padding row more when odd).
        let mut from_text = modules_from_terminal(&qr::terminal(&uri).unwrap(), true);
        from_text.truncate(from_svg.len());
        assert_eq!(from_svg, from_text);
    }
}

#[test]
fn svg_is_well_formed_and_holds_no_readable_secret() {
    for (uri, base32) in uris() {
        let svg = qr::svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "));
        assert!(svg.ends_with("</svg>\n"));
        assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        // Every element is self-closed inside the one <svg>…</svg>.
        assert_eq!(
            svg.matches('<').count(),
            5,
            "<?xml, <svg, <rect, <path, </svg>"
        );
        assert_eq!(svg.matches("/>").count(), 2);
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
        assert!(
            svg.chars()
                .all(|c| c.is_ascii() && (c == '\n' || !c.is_control()))
        );
        assert!(
            !svg.contains(&base32[..16]),
            "no part of the secret in the SVG"
        );
        assert!(!svg.contains("otpauth"));
    }
}

#[test]
fn secret_conveniences_render_the_key_uri() {
    let secret = Secret::from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
    let config = TotpConfig::default().with_digits(Digits::Eight);
    let uri = secret.to_otpauth_uri(&config, "Example Co", "alice");
    assert_eq!(
        secret
            .to_otpauth_qr_terminal(&config, "Example Co", "alice")
            .unwrap()
            .as_str(),
        qr::terminal(&uri).unwrap().as_str()
    );
    assert_eq!(
        secret
            .to_otpauth_qr_svg(&config, "Example Co", "alice")
            .unwrap()
            .as_str(),
        qr::svg(&uri).unwrap().as_str()
    );
}

#[test]
fn errors_never_contain_the_uri() {
    // The largest secret and a long account name: too much for version 40.
    let secret = Secret::from_bytes(&[0xa5; Secret::MAX_LEN]).unwrap();
    let base32 = secret.to_base32();
    let account = "a".repeat(1500);
    let uri = secret.to_otpauth_uri(&TotpConfig::default(), "Example Co", &account);
    for result in [
        qr::svg(&uri),
        qr::terminal(&uri),
        qr::terminal_inverted(&uri),
        secret.to_otpauth_qr_svg(&TotpConfig::default(), "Example Co", &account),
        secret.to_otpauth_qr_terminal(&TotpConfig::default(), "Example Co", &account),
    ] {
        let error = result.unwrap_err();
        assert_eq!(error, QrError::TooLong { len: uri.len() });
        for shown in [
            error.to_string(),
            format!("{error:?}"),
            format!("{error:#?}"),
        ] {
            assert!(!shown.contains(&base32[..16]), "{shown}");
            assert!(!shown.contains("otpauth"), "{shown}");
            assert!(!shown.contains("aaaaaaaa"), "{shown}");
        }
    }
    assert_eq!(
        QrError::TooLong { len: uri.len() }.to_string(),
        format!(
            "the key URI ({} bytes) is too long for a QR code",
            uri.len()
        )
    );
}
