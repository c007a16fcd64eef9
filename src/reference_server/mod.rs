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
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9229").await?;
//! softtoken::reference_server::serve(listener, std::sync::Arc::default()).await
//! # }
//! ```

mod directory;
mod operations;
pub mod wire;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use getrandom::SysRng;
use rand_core::{CryptoRng, UnwrapErr};
use serde_json::Value;

use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, MemoryStore, SessionRecord, Version,
};
use crate::time::UnixTime;
use directory::{Directory, TokenDirectory};
use wire::{CONTENT_TYPE, MAX_BODY_BYTES, Members, Refusal, TARGET_PREFIX, WireResponse};

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

/// The server's state: the crate's store and the server's own directory.
#[derive(Debug, Default)]
pub struct ReferenceServer {
    store: ServerStore,
    directory: Mutex<Directory>,
    tokens: TokenDirectory,
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
        let operation = target
            .and_then(|target| target.strip_prefix(TARGET_PREFIX))
            .ok_or_else(|| {
                Refusal::new(
                    "UnknownOperationException",
                    "Missing or unknown X-Amz-Target",
                )
            })?;
        if body.len() > MAX_BODY_BYTES {
            return Err(Refusal::new(
                "SerializationException",
                "Request body too large",
            ));
        }
        let parsed: Value = serde_json::from_slice(body)
            .map_err(|_| Refusal::new("SerializationException", "Malformed JSON request body"))?;
        let object = parsed.as_object().ok_or_else(|| {
            Refusal::new(
                "SerializationException",
                "The request body must be a JSON object",
            )
        })?;
        let members = Members::new(object);
        let body = match operation {
            "CreateUserPool" => self.create_user_pool(&members, now, rng),
            "CreateUserPoolClient" => self.create_user_pool_client(&members, rng),
            "SetUserPoolMfaConfig" => self.set_user_pool_mfa_config(&members),
            "GetUserPoolMfaConfig" => self.get_user_pool_mfa_config(&members),
            "AdminCreateUser" => self.admin_create_user(&members, now, rng),
            "AdminSetUserPassword" => self.admin_set_user_password(&members, now),
            "InitiateAuth" => self.initiate_auth(&members, now, rng).await,
            "RespondToAuthChallenge" => self.respond_to_auth_challenge(&members, now, rng).await,
            "AssociateSoftwareToken" => self.associate_software_token(&members, now, rng).await,
            "VerifySoftwareToken" => self.verify_software_token(&members, now, rng).await,
            "SetUserMFAPreference" => self.set_user_mfa_preference(&members, now).await,
            "AdminSetUserMFAPreference" => self.admin_set_user_mfa_preference(&members, now).await,
            "GetUser" => self.get_user(&members, now).await,
            "AdminGetUser" => self.admin_get_user(&members, now).await,
            "AdminDeleteSoftwareToken" => self.admin_delete_software_token(&members, now).await,
            _ => Err(Refusal::new(
                "UnknownOperationException",
                format!("Unknown operation {operation}"),
            )),
        }?;
        Ok(body.into_response())
    }
}

/// The axum handler: `POST /` with the operation in `X-Amz-Target`.
async fn handle_http(
    State(server): State<Arc<ReferenceServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let now = UnixTime::now();
    let mut rng = UnwrapErr(SysRng);
    let response = server
        .handle_async(target.as_deref(), &body, now, &mut rng)
        .await;
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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
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
    // Expired sessions are deleted once a minute, so a database store does not grow forever.
    let sweeper = Arc::clone(&server);
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            // A failed sweep is retried at the next tick; sessions only wait longer to go.
            let _ = AsyncSessionStore::sweep(&sweeper.store, UnixTime::now()).await;
        }
    });
    axum::serve(listener, router(server)).await
}
