//! AWS JSON 1.1 framing: the operation from `X-Amz-Target`, typed access to request members,
//! and responses and errors as Cognito writes them.

use serde_json::{Map, Value};

use crate::error::Error;

/// The `X-Amz-Target` prefix of every Cognito user-pool operation.
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request body the server reads (Cognito's own limit is far smaller for these
/// operations; the largest member, FriendlyDeviceName, is 131072 characters).
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
    /// A 200 with `body` (absent optional members already omitted by the caller).
    pub(crate) fn ok(body: &Map<String, Value>) -> WireResponse {
        WireResponse {
            status: 200,
            body: Value::Object(body.clone()).to_string(),
            exception: None,
        }
    }

    /// An AWS-style error: `{"__type": …, "message": …}`.
    pub(crate) fn error(exception: &'static str, message: &str) -> WireResponse {
        let status = if exception == "InternalErrorException" {
            500
        } else {
            400
        };
        let mut body = Map::new();
        body.insert("__type".to_owned(), Value::from(exception));
        body.insert("message".to_owned(), Value::from(message));
        WireResponse {
            status,
            body: Value::Object(body).to_string(),
            exception: Some(exception),
        }
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

/// The members of a request body, read with Cognito's type expectations.
pub(crate) struct Members<'a> {
    object: &'a Map<String, Value>,
}

impl<'a> Members<'a> {
    pub(crate) fn new(object: &'a Map<String, Value>) -> Members<'a> {
        Members { object }
    }

    fn type_error(name: &str, expected: &str) -> Refusal {
        Refusal::new(
            "SerializationException",
            format!("Member '{name}' must be {expected}"),
        )
    }

    /// An optional string member (`null` counts as absent).
    pub(crate) fn string(&self, name: &str) -> Result<Option<&'a str>, Refusal> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(Self::type_error(name, "a string")),
        }
    }

    /// A required string member.
    pub(crate) fn required_string(&self, name: &str) -> Result<&'a str, Refusal> {
        self.string(name)?.ok_or_else(|| {
            Refusal::invalid_parameter(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name)))
        })
    }

    /// An optional boolean member.
    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, Refusal> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(Self::type_error(name, "a boolean")),
        }
    }

    /// An optional integer member.
    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, Refusal> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_i64()
                .map(Some)
                .ok_or_else(|| Self::type_error(name, "an integer")),
        }
    }

    /// An optional structure member.
    pub(crate) fn structure(&self, name: &str) -> Result<Option<Members<'a>>, Refusal> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Members::new(object))),
            Some(_) => Err(Self::type_error(name, "a structure")),
        }
    }

    /// An optional list of strings.
    pub(crate) fn string_list(&self, name: &str) -> Result<Option<Vec<&'a str>>, Refusal> {
        match self.object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| Self::type_error(name, "a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(Self::type_error(name, "a list of strings")),
        }
    }
}

/// `UserPoolId` → `userPoolId`, as Cognito names members in validation messages.
fn lower_first(name: &str) -> String {
    let mut characters = name.chars();
    characters
        .next()
        .map(|first| first.to_lowercase().chain(characters).collect())
        .unwrap_or_default()
}

/// Builds a response body, leaving out absent optional members.
#[derive(Default)]
pub(crate) struct Body(Map<String, Value>);

impl Body {
    pub(crate) fn new() -> Body {
        Body::default()
    }

    pub(crate) fn with(mut self, name: &str, value: impl Into<Value>) -> Body {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub(crate) fn with_optional(self, name: &str, value: Option<impl Into<Value>>) -> Body {
        match value {
            Some(value) => self.with(name, value),
            None => self,
        }
    }

    pub(crate) fn into_response(self) -> WireResponse {
        WireResponse::ok(&self.0)
    }

    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}
