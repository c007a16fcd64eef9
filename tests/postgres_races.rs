//! Races between service instances that share one PostgreSQL database, each instance with its
//! own `PostgresStore` pool (as separate auth-service replicas would), and a fault test that
//! kills the database connections mid-flight.
//!
//! - **Replay:** every instance begins its own SOFTWARE_TOKEN_MFA sign-in and all answer with
//!   the same valid code at once, 1000 rounds: exactly one success per round, the others
//!   `ExpiredCodeException` (replay) or `ConcurrentModificationException`.
//! - **Lockout:** 200 concurrent wrong guesses with a frozen clock: the default policy (5 free
//!   failures, the 6th locks for 1 s, `src/lockout.rs` `lock_after`) evaluates exactly 6, and the
//!   stored counter is 6; a policy that evaluates every guess up to its hard cap of 200 counts
//!   exactly `min(guesses, 200)`, never one more or one less.
//! - **Single-use sessions:** one SOFTWARE_TOKEN_MFA session answered by two instances with the
//!   same valid code signs in once; `AsyncSessionStore::consume` raced on two pools succeeds once.
//! - **Verify ‖ AdminDeleteSoftwareToken:** see `verify_racing_admin_delete_never_leaves_a_verified_token`
//!   for the invariant.
//! - **Faults:** every connection of the instances' pools is terminated repeatedly while sign-ins
//!   run: every call answers a success, a legitimate refusal or a store error, never a second
//!   success for one code; afterwards the pools reconnect and the next sign-ins, the watermark
//!   and the failure counter are exact.
//!
//! Needs the database at `SOFTTOKEN_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! fails when it is unreachable unless `SOFTTOKEN_SKIP_PG=1`. Each test works in its own fresh
//! schema and drops it at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;
mod pg;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{START, code_at, code_at_step, resolve, wrong_code};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, Authenticated, ChallengeName, RespondToMfaSetupRequest,
    RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
};
use softtoken::postgres::PostgresStore;
use softtoken::store::{CasError, ConsumeError, SessionPurpose, SessionRecord, Version};
use softtoken::{
    AsyncService, AsyncSessionStore, AsyncTokenStore, Error, LockoutPolicy, MfaMode, MfaView,
    PoolConfig, Secret, SessionId, Step, StoreError, TokenRecord, UnixTime, UserId,
};
use tokio::sync::Barrier;

type PgService = AsyncService<Counted, PostgresStore, common::Resolver>;

/// An instance's `PostgresStore` counting the compare-and-swaps it lost: evidence that the
/// instances really raced on the conditional write rather than running one after another.
#[derive(Clone)]
struct Counted {
    store: PostgresStore,
    lost: Arc<AtomicU64>,
}

impl AsyncTokenStore for Counted {
    async fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        AsyncTokenStore::load(&self.store, user).await
    }

    async fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        let result = self.store.compare_and_swap(user, expected, next).await;
        if result == Err(CasError::Conflict) {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// Compare-and-swaps lost over all instances.
fn lost_swaps(services: &[Arc<PgService>]) -> u64 {
    services
        .iter()
        .map(|service| service.token_store().lost.load(Ordering::Relaxed))
        .sum()
}

/// A deterministic RNG: `test` keeps the tests' seeds apart, `n` the draws within one test.
/// Secrets come from fixed seeds (so the adjacent-code check below is reproducible); session
/// values only need to be distinct within a schema.
fn rng(test: u64, n: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64((test << 48) | n)
}

fn on_pool() -> PoolConfig {
    PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap()
}

fn service(store: PostgresStore, pool: PoolConfig) -> Arc<PgService> {
    let counted = Counted {
        store: store.clone(),
        lost: Arc::new(AtomicU64::new(0)),
    };
    Arc::new(AsyncService::new(
        counted,
        store,
        resolve as common::Resolver,
        pool,
    ))
}

/// `count` service instances on one migrated schema, each with its own pool of `connections`:
/// the first from `pg::store`, the others from `pg::another_pool`. `None` when skipping.
async fn instances(
    schema: &str,
    count: usize,
    connections: usize,
    pool: PoolConfig,
) -> Option<Vec<Arc<PgService>>> {
    let first = pg::store(schema, connections).await?;
    let mut services = vec![service(first, pool)];
    for _ in 1..count {
        services.push(service(pg::another_pool(schema, connections).await, pool));
    }
    Some(services)
}

/// Associate (access-token path) and verify with the current code; returns the secret.
async fn enrol(service: &PgService, user: &str, now: UnixTime, rng: &mut ChaCha20Rng) -> Secret {
    let associated = service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(format!("token-{user}")),
                session: None,
            },
            now,
            rng,
        )
        .await
        .into_result()
        .expect("associate");
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: Some(format!("token-{user}")),
                session: None,
                user_code: code_at(&secret, now),
                friendly_device_name: Some(format!("{user}'s phone")),
            },
            now,
            rng,
        )
        .await
        .into_result()
        .expect("verify");
    secret
}

/// Begins a sign-in in an ON pool for an enrolled user: the SOFTWARE_TOKEN_MFA session.
async fn challenge(
    service: &PgService,
    user: &str,
    now: UnixTime,
    mut rng: ChaCha20Rng,
) -> Result<SessionId, Error> {
    let challenge = service
        .begin_sign_in(&UserId::new(user), now, &mut rng)
        .await
        .into_result()?
        .expect("an ON pool always challenges");
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
    Ok(challenge.session)
}

async fn respond(
    service: &PgService,
    user: &str,
    session: &SessionId,
    code: &str,
    now: UnixTime,
) -> Result<Authenticated, Error> {
    service
        .respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: session.expose().to_owned(),
                username: user.to_owned(),
                software_token_mfa_code: code.to_owned(),
            },
            now,
        )
        .await
        .into_result()
}

/// What a sign-in attempt came to: `Err` when beginning it failed, else the answer.
type Attempt = Result<Result<Authenticated, Error>, Error>;

/// Begins a sign-in, waits on `barrier` (so all the round's answers go out together — and waits
/// even when beginning failed, so no task is left hanging), then answers with `code`.
fn spawn_attempt(
    service: &Arc<PgService>,
    barrier: &Arc<Barrier>,
    user: &str,
    code: String,
    now: UnixTime,
    rng: ChaCha20Rng,
) -> tokio::task::JoinHandle<Attempt> {
    let (service, barrier, user) = (Arc::clone(service), Arc::clone(barrier), user.to_owned());
    tokio::spawn(async move {
        let session = challenge(&service, &user, now, rng).await;
        barrier.wait().await;
        let session = session?;
        Ok(respond(&service, &user, &session, &code, now).await)
    })
}

/// Awaits spawned tasks; a panic inside the service fails the test here.
async fn join<T>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.expect("no operation panics"));
    }
    results
}

/// Awaits spawned sign-in attempts and counts their answers; `begin` says why none may have
/// failed to begin.
async fn tally_attempts(tasks: Vec<tokio::task::JoinHandle<Attempt>>, begin: &str) -> Tally {
    Tally::of(
        join(tasks)
            .await
            .into_iter()
            .map(|attempt| attempt.expect(begin)),
    )
}

/// Answers by kind, for counting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    successes: usize,
    /// `ExpiredCodeException`: the step was already used.
    replays: usize,
    /// `ConcurrentModificationException`.
    conflicts: usize,
    /// `CodeMismatchException` (evaluated and counted).
    mismatches: usize,
    /// Refused unevaluated while locked.
    locked: usize,
    /// Refused unevaluated at the hard cap.
    disabled: usize,
    /// "…session can only be used once."
    reused: usize,
    /// Store failures (fail closed).
    store_errors: usize,
    /// Anything else (always a test failure).
    other: usize,
}

impl Tally {
    /// The answers, counted.
    fn of<T>(answers: impl IntoIterator<Item = Result<T, Error>>) -> Tally {
        let mut tally = Tally::default();
        for answer in answers {
            tally.add(&answer);
        }
        tally
    }

    fn add<T>(&mut self, result: &Result<T, Error>) {
        match result {
            Ok(_) => self.successes += 1,
            Err(Error::CodeReplayed) => self.replays += 1,
            Err(Error::ConcurrentModification) => self.conflicts += 1,
            Err(Error::CodeMismatch) => self.mismatches += 1,
            Err(Error::LockedOut { .. }) => self.locked += 1,
            Err(Error::TokenDisabled) => self.disabled += 1,
            Err(Error::SessionReused) => self.reused += 1,
            Err(Error::Store(_)) => self.store_errors += 1,
            Err(error) => {
                eprintln!("unexpected answer: {}: {error}", error.code());
                self.other += 1;
            }
        }
    }

    fn total(&self) -> usize {
        self.successes
            + self.replays
            + self.conflicts
            + self.mismatches
            + self.locked
            + self.disabled
            + self.reused
            + self.store_errors
            + self.other
    }

    fn merge(&mut self, other: Tally) {
        self.successes += other.successes;
        self.replays += other.replays;
        self.conflicts += other.conflicts;
        self.mismatches += other.mismatches;
        self.locked += other.locked;
        self.disabled += other.disabled;
        self.reused += other.reused;
        self.store_errors += other.store_errors;
        self.other += other.other;
    }
}

async fn load(store: &PostgresStore, user: &str) -> Option<TokenRecord> {
    AsyncTokenStore::load(store, &UserId::new(user))
        .await
        .unwrap()
        .map(|(record, _)| record)
}

async fn stored_failures(store: &PostgresStore, user: &str) -> u32 {
    load(store, user)
        .await
        .map_or(0, |record| record.lockout().consecutive_failures())
}

async fn watermark(store: &PostgresStore, user: &str) -> Option<Step> {
    load(store, user)
        .await
        .and_then(|record| record.verified().and_then(|token| token.last_used_step()))
}

/// Two steps of one window can share a 6-digit code; the verifier then burns the higher step and
/// the next round's code would be a replay. The rounds below expect one success each, so they
/// check up front that no step's code equals the next step's (a property of the seeded secret).
fn assert_no_adjacent_codes(secret: &Secret, steps: core::ops::RangeInclusive<u64>) {
    for step in steps {
        assert_ne!(
            code_at_step(secret, step),
            code_at_step(secret, step + 1),
            "steps {step} and {} share a code for this seeded secret: change the seed",
            step + 1
        );
    }
}

const fn step_of(now: UnixTime) -> u64 {
    now.0 / 30
}

// ---------------------------------------------------------------------------------------------
// 1. Replay across instances.
// ---------------------------------------------------------------------------------------------

/// Three instances, three pools, 1000 rounds. Per round the clock advances 30 s (a fresh step),
/// every instance begins its own sign-in and all answer with that step's code at once: exactly
/// one signs in; the others are told the code was used (or, in principle, lost every
/// compare-and-swap attempt). The watermark ends on the last round's step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_code_submitted_by_every_instance_signs_in_once_per_round() {
    const TEST: u64 = 1;
    const INSTANCES: usize = 3;
    const ROUNDS: u64 = 1000;
    let schema = pg::fresh_schema("replay");
    let Some(services) = instances(&schema, INSTANCES, 2, on_pool()).await else {
        return;
    };
    let mut now = START;
    let secret = enrol(&services[0], "alice", now, &mut rng(TEST, 0)).await;
    assert_no_adjacent_codes(&secret, step_of(now)..=step_of(now) + ROUNDS);

    let started = Instant::now();
    let mut tally = Tally::default();
    for round in 1..=ROUNDS {
        now = UnixTime(now.0 + 30);
        let code = code_at(&secret, now);
        let barrier = Arc::new(Barrier::new(services.len()));
        let tasks = (0u64..)
            .zip(&services)
            .map(|(slot, service)| {
                let rng = rng(TEST, round * 16 + slot + 1);
                spawn_attempt(service, &barrier, "alice", code.clone(), now, rng)
            })
            .collect();
        let this_round = tally_attempts(tasks, "beginning a sign-in").await;
        assert_eq!(
            this_round.successes, 1,
            "round {round}: exactly one instance signs in: {this_round:?}"
        );
        assert_eq!(
            this_round.replays + this_round.conflicts,
            INSTANCES - 1,
            "round {round}: the others are refused as replays or conflicts: {this_round:?}"
        );
        tally.merge(this_round);
    }
    let elapsed = started.elapsed();
    eprintln!(
        "replay: {ROUNDS} rounds x {INSTANCES} instances in {elapsed:.2?}: {} successes, {} replays, {} conflicts; {} compare-and-swaps lost",
        tally.successes,
        tally.replays,
        tally.conflicts,
        lost_swaps(&services)
    );
    assert!(
        lost_swaps(&services) > 0,
        "no compare-and-swap ever lost: the instances never raced on the write"
    );
    assert_eq!(
        tally.successes,
        usize::try_from(ROUNDS).unwrap(),
        "{tally:?}"
    );
    let store = &services[0].token_store().store;
    assert_eq!(watermark(store, "alice").await, Some(Step(step_of(now))));
    assert_eq!(stored_failures(store, "alice").await, 0);
    pg::drop_schema(&schema).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Parallel guesses cannot outrun the lockout.
// ---------------------------------------------------------------------------------------------

/// `guesses` distinct wrong codes for `user`, each on its own sign-in session, spread over the
/// instances and answered at once with the clock frozen at `now`.
async fn wrong_guess_storm(
    services: &[Arc<PgService>],
    test: u64,
    secret: &Secret,
    user: &str,
    guesses: u64,
    now: UnixTime,
) -> Tally {
    let window: Vec<String> = (step_of(now) - 1..=step_of(now) + 1)
        .map(|step| code_at_step(secret, step))
        .collect();
    let first_wrong: u32 = wrong_code(secret, now).parse().unwrap();
    let codes: Vec<String> = (first_wrong..)
        .map(|n| format!("{:06}", n % 1_000_000))
        .filter(|code| !window.contains(code))
        .take(usize::try_from(guesses).unwrap())
        .collect();
    let barrier = Arc::new(Barrier::new(codes.len()));
    let tasks = (0u64..)
        .zip(codes)
        .map(|(n, code)| {
            let service = &services[usize::try_from(n).unwrap() % services.len()];
            spawn_attempt(
                service,
                &barrier,
                user,
                code,
                now,
                rng(test, (guesses << 20) + n),
            )
        })
        .collect();
    tally_attempts(tasks, "beginning a sign-in is not blocked by the lockout").await
}

/// Default policy (`LockoutPolicy::default()`: 5 free failures; `lock_after(n)` is 0 for n ≤ 5
/// and 1 s for n = 6), clock frozen: 200 concurrent wrong guesses over four instances get exactly
/// 6 `CodeMismatchException`s (failures 1–5 free, the 6th sets `locked_until = now + 1`), and
/// 194 refusals while locked, evaluated nowhere. The stored counter is 6. The default 16
/// compare-and-swap attempts suffice: each conflict means another guess's write landed, and at
/// most 6 can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_guesses_cannot_outrun_the_default_lockout() {
    const TEST: u64 = 2;
    const GUESSES: u64 = 200;
    let schema = pg::fresh_schema("lockout");
    let Some(services) = instances(&schema, 4, 3, on_pool()).await else {
        return;
    };
    let policy = LockoutPolicy::default();
    let budget = policy.free_failures() + 1;
    assert_eq!(policy.lock_after(policy.free_failures()), 0);
    assert_eq!(policy.lock_after(budget), 1, "the 6th failure locks");
    assert_eq!(budget, 6);

    let now = START;
    let secret = enrol(&services[0], "alice", now, &mut rng(TEST, 0)).await;
    let started = Instant::now();
    let tally = wrong_guess_storm(&services, TEST, &secret, "alice", GUESSES, now).await;
    eprintln!(
        "lockout (default policy): {GUESSES} guesses in {:.2?}: {tally:?}; {} compare-and-swaps lost",
        started.elapsed(),
        lost_swaps(&services)
    );
    let evaluated = u32::try_from(tally.mismatches).unwrap();
    assert!(
        evaluated <= budget,
        "more guesses evaluated than the budget: {tally:?}"
    );
    assert_eq!(evaluated, budget, "{tally:?}");
    assert_eq!(
        tally.locked,
        usize::try_from(GUESSES).unwrap() - 6,
        "{tally:?}"
    );
    assert_eq!(tally.total(), tally.mismatches + tally.locked, "{tally:?}");
    let stored = load(&services[1].token_store().store, "alice")
        .await
        .unwrap();
    assert_eq!(stored.lockout().consecutive_failures(), evaluated);
    assert_eq!(stored.lockout().locked_until(), Some(UnixTime(now.0 + 1)));
    pg::drop_schema(&schema).await;
}

/// `LockoutPolicy::new(199, 1, 900, 900, 200)`: no lock before the hard cap, the 200th failure
/// disables the token. 200 and 260 concurrent wrong guesses get exactly `min(guesses, 200)`
/// `CodeMismatchException`s, the rest `TokenDisabled`, and the stored counter equals the
/// mismatches. Here up to 200 writes land, so each instance may retry `guesses + 1` times
/// (each conflict is another guess's landed write): every guess is decided, none given up as
/// `ConcurrentModificationException`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_evaluated_concurrent_guess_is_counted_exactly_once() {
    const TEST: u64 = 3;
    let schema = pg::fresh_schema("counted");
    let policy = LockoutPolicy::new(199, 1, 900, 900, 200).unwrap();
    let Some(services) = instances(&schema, 4, 3, on_pool().with_lockout(policy)).await else {
        return;
    };
    let now = START;
    for (user, guesses) in [("bob", 200u64), ("carol", 260)] {
        let services: Vec<Arc<PgService>> = services
            .iter()
            .map(|instance| {
                Arc::new(
                    AsyncService::new(
                        instance.token_store().clone(),
                        instance.session_store().clone(),
                        resolve as common::Resolver,
                        *instance.pool(),
                    )
                    .with_max_attempts(u32::try_from(guesses).unwrap() + 1),
                )
            })
            .collect();
        let secret = enrol(&services[0], user, now, &mut rng(TEST, guesses)).await;
        let (started, lost_before) = (Instant::now(), lost_swaps(&services));
        let tally = wrong_guess_storm(&services, TEST, &secret, user, guesses, now).await;
        eprintln!(
            "lockout (cap 200): {guesses} guesses in {:.2?}: {tally:?}; {} compare-and-swaps lost",
            started.elapsed(),
            lost_swaps(&services) - lost_before
        );
        let cap = usize::try_from(policy.hard_cap()).unwrap();
        let expected = usize::try_from(guesses).unwrap().min(cap);
        assert_eq!(tally.mismatches, expected, "{user}: {tally:?}");
        assert_eq!(
            tally.disabled,
            usize::try_from(guesses).unwrap() - expected,
            "{user}: {tally:?}"
        );
        assert_eq!(
            tally.total(),
            tally.mismatches + tally.disabled,
            "{tally:?}"
        );
        assert_eq!(
            usize::try_from(stored_failures(&services[2].token_store().store, user).await).unwrap(),
            tally.mismatches,
            "{user}: the stored counter is the number of guesses evaluated"
        );
    }
    pg::drop_schema(&schema).await;
}

// ---------------------------------------------------------------------------------------------
// 3. A session is consumed once.
// ---------------------------------------------------------------------------------------------

/// One SOFTWARE_TOKEN_MFA session (begun by the first instance) answered by two instances with
/// the same valid code at once, 200 rounds: exactly one signs in; the other is refused because
/// the session was used or the code was (whichever it reached second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_answered_by_two_instances_signs_in_once() {
    const TEST: u64 = 4;
    const ROUNDS: u64 = 200;
    let schema = pg::fresh_schema("session");
    let Some(services) = instances(&schema, 2, 2, on_pool()).await else {
        return;
    };
    let mut now = START;
    let secret = enrol(&services[0], "alice", now, &mut rng(TEST, 0)).await;
    assert_no_adjacent_codes(&secret, step_of(now)..=step_of(now) + ROUNDS);
    let started = Instant::now();
    let mut tally = Tally::default();
    for round in 1..=ROUNDS {
        now = UnixTime(now.0 + 30);
        let code = code_at(&secret, now);
        let session = challenge(&services[0], "alice", now, rng(TEST, round))
            .await
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let tasks = services
            .iter()
            .map(|service| {
                let (service, barrier) = (Arc::clone(service), Arc::clone(&barrier));
                let (session, code) = (session.clone(), code.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    respond(&service, "alice", &session, &code, now).await
                })
            })
            .collect();
        let this_round = Tally::of(join(tasks).await);
        assert_eq!(this_round.successes, 1, "round {round}: {this_round:?}");
        assert_eq!(
            this_round.reused + this_round.replays,
            1,
            "round {round}: {this_round:?}"
        );
        let record = AsyncSessionStore::get(services[1].session_store(), &session)
            .await
            .unwrap()
            .unwrap();
        assert!(record.consumed);
        tally.merge(this_round);
    }
    eprintln!(
        "session via service: {ROUNDS} rounds in {:.2?}: {} successes, {} session-reused, {} replays; {} compare-and-swaps lost",
        started.elapsed(),
        tally.successes,
        tally.reused,
        tally.replays,
        lost_swaps(&services)
    );
    pg::drop_schema(&schema).await;
}

/// `AsyncSessionStore::consume` raced on two pools, 500 sessions: exactly one call consumes each,
/// the other is told `AlreadyConsumed`; the stored session reads consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_raced_on_two_pools_succeeds_once() {
    const TEST: u64 = 5;
    const ROUNDS: u64 = 500;
    let schema = pg::fresh_schema("consume");
    let Some(first) = pg::store(&schema, 2).await else {
        return;
    };
    let second = pg::another_pool(&schema, 2).await;
    let started = Instant::now();
    let (mut first_won, mut second_won) = (0, 0);
    for round in 0..ROUNDS {
        let session = SessionId::generate(&mut rng(TEST, round));
        let record = SessionRecord {
            user: UserId::new("alice"),
            purpose: SessionPurpose::SoftwareTokenMfa,
            expires_at: UnixTime(START.0 + 180),
            consumed: false,
        };
        AsyncSessionStore::put(&first, &session, record)
            .await
            .unwrap();
        let (a, b) = {
            let (first, second) = (first.clone(), second.clone());
            let (session_a, session_b) = (session.clone(), session.clone());
            let a =
                tokio::spawn(async move { AsyncSessionStore::consume(&first, &session_a).await });
            let b =
                tokio::spawn(async move { AsyncSessionStore::consume(&second, &session_b).await });
            (a.await.unwrap(), b.await.unwrap())
        };
        match (&a, &b) {
            (Ok(()), Err(ConsumeError::AlreadyConsumed)) => first_won += 1,
            (Err(ConsumeError::AlreadyConsumed), Ok(())) => second_won += 1,
            _ => panic!("round {round}: exactly one consume succeeds: {a:?}, {b:?}"),
        }
        let stored = AsyncSessionStore::get(&second, &session)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.consumed, "round {round}");
    }
    eprintln!(
        "consume: {ROUNDS} sessions in {:.2?}: first pool won {first_won}, second {second_won}",
        started.elapsed()
    );
    pg::drop_schema(&schema).await;
}

// ---------------------------------------------------------------------------------------------
// 4. Verify racing AdminDeleteSoftwareToken.
// ---------------------------------------------------------------------------------------------

/// Per round the user associates first (nothing stored before: the previous round left no
/// record), then one instance's VerifySoftwareToken with the right code races another
/// instance's AdminDeleteSoftwareToken. Even rounds use the access-token path, odd rounds the
/// MFA_SETUP session path (sign-in → Associate(S1) → Verify(S2) → S3).
///
/// Both calls load the pending record at some version and compare-and-swap against it, so one
/// write lands first:
/// - the delete first: the Verify's swap conflicts (the row is gone), it reloads, finds nothing
///   pending and answers `SoftwareTokenMFANotFoundException`;
/// - the Verify first (SUCCESS): the delete's swap conflicts, it reloads the verified record
///   and deletes that.
///
/// Invariant, checked after every round: AdminDeleteSoftwareToken succeeds; Verify answers
/// SUCCESS or `SoftwareTokenMFANotFoundException`, nothing else; **no record exists** for the
/// user — a SUCCESS is always ordered before the delete, so no verified token survives an
/// association an administrator deleted; the user's MFA view is empty, a new sign-in in the ON
/// pool gets MFA_SETUP, and an S3 session from a successful Verify cannot complete MFA_SETUP
/// (`SoftwareTokenMFANotFoundException`: the token it verified was deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_racing_admin_delete_never_leaves_a_verified_token() {
    const TEST: u64 = 6;
    const ROUNDS: u64 = 300;
    let schema = pg::fresh_schema("delete");
    let Some(services) = instances(&schema, 2, 2, on_pool()).await else {
        return;
    };
    let user = UserId::new("dave");
    let mut now = START;
    let started = Instant::now();
    let (mut verify_first, mut delete_first) = (0u64, 0u64);
    for round in 0..ROUNDS {
        now = UnixTime(now.0 + 30);
        let verifier = Arc::clone(&services[usize::from(round % 2 == 1)]);
        let deleter = Arc::clone(&services[usize::from(round % 2 == 0)]);
        let session_path = round % 2 == 1;
        let mut round_rng = rng(TEST, round);
        // Associate first.
        let (secret, verify_session) = if session_path {
            let setup = verifier
                .begin_sign_in(&user, now, &mut round_rng)
                .await
                .into_result()
                .unwrap()
                .unwrap();
            assert_eq!(
                setup.challenge_name,
                ChallengeName::MfaSetup,
                "round {round}: nothing verified survives a round"
            );
            let associated = verifier
                .associate_software_token(
                    &AssociateSoftwareTokenRequest {
                        access_token: None,
                        session: Some(setup.session.expose().to_owned()),
                    },
                    now,
                    &mut round_rng,
                )
                .await
                .into_result()
                .unwrap();
            let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
            (secret, associated.session)
        } else {
            let associated = verifier
                .associate_software_token(
                    &AssociateSoftwareTokenRequest {
                        access_token: Some("token-dave".to_owned()),
                        session: None,
                    },
                    now,
                    &mut round_rng,
                )
                .await
                .into_result()
                .unwrap();
            let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
            (secret, None)
        };
        let request = VerifySoftwareTokenRequest {
            access_token: verify_session.is_none().then(|| "token-dave".to_owned()),
            session: verify_session.map(|session| session.expose().to_owned()),
            user_code: code_at(&secret, now),
            friendly_device_name: Some("phone".to_owned()),
        };
        // Then Verify ‖ AdminDelete.
        let barrier = Arc::new(Barrier::new(2));
        let verify = {
            let barrier = Arc::clone(&barrier);
            let mut rng = rng(TEST, 10_000 + round);
            tokio::spawn(async move {
                barrier.wait().await;
                verifier
                    .verify_software_token(&request, now, &mut rng)
                    .await
                    .into_result()
            })
        };
        let delete = tokio::spawn(async move {
            barrier.wait().await;
            deleter
                .admin_delete_software_token("dave", now)
                .await
                .into_result()
        });
        let (verified, deleted) = (verify.await.unwrap(), delete.await.unwrap());
        deleted.unwrap_or_else(|error| panic!("round {round}: delete refused: {error:?}"));
        match &verified {
            Ok(response) => {
                verify_first += 1;
                assert_eq!(response.session.is_some(), session_path);
                if let Some(s3) = &response.session {
                    let answer = services[0]
                        .respond_to_mfa_setup(
                            &RespondToMfaSetupRequest {
                                session: s3.expose().to_owned(),
                                username: "dave".to_owned(),
                            },
                            now,
                        )
                        .await
                        .into_result();
                    assert_eq!(
                        answer,
                        Err(Error::NoVerifiedToken),
                        "round {round}: MFA_SETUP completed with a deleted token"
                    );
                }
            }
            Err(Error::NothingPending) => delete_first += 1,
            Err(error) => panic!("round {round}: Verify answered {error:?}"),
        }
        assert!(
            load(&services[1].token_store().store, "dave")
                .await
                .is_none(),
            "round {round}: a record survived the delete (Verify answered {verified:?})"
        );
        assert_eq!(
            services[0].admin_get_user("dave").await.unwrap(),
            MfaView::default()
        );
    }
    eprintln!(
        "verify vs delete: {ROUNDS} rounds in {:.2?}: Verify landed first {verify_first}, delete first {delete_first}; {} compare-and-swaps lost",
        started.elapsed(),
        lost_swaps(&services)
    );
    assert!(
        verify_first > 0 && delete_first > 0,
        "both orders should occur in {ROUNDS} rounds (Verify first {verify_first}, delete first {delete_first})"
    );
    pg::drop_schema(&schema).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Connections killed mid-flight.
// ---------------------------------------------------------------------------------------------

/// `url` with `application_name=name`, so the fault injector can pick out exactly these pools'
/// backends: other tests of this binary (and anyone else's) share the database and must not be
/// disturbed. (Filtering on `application_name <> 'psql'` alone would also kill the connections
/// of the tests running in parallel with this one, which carry the default application name.)
fn tagged_url(url: &str, name: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={name}")
}

/// Two instances whose pools (tagged by `application_name`) have every backend terminated every
/// 10–19 ms from a separate control connection, while 120 rounds of sign-ins run: per round,
/// each instance begins a sign-in for alice and answers with the round's valid code, and one for
/// mallory and answers with a wrong code (a policy with 10 000 free failures and a quiet period
/// longer than the test, so every wrong guess that lands is counted and none is reset).
///
/// During the faults: no panic; alice's answers are a success, `ExpiredCodeException` or a store
/// error (never a mismatch), at most one success per round (the code of a round is never accepted
/// twice); mallory's are `CodeMismatchException` or a store error. A store error is ambiguous —
/// the write may have landed before the connection died — so afterwards: alice's stored
/// watermark is at least her last successful step and is the step of a round where she either
/// succeeded or got a store error; mallory's stored counter `F` satisfies
/// `mismatches ≤ F ≤ mismatches + her store errors`; alice's counter is 0.
///
/// After the injector stops, the pools replace their dead connections (verified recycling) and
/// behave exactly: a fresh code from both instances signs in once (the other a replay, no
/// errors), the watermark moves to that step, two wrong guesses add exactly 2 to mallory's
/// counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_fail_closed_and_the_pools_recover() {
    const TEST: u64 = 7;
    const ROUNDS: u64 = 120;
    let schema = pg::fresh_schema("fault");
    let policy = LockoutPolicy::new(10_000, 1, 900, 100_000_000, 10_001).unwrap();
    let pool = on_pool().with_lockout(policy);
    let Some(setup_store) = pg::store(&schema, 1).await else {
        return;
    };
    let setup = service(setup_store.clone(), pool);
    let url = tagged_url(&pg::url(), &schema);
    let services: Vec<Arc<PgService>> = (0..2)
        .map(|_| service(PostgresStore::connect(&url, &schema, 3).unwrap(), pool))
        .collect();
    let mut now = START;
    let alice = enrol(&setup, "alice", now, &mut rng(TEST, 0)).await;
    let mallory = enrol(&setup, "mallory", now, &mut rng(TEST, 1)).await;
    assert_no_adjacent_codes(&alice, step_of(now)..=step_of(now) + ROUNDS + 1);

    // The fault injector, on its own (untagged) connection.
    let (control, connection) = tokio_postgres::connect(&pg::url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let stop = Arc::new(AtomicBool::new(false));
    let terminated = Arc::new(AtomicU64::new(0));
    let injector = {
        let (stop, terminated, tag) = (Arc::clone(&stop), Arc::clone(&terminated), schema.clone());
        tokio::spawn(async move {
            let mut pause = 10;
            while !stop.load(Ordering::Relaxed) {
                let row = control
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                         WHERE datname = current_database() AND pid <> pg_backend_pid()
                           AND application_name = $1",
                        &[&tag],
                    )
                    .await
                    .unwrap();
                let killed: i64 = row.get(0);
                terminated.fetch_add(killed.cast_unsigned(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                pause = if pause >= 19 { 10 } else { pause + 3 };
            }
        })
    };

    let started = Instant::now();
    let (mut alice_tally, mut mallory_tally) = (Tally::default(), Tally::default());
    let mut begin_failures = 0usize;
    // Per round: did alice succeed, did one of her answers fail with a store error.
    let mut alice_rounds: Vec<(u64, bool, bool)> = Vec::new();
    for round in 1..=ROUNDS {
        now = UnixTime(now.0 + 30);
        let good = code_at(&alice, now);
        let bad = wrong_code(&mallory, now);
        let barrier = Arc::new(Barrier::new(4));
        let mut tasks = Vec::new();
        for (slot, service) in (0u64..).zip(&services) {
            let base = round * 16 + slot * 2 + 2;
            tasks.push(spawn_attempt(
                service,
                &barrier,
                "alice",
                good.clone(),
                now,
                rng(TEST, base),
            ));
            tasks.push(spawn_attempt(
                service,
                &barrier,
                "mallory",
                bad.clone(),
                now,
                rng(TEST, base + 1),
            ));
        }
        let (mut alice_round, mut mallory_round) = (Tally::default(), Tally::default());
        for (index, attempt) in join(tasks).await.into_iter().enumerate() {
            let Ok(answer) = attempt else {
                begin_failures += 1;
                continue;
            };
            if index % 2 == 0 {
                alice_round.add(&answer);
            } else {
                mallory_round.add(&answer);
            }
        }
        assert!(
            alice_round.successes <= 1,
            "round {round}: one code signed in twice: {alice_round:?}"
        );
        assert_eq!(
            alice_round.total(),
            alice_round.successes + alice_round.replays + alice_round.store_errors,
            "round {round}: alice: {alice_round:?}"
        );
        assert_eq!(
            mallory_round.total(),
            mallory_round.mismatches + mallory_round.store_errors,
            "round {round}: mallory: {mallory_round:?}"
        );
        alice_rounds.push((
            step_of(now),
            alice_round.successes == 1,
            alice_round.store_errors > 0,
        ));
        alice_tally.merge(alice_round);
        mallory_tally.merge(mallory_round);
    }
    stop.store(true, Ordering::Relaxed);
    injector.await.unwrap();
    let elapsed = started.elapsed();
    let terminated = terminated.load(Ordering::Relaxed);
    eprintln!(
        "faults: {ROUNDS} rounds in {elapsed:.2?}, {terminated} backends terminated, {begin_failures} sign-ins failed to begin, {} compare-and-swaps lost; alice {alice_tally:?}; mallory {mallory_tally:?}",
        lost_swaps(&services)
    );
    assert!(terminated > 0, "the injector killed no connection");
    assert!(
        begin_failures + alice_tally.store_errors + mallory_tally.store_errors > 0,
        "no operation saw a fault: the test exercised nothing"
    );

    // What the faults left behind is consistent with what the callers were told.
    let mark = watermark(&setup_store, "alice").await.unwrap().0;
    let last_success = alice_rounds
        .iter()
        .filter(|(_, succeeded, _)| *succeeded)
        .map(|(step, _, _)| *step)
        .max()
        .unwrap_or(step_of(START));
    assert!(mark >= last_success, "watermark {mark} < {last_success}");
    if mark > step_of(START) {
        let (_, succeeded, ambiguous) = alice_rounds
            .iter()
            .find(|(step, _, _)| *step == mark)
            .expect("the watermark is a step some round submitted");
        assert!(
            succeeded | ambiguous,
            "step {mark} burned by a round in which no call succeeded or failed ambiguously"
        );
    }
    assert_eq!(stored_failures(&setup_store, "alice").await, 0);
    let failures = usize::try_from(stored_failures(&setup_store, "mallory").await).unwrap();
    assert!(
        mallory_tally.mismatches <= failures
            && failures <= mallory_tally.mismatches + mallory_tally.store_errors,
        "mallory's counter {failures} vs {} mismatches + {} store errors",
        mallory_tally.mismatches,
        mallory_tally.store_errors
    );

    // After the faults: the pools reconnect and behave exactly.
    now = UnixTime(now.0 + 30);
    let barrier = Arc::new(Barrier::new(2));
    let tasks = (0u64..)
        .zip(&services)
        .map(|(slot, service)| {
            let rng = rng(TEST, 100_000 + slot);
            spawn_attempt(service, &barrier, "alice", code_at(&alice, now), now, rng)
        })
        .collect();
    let after = tally_attempts(tasks, "beginning a sign-in after the faults").await;
    assert_eq!(
        (after.successes, after.replays, after.total()),
        (1, 1, 2),
        "after the faults: {after:?}"
    );
    assert_eq!(
        watermark(&setup_store, "alice").await,
        Some(Step(step_of(now)))
    );
    for (slot, service) in (0u64..).zip(&services) {
        let session = challenge(service, "mallory", now, rng(TEST, 100_010 + slot))
            .await
            .unwrap();
        let answer = respond(
            service,
            "mallory",
            &session,
            &wrong_code(&mallory, now),
            now,
        )
        .await;
        assert_eq!(answer, Err(Error::CodeMismatch));
    }
    assert_eq!(
        usize::try_from(stored_failures(&setup_store, "mallory").await).unwrap(),
        failures + 2
    );
    pg::drop_schema(&schema).await;
}
