//! Who a request is for: user ids, session values, and the principal a request resolves to.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::error::Error;

/// A user's identifier in the caller's directory (Cognito's username or `sub`). Opaque to this
/// crate; not secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct UserId(String);

impl UserId {
    /// Wraps the caller's identifier.
    #[must_use]
    pub fn new(id: impl Into<String>) -> UserId {
        UserId(id.into())
    }

    /// The identifier.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for UserId {
    fn from(id: &str) -> UserId {
        UserId::new(id)
    }
}

/// An opaque sign-in session value (Cognito's `Session`): 20 to 2048 characters.
///
/// A session is a bearer credential for one step of a sign-in, so `Debug` is redacted and the
/// value leaves only through [`SessionId::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId(Zeroizing<String>);

impl core::hash::Hash for SessionId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl SessionId {
    /// The shortest session Cognito accepts.
    pub const MIN_LEN: usize = 20;
    /// The longest session Cognito accepts.
    pub const MAX_LEN: usize = 2048;
    /// Random bytes in a session this crate issues (base32: 77 characters).
    const RANDOM_BYTES: usize = 48;

    /// Validates a session value received in a request.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when it is not 20..=2048 characters.
    pub fn parse(value: &str) -> Result<SessionId, Error> {
        let length = value.chars().count();
        if length < Self::MIN_LEN {
            return Err(Error::invalid_parameter(
                "session",
                "1 validation error detected: Value at 'session' failed to satisfy constraint: \
                 Member must have length greater than or equal to 20",
            ));
        }
        if length > Self::MAX_LEN {
            return Err(Error::invalid_parameter(
                "session",
                "1 validation error detected: Value at 'session' failed to satisfy constraint: \
                 Member must have length less than or equal to 2048",
            ));
        }
        Ok(SessionId(Zeroizing::new(value.to_owned())))
    }

    /// A fresh session value from the caller's CSPRNG.
    #[must_use]
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> SessionId {
        let mut bytes = Zeroizing::new([0u8; Self::RANDOM_BYTES]);
        rng.fill_bytes(bytes.as_mut_slice());
        SessionId(Zeroizing::new(base32::encode(
            base32::Alphabet::Rfc4648 { padding: false },
            bytes.as_slice(),
        )))
    }

    /// The value, to send to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// An access token as received; resolved to a user by the caller's
/// [`AccessTokenResolver`](crate::AccessTokenResolver). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Zeroizing<String>);

impl AccessToken {
    /// The longest access token accepted: Cognito documents no maximum; its JWTs are about a
    /// kilobyte and grow with group and scope claims, and 8 KiB is the usual HTTP header budget
    /// such a token also has to fit.
    pub const MAX_LEN: usize = 8192;

    /// Validates an access token received in a request.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when it is empty or longer than [`AccessToken::MAX_LEN`]
    /// characters.
    pub fn parse(value: &str) -> Result<AccessToken, Error> {
        if value.is_empty() {
            return Err(Error::invalid_parameter(
                "accessToken",
                "1 validation error detected: Value at 'accessToken' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
            ));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(Error::invalid_parameter(
                "accessToken",
                "1 validation error detected: Value at 'accessToken' failed to satisfy \
                 constraint: Member must have length less than or equal to 8192",
            ));
        }
        Ok(AccessToken(Zeroizing::new(value.to_owned())))
    }

    /// The token, for the resolver.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// How a request authenticates: exactly one of an access token and a session. "Both" and
/// "neither" cannot be expressed past the request edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user's access token.
    AccessToken(AccessToken),
    /// A session from a sign-in challenge (the MFA_SETUP chain).
    Session(SessionId),
}

impl Principal {
    /// Validates the two optional request members into a principal.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when both or neither are present, or the present one is
    /// malformed.
    pub fn from_request(
        access_token: Option<&str>,
        session: Option<&str>,
    ) -> Result<Principal, Error> {
        match (access_token, session) {
            (Some(token), None) => Ok(Principal::AccessToken(AccessToken::parse(token)?)),
            (None, Some(session)) => Ok(Principal::Session(SessionId::parse(session)?)),
            (Some(_), Some(_)) => Err(Error::InvalidParameter {
                field: None,
                message: "Only one of AccessToken or Session can be provided.".to_owned(),
            }),
            (None, None) => Err(Error::InvalidParameter {
                field: None,
                message: "Either AccessToken or Session must be provided.".to_owned(),
            }),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for SessionId {
    /// The value: a session is returned to the client that answers with it.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SessionId {
    /// Through [`SessionId::parse`]: 20 to 2048 characters.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        SessionId::parse(&text).map_err(serde::de::Error::custom)
    }
}
