//! The bodies of the `cargo fuzz` targets under `fuzz/` (feature `test-support`): one function
//! per target, so the fuzzer and the stable corpus replay (`tests/fuzz_corpus_replay.rs`) run
//! exactly the same code.
//!
//! Each function takes arbitrary bytes, never panics on its own account, and asserts the
//! properties its parser or decoder promises (round trips, exact acceptance rules, the request
//! edge's limits), so the fuzzer finds logic bugs as well as crashes. A failed `assert!` is the
//! finding; the message says which property broke.

use core::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::api::{
    self, AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    VerifySoftwareTokenRequest,
};
use crate::code::Code;
use crate::config::{Algorithm, Digits, TotpConfig};
use crate::error::Error;
use crate::identity::{AccessToken, Principal, SessionId, UserId};
use crate::lifecycle::SoftwareTokenMfaSettings;
use crate::pool::PoolConfig;
use crate::record::{PlainSecrets, SealError, SecretSealer, TokenRecord};
use crate::secret::{Secret, SecretError};
use crate::service::{Outcome, Service};
use crate::store::{MemoryStore, TokenStore};
use crate::time::UnixTime;
use crate::uri::{KeyUri, KeyUriError};

/// The fixed clock of every target that needs one.
const NOW: UnixTime = UnixTime(1_700_000_000);

/// A deterministic generator (SplitMix64) for the targets that mint secrets and sessions, so a
/// fuzz input always replays the same way. **Not** cryptographically secure: it claims
/// `CryptoRng` only because the service's signatures ask for one, and it never leaves this
/// module.
struct FuzzRng(u64);

impl TryRng for FuzzRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self
            .try_next_u64()?
            .to_be_bytes()
            .into_iter()
            .fold(0, |acc, byte| {
                // Keeps the low four bytes: a u32 from a u64 without a truncating cast.
                acc << 8 | u32::from(byte)
            }))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let word = self.try_next_u64()?.to_le_bytes();
            for (out, byte) in chunk.iter_mut().zip(word) {
                *out = byte;
            }
        }
        Ok(())
    }
}

impl TryCryptoRng for FuzzRng {}

/// The input as text: UTF-8 as is, anything else with U+FFFD for each bad sequence (so every
/// input reaches the parser, not just the UTF-8 ones).
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

// ---------------------------------------------------------------------------------------------
// secret_base32

/// `Secret::from_base32` on arbitrary text, checked against an independent decoder written
/// from the documented rules; on success the canonical export is upper-case unpadded base32
/// of the right length and imports to an equal secret.
pub fn secret_base32(data: &[u8]) {
    let input = text(data);
    let imported = Secret::from_base32(&input);
    let expected = reference_base32(&input);
    assert_eq!(
        imported.as_ref().err(),
        expected.as_ref().err(),
        "from_base32 and the documented rules disagree"
    );
    if let (Ok(secret), Ok(bytes)) = (&imported, &expected) {
        assert!(
            Secret::from_bytes(bytes).as_ref() == Ok(secret),
            "from_base32 decoded other bytes than the reference decoder"
        );
    }
    let Ok(secret) = imported else {
        return;
    };
    assert!((Secret::MIN_LEN..=Secret::MAX_LEN).contains(&secret.len()));
    let export = secret.to_base32();
    assert_eq!(
        export.len(),
        (secret.len() * 8).div_ceil(5),
        "canonical export has the wrong length"
    );
    assert!(
        export
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || (b'2'..=b'7').contains(&byte)),
        "canonical export is not upper-case unpadded base32"
    );
    let again = Secret::from_base32(&export);
    assert!(
        again.as_ref() == Ok(&secret),
        "the export does not re-import"
    );
    assert_eq!(
        *again.map(|secret| secret.to_base32()).unwrap_or_default(),
        *export
    );
}

/// The documented import rules, written independently of `Secret::from_base32`.
fn reference_base32(input: &str) -> Result<Zeroizing<Vec<u8>>, SecretError> {
    if input.len() > 4 * Secret::MAX_LEN {
        return Err(SecretError::TooLong {
            len: input.len() / 8 * 5,
            max: Secret::MAX_LEN,
        });
    }
    let mut values = Zeroizing::new(Vec::new());
    let mut padded = false;
    for (position, character) in input.chars().enumerate() {
        let value = match character {
            ' ' | '-' => continue,
            '=' => {
                padded = true;
                continue;
            }
            'A'..='Z' => u32::from(character) - u32::from('A'),
            'a'..='z' => u32::from(character) - u32::from('a'),
            '2'..='7' => u32::from(character) - u32::from('2') + 26,
            _ => return Err(SecretError::InvalidBase32 { position }),
        };
        if padded {
            return Err(SecretError::InvalidBase32 { position });
        }
        values.push(value);
    }
    // Whole bytes encode to 0, 2, 4, 5 or 7 characters past a multiple of 8.
    if matches!(values.len() % 8, 1 | 3 | 6) {
        return Err(SecretError::InvalidBase32Length);
    }
    let mut bytes = Zeroizing::new(Vec::new());
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for value in values.iter() {
        buffer = (buffer << 5 | value) & 0x1fff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((buffer >> bits) & 0xff).unwrap_or_default());
        }
    }
    if bytes.len() < Secret::MIN_LEN {
        return Err(SecretError::TooShort {
            len: bytes.len(),
            min: Secret::MIN_LEN,
        });
    }
    if bytes.len() > Secret::MAX_LEN {
        return Err(SecretError::TooLong {
            len: bytes.len(),
            max: Secret::MAX_LEN,
        });
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// code_parse

/// `Code::parse` and `Code::parse_display_form` for 6, 7 and 8 digits: accepted exactly when
/// the (normalised) input is that many ASCII digits, the error says why otherwise, and an
/// accepted code reveals the same digits and parses back to an equal code.
pub fn code_parse(data: &[u8]) {
    let input = text(data);
    let characters = input.chars().count();
    for digits in [Digits::Six, Digits::Seven, Digits::Eight] {
        let count = digits.count();
        let strict = Code::parse(&input, digits);
        let all_digits = input.bytes().all(|byte| byte.is_ascii_digit());
        assert_eq!(
            strict.is_ok(),
            characters == count && all_digits,
            "Code::parse accepts exactly {count} ASCII digits"
        );
        match &strict {
            Ok(code) => {
                assert_eq!(code.digits(), digits);
                assert_eq!(code.reveal(), *input);
                assert!(Code::parse(&code.reveal(), digits).as_ref() == Ok(code));
            }
            Err(crate::CodeError::WrongLength { expected, found }) => {
                assert_eq!((*expected, *found), (count, characters));
            }
            Err(crate::CodeError::NotADigit { position }) => {
                assert_eq!(characters, count, "the length is checked first");
                let first_bad = input.chars().position(|c| !c.is_ascii_digit());
                assert_eq!(first_bad, Some(*position));
            }
        }

        let normalised: String = input
            .trim()
            .chars()
            .filter(|character| !matches!(character, ' ' | '-'))
            .collect();
        let display = Code::parse_display_form(&input, digits);
        assert_eq!(
            display.is_ok(),
            normalised.len() == count && normalised.bytes().all(|byte| byte.is_ascii_digit()),
            "parse_display_form accepts {count} ASCII digits with separators"
        );
        if let Ok(code) = &display {
            assert_eq!(code.digits(), digits);
            assert_eq!(code.reveal(), normalised);
            assert!(Code::parse(&normalised, digits).as_ref() == Ok(code));
        }
        if let Ok(code) = &strict {
            assert!(display.as_ref() == Ok(code), "strict implies display form");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// otpauth_uri

/// `KeyUri::parse` on arbitrary text: on success, writing the key back and parsing again gives
/// an equal key and the same text (the canonical form is a fixed point). Then a URI built by
/// `Secret::to_otpauth_uri` from fuzz-chosen issuer, account and parameters parses back to
/// exactly what `KeyUri::to_uri` documents.
pub fn otpauth_uri(data: &[u8]) {
    let input = text(data);
    if let Ok(key) = KeyUri::parse(&input) {
        assert!(key.issuer.as_deref() != Some(""), "an empty issuer is None");
        assert_eq!(key.config.t0(), TotpConfig::default().t0());
        assert_eq!(key.config.window(), TotpConfig::default().window());
        let label_chars = key
            .issuer
            .as_ref()
            .map_or(0, |issuer| issuer.chars().count() + 1)
            + key.account.chars().count();
        assert!(
            label_chars <= KeyUri::MAX_LABEL_CHARS,
            "label over the limit"
        );
        let written = key.to_uri();
        let again = KeyUri::parse(&written);
        assert!(
            again.as_ref() == Ok(&key),
            "parse → to_uri → parse changed the key: {key:?} became {again:?}"
        );
        if let Ok(again) = again {
            assert_eq!(
                *again.to_uri(),
                *written,
                "the canonical form is not stable"
            );
        }
    }

    // The builder with fuzz-chosen parts: [selector] issuer 0x00 account 0x00 secret bytes.
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |byte| *byte == 0);
    let issuer = text(parts.next().unwrap_or_default()).into_owned();
    let account = text(parts.next().unwrap_or_default()).into_owned();
    let secret = Secret::from_bytes(parts.next().unwrap_or_default())
        .or_else(|_| Secret::from_bytes(b"12345678901234567890"));
    let Ok(secret) = secret else {
        return;
    };
    let algorithm = match selector % 3 {
        0 => Algorithm::Sha1,
        1 => Algorithm::Sha256,
        _ => Algorithm::Sha512,
    };
    let digits = match selector / 3 % 3 {
        0 => Digits::Six,
        1 => Digits::Seven,
        _ => Digits::Eight,
    };
    let period = match selector / 9 % 5 {
        0 => 30,
        1 => 60,
        2 => 1,
        3 => 90,
        _ => u64::MAX,
    };
    let Ok(config) = TotpConfig::default()
        .with_algorithm(algorithm)
        .with_digits(digits)
        .with_period_secs(period)
    else {
        return;
    };
    let uri = secret.to_otpauth_uri(&config, &issuer, &account);
    let parsed = KeyUri::parse(&uri);
    let label_chars = if issuer.is_empty() {
        account.chars().count()
    } else {
        issuer.chars().count() + 1 + account.chars().count()
    };
    let max = KeyUri::MAX_LABEL_CHARS;
    if label_chars > max {
        // The issuer parameter is read before the label.
        let expected = if issuer.chars().count() > max {
            KeyUriError::IssuerTooLong { max }
        } else {
            KeyUriError::LabelTooLong { max }
        };
        assert_eq!(parsed.err(), Some(expected));
        return;
    }
    let expected = KeyUri {
        secret,
        config,
        issuer: (!issuer.is_empty()).then(|| issuer.clone()),
        account: if issuer.is_empty() {
            account
        } else {
            account.trim_start_matches(' ').to_owned()
        },
    };
    assert!(
        parsed.as_ref() == Ok(&expected),
        "a built URI parsed to {parsed:?}, expected {expected:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// record_decode

/// A sealer that refuses everything: decoding with it fails exactly when the record holds a
/// secret.
struct RefusingSealer;

impl SecretSealer for RefusingSealer {
    fn seal(&self, _secret: &[u8]) -> Result<Vec<u8>, SealError> {
        Err(SealError("refused".to_owned()))
    }

    fn open(&self, _sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        Err(SealError("refused".to_owned()))
    }
}

/// A sealer that changes the bytes (a header and a mask) and checks them on the way back.
struct MaskingSealer;

impl MaskingSealer {
    const HEADER: &'static [u8] = b"fz1:";
}

impl SecretSealer for MaskingSealer {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut sealed = Self::HEADER.to_vec();
        sealed.extend(secret.iter().map(|byte| byte ^ 0xA5));
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let body = sealed
            .strip_prefix(Self::HEADER)
            .ok_or_else(|| SealError("not sealed by MaskingSealer".to_owned()))?;
        Ok(Zeroizing::new(
            body.iter().map(|byte| byte ^ 0xA5).collect(),
        ))
    }
}

/// `TokenRecord::decode` on arbitrary bytes: on success the encoding is canonical (encoding the
/// record gives back the input), decoding that again gives an equal record, a refusing sealer
/// fails exactly when there is a secret, and a byte-changing sealer round-trips.
pub fn record_decode(data: &[u8]) {
    let decoded = TokenRecord::decode(data, &PlainSecrets);
    let refused = TokenRecord::decode(data, &RefusingSealer);
    let Ok(record) = decoded else {
        assert!(
            refused.is_err(),
            "a refusing sealer cannot make bytes decode"
        );
        return;
    };
    let encoded = record.encode(&PlainSecrets);
    assert!(
        encoded.as_deref() == Ok(data),
        "the encoding is not canonical"
    );

    let has_secret = record.verified().is_some() || record.pending().is_some();
    match refused {
        Ok(without) => {
            assert!(!has_secret, "decoded a secret through a refusing sealer");
            assert!(without == record);
        }
        Err(error) => {
            assert!(has_secret, "refused a record without secrets: {error}");
            assert!(matches!(error, crate::record::DecodeError::Seal(_)));
        }
    }

    let sealed = record.encode(&MaskingSealer);
    assert!(sealed.is_ok(), "MaskingSealer never fails");
    let Ok(sealed) = sealed else {
        return;
    };
    assert!(TokenRecord::decode(&sealed, &MaskingSealer).as_ref() == Ok(&record));
    assert_eq!(
        sealed == data,
        !has_secret,
        "sealing changes exactly the secrets"
    );
    if has_secret {
        assert!(TokenRecord::decode(&sealed, &PlainSecrets) != Ok(record.clone()));
    }
}

// ---------------------------------------------------------------------------------------------
// request_validation

/// The user every access token resolves to in `request_validation`.
const FUZZ_USER: &str = "fuzz-user";

fn resolve_any(_token: &AccessToken) -> Option<UserId> {
    Some(UserId::new(FUZZ_USER))
}

type FuzzService = Service<MemoryStore, MemoryStore, fn(&AccessToken) -> Option<UserId>>;

/// A service on a fresh `MemoryStore` in the default pool (software tokens on, six digits).
fn fresh_service() -> (MemoryStore, FuzzService) {
    let store = MemoryStore::new();
    let resolver: fn(&AccessToken) -> Option<UserId> = resolve_any;
    let service = Service::new(
        store.clone(),
        store.clone(),
        resolver,
        PoolConfig::default(),
    );
    (store, service)
}

/// Nothing stored: no token record, no session.
fn assert_untouched(store: &MemoryStore, operation: &str) {
    let loaded = store.load(&UserId::new(FUZZ_USER));
    assert!(
        matches!(loaded, Ok(None)),
        "{operation}: a refused request stored a record"
    );
    assert_eq!(
        store.session_count(),
        0,
        "{operation}: a refused request stored a session"
    );
}

/// The outcome is `InvalidParameter` naming `field`, with no events and nothing stored.
fn assert_refused<T>(
    outcome: &Outcome<T>,
    field: Option<&str>,
    store: &MemoryStore,
    operation: &str,
) {
    let error = outcome.result.as_ref().err();
    assert!(
        matches!(error, Some(Error::InvalidParameter { field: found, .. }) if *found == field),
        "{operation}: expected InvalidParameter on {field:?}, got {error:?}"
    );
    assert!(
        outcome.events.is_empty(),
        "{operation}: a refused request has events"
    );
    assert_untouched(store, operation);
}

/// The outcome is not a validation refusal.
fn assert_validated<T>(outcome: &Outcome<T>, operation: &str) {
    let error = outcome.result.as_ref().err();
    assert!(
        !error.is_some_and(Error::is_invalid_request),
        "{operation}: a valid request was refused as invalid: {error:?}"
    );
}

/// The longest field `fields` builds (a little over the longest limit, FriendlyDeviceName).
const MAX_FIELD_CHARS: usize = 140_000;

/// Splits the input into optional text fields at `0x00` bytes. A field starting with `0x01` is
/// absent; one starting with `0x02 n1 n2` is the rest repeated `n1·256+n2` times (capped at
/// [`MAX_FIELD_CHARS`] bytes), so short inputs reach the long limits; any other field is its
/// bytes as text. Fields past the end are absent.
fn fields(data: &[u8], count: usize) -> Vec<Option<String>> {
    let mut chunks = data.split(|byte| *byte == 0);
    (0..count)
        .map(|_| {
            let chunk = chunks.next()?;
            match chunk {
                [1, ..] => None,
                [2, high, low, rest @ ..] => {
                    let times = usize::from(*high) << 8 | usize::from(*low);
                    let unit = text(rest);
                    let times = if unit.is_empty() {
                        0
                    } else {
                        times.min(MAX_FIELD_CHARS / unit.len())
                    };
                    Some(unit.repeat(times))
                }
                _ => Some(text(chunk).into_owned()),
            }
        })
        .collect()
}

fn chars_in(text: &str, range: core::ops::RangeInclusive<usize>) -> bool {
    range.contains(&text.chars().count())
}

/// An access token as the edge accepts it: 1 to `AccessToken::MAX_LEN` characters.
fn token_ok(text: &str) -> bool {
    chars_in(text, 1..=AccessToken::MAX_LEN)
}

fn is_code(text: &str) -> bool {
    chars_in(text, 6..=8) && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// The request edge: raw optional members (access token, session, code, device name, user
/// name, preference) through the validators and through every [`Service`] operation on a
/// fresh store. A request is refused as `InvalidParameter` exactly when a member breaks its
/// documented rule (exactly one of AccessToken and Session, access tokens 1–8192 and
/// sessions 20–2048 characters, codes 6–8 ASCII digits, device names up to 131072 characters,
/// user names 1–128), the error names the first member at fault in the operation's order, and a refused request stores
/// nothing and emits no event.
pub fn request_validation(data: &[u8]) {
    let mut members = fields(data, 6).into_iter();
    let mut next = || members.next().flatten();
    let (access, session, code, name, username, preference) =
        (next(), next(), next(), next(), next(), next());
    let settings = preference.map(|text| SoftwareTokenMfaSettings {
        enabled: text.contains('e'),
        preferred_mfa: text.contains('p'),
    });
    let mut rng = FuzzRng(u64::try_from(data.len()).unwrap_or_default());

    // The validators themselves.
    let principal_ok = match (&access, &session) {
        (Some(token), None) => token_ok(token),
        (None, Some(session)) => chars_in(session, 20..=2048),
        _ => false,
    };
    let principal_field = match (&access, &session) {
        (Some(_), None) => Some("accessToken"),
        (None, Some(_)) => Some("session"),
        _ => None,
    };
    let principal = Principal::from_request(access.as_deref(), session.as_deref());
    assert_eq!(
        principal.is_ok(),
        principal_ok,
        "exactly one of AccessToken or Session"
    );
    match &principal {
        Ok(Principal::AccessToken(token)) => {
            assert!(session.is_none());
            assert_eq!(Some(token.expose()), access.as_deref());
        }
        Ok(Principal::Session(value)) => {
            assert!(access.is_none());
            assert_eq!(Some(value.expose()), session.as_deref());
            assert!(chars_in(
                value.expose(),
                SessionId::MIN_LEN..=SessionId::MAX_LEN
            ));
        }
        Err(error) => assert!(
            matches!(error, Error::InvalidParameter { field, .. } if *field == principal_field)
        ),
    }
    let user_code = code.clone().unwrap_or_default();
    let code_ok = is_code(&user_code);
    match api::parse_user_code("userCode", &user_code) {
        Ok(parsed) => {
            assert!(code_ok, "accepted a malformed code");
            assert_eq!(parsed.reveal(), user_code);
        }
        Err(error) => assert!(!code_ok && error.is_invalid_request()),
    }
    let name_ok = name
        .as_deref()
        .is_none_or(|name| chars_in(name, 0..=api::MAX_FRIENDLY_DEVICE_NAME_CHARS));
    assert_eq!(
        api::check_friendly_device_name(name.as_deref()).is_ok(),
        name_ok
    );
    let user_name = username.clone().unwrap_or_default();
    let user_ok = chars_in(&user_name, 1..=128);
    match api::parse_username(&user_name) {
        Ok(user) => {
            assert!(user_ok);
            assert_eq!(user.as_str(), user_name);
        }
        Err(error) => assert!(!user_ok && error.is_invalid_request()),
    }
    let session_text = session.clone().unwrap_or_default();
    let session_ok = chars_in(&session_text, 20..=2048);
    assert_eq!(SessionId::parse(&session_text).is_ok(), session_ok);
    let access_text = access.clone().unwrap_or_default();
    let access_ok = token_ok(&access_text);
    assert_eq!(AccessToken::parse(&access_text).is_ok(), access_ok);

    // AssociateSoftwareToken, then (on the access-token path) VerifySoftwareToken against the
    // secret it stored.
    let associate = AssociateSoftwareTokenRequest {
        access_token: access.clone(),
        session: session.clone(),
    };
    let verify = VerifySoftwareTokenRequest {
        access_token: access.clone(),
        session: session.clone(),
        user_code: user_code.clone(),
        friendly_device_name: name.clone(),
    };
    let (store, service) = fresh_service();
    let outcome = service.associate_software_token(&associate, NOW, &mut rng);
    match &principal {
        Err(_) => assert_refused(&outcome, principal_field, &store, "associate"),
        Ok(Principal::Session(_)) => {
            assert!(
                matches!(outcome.result, Err(Error::InvalidSession)),
                "associate: an unknown session"
            );
            assert_untouched(&store, "associate");
        }
        Ok(Principal::AccessToken(_)) => {
            let response = outcome.result.as_ref();
            assert!(
                response.is_ok_and(|response| response.secret_code.expose().len() == 52
                    && response.session.is_none()),
                "associate by access token: {response:?}"
            );
            let pending = store.load(&UserId::new(FUZZ_USER));
            assert!(matches!(pending, Ok(Some((ref record, _))) if record.pending().is_some()));
            let verified = service.verify_software_token(&verify, NOW, &mut rng);
            let error = verified.result.as_ref().err();
            if !code_ok {
                assert!(matches!(
                    error,
                    Some(Error::InvalidParameter {
                        field: Some("userCode"),
                        ..
                    })
                ));
            } else if !name_ok {
                assert!(matches!(
                    error,
                    Some(Error::InvalidParameter {
                        field: Some("friendlyDeviceName"),
                        ..
                    })
                ));
            } else if user_code.len() != 6 {
                // A code of another length than the token's: malformed, not a mismatch.
                assert!(matches!(
                    error,
                    Some(Error::InvalidParameter {
                        field: Some("userCode"),
                        ..
                    })
                ));
            } else {
                assert!(
                    matches!(error, None | Some(Error::VerifyCodeMismatch)),
                    "verify against the pending secret: {error:?}"
                );
            }
        }
    }

    // VerifySoftwareToken on a fresh store: principal, then code, then device name.
    let (store, service) = fresh_service();
    let outcome = service.verify_software_token(&verify, NOW, &mut rng);
    if !principal_ok {
        assert_refused(&outcome, principal_field, &store, "verify");
    } else if !code_ok {
        assert_refused(&outcome, Some("userCode"), &store, "verify");
    } else if !name_ok {
        assert_refused(&outcome, Some("friendlyDeviceName"), &store, "verify");
    } else if access.is_some() && user_code.len() != 6 {
        // With no token, a code of another length than the pool's is malformed.
        assert_refused(&outcome, Some("userCode"), &store, "verify");
    } else {
        assert_validated(&outcome, "verify");
        assert_untouched(&store, "verify with nothing pending");
    }

    // RespondToAuthChallenge (SOFTWARE_TOKEN_MFA): session, then username, then code.
    let (store, service) = fresh_service();
    let respond = RespondToSoftwareTokenMfaRequest {
        session: session_text.clone(),
        username: user_name.clone(),
        software_token_mfa_code: user_code.clone(),
    };
    let outcome = service.respond_to_software_token_mfa(&respond, NOW);
    if !session_ok {
        assert_refused(&outcome, Some("session"), &store, "respond");
    } else if !user_ok {
        assert_refused(&outcome, Some("username"), &store, "respond");
    } else if !code_ok {
        assert_refused(&outcome, Some("softwareTokenMfaCode"), &store, "respond");
    } else {
        assert!(matches!(outcome.result, Err(Error::InvalidSession)));
        assert_untouched(&store, "respond to an unknown session");
    }

    // RespondToAuthChallenge (MFA_SETUP): session, then username.
    let (store, service) = fresh_service();
    let setup = RespondToMfaSetupRequest {
        session: session_text,
        username: user_name.clone(),
    };
    let outcome = service.respond_to_mfa_setup(&setup, NOW);
    if !session_ok {
        assert_refused(&outcome, Some("session"), &store, "setup");
    } else if !user_ok {
        assert_refused(&outcome, Some("username"), &store, "setup");
    } else {
        assert!(matches!(outcome.result, Err(Error::InvalidSession)));
        assert_untouched(&store, "setup with an unknown session");
    }

    // The username and access-token operations.
    let (store, service) = fresh_service();
    let outcome = service.admin_delete_software_token(&user_name, NOW);
    if user_ok {
        assert_validated(&outcome, "admin delete");
    } else {
        assert_refused(&outcome, Some("username"), &store, "admin delete");
    }
    assert_eq!(service.admin_get_user(&user_name).is_ok(), user_ok);
    assert_eq!(service.get_user(&access_text).is_ok(), access_ok);
    let outcome = service.set_user_mfa_preference(
        &SetUserMfaPreferenceRequest {
            access_token: access_text.clone(),
            software_token_mfa_settings: settings,
        },
        NOW,
    );
    if !access_ok {
        assert_refused(&outcome, Some("accessToken"), &store, "set preference");
    } else {
        assert_validated(&outcome, "set preference");
    }
    let outcome = service.admin_set_user_mfa_preference(
        &AdminSetUserMfaPreferenceRequest {
            username: user_name,
            software_token_mfa_settings: settings,
        },
        NOW,
    );
    if user_ok {
        assert_validated(&outcome, "admin set preference");
    } else {
        assert_refused(&outcome, Some("username"), &store, "admin set preference");
    }
}

// ---------------------------------------------------------------------------------------------
// server_handler

#[cfg(feature = "reference-server")]
pub use server::server_handler;

#[cfg(feature = "reference-server")]
mod server {
    use serde_json::{Value, json};

    use super::{FuzzRng, NOW};
    use crate::config::TotpConfig;
    use crate::otp::TotpKey;
    use crate::reference_server::ReferenceServer;
    use crate::reference_server::wire::{MAX_BODY_BYTES, TARGET_PREFIX, WireResponse};
    use crate::secret::Secret;
    use crate::time::UnixTime;

    /// The operations the server implements, in the order the first byte selects them.
    const OPERATIONS: [&str; 15] = [
        "CreateUserPool",
        "CreateUserPoolClient",
        "SetUserPoolMfaConfig",
        "GetUserPoolMfaConfig",
        "AdminCreateUser",
        "AdminSetUserPassword",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "AssociateSoftwareToken",
        "VerifySoftwareToken",
        "SetUserMFAPreference",
        "AdminSetUserMFAPreference",
        "GetUser",
        "AdminGetUser",
        "AdminDeleteSoftwareToken",
    ];

    /// Requests per input.
    const MAX_REQUESTS: usize = 6;

    /// When setup happened: 90 s before [`NOW`], so bob's code at `NOW` is not a replay.
    const SETUP: UnixTime = UnixTime(NOW.0 - 90);

    /// A server with one pool (software tokens on, MFA optional), a client allowing
    /// USER_PASSWORD_AUTH, `alice` (signed in, no token) and `bob` (signed in, a verified and
    /// preferred token), and what the fuzz input's placeholders stand for.
    struct Seeded {
        server: ReferenceServer,
        rng: FuzzRng,
        /// `$p`, `$c`, `$a`, `$b`: pool id, client id, alice's and bob's access tokens.
        fixed: [(u8, String); 4],
        /// `$t`: the last access token any response issued (at first alice's).
        last_token: String,
        /// `$s`: the last `Session` any response returned.
        last_session: String,
        /// `$k` is the code at `NOW` of the last `SecretCode` (at first bob's).
        secrets: Vec<String>,
    }

    fn setup_call(
        server: &ReferenceServer,
        rng: &mut FuzzRng,
        operation: &str,
        body: &Value,
    ) -> Value {
        let target = format!("{TARGET_PREFIX}{operation}");
        let response = server.handle(Some(&target), body.to_string().as_bytes(), SETUP, rng);
        assert_eq!(response.status, 200, "setup {operation}: {}", response.body);
        serde_json::from_str(&response.body).unwrap_or_default()
    }

    fn text_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
        path.iter()
            .try_fold(value, |value, key| value.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    fn code_at_now(secret: &str) -> String {
        Secret::from_base32(secret)
            .ok()
            .and_then(|secret| {
                TotpKey::new(&secret, TotpConfig::default())
                    .code_at(NOW)
                    .ok()
            })
            .map(|code| code.reveal())
            .unwrap_or_else(|| "000000".to_owned())
    }

    fn seeded() -> Seeded {
        let server = ReferenceServer::new();
        let mut rng = FuzzRng(0x5eed);
        let call = |rng: &mut FuzzRng, operation: &str, body: Value| {
            setup_call(&server, rng, operation, &body)
        };
        let pool = call(&mut rng, "CreateUserPool", json!({"PoolName": "fuzz"}));
        let pool_id = text_at(&pool, &["UserPool", "Id"]).to_owned();
        call(
            &mut rng,
            "SetUserPoolMfaConfig",
            json!({"UserPoolId": pool_id, "SoftwareTokenMfaConfiguration": {"Enabled": true},
                   "MfaConfiguration": "OPTIONAL"}),
        );
        let client = call(
            &mut rng,
            "CreateUserPoolClient",
            json!({"UserPoolId": pool_id, "ClientName": "fuzz",
                   "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}),
        );
        let client_id = text_at(&client, &["UserPoolClient", "ClientId"]).to_owned();
        let mut tokens = Vec::new();
        for user in ["alice", "bob"] {
            call(
                &mut rng,
                "AdminCreateUser",
                json!({"UserPoolId": pool_id, "Username": user}),
            );
            call(
                &mut rng,
                "AdminSetUserPassword",
                json!({"UserPoolId": pool_id, "Username": user, "Password": "pw",
                       "Permanent": true}),
            );
            let signed_in = call(
                &mut rng,
                "InitiateAuth",
                json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                       "AuthParameters": {"USERNAME": user, "PASSWORD": "pw"}}),
            );
            tokens.push(text_at(&signed_in, &["AuthenticationResult", "AccessToken"]).to_owned());
        }
        let alice = tokens.first().cloned().unwrap_or_default();
        let bob = tokens.get(1).cloned().unwrap_or_default();
        let associated = call(
            &mut rng,
            "AssociateSoftwareToken",
            json!({"AccessToken": bob}),
        );
        let secret = text_at(&associated, &["SecretCode"]).to_owned();
        let code = Secret::from_base32(&secret)
            .ok()
            .and_then(|key| {
                TotpKey::new(&key, TotpConfig::default())
                    .code_at(SETUP)
                    .ok()
            })
            .map(|code| code.reveal())
            .unwrap_or_default();
        call(
            &mut rng,
            "VerifySoftwareToken",
            json!({"AccessToken": bob, "UserCode": code, "FriendlyDeviceName": "phone"}),
        );
        call(
            &mut rng,
            "SetUserMFAPreference",
            json!({"AccessToken": bob,
                   "SoftwareTokenMfaSettings": {"Enabled": true, "PreferredMfa": true}}),
        );
        Seeded {
            server,
            rng,
            fixed: [
                (b'p', pool_id),
                (b'c', client_id),
                (b'a', alice.clone()),
                (b'b', bob),
            ],
            last_token: alice,
            last_session: "unknown-session-value-000000000000".to_owned(),
            secrets: vec![secret],
        }
    }

    impl Seeded {
        /// The body with each `$x` placeholder replaced by the value it stands for.
        fn substitute(&self, body: &[u8]) -> Vec<u8> {
            let code = self
                .secrets
                .last()
                .map_or_else(|| "000000".to_owned(), |secret| code_at_now(secret));
            let mut out = Vec::with_capacity(body.len());
            let mut bytes = body.iter().copied().peekable();
            while let Some(byte) = bytes.next() {
                let replacement = match (byte, bytes.peek()) {
                    (b'$', Some(b't')) => Some(self.last_token.as_str()),
                    (b'$', Some(b's')) => Some(self.last_session.as_str()),
                    (b'$', Some(b'k')) => Some(code.as_str()),
                    (b'$', Some(key)) => self
                        .fixed
                        .iter()
                        .find(|(name, _)| name == key)
                        .map(|(_, value)| value.as_str()),
                    _ => None,
                };
                match replacement {
                    Some(value) => {
                        bytes.next();
                        out.extend_from_slice(value.as_bytes());
                    }
                    None => out.push(byte),
                }
            }
            out
        }

        /// Remembers what a successful response issued, for later placeholders.
        fn learn(&mut self, body: &Value) {
            if let Some(session) = body.get("Session").and_then(Value::as_str) {
                session.clone_into(&mut self.last_session);
            }
            if let Some(token) = body
                .get("AuthenticationResult")
                .and_then(|result| result.get("AccessToken"))
                .and_then(Value::as_str)
            {
                token.clone_into(&mut self.last_token);
            }
            if let Some(secret) = body.get("SecretCode").and_then(Value::as_str) {
                self.secrets.push(secret.to_owned());
            }
        }
    }

    /// The target and body of one request: the first byte picks one of the operations or a
    /// malformed target; the body is the rest, its placeholders substituted; `$!` followed by
    /// a byte `d` at the start pads it with whitespace to `MAX_BODY_BYTES - 128 + d` bytes
    /// plus the rest, so both sides of the size limit are reached.
    fn request(seeded: &Seeded, piece: &[u8]) -> Option<(Option<String>, Vec<u8>)> {
        let (&selector, rest) = piece.split_first()?;
        let operation = OPERATIONS
            .get(usize::from(selector) % OPERATIONS.len())
            .copied()
            .unwrap_or_default();
        let (target, rest) = match selector % 20 {
            15 => (None, rest),
            16 => (Some(TARGET_PREFIX.to_owned()), rest),
            17 => (Some(operation.to_owned()), rest),
            18 => (
                Some(format!("{TARGET_PREFIX}{}", operation.to_ascii_lowercase())),
                rest,
            ),
            19 => {
                let (target, body) =
                    rest.iter()
                        .position(|byte| *byte == b'\n')
                        .map_or((rest, &[][..]), |at| {
                            (
                                rest.get(..at).unwrap_or_default(),
                                rest.get(at + 1..).unwrap_or_default(),
                            )
                        });
                (Some(String::from_utf8_lossy(target).into_owned()), body)
            }
            index => {
                let name = OPERATIONS
                    .get(usize::from(index))
                    .copied()
                    .unwrap_or_default();
                (Some(format!("{TARGET_PREFIX}{name}")), rest)
            }
        };
        let body = match rest {
            [b'$', b'!', pad, tail @ ..] => {
                let mut body = vec![b' '; MAX_BODY_BYTES - 128 + usize::from(*pad)];
                body.extend_from_slice(&seeded.substitute(tail));
                body
            }
            _ => seeded.substitute(rest),
        };
        Some((target, body))
    }

    /// What every response must be, whatever the request.
    fn check(response: &WireResponse, target: Option<&str>, body: &[u8], secrets: &[String]) {
        assert!(
            matches!(response.status, 200 | 400 | 500),
            "status {}",
            response.status
        );
        let parsed: Result<Value, _> = serde_json::from_str(&response.body);
        assert!(
            parsed.as_ref().is_ok_and(Value::is_object),
            "the body is not a JSON object: {}",
            response.body
        );
        let Ok(parsed) = parsed else {
            return;
        };
        let type_member = parsed.get("__type").and_then(Value::as_str);
        if response.status == 200 {
            assert_eq!(response.exception, None);
            assert!(parsed.get("__type").is_none(), "a success with __type");
        } else {
            assert!(
                response.exception.is_some(),
                "an error without its exception"
            );
            assert_eq!(type_member, response.exception, "__type is the exception");
            assert!(
                parsed.get("message").is_some_and(Value::is_string),
                "an error without a message: {}",
                response.body
            );
            assert_eq!(
                response.status == 500,
                response.exception == Some("InternalErrorException")
            );
        }
        // Only the prefix and the exact name of an implemented operation is an operation;
        // anything else is refused from the header alone, whatever the body (malformed, or
        // over the limit).
        let known = target
            .and_then(|target| target.strip_prefix(TARGET_PREFIX))
            .is_some_and(|name| OPERATIONS.contains(&name));
        if !known {
            assert_eq!(
                response.exception,
                Some("UnknownOperationException"),
                "an unknown operation was not refused first"
            );
        } else if body.len() > MAX_BODY_BYTES {
            assert_eq!(
                response.exception,
                Some("SerializationException"),
                "an over-long body was read"
            );
        }
        // An answer echoes at most what it was sent (JSON escapes a byte in up to 6).
        let sent = body.len() + target.map_or(0, str::len);
        assert!(
            response.body.len() <= 64 * 1024 + 6 * sent,
            "a {}-byte answer to a {sent}-byte request",
            response.body.len()
        );
        // A secret goes out once, in the AssociateSoftwareToken response that issues it.
        let echoed = |secret: &str| {
            String::from_utf8_lossy(body).contains(secret)
                || target.is_some_and(|target| target.contains(secret))
        };
        for secret in secrets.iter().filter(|secret| !echoed(secret)) {
            assert!(
                !response.body.contains(secret.as_str()),
                "a response repeats a secret already issued"
            );
        }
    }

    /// `ReferenceServer::handle` on a seeded server (a pool, a client, a user without and a
    /// user with a verified token): up to six requests separated by `0xFF` bytes, each a
    /// target chosen by its first byte (every operation, plus missing, bare, unprefixed,
    /// mis-cased and arbitrary targets) and a body in which `$p`, `$c`, `$a`, `$b`, `$t`, `$s`
    /// and `$k` stand for the pool id, the client id, alice's and bob's access tokens, the
    /// last access token and session issued, and the current code of the last secret issued.
    /// Every response has status 200, 400 or 500 and a JSON object body; every error has
    /// `__type` (its exception) and a `message`; a target that is not the prefix and an
    /// implemented operation's exact name is `UnknownOperationException` whatever the body;
    /// a body over `MAX_BODY_BYTES` is refused unread; an answer is bounded by its request;
    /// no response repeats an issued secret.
    pub fn server_handler(data: &[u8]) {
        let mut seeded = seeded();
        for piece in data.split(|byte| *byte == 0xFF).take(MAX_REQUESTS) {
            let Some((target, body)) = request(&seeded, piece) else {
                continue;
            };
            let response = seeded
                .server
                .handle(target.as_deref(), &body, NOW, &mut seeded.rng);
            check(&response, target.as_deref(), &body, &seeded.secrets);
            if response.status == 200
                && let Ok(parsed) = serde_json::from_str::<Value>(&response.body)
            {
                seeded.learn(&parsed);
            }
        }
    }
}
