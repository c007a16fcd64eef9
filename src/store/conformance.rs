//! A conformance suite any [`TokenStore`] / [`SessionStore`] implementation runs from its own
//! tests (feature `test-support`). Each function panics, like `assert!`, at the first broken
//! promise, naming it.
//!
//! ```
//! use softtoken::MemoryStore;
//! use softtoken::store::conformance;
//!
//! // Every handle the suite asks for must reach the same data.
//! let store = MemoryStore::new();
//! conformance::token_store(|| store.clone());
//! conformance::session_store(|| store.clone());
//! ```
// A conformance suite reports by panicking, exactly as the assertions of the tests calling it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};
use std::thread;

use super::{CasError, ConsumeError, SessionPurpose, SessionRecord, SessionStore, TokenStore};
use crate::identity::{SessionId, UserId};
use crate::lifecycle::{self, Next};
use crate::pool::PoolConfig;
use crate::record::TokenRecord;
use crate::secret::Secret;
use crate::time::UnixTime;

/// Threads racing in the concurrency checks.
pub const RACERS: usize = 8;
/// Rounds of each race.
pub const ROUNDS: usize = 200;

/// A record with a pending secret, distinct per `seed`.
fn sample_record(seed: u8) -> TokenRecord {
    let secret = Secret::from_bytes(&[seed; 20]).unwrap();
    match lifecycle::associate(
        None,
        &PoolConfig::default(),
        secret,
        lifecycle::AssociationOrigin::AccessToken,
        UnixTime(u64::from(seed)),
    )
    .next
    {
        Next::Store(record) => record,
        other => panic!("associate must store a record, got {other:?}"),
    }
}

/// Unique user ids per call, so a suite can run against a shared database.
fn unique_user(label: &str) -> UserId {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    UserId::new(format!("conformance-{label}-{}-{n}", std::process::id()))
}

/// Checks the [`TokenStore`] contract: load/insert/update/delete, conflicts on every stale or
/// wrong expectation, versions that never repeat, and of [`RACERS`] threads swapping from one
/// version exactly one wins, every round.
///
/// `make` returns a handle to the store under test; it is called once per thread and each
/// handle must reach the same data (clone a pooled client, or return a shared instance).
pub fn token_store<S, F>(make: F)
where
    S: TokenStore + Send + 'static,
    F: Fn() -> S,
{
    let store = make();
    let user = unique_user("tokens");
    assert!(
        store.load(&user).unwrap().is_none(),
        "a new user has no record"
    );

    // Insert only where none exists.
    let first = sample_record(1);
    let v1 = store
        .compare_and_swap(&user, None, Some(first.clone()))
        .expect("insert into an empty slot")
        .expect("an insert returns a version");
    assert_eq!(
        store.compare_and_swap(&user, None, Some(first.clone())),
        Err(CasError::Conflict),
        "insert where a record exists must conflict"
    );
    let (loaded, version) = store.load(&user).unwrap().expect("the record was inserted");
    assert_eq!(loaded, first, "load returns what was written");
    assert_eq!(version, v1, "load returns the version the write returned");

    // Update only at the expected version; a stale version conflicts.
    let second = sample_record(2);
    let v2 = store
        .compare_and_swap(&user, Some(v1), Some(second.clone()))
        .expect("update at the current version")
        .expect("an update returns a version");
    assert_ne!(v1, v2, "every write changes the version");
    assert_eq!(
        store.compare_and_swap(&user, Some(v1), Some(first.clone())),
        Err(CasError::Conflict),
        "a stale version must conflict"
    );
    assert_eq!(
        store.load(&user).unwrap().map(|(record, _)| record),
        Some(second)
    );

    // Delete only at the expected version; afterwards, the old version never matches again.
    assert_eq!(
        store.compare_and_swap(&user, Some(v1), None),
        Err(CasError::Conflict),
        "a stale delete must conflict"
    );
    assert_eq!(store.compare_and_swap(&user, Some(v2), None), Ok(None));
    assert!(store.load(&user).unwrap().is_none(), "deleted");
    assert_eq!(
        store.compare_and_swap(&user, Some(v2), Some(first.clone())),
        Err(CasError::Conflict),
        "a version of a deleted record must not match"
    );
    let v3 = store
        .compare_and_swap(&user, None, Some(first.clone()))
        .unwrap()
        .unwrap();
    assert!(
        v3 != v1 && v3 != v2,
        "versions never repeat for a user (no ABA)"
    );

    // Records of different users are independent.
    let other = unique_user("tokens-other");
    assert!(store.load(&other).unwrap().is_none());

    // Racing writers: exactly one compare-and-swap from a shared version wins.
    for round in 0..ROUNDS {
        let racers: Vec<S> = (0..RACERS).map(|_| make()).collect();
        let (_, version) = store.load(&user).unwrap().unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let handles: Vec<_> = racers
            .into_iter()
            .enumerate()
            .map(|(index, racer)| {
                let barrier = Arc::clone(&barrier);
                let user = user.clone();
                let record = sample_record(u8::try_from(index % 250).unwrap_or(0));
                thread::spawn(move || {
                    barrier.wait();
                    racer.compare_and_swap(&user, Some(version), Some(record))
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|handle| handle.join().expect("racer panicked"))
            .filter(|result| match result {
                Ok(_) => true,
                Err(CasError::Conflict) => false,
                Err(CasError::Store(error)) => panic!("store error in race: {error}"),
            })
            .count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one of {RACERS} racing swaps must win"
        );
    }
}

/// Checks the [`SessionStore`] contract: put/get, consume exactly once (told apart from an
/// unknown session), consumed sessions kept until they expire, sweep removing exactly the
/// expired ones, and of [`RACERS`] threads consuming one session exactly one succeeds.
pub fn session_store<S, F>(make: F)
where
    S: SessionStore + Send + 'static,
    F: Fn() -> S,
{
    let store = make();
    let user = unique_user("sessions");
    let mut issued = 0u64;
    let mut fresh_session = || {
        issued += 1;
        SessionId::parse(&format!("session-{user}-{issued}")).unwrap()
    };
    let record = |expires_at: u64| SessionRecord {
        user: user.clone(),
        purpose: SessionPurpose::SoftwareTokenMfa,
        expires_at: UnixTime(expires_at),
        consumed: false,
    };

    let session = fresh_session();
    assert!(store.get(&session).unwrap().is_none(), "unknown session");
    assert_eq!(store.consume(&session), Err(ConsumeError::NotFound));

    store.put(&session, record(1_000)).unwrap();
    assert_eq!(store.get(&session).unwrap(), Some(record(1_000)));
    assert_eq!(store.consume(&session), Ok(()), "first consume succeeds");
    assert_eq!(
        store.consume(&session),
        Err(ConsumeError::AlreadyConsumed),
        "second consume is told apart from an unknown session"
    );
    let kept = store
        .get(&session)
        .unwrap()
        .expect("consumed sessions are kept until expiry");
    assert!(kept.consumed, "get reports the session consumed");

    // Sweep removes exactly the sessions expired at `now` (expires_at <= now).
    let live = fresh_session();
    store.put(&live, record(2_001)).unwrap();
    let boundary = fresh_session();
    store.put(&boundary, record(2_000)).unwrap();
    let swept = store.sweep(UnixTime(2_000)).unwrap();
    assert!(
        swept >= 2,
        "sweep removed the consumed and the boundary session, got {swept}"
    );
    assert!(store.get(&session).unwrap().is_none());
    assert!(store.get(&boundary).unwrap().is_none());
    assert_eq!(
        store.get(&live).unwrap(),
        Some(record(2_001)),
        "live sessions survive a sweep"
    );

    // Racing consumers: exactly one wins, every round.
    for round in 0..ROUNDS {
        let contested = fresh_session();
        store.put(&contested, record(u64::MAX)).unwrap();
        let barrier = Arc::new(Barrier::new(RACERS));
        let handles: Vec<_> = (0..RACERS)
            .map(|_| {
                let racer = make();
                let barrier = Arc::clone(&barrier);
                let contested = contested.clone();
                thread::spawn(move || {
                    barrier.wait();
                    racer.consume(&contested)
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|handle| handle.join().expect("racer panicked"))
            .filter(|result| match result {
                Ok(()) => true,
                Err(ConsumeError::AlreadyConsumed) => false,
                Err(other) => panic!("unexpected consume error in race: {other}"),
            })
            .count();
        assert_eq!(
            wins, 1,
            "round {round}: exactly one of {RACERS} consumers must win"
        );
    }
}
