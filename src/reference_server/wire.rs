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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireResponse {
    /// 200, 400, or 500 for `InternalErrorException`.
    pub status: u16,
    /// The JSON body.
    pub body: String,
    /// For an error, its exception name (also `__type` in the body).
    pub exception: Option<&'static str>,
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

/// The operation an `X-Amz-Target` names, or `UnknownOperationException`.
pub(crate) fn operation(target: Option<&str>) -> Result<&str, Refusal> {
    target
        .and_then(|target| target.strip_prefix(TARGET_PREFIX))
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
