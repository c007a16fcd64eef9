//! The one error type of the lifecycle and the service, with its Cognito wire mapping.

use core::fmt;

use crate::time::{TimeError, UnixTime};

/// Everything an operation can refuse with.
///
/// Each variant is a typed outcome; [`Error::code`] gives the Cognito exception name and
/// `Display` the exact Cognito message (DESIGN.md §3), so a handler can put both on the wire
/// unchanged. No variant carries a secret, a submitted code or a session value.
///
/// ```
/// use softtoken::Error;
///
/// let error = Error::CodeMismatch;
/// assert_eq!(error.code(), "CodeMismatchException");
/// assert_eq!(error.to_string(), "Invalid code received for user");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A request field failed validation (both or neither of AccessToken and Session, a session
    /// of the wrong length, a malformed code, an over-long device name, …). Nothing was stored.
    InvalidParameter {
        /// The request member at fault, in Cognito's camelCase, when there is one.
        field: Option<&'static str>,
        /// What was wrong, in Cognito's wording where it has one. Never contains the value.
        message: String,
    },
    /// The pool has software-token MFA switched off (Associate and Verify).
    SoftwareTokenMfaNotEnabled,
    /// The caller's access-token resolver did not recognise the token.
    InvalidAccessToken,
    /// Verify was called with no pending secret.
    NothingPending,
    /// Verify: the code matches no step of the window around now for the pending secret.
    VerifyCodeMismatch,
    /// Sign-in: the code matches no step of the window around now.
    CodeMismatch,
    /// Sign-in: the code matches only steps at or before the last one used.
    CodeReplayed,
    /// Sign-in challenge answered for a user with no verified token.
    NoVerifiedToken,
    /// SetUserMFAPreference enabling software-token MFA with nothing associated.
    NotSetUp,
    /// AdminSetUserMFAPreference enabling software-token MFA with nothing associated.
    AdminNotSetUp,
    /// Enabling software-token MFA with a token associated but not verified.
    NotVerified,
    /// The session is unknown, of another purpose, or bound to another user.
    InvalidSession,
    /// The session is past its AuthSessionValidity.
    SessionExpired,
    /// The session was already used by a call that succeeded.
    SessionReused,
    /// Too many consecutive wrong codes: no code is evaluated until `retry_at`.
    LockedOut {
        /// When the next attempt will be evaluated.
        retry_at: UnixTime,
        /// Seconds from the refused attempt until then.
        retry_after_secs: u64,
    },
    /// The hard cap of consecutive failures was reached: the token is disabled until it is
    /// associated again or an administrator deletes it.
    TokenDisabled,
    /// The store failed; the operation did not take effect (fail closed).
    Store(StoreError),
    /// The server's clock is outside what TOTP can use (before T0 or past
    /// [`UnixTime::MAX`]); no code was evaluated.
    Clock(TimeError),
    /// The compare-and-swap kept losing to concurrent writers; nothing was accepted.
    ConcurrentModification,
}

impl Error {
    /// The Cognito exception name (`__type` on the wire).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Error::InvalidParameter { .. }
            | Error::NotSetUp
            | Error::AdminNotSetUp
            | Error::NotVerified => "InvalidParameterException",
            Error::SoftwareTokenMfaNotEnabled | Error::NothingPending | Error::NoVerifiedToken => {
                "SoftwareTokenMFANotFoundException"
            }
            Error::InvalidAccessToken
            | Error::InvalidSession
            | Error::SessionExpired
            | Error::SessionReused
            | Error::LockedOut { .. }
            | Error::TokenDisabled => "NotAuthorizedException",
            Error::VerifyCodeMismatch => "EnableSoftwareTokenMFAException",
            Error::CodeMismatch => "CodeMismatchException",
            Error::CodeReplayed => "ExpiredCodeException",
            Error::Store(_) | Error::Clock(_) => "InternalErrorException",
            Error::ConcurrentModification => "ConcurrentModificationException",
        }
    }

    /// Whether the caller made a mistake in the request itself, as opposed to an outcome of
    /// checking it against state.
    #[must_use]
    pub const fn is_invalid_request(&self) -> bool {
        matches!(self, Error::InvalidParameter { .. })
    }

    pub(crate) fn invalid_parameter(field: &'static str, message: impl Into<String>) -> Error {
        Error::InvalidParameter {
            field: Some(field),
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidParameter { message, .. } => f.write_str(message),
            Error::SoftwareTokenMfaNotEnabled => {
                f.write_str("Software Token MFA has not been enabled by the userPool.")
            }
            Error::InvalidAccessToken => f.write_str("Invalid Access Token"),
            Error::NothingPending | Error::NoVerifiedToken => {
                f.write_str("Software Token MFA does not exist for the user.")
            }
            Error::VerifyCodeMismatch => {
                f.write_str("Code mismatch and fail enable Software Token MFA")
            }
            Error::CodeMismatch => f.write_str("Invalid code received for user"),
            Error::CodeReplayed => f.write_str("Your software token has already been used once."),
            Error::NotSetUp => f.write_str("User has not set up software token mfa"),
            Error::AdminNotSetUp => f.write_str(
                "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA",
            ),
            Error::NotVerified => f.write_str("User has not verified software token mfa"),
            Error::InvalidSession => f.write_str("Invalid session for the user."),
            Error::SessionExpired => f.write_str("Invalid session for the user, session is expired."),
            Error::SessionReused => f.write_str(
                "Invalid session for the user, session can only be used once.",
            ),
            Error::LockedOut { .. } => f.write_str(
                "Too many failed attempts to present a software token code. Try again later.",
            ),
            Error::TokenDisabled => f.write_str(
                "Software token disabled after too many failed attempts; an administrator must reset it.",
            ),
            Error::Store(_) | Error::Clock(_) => f.write_str("An internal error occurred."),
            Error::ConcurrentModification => {
                f.write_str("The request was not processed because of a concurrent modification.")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Store(inner) => Some(inner),
            Error::Clock(inner) => Some(inner),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Error {
        Error::Store(error)
    }
}

/// A storage backend failed: a connection dropped, a query errored, a timeout passed. The
/// operation that hit it did not take effect.
///
/// Implementors describe the failure in `message`; it must not contain record contents.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("store failure: {message}")]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store failure described by `message` (no record contents, no secrets).
    #[must_use]
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
        }
    }

    /// The description.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}
