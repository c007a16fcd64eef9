//! Races through one `MemoryStore` shared by one service instance per thread (as replicas of an
//! auth service share a database): 8 threads × 1000 rounds submitting the same valid code sign
//! in exactly once per round, on separate sessions and on one shared session, and one session
//! answered at once with two different valid codes signs in once; parallel wrong guesses never
//! exceed the lockout budget, and the store's failure counter equals the number of failures the
//! threads were told about.
//!
//! Time is deterministic (every thread derives `now` from the round), each thread's RNG is
//! seeded with its index; only the interleaving is left to the scheduler, and every assertion
//! holds for every interleaving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use std::sync::Barrier;
use std::thread;

use common::{Harness, MemoryService, code_at_step};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{ChallengeName, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest};
use softtoken::test_support::hmac_computations;
use softtoken::{
    Error, EventKind, LockoutPolicy, Outcome, Secret, SessionId, TokenStore, UnixTime, UserId,
};

const USER: &str = "alice";
const THREADS: usize = 8;
const ROUNDS: u64 = 1000;
/// Each round moves the clock two steps on, so the code of round r can never be valid for (and
/// burn) the step of round r + 1, even if two adjacent steps happen to share six digits.
const ROUND_SECS: u64 = 60;

/// `alice` enrolled; the clock moved to the start of the next step.
fn enrolled(policy: LockoutPolicy) -> (Harness, Secret) {
    Harness::enrolled(policy, USER)
}

/// One service per thread, all on the harness's store.
fn instances(h: &Harness) -> Vec<MemoryService> {
    (0..THREADS).map(|_| h.another_instance()).collect()
}

fn thread_rng(index: usize) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(u64::try_from(index).unwrap())
}

fn respond(
    service: &MemoryService,
    session: &SessionId,
    code: &str,
    now: UnixTime,
) -> Outcome<softtoken::api::Authenticated> {
    service.respond_to_software_token_mfa(
        &RespondToSoftwareTokenMfaRequest {
            session: session.expose().to_owned(),
            username: USER.to_owned(),
            software_token_mfa_code: code.to_owned(),
        },
        now,
    )
}

fn begin(service: &MemoryService, now: UnixTime, rng: &mut ChaCha20Rng) -> SessionId {
    let challenge = service
        .begin_sign_in(&UserId::new(USER), now, rng)
        .into_result()
        .unwrap()
        .expect("a challenge");
    assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
    challenge.session
}

fn stored_lockout(h: &Harness) -> softtoken::LockoutState {
    let (record, _) = h.store.load(&UserId::new(USER)).unwrap().unwrap();
    *record.lockout()
}

/// `count` distinct well-formed codes, none of them valid for `secret` within two steps of
/// `now`.
fn wrong_codes(secret: &Secret, now: UnixTime, count: usize) -> Vec<String> {
    let step = now.0 / 30;
    let taken: Vec<String> = (step - 2..=step + 2)
        .map(|s| code_at_step(secret, s))
        .collect();
    (0..1_000_000u64)
        .map(|n| format!("{:06}", (n * 7919) % 1_000_000))
        .filter(|code| !taken.contains(code))
        .take(count)
        .collect()
}

/// How the attempts of a race ended.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tally {
    ok: usize,
    mismatch: usize,
    verify_mismatch: usize,
    replayed: usize,
    session_reused: usize,
    locked_out: usize,
    disabled: usize,
    concurrent_modification: usize,
}

impl Tally {
    fn add<T: std::fmt::Debug>(&mut self, result: &Result<T, Error>) {
        match result {
            Ok(_) => self.ok += 1,
            Err(Error::CodeMismatch) => self.mismatch += 1,
            Err(Error::VerifyCodeMismatch) => self.verify_mismatch += 1,
            Err(Error::CodeReplayed) => self.replayed += 1,
            Err(Error::SessionReused) => self.session_reused += 1,
            Err(Error::LockedOut { .. }) => self.locked_out += 1,
            Err(Error::TokenDisabled) => self.disabled += 1,
            Err(Error::ConcurrentModification) => self.concurrent_modification += 1,
            Err(other) => panic!("unexpected outcome of a race: {other:?}"),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.mismatch += other.mismatch;
        self.verify_mismatch += other.verify_mismatch;
        self.replayed += other.replayed;
        self.session_reused += other.session_reused;
        self.locked_out += other.locked_out;
        self.disabled += other.disabled;
        self.concurrent_modification += other.concurrent_modification;
    }

    fn total(&self) -> usize {
        self.ok
            + self.mismatch
            + self.verify_mismatch
            + self.replayed
            + self.session_reused
            + self.locked_out
            + self.disabled
            + self.concurrent_modification
    }
}

/// Every scoped thread's result, in spawning order.
fn join_all<T>(handles: Vec<thread::ScopedJoinHandle<'_, T>>) -> Vec<T> {
    handles
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect()
}

/// The time of each round, from the harness's clock on: `ROUND_SECS` apart.
fn round_clock(h: &Harness) -> impl Fn(u64) -> UnixTime + Sync + use<> {
    let base = h.now;
    move |round| UnixTime(base.0 + round * ROUND_SECS)
}

/// One challenge per round, issued at that round's time (time is an argument).
fn session_per_round(h: &mut Harness, now_of: impl Fn(u64) -> UnixTime) -> Vec<SessionId> {
    (0..ROUNDS)
        .map(|round| begin(&h.service, now_of(round), &mut h.rng))
        .collect()
}

/// The attempts on a shared session that lost: told the session or the code was used, or that
/// their write lost.
fn shared_session_losers(tally: &Tally) -> usize {
    tally.session_reused + tally.replayed + tally.concurrent_modification
}

/// Races every service against the others for `ROUNDS` rounds, all threads released together
/// for each round (nobody starts round r + 1 before everyone has finished round r); `attempt`
/// makes thread `index`'s call of round `round` with that thread's own seeded RNG. Returns
/// `results[thread][round]`.
fn race_rounds<F>(services: &[MemoryService], attempt: F) -> Vec<Vec<Result<(), Error>>>
where
    F: Fn(&MemoryService, &mut ChaCha20Rng, usize, usize) -> Result<(), Error> + Sync,
{
    let barrier = Barrier::new(services.len());
    thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let (barrier, attempt) = (&barrier, &attempt);
                scope.spawn(move || {
                    let mut rng = thread_rng(index);
                    (0..usize::try_from(ROUNDS).unwrap())
                        .map(|round| {
                            barrier.wait();
                            attempt(service, &mut rng, round, index)
                        })
                        .collect()
                })
            })
            .collect();
        join_all(handles)
    })
}

/// Per round of `results[thread][round]`: exactly one attempt succeeded and `refused(tally)`
/// counts all THREADS - 1 others (`why` prefixes the tally in the failure message). Returns the
/// rounds' tallies merged.
fn assert_one_success_per_round(
    results: &[Vec<Result<(), Error>>],
    refused: impl Fn(&Tally) -> usize,
    why: &str,
) -> Tally {
    let mut total = Tally::default();
    for round in 0..usize::try_from(ROUNDS).unwrap() {
        let mut tally = Tally::default();
        for per_thread in results {
            tally.add(&per_thread[round]);
        }
        assert_eq!(tally.ok, 1, "round {round}: {tally:?}");
        assert_eq!(
            refused(&tally),
            THREADS - 1,
            "round {round}: {why}{tally:?}"
        );
        total.merge(&tally);
    }
    total
}

#[test]
fn the_same_code_on_separate_sessions_signs_in_exactly_once_per_round() {
    let (h, secret) = enrolled(LockoutPolicy::default());
    let now_of = round_clock(&h);
    let codes: Vec<String> = (0..ROUNDS)
        .map(|round| code_at_step(&secret, now_of(round).0 / 30))
        .collect();
    let results = race_rounds(&instances(&h), |service, rng, round, _| {
        let now = now_of(u64::try_from(round).unwrap());
        let session = begin(service, now, rng);
        respond(service, &session, &codes[round], now)
            .result
            .map(drop)
    });
    let total = assert_one_success_per_round(
        &results,
        |tally| tally.replayed + tally.concurrent_modification,
        "every loser is told the code was used or the write lost: ",
    );
    println!("same code, separate sessions: {total:?}");
    assert_eq!(total.ok, usize::try_from(ROUNDS).unwrap());

    let (record, _) = h.store.load(&UserId::new(USER)).unwrap().unwrap();
    assert_eq!(
        record.verified().unwrap().last_used_step().unwrap().value(),
        now_of(ROUNDS - 1).0 / 30,
        "the last round's step is the watermark"
    );
    assert_eq!(
        record.lockout().consecutive_failures(),
        0,
        "a replay is not a failure"
    );
}

#[test]
fn the_same_code_on_one_shared_session_signs_in_exactly_once_per_round() {
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    let now_of = round_clock(&h);
    let codes: Vec<String> = (0..ROUNDS)
        .map(|round| code_at_step(&secret, now_of(round).0 / 30))
        .collect();
    let sessions = session_per_round(&mut h, &now_of);
    let results = race_rounds(&instances(&h), |service, _, round, _| {
        let now = now_of(u64::try_from(round).unwrap());
        respond(service, &sessions[round], &codes[round], now)
            .result
            .map(drop)
    });
    let total = assert_one_success_per_round(&results, shared_session_losers, "");
    println!("same code, one session: {total:?}");

    // Every session was consumed by its one success.
    let last = usize::try_from(ROUNDS - 1).unwrap();
    assert_eq!(
        respond(
            &h.service,
            &sessions[last],
            &codes[last],
            now_of(ROUNDS - 1)
        )
        .result
        .map(drop),
        Err(Error::SessionReused)
    );
    assert_eq!(stored_lockout(&h).consecutive_failures(), 0);
}

#[test]
fn one_session_answered_with_two_different_valid_codes_signs_in_once_per_round() {
    // Half the threads send the current step's code, half the next step's (both inside the ±1
    // window). The replay watermark alone would let both through, one after the other; the
    // session's conditional consume, after the compare-and-swap, must refuse the second.
    let (mut h, secret) = enrolled(LockoutPolicy::default());
    let now_of = round_clock(&h);
    let codes: Vec<[String; 2]> = (0..ROUNDS)
        .map(|round| {
            let step = now_of(round).0 / 30;
            [code_at_step(&secret, step), code_at_step(&secret, step + 1)]
        })
        .collect();
    let sessions = session_per_round(&mut h, &now_of);
    let results = race_rounds(&instances(&h), |service, _, round, index| {
        let now = now_of(u64::try_from(round).unwrap());
        respond(service, &sessions[round], &codes[round][index % 2], now)
            .result
            .map(drop)
    });
    let total = assert_one_success_per_round(&results, shared_session_losers, "");
    println!("two valid codes, one session: {total:?}");
    assert_eq!(stored_lockout(&h).consecutive_failures(), 0);
}

const GUESSES_PER_THREAD: usize = 200;

/// Every thread, on its own session, fires its share of `codes` at the frozen `now`, one guess
/// per thread at a time, all threads released together for each; returns the threads' tallies
/// merged, the events of every attempt, and the HMAC computations of all threads.
fn guess_in_parallel(h: &Harness, codes: &[String], now: UnixTime) -> (Tally, Vec<EventKind>, u64) {
    let services = instances(h);
    let barrier = Barrier::new(THREADS);
    let per_thread: Vec<(Tally, Vec<EventKind>, u64)> = thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .zip(codes.chunks(GUESSES_PER_THREAD))
            .enumerate()
            .map(|(index, (service, mine))| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut rng = thread_rng(index);
                    let session = begin(service, now, &mut rng);
                    let mut tally = Tally::default();
                    let mut events = Vec::new();
                    let before = hmac_computations();
                    for code in mine {
                        // Every guess starts together with the other threads' next one.
                        barrier.wait();
                        let outcome = respond(service, &session, code, now);
                        tally.add(&outcome.result);
                        events.extend(outcome.events.into_iter().map(|event| event.kind));
                    }
                    (tally, events, hmac_computations() - before)
                })
            })
            .collect();
        join_all(handles)
    });
    let mut tally = Tally::default();
    let mut events = Vec::new();
    let mut hmacs = 0;
    for (thread_tally, thread_events, thread_hmacs) in per_thread {
        tally.merge(&thread_tally);
        events.extend(thread_events);
        hmacs += thread_hmacs;
    }
    (tally, events, hmacs)
}

#[test]
fn parallel_wrong_guesses_stop_at_the_first_lock() {
    // Default policy, clock frozen: 5 free failures, the 6th locks for 1 s, and the lock never
    // ends. Exactly 6 guesses can be evaluated, however they interleave.
    let (h, secret) = enrolled(LockoutPolicy::default());
    let now = h.now;
    let codes = wrong_codes(&secret, now, THREADS * GUESSES_PER_THREAD);
    let (tally, events, hmacs) = guess_in_parallel(&h, &codes, now);
    println!("wrong guesses, default policy: {tally:?}, {hmacs} HMAC computations");

    assert_eq!(tally.total(), THREADS * GUESSES_PER_THREAD);
    assert_eq!(tally.mismatch, 6, "{tally:?}");
    assert_eq!(
        tally.locked_out + tally.concurrent_modification,
        THREADS * GUESSES_PER_THREAD - 6,
        "{tally:?}"
    );
    assert_eq!(tally.ok + tally.replayed + tally.disabled, 0);

    let stored = stored_lockout(&h);
    assert_eq!(stored.consecutive_failures(), 6, "stored == evaluated");
    assert_eq!(stored.locked_until(), Some(UnixTime(now.0 + 1)));
    let locks: Vec<&EventKind> = events
        .iter()
        .filter(|kind| matches!(kind, EventKind::LockedOut { .. }))
        .collect();
    assert_eq!(
        locks,
        vec![&EventKind::LockedOut {
            until: UnixTime(now.0 + 1),
            consecutive_failures: 6,
        }],
        "exactly one failure started the lock"
    );
    // An evaluation costs a key schedule and a verification (2). Only the 6 winning writes and
    // attempts that lost a compare-and-swap to one of them (at most THREADS - 1 per write) got
    // past the lock check: everything else computed nothing.
    assert!(hmacs >= 2 * 6, "{hmacs}");
    assert!(
        hmacs <= 2 * 6 * u64::try_from(THREADS).unwrap(),
        "{hmacs} HMAC computations for {} refused attempts",
        tally.locked_out
    );
}

#[test]
fn parallel_guesses_are_each_counted_exactly_once_up_to_the_hard_cap() {
    // Nothing locks before the cap, so the threads contend on every write: 199 free failures,
    // the 200th disables. No failure may be lost (two threads building on one count) or added.
    let policy = LockoutPolicy::new(199, 1, 1, 900, 200).unwrap();
    let (h, secret) = enrolled(policy);
    let now = h.now;
    let codes = wrong_codes(&secret, now, THREADS * GUESSES_PER_THREAD);
    let (tally, events, _) = guess_in_parallel(&h, &codes, now);
    println!("wrong guesses, cap 200: {tally:?}");

    assert_eq!(tally.total(), THREADS * GUESSES_PER_THREAD);
    let stored = stored_lockout(&h);
    assert_eq!(
        usize::try_from(stored.consecutive_failures()).unwrap(),
        tally.mismatch,
        "stored == evaluated: {tally:?}"
    );
    assert_eq!(tally.mismatch, 200, "{tally:?}");
    assert!(stored.is_disabled(&policy));
    assert_eq!(
        tally.disabled + tally.concurrent_modification,
        THREADS * GUESSES_PER_THREAD - 200,
        "{tally:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|kind| matches!(kind, EventKind::Disabled { .. }))
            .count(),
        1
    );
}

#[test]
fn parallel_wrong_codes_on_verify_and_sign_in_share_one_budget() {
    let (mut h, old) = enrolled(LockoutPolicy::default());
    let pending = h.associate(USER);
    let now = h.now;
    let sign_in_codes = wrong_codes(&old, now, THREADS / 2 * GUESSES_PER_THREAD);
    let verify_codes = wrong_codes(&pending, now, THREADS / 2 * GUESSES_PER_THREAD);
    let services = instances(&h);
    let barrier = Barrier::new(THREADS);

    let tallies: Vec<Tally> = thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let barrier = &barrier;
                let half = index / 2;
                let range = half * GUESSES_PER_THREAD..(half + 1) * GUESSES_PER_THREAD;
                let (sign_in_codes, verify_codes) = (&sign_in_codes, &verify_codes);
                scope.spawn(move || {
                    let mut rng = thread_rng(index);
                    let mut tally = Tally::default();
                    if index % 2 == 0 {
                        let session = begin(service, now, &mut rng);
                        for code in &sign_in_codes[range] {
                            barrier.wait();
                            tally.add(&respond(service, &session, code, now).result);
                        }
                    } else {
                        for code in &verify_codes[range] {
                            barrier.wait();
                            let request = VerifySoftwareTokenRequest {
                                access_token: Harness::token(USER),
                                session: None,
                                user_code: code.clone(),
                                friendly_device_name: None,
                            };
                            tally.add(
                                &service
                                    .verify_software_token(&request, now, &mut rng)
                                    .result,
                            );
                        }
                    }
                    tally
                })
            })
            .collect();
        join_all(handles)
    });
    let mut tally = Tally::default();
    for thread_tally in &tallies {
        tally.merge(thread_tally);
    }
    println!("wrong guesses, Verify and sign-in: {tally:?}");

    assert_eq!(tally.mismatch + tally.verify_mismatch, 6, "{tally:?}");
    assert_eq!(stored_lockout(&h).consecutive_failures(), 6);
    assert_eq!(
        tally.locked_out + tally.concurrent_modification,
        THREADS * GUESSES_PER_THREAD - 6,
        "{tally:?}"
    );
}
