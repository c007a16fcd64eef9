//! A Cognito-compatible reference server for the software-token operations (feature
//! `reference-server`): AWS JSON 1.1 over HTTP, so unmodified AWS clients (boto3, the AWS CLI)
//! work against it.
//!
//! It is how an auth service embeds this crate: the server owns pools, app clients, users,
//! passwords and access tokens (opaque random values it maps to users, through the crate's
//! [`AccessTokenResolver`](crate::AccessTokenResolver)); every decision about software tokens
//! — association, verification, preferences, challenges, sessions, replay, lockout — is the
//! crate's [`AsyncService`](crate::AsyncService) on a [`ServerStore`]: a `MemoryStore`, or with
//! the `postgres` feature a `PostgresStore` shared by several server processes.
//!
//! **A reference server, not a production IdP.** Admin and pool operations arrive SigV4-signed
//! and are accepted without checking the signature; passwords are compared in plain text;
//! tokens are opaque, not JWTs; pools, users and tokens live in the process's memory.
//!
//! Operations: `CreateUserPool`, `CreateUserPoolClient`, `SetUserPoolMfaConfig`,
//! `GetUserPoolMfaConfig`, `AdminCreateUser`, `AdminSetUserPassword`, `InitiateAuth`
//! (`USER_PASSWORD_AUTH`), `RespondToAuthChallenge` (`SOFTWARE_TOKEN_MFA`, `MFA_SETUP`),
//! `AssociateSoftwareToken`, `VerifySoftwareToken`, `SetUserMFAPreference`,
//! `AdminSetUserMFAPreference`, `GetUser`, `AdminGetUser`, `AdminDeleteSoftwareToken`.
//!
//! ## Requests
//!
//! Each operation reads its body into a `serde` type: the crate's request types in
//! [`crate::api`] for the software-token operations (AssociateSoftwareToken,
//! VerifySoftwareToken, SetUserMFAPreference, AdminSetUserMFAPreference), the server's own
//! structs for the rest, and responses are the crate's response types
//! ([`AssociateSoftwareTokenResponse`](crate::api::AssociateSoftwareTokenResponse),
//! [`VerifySoftwareTokenResponse`](crate::api::VerifySoftwareTokenResponse),
//! [`SignInChallenge`](crate::api::SignInChallenge), [`MfaView`](crate::MfaView)). Errors are
//! the AWS JSON protocol's: a body that is not JSON, or not an object, and a member of the
//! wrong JSON type are `SerializationException` ("Member 'AccessToken' must be a string"); a
//! required member absent or `null` is `InvalidParameterException` ("1 validation error
//! detected: Value null at 'userCode' failed to satisfy constraint: Member must not be
//! null"); a `null` optional member is absent. Members are validated before any lookup.
//!
//! ## Limits
//!
//! Every member has a bound, checked before anything is looked up or stored; a value outside
//! it is refused with `InvalidParameterException` "1 validation error detected: Value at
//! 'member' failed to satisfy constraint: Member must have length less than or equal to N"
//! (or "greater than or equal to N"; for `ExplicitAuthFlows`, "… Member must satisfy
//! constraint: [Member must satisfy enum value set: [ADMIN_NO_SRP_AUTH, …]]"). Lengths
//! count characters (Unicode scalar values).
//!
//! | member | bound | where it is checked |
//! |---|---|---|
//! | request body | at most [`MAX_BODY_BYTES`] = 1 MiB | the server, see below |
//! | `PoolName` | 1..=128 | the server ([`POOL_NAME_CHARS`]) |
//! | `ClientName` | 1..=128 | the server ([`CLIENT_NAME_CHARS`]) |
//! | `UserPoolId` | 1..=55 | the server ([`USER_POOL_ID_CHARS`]) |
//! | `ClientId` | 1..=128 | the server ([`CLIENT_ID_CHARS`]) |
//! | `Username` | 1..=128 | the crate ([`MAX_USERNAME_CHARS`](crate::api::MAX_USERNAME_CHARS)), every operation that names a user |
//! | `Password`, `TemporaryPassword` | at most 256 | the server ([`PASSWORD_CHARS`]) |
//! | `AccessToken` | 1..=8192 (our bound: Cognito documents none) | the crate ([`AccessToken::parse`](crate::AccessToken::parse), [`ACCESS_TOKEN_CHARS`]) |
//! | `Session` | 20..=2048 | the crate ([`SessionId`]) |
//! | `UserCode`, `SOFTWARE_TOKEN_MFA_CODE` | ASCII digits, 6..=8 by form, and exactly the token's digit count (6 in these pools) | the crate |
//! | `FriendlyDeviceName` | at most 131072 | the crate ([`MAX_FRIENDLY_DEVICE_NAME_CHARS`](crate::api::MAX_FRIENDLY_DEVICE_NAME_CHARS)) |
//! | `AuthSessionValidity` | 3..=15 (minutes) | the server |
//! | `ExplicitAuthFlows` | each one of Cognito's nine values ([`EXPLICIT_AUTH_FLOWS`]), duplicates dropped, so at most nine are stored | the server |
//! | `AuthParameters.USERNAME`, `ChallengeResponses.USERNAME` | 1..=128, as `Username` | the crate ([`MAX_USERNAME_CHARS`](crate::api::MAX_USERNAME_CHARS)), before the client is looked up |
//! | `AuthParameters.PASSWORD` | at most 256, as `Password` | the server ([`PASSWORD_CHARS`]), before the client is looked up |
//! | other `AuthParameters`, `ChallengeResponses` entries | the body limit; ignored, never stored | — |
//!
//! **The body limit.** A request body over [`MAX_BODY_BYTES`] is
//! answered HTTP 400 `{"__type": "SerializationException", "message": "The request body is
//! larger than 1048576 bytes"}` (400 like every client error of the AWS JSON protocol, so the
//! answer is the same from [`ReferenceServer::handle`] and over HTTP), with the usual
//! `Content-Type`, `x-amzn-RequestId` and `x-amzn-ErrorType` headers. With a `Content-Length`
//! over the limit the answer is sent before any of the body is read; a body without one
//! (chunked) is read until it passes the limit and no further. The rest is never read, and
//! the connection is closed after the answer. An `X-Amz-Target` that is not
//! `AWSCognitoIdentityProviderService.` and the exact name of an operation listed above is
//! refused first, as `UnknownOperationException`, from the header alone: whatever the body
//! (malformed, or over the limit), none of it is read, and over HTTP the connection is
//! closed after the answer.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9229").await?;
//! softtoken::reference_server::serve(listener, std::sync::Arc::default()).await
//! # }
//! ```

mod directory;
mod members;
mod operations;
pub mod wire;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use getrandom::SysRng;
use rand_core::{CryptoRng, UnwrapErr};

use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, MemoryStore, SessionRecord, Version,
};
use crate::time::UnixTime;
use directory::{Directory, TokenDirectory};
pub use operations::{
    ACCESS_TOKEN_CHARS, CLIENT_ID_CHARS, CLIENT_NAME_CHARS, EXPLICIT_AUTH_FLOWS, PASSWORD_CHARS,
    POOL_NAME_CHARS, USER_POOL_ID_CHARS,
};
use wire::{CONTENT_TYPE, MAX_BODY_BYTES, Operation, Refusal, WireResponse};

/// Where the server keeps token records and sessions.
#[derive(Clone, Debug)]
pub enum ServerStore {
    /// In memory (the default): state ends with the process.
    Memory(MemoryStore),
    /// In PostgreSQL (feature `postgres`): several server processes can share it.
    #[cfg(feature = "postgres")]
    Postgres(crate::postgres::PostgresStore),
}

impl Default for ServerStore {
    fn default() -> ServerStore {
        ServerStore::Memory(MemoryStore::new())
    }
}

impl AsyncTokenStore for ServerStore {
    async fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        match self {
            ServerStore::Memory(store) => AsyncTokenStore::load(store, user).await,
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => AsyncTokenStore::load(store, user).await,
        }
    }

    async fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        match self {
            ServerStore::Memory(store) => {
                AsyncTokenStore::compare_and_swap(store, user, expected, next).await
            }
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => {
                AsyncTokenStore::compare_and_swap(store, user, expected, next).await
            }
        }
    }
}

impl AsyncSessionStore for ServerStore {
    async fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        match self {
            ServerStore::Memory(store) => AsyncSessionStore::put(store, session, record).await,
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => AsyncSessionStore::put(store, session, record).await,
        }
    }

    async fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        match self {
            ServerStore::Memory(store) => AsyncSessionStore::get(store, session).await,
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => AsyncSessionStore::get(store, session).await,
        }
    }

    async fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        match self {
            ServerStore::Memory(store) => AsyncSessionStore::consume(store, session).await,
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => AsyncSessionStore::consume(store, session).await,
        }
    }

    async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        match self {
            ServerStore::Memory(store) => AsyncSessionStore::sweep(store, now).await,
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(store) => AsyncSessionStore::sweep(store, now).await,
        }
    }
}

/// What a server's directory holds ([`ReferenceServer::census`], feature `test-support`).
#[cfg(feature = "test-support")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Census {
    /// User pools.
    pub pools: usize,
    /// App clients.
    pub clients: usize,
    /// Users, across pools.
    pub users: usize,
    /// Access-token grants not yet forgotten ([`ReferenceServer::forget_expired`]).
    pub grants: usize,
    /// Sessions whose app client is remembered.
    pub sessions: usize,
}

/// The server's state: the crate's store and the server's own directory.
///
/// Its `Debug` prints the store's kind and how many pools, clients, users, live sessions and
/// issued access tokens it holds, never a password, an access token or a session.
#[derive(Default)]
pub struct ReferenceServer {
    store: ServerStore,
    directory: Mutex<Directory>,
    tokens: TokenDirectory,
}

impl core::fmt::Debug for ReferenceServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let store = match self.store {
            ServerStore::Memory(_) => "Memory",
            #[cfg(feature = "postgres")]
            ServerStore::Postgres(_) => "Postgres",
        };
        f.debug_struct("ReferenceServer")
            .field("store", &format_args!("{store}"))
            .field("directory", &directory::Locked(&self.directory))
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl ReferenceServer {
    /// An empty server on a `MemoryStore`: no pools.
    #[must_use]
    pub fn new() -> ReferenceServer {
        ReferenceServer::default()
    }

    /// An empty server whose token records and sessions live in `store`. (Pools, clients,
    /// users and access tokens are the server's own and stay in memory.)
    #[must_use]
    pub fn with_store(store: ServerStore) -> ReferenceServer {
        ReferenceServer {
            store,
            ..ReferenceServer::default()
        }
    }

    /// Forgets what only lives as long as a session or a token: expired access-token grants
    /// and the app client of every session issued more than 15 minutes (the longest
    /// AuthSessionValidity) before `now`. [`serve`] runs it once a minute beside the session
    /// store's sweep; a server mounted with [`router`] should too, or its memory grows with
    /// every sign-in. Returns how many entries went.
    pub fn forget_expired(&self, now: UnixTime) -> usize {
        self.tokens.forget_expired(now) + self.directory().forget_expired_sessions(now)
    }

    /// How many pools, app clients and users the server holds (feature `test-support`), so
    /// a test can show that a refused request stored nothing.
    #[cfg(feature = "test-support")]
    #[must_use]
    pub fn census(&self) -> Census {
        let directory = self.directory();
        Census {
            pools: directory.pools.len(),
            clients: directory.clients.len(),
            users: directory.pools.values().map(|pool| pool.users.len()).sum(),
            grants: self.tokens.len(),
            sessions: directory.session_clients.len(),
        }
    }

    fn directory(&self) -> MutexGuard<'_, Directory> {
        // Every update of the directory is a single insert, so a poisoned lock still holds
        // consistent data.
        self.directory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Handles one request: the `X-Amz-Target` header's value and the body bytes, at `now`,
    /// with `rng` for secrets, sessions, ids and tokens. Never panics; every failure is an
    /// AWS-style error response.
    pub async fn handle_async<G: CryptoRng + ?Sized>(
        &self,
        target: Option<&str>,
        body: &[u8],
        now: UnixTime,
        rng: &mut G,
    ) -> WireResponse {
        match self.dispatch(target, body, now, rng).await {
            Ok(response) => response,
            Err(refusal) => WireResponse::error(refusal.exception, &refusal.message),
        }
    }

    /// [`ReferenceServer::handle_async`] for a server on a `MemoryStore`, whose every store
    /// call is ready at once, so the request completes on the calling thread (tests, fuzzing).
    /// On a PostgreSQL store, use `handle_async` on the runtime instead.
    pub fn handle<G: CryptoRng + ?Sized>(
        &self,
        target: Option<&str>,
        body: &[u8],
        now: UnixTime,
        rng: &mut G,
    ) -> WireResponse {
        if !matches!(self.store, ServerStore::Memory(_)) {
            // A database store's futures need the runtime's reactor: driving them here would
            // spin (or panic outside a runtime).
            return WireResponse::error(
                "InternalErrorException",
                "ReferenceServer::handle needs a MemoryStore; use handle_async on a runtime",
            );
        }
        crate::service::block_on(self.handle_async(target, body, now, rng))
    }

    async fn dispatch<G: CryptoRng + ?Sized>(
        &self,
        target: Option<&str>,
        body: &[u8],
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let operation = wire::operation(target)?;
        if body.len() > MAX_BODY_BYTES {
            return Ok(WireResponse::body_too_large());
        }
        let body = wire::parse_body(body)?;
        match operation {
            Operation::CreateUserPool => self.create_user_pool(&body, now, rng),
            Operation::CreateUserPoolClient => self.create_user_pool_client(&body, rng),
            Operation::SetUserPoolMfaConfig => self.set_user_pool_mfa_config(&body),
            Operation::GetUserPoolMfaConfig => self.get_user_pool_mfa_config(&body),
            Operation::AdminCreateUser => self.admin_create_user(&body, now, rng),
            Operation::AdminSetUserPassword => self.admin_set_user_password(&body, now),
            Operation::InitiateAuth => self.initiate_auth(&body, now, rng).await,
            Operation::RespondToAuthChallenge => {
                self.respond_to_auth_challenge(&body, now, rng).await
            }
            Operation::AssociateSoftwareToken => {
                self.associate_software_token(&body, now, rng).await
            }
            Operation::VerifySoftwareToken => self.verify_software_token(&body, now, rng).await,
            Operation::SetUserMfaPreference => self.set_user_mfa_preference(&body, now).await,
            Operation::AdminSetUserMfaPreference => {
                self.admin_set_user_mfa_preference(&body, now).await
            }
            Operation::GetUser => self.get_user(&body, now).await,
            Operation::AdminGetUser => self.admin_get_user(&body, now).await,
            Operation::AdminDeleteSoftwareToken => {
                self.admin_delete_software_token(&body, now).await
            }
        }
    }
}

/// Why a request body was not read whole.
enum Unread {
    /// It is (or declares itself) over [`MAX_BODY_BYTES`]: the rest is left unread.
    TooLarge,
    /// The connection failed while it was being read.
    Broken,
}

/// Reads a request body of at most [`MAX_BODY_BYTES`]. A `Content-Length` over the limit is
/// refused before any of the body is read; a body without one (chunked) is read frame by
/// frame and refused as soon as what arrived passes the limit, so at most one frame more than
/// the limit is ever held.
async fn read_body(headers: &HeaderMap, mut body: Body) -> Result<Vec<u8>, Unread> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let limit = u64::try_from(MAX_BODY_BYTES).unwrap_or(u64::MAX);
    if declared.is_some_and(|length| length > limit) {
        return Err(Unread::TooLarge);
    }
    let capacity = declared
        .and_then(|length| usize::try_from(length).ok())
        .unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|_| Unread::Broken)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > MAX_BODY_BYTES {
                return Err(Unread::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}

/// The axum handler: `POST /` with the operation in `X-Amz-Target`.
async fn handle_http(
    State(server): State<Arc<ReferenceServer>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let now = UnixTime::now();
    let mut rng = UnwrapErr(SysRng);
    // An unknown operation is refused whatever its body, as `handle` does, without reading it.
    // When the body is left unread the connection closes after the answer: the rest of the
    // body is never read, not even to find where the next request begins.
    let (response, unread) = match wire::operation(target.as_deref()) {
        Err(refusal) => (
            WireResponse::error(refusal.exception, &refusal.message),
            true,
        ),
        Ok(_) => match read_body(&headers, body).await {
            Ok(body) => (
                server
                    .handle_async(target.as_deref(), &body, now, &mut rng)
                    .await,
                false,
            ),
            Err(Unread::TooLarge) => (WireResponse::body_too_large(), true),
            Err(Unread::Broken) => (
                WireResponse::error(
                    "SerializationException",
                    "The request body could not be read",
                ),
                true,
            ),
        },
    };
    let request_id = request_id(&mut rng);
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut http = (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        response.body,
    )
        .into_response();
    // Every AWS JSON response carries its request id (SDKs show it as
    // `ResponseMetadata.RequestId`); errors also name their type in a header.
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        http.headers_mut().insert("x-amzn-requestid", value);
    }
    if let Some(exception) = response
        .exception
        .and_then(|name| HeaderValue::from_str(name).ok())
    {
        http.headers_mut().insert("x-amzn-errortype", exception);
    }
    if unread {
        http.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    http
}

/// A request id in the UUID layout AWS uses, from the CSPRNG.
fn request_id<G: CryptoRng + ?Sized>(rng: &mut G) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    let part = |range: core::ops::Range<usize>| hex.get(range).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// The router: every request to `/` is an operation.
pub fn router(server: Arc<ReferenceServer>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(handle_http))
        .with_state(server)
}

/// Serves `server` on `listener` until the process ends.
///
/// # Errors
/// The listener's IO errors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    server: Arc<ReferenceServer>,
) -> std::io::Result<()> {
    // Expired sessions, grants and session clients are deleted once a minute, so neither a
    // database store nor the server's memory grows forever.
    let sweeper = Arc::clone(&server);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            // A failed sweep is retried at the next tick; sessions only wait longer to go.
            let now = UnixTime::now();
            let _ = AsyncSessionStore::sweep(&sweeper.store, now).await;
            sweeper.forget_expired(now);
        }
    });
    axum::serve(listener, router(server)).await
}
