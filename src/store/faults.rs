//! Fault injection for tests: [`FaultyStore`] wraps a store and makes chosen calls fail.
//!
//! DESIGN.md §4 says a store error is never read as success. To prove it, a test wraps its
//! store, runs an operation once without faults to learn which store calls it makes
//! ([`FaultyStore::calls`]), then runs it again failing each of those calls in turn with each
//! [`FaultKind`], and checks that the operation failed closed.
//!
//! Three kinds of fault:
//!
//! | kind | the inner store is called? | the caller sees |
//! |---|---|---|
//! | [`FaultKind::Error`] | no | a [`StoreError`] |
//! | [`FaultKind::Timeout`] | no | a [`StoreError`] saying the call timed out |
//! | [`FaultKind::ReplyLost`] | **yes**: a write took effect | a [`StoreError`], as if the reply was lost on the way back |
//!
//! `ReplyLost` on a read (`load`, `get`) runs the read and discards its answer.

use core::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionRecord, SessionStore,
    TokenStore, Version,
};
use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::time::UnixTime;

/// A store call a fault can be injected into (DESIGN.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultPoint {
    /// [`TokenStore::load`].
    Load,
    /// [`TokenStore::compare_and_swap`].
    CompareAndSwap,
    /// [`SessionStore::put`].
    Put,
    /// [`SessionStore::get`].
    Get,
    /// [`SessionStore::consume`].
    Consume,
    /// [`SessionStore::sweep`].
    Sweep,
}

impl FaultPoint {
    /// Every fault point.
    pub const ALL: [FaultPoint; 6] = [
        FaultPoint::Load,
        FaultPoint::CompareAndSwap,
        FaultPoint::Put,
        FaultPoint::Get,
        FaultPoint::Consume,
        FaultPoint::Sweep,
    ];

    /// Whether the call changes the store (everything but `load` and `get`).
    #[must_use]
    pub const fn is_write(self) -> bool {
        !matches!(self, FaultPoint::Load | FaultPoint::Get)
    }

    /// The trait method's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            FaultPoint::Load => "load",
            FaultPoint::CompareAndSwap => "compare_and_swap",
            FaultPoint::Put => "put",
            FaultPoint::Get => "get",
            FaultPoint::Consume => "consume",
            FaultPoint::Sweep => "sweep",
        }
    }
}

impl fmt::Display for FaultPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an injected fault fails a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The backend refuses the call; nothing happens.
    Error,
    /// The call times out before reaching the backend; nothing happens.
    Timeout,
    /// The call takes effect in the inner store, then its reply is lost: the caller gets an
    /// error although the write happened (the ambiguous failure every networked store has).
    ReplyLost,
}

impl FaultKind {
    /// Every fault kind.
    pub const ALL: [FaultKind; 3] = [FaultKind::Error, FaultKind::Timeout, FaultKind::ReplyLost];

    /// Whether the inner store is still called (and a write takes effect).
    #[must_use]
    pub const fn reaches_store(self) -> bool {
        matches!(self, FaultKind::ReplyLost)
    }

    /// The error the faulted call returns at `point`.
    #[must_use]
    pub fn error(self, point: FaultPoint) -> StoreError {
        let name = point.name();
        StoreError::new(match self {
            FaultKind::Error => format!("injected fault: {name} failed"),
            FaultKind::Timeout => format!("injected fault: {name} timed out"),
            FaultKind::ReplyLost => {
                format!("injected fault: the reply to {name} was lost (the call took effect)")
            }
        })
    }
}

/// One fault that fired: where, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The call that failed.
    pub point: FaultPoint,
    /// How it failed.
    pub kind: FaultKind,
}

/// When a planned fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    /// After this many more calls to the point pass, once.
    After(u64),
    /// Every call.
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    fault: Fault,
    when: When,
}

#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
    calls: Vec<FaultPoint>,
    injected: Vec<Fault>,
}

/// A [`TokenStore`] + [`SessionStore`] (and [`AsyncTokenStore`] + [`AsyncSessionStore`])
/// wrapper that fails the calls a test chooses and logs every call it sees.
///
/// Clones share the plan and the log, so one `FaultyStore` can serve as both stores of a
/// [`Service`](crate::Service) and still be steered from the test. Without a plan it is a
/// transparent pass-through.
///
/// ```
/// use softtoken::store::faults::{FaultKind, FaultPoint, FaultyStore};
/// use softtoken::{MemoryStore, PoolConfig, Service, TokenStore, UnixTime, UserId};
/// use softtoken::api::SetUserMfaPreferenceRequest;
///
/// let store = FaultyStore::new(MemoryStore::new());
/// let service = Service::new(
///     store.clone(),
///     store.clone(),
///     |_: &softtoken::AccessToken| Some(UserId::new("alice")),
///     PoolConfig::default(),
/// );
/// let request = SetUserMfaPreferenceRequest {
///     access_token: "token".to_owned(),
///     software_token_mfa_settings: Some(Default::default()),
/// };
///
/// // Fault-free, the operation loads the record (and writes nothing: there is nothing to turn off).
/// assert!(service.set_user_mfa_preference(&request, UnixTime(0)).result.is_ok());
/// assert_eq!(store.calls(), [FaultPoint::Load]);
///
/// // The next load times out: the operation fails closed, with the store error.
/// store.fail_nth(FaultPoint::Load, 1, FaultKind::Timeout);
/// let refused = service.set_user_mfa_preference(&request, UnixTime(0)).result;
/// assert_eq!(refused.unwrap_err().code(), "InternalErrorException");
/// assert_eq!(store.injected().len(), 1);
///
/// // Faults stop; the store answers again.
/// store.clear();
/// assert!(store.load(&UserId::new("alice"))?.is_none());
/// # Ok::<(), softtoken::StoreError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct FaultyStore<S> {
    inner: S,
    plan: Arc<Mutex<Plan>>,
}

/// A test that panicked while holding the lock cannot leave the plan half-updated in a way
/// that matters (each update is a push or a `retain`), so a poisoned lock is used as is.
fn lock(plan: &Mutex<Plan>) -> MutexGuard<'_, Plan> {
    plan.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S> FaultyStore<S> {
    /// Wraps `inner` with no faults planned.
    #[must_use]
    pub fn new(inner: S) -> FaultyStore<S> {
        FaultyStore {
            inner,
            plan: Arc::default(),
        }
    }

    /// The wrapped store, to inspect what really happened (calls on it are neither faulted
    /// nor logged).
    #[must_use]
    pub const fn inner(&self) -> &S {
        &self.inner
    }

    /// Fails the `n`-th call to `point` from now on (1 is the next one; 0 is taken as 1) with
    /// `kind`, once.
    pub fn fail_nth(&self, point: FaultPoint, n: u64, kind: FaultKind) {
        lock(&self.plan).rules.push(Rule {
            fault: Fault { point, kind },
            when: When::After(n.saturating_sub(1)),
        });
    }

    /// Fails every call to `point` from now on with `kind`, until [`clear`](Self::clear).
    pub fn fail_always(&self, point: FaultPoint, kind: FaultKind) {
        lock(&self.plan).rules.push(Rule {
            fault: Fault { point, kind },
            when: When::Always,
        });
    }

    /// Drops every planned fault: from now on every call passes through. The call log and
    /// the list of injected faults are kept.
    pub fn clear(&self) {
        lock(&self.plan).rules.clear();
    }

    /// Every call seen since creation or [`reset_log`](Self::reset_log), in order, faulted or
    /// not.
    #[must_use]
    pub fn calls(&self) -> Vec<FaultPoint> {
        lock(&self.plan).calls.clone()
    }

    /// How many calls to `point` were seen since creation or [`reset_log`](Self::reset_log).
    #[must_use]
    pub fn call_count(&self, point: FaultPoint) -> usize {
        lock(&self.plan)
            .calls
            .iter()
            .filter(|&&call| call == point)
            .count()
    }

    /// The faults that fired since creation or [`reset_log`](Self::reset_log), in order.
    #[must_use]
    pub fn injected(&self) -> Vec<Fault> {
        lock(&self.plan).injected.clone()
    }

    /// Forgets the call log and the injected faults (planned faults stay planned).
    pub fn reset_log(&self) {
        let mut plan = lock(&self.plan);
        plan.calls.clear();
        plan.injected.clear();
    }

    /// Logs a call to `point` and decides whether it fails. When several planned faults pick
    /// the same call, the one planned first decides and a `fail_nth` that lost waits for the
    /// next call to the point, so no planned fault vanishes unfired; a spent `fail_nth` is
    /// dropped.
    fn decide(&self, point: FaultPoint) -> Option<FaultKind> {
        let mut plan = lock(&self.plan);
        plan.calls.push(point);
        let mut fired = None;
        plan.rules.retain_mut(|rule| {
            if rule.fault.point != point {
                return true;
            }
            match &mut rule.when {
                When::Always => {
                    fired = fired.or(Some(rule.fault.kind));
                    true
                }
                When::After(0) if fired.is_some() => true,
                When::After(0) => {
                    fired = Some(rule.fault.kind);
                    false
                }
                When::After(left) => {
                    *left -= 1;
                    true
                }
            }
        });
        if let Some(kind) = fired {
            plan.injected.push(Fault { point, kind });
        }
        fired
    }

    /// Runs `call` through the plan: unfaulted, its answer; faulted, `fail` of the injected
    /// error, after running `call` anyway when the fault is a lost reply.
    fn intercept<R>(
        &self,
        point: FaultPoint,
        call: impl FnOnce() -> R,
        fail: impl FnOnce(StoreError) -> R,
    ) -> R {
        match self.decide(point) {
            None => call(),
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = call();
                }
                fail(kind.error(point))
            }
        }
    }
}

impl<S: TokenStore> TokenStore for FaultyStore<S> {
    fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        self.intercept(FaultPoint::Load, || self.inner.load(user), Err)
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        self.intercept(
            FaultPoint::CompareAndSwap,
            || self.inner.compare_and_swap(user, expected, next),
            |error| Err(CasError::Store(error)),
        )
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        self.intercept(FaultPoint::Put, || self.inner.put(session, record), Err)
    }

    fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.intercept(FaultPoint::Get, || self.inner.get(session), Err)
    }

    fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        self.intercept(
            FaultPoint::Consume,
            || self.inner.consume(session),
            |error| Err(ConsumeError::Store(error)),
        )
    }

    fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        self.intercept(FaultPoint::Sweep, || self.inner.sweep(now), Err)
    }
}

// The async flavour decides when first polled and only then creates the inner future, so a
// refused call never reaches a store whose futures do their work when created.

impl<S: AsyncTokenStore + Sync> AsyncTokenStore for FaultyStore<S> {
    async fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        match self.decide(FaultPoint::Load) {
            None => self.inner.load(user).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.load(user).await;
                }
                Err(kind.error(FaultPoint::Load))
            }
        }
    }

    async fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        match self.decide(FaultPoint::CompareAndSwap) {
            None => self.inner.compare_and_swap(user, expected, next).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.compare_and_swap(user, expected, next).await;
                }
                Err(CasError::Store(kind.error(FaultPoint::CompareAndSwap)))
            }
        }
    }
}

impl<S: AsyncSessionStore + Sync> AsyncSessionStore for FaultyStore<S> {
    async fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        match self.decide(FaultPoint::Put) {
            None => self.inner.put(session, record).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.put(session, record).await;
                }
                Err(kind.error(FaultPoint::Put))
            }
        }
    }

    async fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        match self.decide(FaultPoint::Get) {
            None => self.inner.get(session).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.get(session).await;
                }
                Err(kind.error(FaultPoint::Get))
            }
        }
    }

    async fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        match self.decide(FaultPoint::Consume) {
            None => self.inner.consume(session).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.consume(session).await;
                }
                Err(ConsumeError::Store(kind.error(FaultPoint::Consume)))
            }
        }
    }

    async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        match self.decide(FaultPoint::Sweep) {
            None => self.inner.sweep(now).await,
            Some(kind) => {
                if kind.reaches_store() {
                    let _lost = self.inner.sweep(now).await;
                }
                Err(kind.error(FaultPoint::Sweep))
            }
        }
    }
}
