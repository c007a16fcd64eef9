//! Storage: the traits a backend implements, and [`MemoryStore`], the embedded default.
//!
//! Every state change goes through one atomic conditional write. A backend that gets it wrong
//! does not fail loudly; it opens a hole:
//!
//! | contract broken | what it costs |
//! |---|---|
//! | `compare_and_swap` writes although the version moved (a false accept) | a replayed code signs in twice; parallel guesses outrun the lockout; a verified token appears for a deleted association |
//! | `compare_and_swap` refuses although the version matches (a false reject) | every operation retries, then fails with `ConcurrentModificationException`: an outage, not a hole |
//! | `consume` succeeds twice for one session | one session answers two challenges (a replayed MFA step) |
//! | `consume` refuses a fresh session | the user must sign in again |
//! | a store error reported as success | anything: which is why the service treats every error as a refusal |

mod memory;

#[cfg(feature = "test-support")]
pub mod conformance;
#[cfg(feature = "test-support")]
pub mod faults;

pub use memory::MemoryStore;

use core::future::Future;

use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::time::UnixTime;

/// A record's version, owned by the store: it must change on every write and never repeat for
/// a user, so a compare-and-swap against an old version can never succeed (no ABA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u64);

/// Why a compare-and-swap did not write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CasError {
    /// The stored version is not the expected one (or a record exists where none was
    /// expected, or none exists where one was): someone else wrote first. Reload and decide
    /// again.
    #[error("the record changed since it was loaded")]
    Conflict,
    /// The backend failed; whether the write happened is unknown, and the caller must not
    /// assume either.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Storage of [`TokenRecord`]s, one per user, with compare-and-swap.
///
/// A backend that persists bytes stores [`TokenRecord::encode`]'s output next to the version
/// and never interprets it; [`TokenRecord::decode`] reads it back. Secrets inside pass through
/// the caller's [`SecretSealer`](crate::SecretSealer) (default [`PlainSecrets`](crate::PlainSecrets):
/// stored as is).
///
/// Maps one-to-one onto PostgreSQL `UPDATE … WHERE version = $n` / `INSERT … ON CONFLICT DO
/// NOTHING`, a DynamoDB `ConditionExpression`, or Redis `WATCH`/`MULTI`.
pub trait TokenStore {
    /// The user's record and its current version, or `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError>;

    /// Atomically replaces the user's record if and only if its version is still `expected`
    /// (`None`: no record exists). `next = None` deletes it. Returns the new version, or
    /// `None` after a delete.
    ///
    /// # Errors
    /// [`CasError::Conflict`] when the record is not at `expected`; [`CasError::Store`] when
    /// the backend fails.
    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError>;
}

/// What a session is for: each step of a sign-in accepts only its own sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionPurpose {
    /// S1: from InitiateAuth's MFA_SETUP challenge, answered by AssociateSoftwareToken.
    MfaSetupAssociate,
    /// S2: from AssociateSoftwareToken, answered by VerifySoftwareToken.
    MfaSetupVerify,
    /// S3: from VerifySoftwareToken, answered by RespondToAuthChallenge(MFA_SETUP).
    MfaSetupRespond,
    /// From InitiateAuth's SOFTWARE_TOKEN_MFA challenge, answered with a code.
    SoftwareTokenMfa,
}

/// What a session store keeps for one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// The user the session was issued to.
    pub user: UserId,
    /// The step it answers.
    pub purpose: SessionPurpose,
    /// The first instant it is no longer valid.
    pub expires_at: UnixTime,
    /// A call already succeeded with it.
    pub consumed: bool,
}

/// Why a session could not be consumed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// Another call consumed it first.
    #[error("the session was already consumed")]
    AlreadyConsumed,
    /// No such session (never issued, or swept).
    #[error("no such session")]
    NotFound,
    /// The backend failed; the session must be treated as not consumed by this call.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Storage of sign-in sessions with an atomic, conditional consume.
///
/// A session is consumed by the call that succeeds with it and kept, marked consumed, until it
/// expires, so a second use is told apart from an unknown session. `consume` maps onto
/// PostgreSQL `UPDATE … SET consumed = true WHERE id = $1 AND NOT consumed`.
pub trait SessionStore {
    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError>;

    /// The session's record, consumed or not, or `None` if unknown.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError>;

    /// Marks the session consumed if, and only if, it is not already: of any number of
    /// concurrent calls, exactly one succeeds.
    ///
    /// # Errors
    /// [`ConsumeError::AlreadyConsumed`], [`ConsumeError::NotFound`], or
    /// [`ConsumeError::Store`].
    fn consume(&self, session: &SessionId) -> Result<(), ConsumeError>;

    /// Deletes every session whose `expires_at` is at or before `now`; returns how many.
    ///
    /// # Errors
    /// [`StoreError`] when the backend fails.
    fn sweep(&self, now: UnixTime) -> Result<usize, StoreError>;
}

/// [`TokenStore`] for async backends (a database client on the caller's runtime): the same
/// contract, with futures. Implement it with `async fn`; the futures must be `Send` so a
/// multi-threaded runtime can move them.
pub trait AsyncTokenStore {
    /// As [`TokenStore::load`].
    fn load(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Version)>, StoreError>> + Send;

    /// As [`TokenStore::compare_and_swap`].
    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> impl Future<Output = Result<Option<Version>, CasError>> + Send;
}

/// [`SessionStore`] for async backends: the same contract, with futures.
pub trait AsyncSessionStore {
    /// As [`SessionStore::put`].
    fn put(
        &self,
        session: &SessionId,
        record: SessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// As [`SessionStore::get`].
    fn get(
        &self,
        session: &SessionId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// As [`SessionStore::consume`].
    fn consume(&self, session: &SessionId)
    -> impl Future<Output = Result<(), ConsumeError>> + Send;

    /// As [`SessionStore::sweep`].
    fn sweep(&self, now: UnixTime) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
