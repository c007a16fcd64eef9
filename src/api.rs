//! Request and response types named after Cognito's operations, with the raw optional members
//! a handler receives, and their validation into typed values.
//!
//! Requests hold what arrived on the wire (`Option<String>`); the service validates them first
//! and stores nothing when validation fails. `Debug` of every type here redacts access tokens,
//! sessions, codes and secrets.

use core::fmt;
use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::code::Code;
use crate::config::Digits;
use crate::error::Error;
use crate::identity::{SessionId, UserId};
use crate::lifecycle::SoftwareTokenMfaSettings;

/// AssociateSoftwareToken's request: exactly one of `access_token` and `session`.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct AssociateSoftwareTokenRequest {
    /// `AccessToken`: a signed-in user's token.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub access_token: Option<String>,
    /// `Session`: the MFA_SETUP challenge's session.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub session: Option<String>,
}

/// AssociateSoftwareToken's response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct AssociateSoftwareTokenResponse {
    /// `SecretCode`: the new secret, 52 characters of unpadded upper-case base32.
    pub secret_code: SecretCode,
    /// `Session`: a new session for VerifySoftwareToken on the session path; absent on the
    /// access-token path.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub session: Option<SessionId>,
}

/// The `SecretCode` of an AssociateSoftwareToken response: the one place the secret is put on
/// the wire. Redacted in `Debug`, zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretCode(Zeroizing<String>);

impl SecretCode {
    pub(crate) fn new(base32: Zeroizing<String>) -> SecretCode {
        SecretCode(base32)
    }

    /// The base32 text to return to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCode(<redacted>)")
    }
}

/// VerifySoftwareToken's request.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct VerifySoftwareTokenRequest {
    /// `AccessToken`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub access_token: Option<String>,
    /// `Session`: the session AssociateSoftwareToken returned.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub session: Option<String>,
    /// `UserCode`: exactly six digits (the pool's digit count).
    pub user_code: String,
    /// `FriendlyDeviceName`: up to 131072 characters.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub friendly_device_name: Option<String>,
}

/// `Status` of a VerifySoftwareToken response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum VerifyStatus {
    /// `SUCCESS`.
    Success,
    /// `ERROR`. Cognito models it but reports failures as exceptions, and so does this crate:
    /// a response is only built on success.
    Error,
}

impl VerifyStatus {
    /// The wire value: `SUCCESS` or `ERROR`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            VerifyStatus::Success => "SUCCESS",
            VerifyStatus::Error => "ERROR",
        }
    }
}

/// VerifySoftwareToken's response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct VerifySoftwareTokenResponse {
    /// `Status`.
    pub status: VerifyStatus,
    /// `Session`: on the session path, the session that answers MFA_SETUP; absent otherwise.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub session: Option<SessionId>,
}

/// SetUserMFAPreference's request (the software-token part).
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct SetUserMfaPreferenceRequest {
    /// `AccessToken`.
    pub access_token: String,
    /// `SoftwareTokenMfaSettings`; absent leaves the preference unchanged.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub software_token_mfa_settings: Option<SoftwareTokenMfaSettings>,
}

/// AdminSetUserMFAPreference's request (the software-token part).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct AdminSetUserMfaPreferenceRequest {
    /// `Username`.
    pub username: String,
    /// `SoftwareTokenMfaSettings`; absent leaves the preference unchanged.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub software_token_mfa_settings: Option<SoftwareTokenMfaSettings>,
}

/// RespondToAuthChallenge for `SOFTWARE_TOKEN_MFA`.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        try_from = "wire::RespondToAuthChallenge",
        into = "wire::RespondToAuthChallenge"
    )
)]
pub struct RespondToSoftwareTokenMfaRequest {
    /// `Session` from the challenge.
    pub session: String,
    /// `ChallengeResponses.USERNAME`.
    pub username: String,
    /// `ChallengeResponses.SOFTWARE_TOKEN_MFA_CODE`.
    pub software_token_mfa_code: String,
}

/// RespondToAuthChallenge for `MFA_SETUP`: the session VerifySoftwareToken returned, and the
/// user name. No code: Verify already proved possession.
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(
        try_from = "wire::RespondToAuthChallenge",
        into = "wire::RespondToAuthChallenge"
    )
)]
pub struct RespondToMfaSetupRequest {
    /// `Session` from VerifySoftwareToken.
    pub session: String,
    /// `ChallengeResponses.USERNAME`.
    pub username: String,
}

/// A challenge's name on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "SCREAMING_SNAKE_CASE"))]
pub enum ChallengeName {
    /// `SOFTWARE_TOKEN_MFA`.
    SoftwareTokenMfa,
    /// `MFA_SETUP`.
    MfaSetup,
}

impl ChallengeName {
    /// `SOFTWARE_TOKEN_MFA` or `MFA_SETUP`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ChallengeName::SoftwareTokenMfa => "SOFTWARE_TOKEN_MFA",
            ChallengeName::MfaSetup => "MFA_SETUP",
        }
    }
}

/// The challenge InitiateAuth returns after a correct password.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "PascalCase"))]
pub struct SignInChallenge {
    /// `ChallengeName`.
    pub challenge_name: ChallengeName,
    /// `ChallengeParameters`: `FRIENDLY_DEVICE_NAME` for SOFTWARE_TOKEN_MFA (when the user
    /// named the device), `MFAS_CAN_SETUP` = `["SOFTWARE_TOKEN_MFA"]` (a JSON-encoded string)
    /// for MFA_SETUP.
    #[cfg_attr(feature = "serde", serde(default))]
    pub challenge_parameters: BTreeMap<String, String>,
    /// `Session`: answers this challenge (or, for MFA_SETUP, AssociateSoftwareToken).
    pub session: SessionId,
}

/// A challenge answered: the caller issues the user's tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// Who signed in.
    pub user: UserId,
}

/// The longest `FriendlyDeviceName` Cognito accepts, in characters.
pub const MAX_FRIENDLY_DEVICE_NAME_CHARS: usize = 131_072;

/// Validates a submitted code's form: 6 to 8 ASCII digits (RFC 4226's range; the token's own
/// count is checked against its stored configuration before any HMAC).
pub(crate) fn parse_user_code(field: &'static str, input: &str) -> Result<Code, Error> {
    let length = input.chars().count();
    let invalid = |constraint: &str| {
        Error::invalid_parameter(
            field,
            format!(
                "1 validation error detected: Value at '{field}' failed to satisfy constraint: {constraint}"
            ),
        )
    };
    let digits = match Digits::from_count(length) {
        Some(digits) => digits,
        None if length < 6 => {
            return Err(invalid(
                "Member must have length greater than or equal to 6",
            ));
        }
        None => return Err(invalid("Member must have length less than or equal to 8")),
    };
    Code::parse(input, digits)
        .map_err(|_| invalid("Member must satisfy regular expression pattern: [0-9]+"))
}

/// Validates a `FriendlyDeviceName`.
pub(crate) fn check_friendly_device_name(name: Option<&str>) -> Result<(), Error> {
    match name {
        Some(name) if name.chars().count() > MAX_FRIENDLY_DEVICE_NAME_CHARS => {
            Err(Error::invalid_parameter(
                "friendlyDeviceName",
                "1 validation error detected: Value at 'friendlyDeviceName' failed to satisfy \
                 constraint: Member must have length less than or equal to 131072",
            ))
        }
        _ => Ok(()),
    }
}

/// The longest `Username` Cognito accepts, in characters (the shortest is 1).
pub const MAX_USERNAME_CHARS: usize = 128;

/// Validates a `Username` (Cognito: 1 to 128 characters).
pub(crate) fn parse_username(username: &str) -> Result<UserId, Error> {
    let length = username.chars().count();
    let constraint = if length == 0 {
        "greater than or equal to 1"
    } else if length > MAX_USERNAME_CHARS {
        "less than or equal to 128"
    } else {
        return Ok(UserId::new(username));
    };
    Err(Error::invalid_parameter(
        "username",
        format!(
            "1 validation error detected: Value at 'username' failed to satisfy constraint: \
             Member must have length {constraint}"
        ),
    ))
}

/// Prints whether a credential-bearing member is present, never its value.
fn presence(value: Option<&String>) -> &'static str {
    if value.is_some() {
        "Some(<redacted>)"
    } else {
        "None"
    }
}

impl fmt::Debug for AssociateSoftwareTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssociateSoftwareTokenRequest")
            .field("access_token", &presence(self.access_token.as_ref()))
            .field("session", &presence(self.session.as_ref()))
            .finish()
    }
}

impl fmt::Debug for VerifySoftwareTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifySoftwareTokenRequest")
            .field("access_token", &presence(self.access_token.as_ref()))
            .field("session", &presence(self.session.as_ref()))
            .field("user_code", &"<redacted>")
            .field("friendly_device_name", &self.friendly_device_name)
            .finish()
    }
}

impl fmt::Debug for SetUserMfaPreferenceRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetUserMfaPreferenceRequest")
            .field("access_token", &"<redacted>")
            .field(
                "software_token_mfa_settings",
                &self.software_token_mfa_settings,
            )
            .finish()
    }
}

impl fmt::Debug for RespondToSoftwareTokenMfaRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespondToSoftwareTokenMfaRequest")
            .field("session", &"<redacted>")
            .field("username", &self.username)
            .field("software_token_mfa_code", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for RespondToMfaSetupRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RespondToMfaSetupRequest")
            .field("session", &"<redacted>")
            .field("username", &self.username)
            .finish()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for SecretCode {
    /// The base32 text: this response is the one place the secret goes on the wire.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SecretCode {
    /// Accepts only text that [`Secret::from_base32`](crate::Secret::from_base32) accepts.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        crate::secret::Secret::from_base32(&text)
            .map_err(|_| serde::de::Error::custom("SecretCode is not a valid base32 secret"))?;
        Ok(SecretCode::new(text))
    }
}

/// The wire shape of RespondToAuthChallenge, shared by the two challenge requests.
#[cfg(feature = "serde")]
mod wire {
    use super::{ChallengeName, RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest};

    /// `ChallengeResponses`.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    pub(super) struct ChallengeResponses {
        /// `USERNAME`.
        #[serde(default)]
        username: String,
        /// `SOFTWARE_TOKEN_MFA_CODE`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        software_token_mfa_code: Option<String>,
    }

    /// RespondToAuthChallenge's request members this crate reads.
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    pub(super) struct RespondToAuthChallenge {
        /// `ChallengeName`.
        challenge_name: ChallengeName,
        /// `Session`.
        #[serde(default)]
        session: String,
        /// `ChallengeResponses`.
        challenge_responses: ChallengeResponses,
    }

    fn expect(found: ChallengeName, expected: ChallengeName) -> Result<(), String> {
        if found == expected {
            Ok(())
        } else {
            Err(format!(
                "ChallengeName is {}, expected {}",
                found.as_str(),
                expected.as_str()
            ))
        }
    }

    impl TryFrom<RespondToAuthChallenge> for RespondToSoftwareTokenMfaRequest {
        type Error = String;

        fn try_from(wire: RespondToAuthChallenge) -> Result<Self, String> {
            expect(wire.challenge_name, ChallengeName::SoftwareTokenMfa)?;
            let code = wire
                .challenge_responses
                .software_token_mfa_code
                .ok_or_else(|| {
                    "ChallengeResponses.SOFTWARE_TOKEN_MFA_CODE is missing".to_owned()
                })?;
            Ok(RespondToSoftwareTokenMfaRequest {
                session: wire.session,
                username: wire.challenge_responses.username,
                software_token_mfa_code: code,
            })
        }
    }

    impl From<RespondToSoftwareTokenMfaRequest> for RespondToAuthChallenge {
        fn from(request: RespondToSoftwareTokenMfaRequest) -> Self {
            RespondToAuthChallenge {
                challenge_name: ChallengeName::SoftwareTokenMfa,
                session: request.session,
                challenge_responses: ChallengeResponses {
                    username: request.username,
                    software_token_mfa_code: Some(request.software_token_mfa_code),
                },
            }
        }
    }

    impl TryFrom<RespondToAuthChallenge> for RespondToMfaSetupRequest {
        type Error = String;

        fn try_from(wire: RespondToAuthChallenge) -> Result<Self, String> {
            expect(wire.challenge_name, ChallengeName::MfaSetup)?;
            Ok(RespondToMfaSetupRequest {
                session: wire.session,
                username: wire.challenge_responses.username,
            })
        }
    }

    impl From<RespondToMfaSetupRequest> for RespondToAuthChallenge {
        fn from(request: RespondToMfaSetupRequest) -> Self {
            RespondToAuthChallenge {
                challenge_name: ChallengeName::MfaSetup,
                session: request.session,
                challenge_responses: ChallengeResponses {
                    username: request.username,
                    software_token_mfa_code: None,
                },
            }
        }
    }
}
