//! The embedded default store: both traits over mutex-guarded maps.

use core::future::{Future, ready};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionRecord, SessionStore,
    TokenStore, Version,
};
use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::time::UnixTime;

/// An in-memory [`TokenStore`] and [`SessionStore`]: the embedded default.
///
/// Cloning is cheap and shares the data, so several services (as several instances of an auth
/// service would share a database) can use one store from many threads. Versions come from one
/// counter per store and never repeat.
///
/// ```
/// use softtoken::{MemoryStore, TokenStore, UserId};
///
/// let store = MemoryStore::new();
/// let shared = store.clone();
/// assert!(shared.load(&UserId::new("alice"))?.is_none());
/// # Ok::<(), softtoken::StoreError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    tokens: Mutex<HashMap<UserId, (TokenRecord, Version)>>,
    sessions: Mutex<HashMap<SessionId, SessionRecord>>,
    next_version: AtomicU64,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Sessions currently stored, consumed or not (for tests and metrics).
    #[must_use]
    pub fn session_count(&self) -> usize {
        lock(&self.inner.sessions).len()
    }
}

/// A panic while holding the lock cannot leave a map half-written (every update is a single
/// `insert`/`remove`), so a poisoned lock is still consistent and is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenStore for MemoryStore {
    fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        Ok(lock(&self.inner.tokens).get(user).cloned())
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        let mut tokens = lock(&self.inner.tokens);
        let current = tokens.get(user).map(|(_, version)| *version);
        if current != expected {
            return Err(CasError::Conflict);
        }
        match next {
            Some(record) => {
                // Under the map's lock, so versions are issued in write order; 2^64 writes
                // never happen, and wrapping would still not repeat a live version soon.
                let version = Version(
                    self.inner
                        .next_version
                        .fetch_add(1, Ordering::Relaxed)
                        .wrapping_add(1),
                );
                tokens.insert(user.clone(), (record, version));
                Ok(Some(version))
            }
            None => {
                tokens.remove(user);
                Ok(None)
            }
        }
    }
}

impl SessionStore for MemoryStore {
    fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        lock(&self.inner.sessions).insert(session.clone(), record);
        Ok(())
    }

    fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        Ok(lock(&self.inner.sessions).get(session).cloned())
    }

    fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        match lock(&self.inner.sessions).get_mut(session) {
            None => Err(ConsumeError::NotFound),
            Some(record) if record.consumed => Err(ConsumeError::AlreadyConsumed),
            Some(record) => {
                record.consumed = true;
                Ok(())
            }
        }
    }

    fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        let mut sessions = lock(&self.inner.sessions);
        let before = sessions.len();
        sessions.retain(|_, record| record.expires_at > now);
        Ok(before - sessions.len())
    }
}

// The async traits answer at once: the maps are in memory, so each future is ready when made.

impl AsyncTokenStore for MemoryStore {
    fn load(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Version)>, StoreError>> + Send {
        ready(TokenStore::load(self, user))
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> impl Future<Output = Result<Option<Version>, CasError>> + Send {
        ready(TokenStore::compare_and_swap(self, user, expected, next))
    }
}

impl AsyncSessionStore for MemoryStore {
    fn put(
        &self,
        session: &SessionId,
        record: SessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(SessionStore::put(self, session, record))
    }

    fn get(
        &self,
        session: &SessionId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        ready(SessionStore::get(self, session))
    }

    fn consume(
        &self,
        session: &SessionId,
    ) -> impl Future<Output = Result<(), ConsumeError>> + Send {
        ready(SessionStore::consume(self, session))
    }

    fn sweep(&self, now: UnixTime) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready(SessionStore::sweep(self, now))
    }
}
