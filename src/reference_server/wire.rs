//! AWS JSON 1.1 framing: the operation from `X-Amz-Target`, the request body as a JSON
//! object, and responses and errors as Cognito writes them.

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;

/// The `X-Amz-Target` prefix of every Cognito user-pool operation.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request body the server reads, in bytes (1 MiB). Cognito's own limit is far
/// smaller for these operations; the largest member, FriendlyDeviceName, is 131072
/// characters (up to 512 KiB of UTF-8, more with JSON escapes). A larger body is refused
/// with [`WireResponse::body_too_large`] before more than this much of it is read.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// An HTTP response: status and JSON body.
///
/// Its `Debug` prints an error's body (an exception and a message, which carry no
/// credential) but only the length of a success's body, which may carry a secret code, a
/// session or access tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct WireResponse {
    /// 200, 400, or 500 for `InternalErrorException`.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// For an error, its exception name (also `__type` in the body).
    pub exception: Option<&'static str>,
}

impl core::fmt::Debug for WireResponse {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut out = f.debug_struct("WireResponse");
        out.field("status", &self.status);
        match self.exception {
            Some(_) => out.field("body", &self.body),
            None => out.field(
                "body",
                &format_args!("<redacted, {} bytes>", self.body.len()),
            ),
        };
        out.field("exception", &self.exception).finish()
    }
}

impl WireResponse {
    /// A 200 with `body` serialised (absent optional members are omitted by the types).
    pub(crate) fn ok<T: Serialize>(body: &T) -> WireResponse {
        match serde_json::to_string(body) {
            Ok(body) => WireResponse {
                status: 200,
                body,
                exception: None,
            },
            Err(_) => WireResponse::error(
                "InternalErrorException",
                "The response could not be serialised",
            ),
        }
    }

    /// An AWS-style error: `{"__type": …, "message": …}`, status 400 (500 for
    /// `InternalErrorException`).
    pub(crate) fn error(exception: &'static str, message: &str) -> WireResponse {
        let status = if exception == "InternalErrorException" {
            500
        } else {
            400
        };
        let body = serde_json::json!({ "__type": exception, "message": message });
        WireResponse {
            status,
            body: body.to_string(),
            exception: Some(exception),
        }
    }

    /// The answer to a body over [`MAX_BODY_BYTES`]: `SerializationException`, HTTP 400 like
    /// every other client error of the AWS JSON protocol.
    #[must_use]
    pub fn body_too_large() -> WireResponse {
        WireResponse::error(
            "SerializationException",
            &format!("The request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    }
}

/// A failure to handle a request, as the exception to return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The exception name (`__type`).
    pub exception: &'static str,
    /// The message.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(exception: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            exception,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_parameter(message: impl Into<String>) -> Refusal {
        Refusal::new("InvalidParameterException", message)
    }

    pub(crate) fn resource_not_found(message: impl Into<String>) -> Refusal {
        Refusal::new("ResourceNotFoundException", message)
    }

    pub(crate) fn user_not_found() -> Refusal {
        Refusal::new("UserNotFoundException", "User does not exist.")
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        Refusal {
            exception: error.code(),
            message: error.to_string(),
        }
    }
}

/// An operation this server implements, as its `X-Amz-Target` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    CreateUserPool,
    CreateUserPoolClient,
    SetUserPoolMfaConfig,
    GetUserPoolMfaConfig,
    AdminCreateUser,
    AdminSetUserPassword,
    InitiateAuth,
    RespondToAuthChallenge,
    AssociateSoftwareToken,
    VerifySoftwareToken,
    SetUserMfaPreference,
    AdminSetUserMfaPreference,
    GetUser,
    AdminGetUser,
    AdminDeleteSoftwareToken,
}

impl Operation {
    /// Every operation, in the order the module documentation lists them.
    const ALL: [Operation; 15] = [
        Operation::CreateUserPool,
        Operation::CreateUserPoolClient,
        Operation::SetUserPoolMfaConfig,
        Operation::GetUserPoolMfaConfig,
        Operation::AdminCreateUser,
        Operation::AdminSetUserPassword,
        Operation::InitiateAuth,
        Operation::RespondToAuthChallenge,
        Operation::AssociateSoftwareToken,
        Operation::VerifySoftwareToken,
        Operation::SetUserMfaPreference,
        Operation::AdminSetUserMfaPreference,
        Operation::GetUser,
        Operation::AdminGetUser,
        Operation::AdminDeleteSoftwareToken,
    ];

    /// The operation's name after [`TARGET_PREFIX`], exactly as Cognito spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::CreateUserPool => "CreateUserPool",
            Operation::CreateUserPoolClient => "CreateUserPoolClient",
            Operation::SetUserPoolMfaConfig => "SetUserPoolMfaConfig",
            Operation::GetUserPoolMfaConfig => "GetUserPoolMfaConfig",
            Operation::AdminCreateUser => "AdminCreateUser",
            Operation::AdminSetUserPassword => "AdminSetUserPassword",
            Operation::InitiateAuth => "InitiateAuth",
            Operation::RespondToAuthChallenge => "RespondToAuthChallenge",
            Operation::AssociateSoftwareToken => "AssociateSoftwareToken",
            Operation::VerifySoftwareToken => "VerifySoftwareToken",
            Operation::SetUserMfaPreference => "SetUserMFAPreference",
            Operation::AdminSetUserMfaPreference => "AdminSetUserMFAPreference",
            Operation::GetUser => "GetUser",
            Operation::AdminGetUser => "AdminGetUser",
            Operation::AdminDeleteSoftwareToken => "AdminDeleteSoftwareToken",
        }
    }
}

/// The operation an `X-Amz-Target` names: [`TARGET_PREFIX`] and the exact name of an
/// operation this server implements. Anything else — no target, another prefix, a name
/// this server does not implement, a name in the wrong case — is
/// `UnknownOperationException`, decided from the header alone, before any of the body is
/// read. The message does not echo the target.
pub(crate) fn operation(target: Option<&str>) -> Result<Operation, Refusal> {
    let name = target.and_then(|target| target.strip_prefix(TARGET_PREFIX));
    Operation::ALL
        .into_iter()
        .find(|operation| name == Some(operation.name()))
        .ok_or_else(|| {
            Refusal::new(
                "UnknownOperationException",
                "Missing or unknown X-Amz-Target",
            )
        })
}

/// A request body parsed as JSON: an object, or `SerializationException`.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, Refusal> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::new("SerializationException", "Malformed JSON request body"))?;
    if !parsed.is_object() {
        return Err(Refusal::new(
            "SerializationException",
            "The request body must be a JSON object",
        ));
    }
    Ok(parsed)
}
