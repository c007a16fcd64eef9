//! The reference model (`tests/model`) against the real service: random sequences of every
//! operation — associate (access token and session), verify with right / wrong / replayed /
//! malformed / two-steps-off codes, preferences (user and admin), sign-in and both challenges,
//! admin delete, reused and unknown sessions, a clock moved inside a step, across steps, to the
//! end of locks and past session expiry, and the pool's MFA mode switched — run through
//! `Service` on `MemoryStore` and through the model in lockstep. Every response (success shape,
//! or the exact Cognito exception name and, where DESIGN.md gives one, message), every MFA
//! view, every stored session and the visible parts of every record must equal the model's,
//! and after every step the invariants hold: at most one acceptance per (user, token, step); no
//! acceptance while locked or disabled; consecutive failures never above the hard cap; a
//! session never accepted twice; no verified token whose secret no Verify accepted.
//!
//! Why the model runs inside the system under test rather than as proptest-state-machine's
//! reference state: the right code depends on the secret the real service generates, which
//! exists only when the sequence runs. The generated transitions are therefore abstract ("the
//! right code", "a session of the fitting purpose, newest but one", "to the end of bob's
//! lock"), resolved against the model's state as they are applied, so every sequence — and
//! every shrunk one — stays meaningful.
//!
//! Besides single operations the generator has composites a client would make (enrol by
//! access token or through the MFA_SETUP chain, begin a sign-in and answer it, a run of wrong
//! codes each at the end of the previous lock), each step compared on its own, so forty steps
//! reach verified-and-enabled tokens, locks, quiet resets and the hard cap; small lockout
//! policies are drawn beside Cognito's default for the same reason. After the run the test
//! checks that the sequences reached every kind of outcome (`MUST_REACH`).
//!
//! Where DESIGN.md is silent the model takes the crate's documented choice; the two the model
//! had to learn from the implementation (both defensible, both documented in
//! `src/lifecycle.rs`): a code of 7 or 8 ASCII digits passes the request edge and is refused
//! as `InvalidParameterException` once the record is loaded (after the session or access token
//! is checked), because a pool may change its digit count; and associating when no verified
//! token remains restarts the failure count (only a live token's count is kept).
//!
//! Store faults: the service runs over a `FaultyStore` wrapping the `MemoryStore` the checks
//! read. A `Fault` transition makes the first call to one point (`load`, `compare_and_swap`,
//! `put`, `get`, `consume`) of one later operation fail with `Error`, `Timeout` or `ReplyLost`
//! (the write happens, the reply is lost); composites aim faults into the answer to a
//! sign-in (then retry on the same session, at once or a step later) and into each call of
//! the MFA_SETUP enrolment. The model (`model::Calls`) predicts whether the operation reaches
//! that point at all and, from DESIGN.md's order of effects — Associate consumes its session,
//! then writes the record, then issues the next session; a code check writes the record
//! (burning the step or counting the failure), then consumes its session, then issues the
//! next — which effects persist: every write before the faulted call, the faulted write too
//! when its reply was lost, nothing after it; the answer is then the store error
//! (`InternalErrorException`, `Error::Store`), never an acceptance. Reads: the session is read
//! first, the record before anything that depends on it; how many loads an operation makes
//! is not modelled (a fault takes the first one). Where DESIGN.md does not say whether an
//! operation reads the record at all (SetUserMFAPreference without settings, a sign-in in a
//! pool whose MFA is off) a `load` fault is dropped, not guessed at. A secret or session
//! stored under a lost reply is recovered (the secret from the store through the capturing
//! sealer, the session from the service's RNG) and modelled as what it is: state only a
//! client that lost the reply knows. Everything after a fault is compared as before.
//!
//! 2,000 sequences of 1 to 39 steps by default (seed fixed, so every run checks the same ones);
//! `PROPTEST_CASES=200000 cargo test --release --all-features --test state_machine` for a long
//! run. Failures shrink and are kept in `tests/state_machine.proptest-regressions`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;
mod model;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;

use common::{Resolver, resolve};
use model::{
    Acceptance, Caller, Calls, Challenge, FaultKind, Lockout, Mode, Model, Point, Pool, Purpose,
    Refusal,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest, ChallengeName,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    VerifySoftwareTokenRequest, VerifyStatus,
};
use softtoken::store::faults::{self, FaultPoint, FaultyStore};
use softtoken::store::{SessionPurpose, SessionRecord, SessionStore};
use softtoken::{
    Error, EventKind, LockoutPolicy, LockoutState, MemoryStore, MfaMode, MfaView, PoolConfig,
    ReassociationPolicy, SealError, SecretSealer, Service, SessionId, SoftwareTokenMfaSettings,
    TokenStore, UnixTime, UserId,
};
use zeroize::Zeroizing;

const USERS: [&str; 3] = ["alice", "bob", "carol"];

/// The service under test: over a fault-injecting wrapper of the `MemoryStore` the checks read.
type FaultService = Service<FaultyStore<MemoryStore>, FaultyStore<MemoryStore>, Resolver>;

/// ChaCha words one `SessionId::generate` draws (48 random bytes): a session whose `put`
/// took effect but whose reply was lost is recovered from the service's RNG this way, and
/// `check_state` then finds it in the store with the model's user, purpose and expiry.
const SESSION_WORDS: u128 = 12;

/// The start of a step (56666667 × 30); each sequence starts a few seconds into it.
const BASE: u64 = 1_700_000_010;

/// The pool configurations a sequence switches between: (mode, software tokens enabled).
/// `ON` with software tokens off is not a valid configuration.
const POOLS: [(Mode, bool); 5] = [
    (Mode::Optional, true),
    (Mode::On, true),
    (Mode::Off, true),
    (Mode::Optional, false),
    (Mode::Off, false),
];

/// Lockout policies: Cognito's default, and small ones that reach locks, quiet resets and the
/// hard cap within a sequence.
const LOCKOUTS: [Lockout; 3] = [
    Lockout::DEFAULT,
    Lockout {
        free: 2,
        first: 1,
        max: 4,
        quiet: 60,
        cap: 6,
    },
    Lockout {
        free: 1,
        first: 2,
        max: 16,
        quiet: 45,
        cap: 4,
    },
];

/// Submitted codes that are not six ASCII digits (DESIGN.md §3), and two more.
const MALFORMED: [&str; 9] = [
    "",
    "12345",
    "1234567",
    " 123456",
    "12345a",
    "+12345",
    "\u{ff11}\u{ff12}\u{ff13}\u{ff14}\u{ff15}\u{ff16}",
    "12345678",
    "123 456",
];

// ---------------------------------------------------------------------------------------------
// The generated sequences.

/// What varies per sequence.
#[derive(Clone, Debug)]
struct Setup {
    /// Seconds into the first step.
    offset: u64,
    /// Index into `POOLS`.
    pool: usize,
    replace_immediately: bool,
    /// Index into `LOCKOUTS`.
    lockout: usize,
    session_minutes: u8,
    /// Seeds the service's CSPRNG and the test's own choices (wrong codes, unknown sessions).
    seed: u64,
}

/// Which session a call uses, resolved against the model's sessions when applied.
#[derive(Clone, Debug)]
enum SessionPick {
    /// Of the purpose the call takes, newest first (index modulo their number).
    Fitting(usize),
    /// Any session, newest first.
    Any(usize),
    /// A consumed session, newest first.
    Consumed(usize),
    /// A well-formed value never issued.
    Unknown,
}

/// Who calls Associate or Verify.
#[derive(Clone, Debug)]
enum CallerPick {
    Token(usize),
    BadToken,
    EmptyToken,
    Session(SessionPick),
    Both(usize),
    Neither,
    ShortSession,
}

/// Which user name answers a challenge.
#[derive(Clone, Debug)]
enum UserPick {
    /// The session's own user.
    Own,
    /// This user, whoever the session is for.
    User(usize),
    /// An empty user name.
    Empty,
}

/// Which code is submitted, resolved against the model's secrets when applied.
#[derive(Clone, Debug)]
enum CodePick {
    /// The target secret's code at step T + offset (offset −1, 0 or +1).
    Right(i8),
    /// A six-digit code matching neither of the user's secrets anywhere in T−2..=T+2.
    Wrong,
    /// The code of the step the user's token last used.
    Replayed,
    /// `MALFORMED[i]`.
    Malformed(usize),
    /// The target secret's code at T+2 (true) or T−2 (false).
    TwoOff(bool),
    /// The user's other secret's current code (pending at sign-in, verified at Verify).
    OtherSecret,
    /// Another user's verified token's current code.
    OtherUser(usize),
}

/// The FriendlyDeviceName sent with Verify.
#[derive(Clone, Debug)]
enum NamePick {
    Absent,
    Phone,
    Empty,
    Unicode,
    TooLong,
}

/// How the clock moves.
#[derive(Clone, Debug)]
enum Advance {
    /// This many seconds.
    Secs(u64),
    /// To second `n` of the current step, if still ahead.
    InStep(u64),
    /// To second `n` of the next step.
    NextStep(u64),
    /// To the end of this user's lock plus 0 or 1 s.
    PastLock(usize, u64),
    /// To a session's expiry (newest first) minus 1, plus 0..=2 s.
    SessionExpiry(usize, u64),
    /// To the end of this user's quiet period (from max(last failure, lock end)) minus 1,
    /// plus 0..=2 s.
    QuietEnd(usize, u64),
}

#[derive(Clone, Debug)]
enum Transition {
    Associate(CallerPick),
    Verify(CallerPick, CodePick, NamePick),
    SetPreference {
        admin: bool,
        user: usize,
        /// Invalid access token (user) or empty user name (admin).
        bad_caller: bool,
        settings: Option<(bool, bool)>,
    },
    BeginSignIn(usize),
    RespondCode(SessionPick, UserPick, CodePick),
    RespondSetup(SessionPick, UserPick),
    AdminDelete(usize),
    Advance(Advance),
    SwitchPool(usize),
    Sweep,
    // Composites: several of the operations above in the order a client makes them, each
    // compared on its own, so sequences reach deep states (a verified, enabled token being
    // signed in with; a lock; a disabled token) within forty steps.
    /// Associate and Verify with the right code — by access token (then SetUserMFAPreference
    /// with these settings), or through the MFA_SETUP chain (begin sign-in, Associate(S1),
    /// Verify(S2), RespondToAuthChallenge(MFA_SETUP, S3)).
    Enrol {
        user: usize,
        via_session: bool,
        settings: (bool, bool),
    },
    /// Begin a sign-in and answer the newest SOFTWARE_TOKEN_MFA session with this code.
    SignIn(usize, CodePick),
    /// `count` wrong codes, each at the end of the lock the previous one started, at
    /// sign-in or at Verify.
    Hammer {
        user: usize,
        count: u8,
        at_verify: bool,
    },
    /// The first store call to `point` of one operation fails with `kind`: the operation
    /// after `skip` more (counting the operations inside composites, so faults also land in
    /// the middle of an enrolment or a sign-in). Cleared after that operation, fired or not.
    Fault {
        point: Point,
        kind: FaultKind,
        skip: u8,
    },
    /// Begin a sign-in and answer it with this code under a fault (`Fault` with `skip` 1
    /// before `SignIn`), then maybe retry on the same session, as a client does after an
    /// error.
    FaultedSignIn {
        user: usize,
        code: CodePick,
        point: Point,
        kind: FaultKind,
        retry: Retry,
    },
    /// The MFA_SETUP enrolment with its `skip`-th operation (1: Associate, 2: Verify,
    /// 3: RespondToAuthChallenge) under a fault.
    FaultedEnrol {
        user: usize,
        point: Point,
        kind: FaultKind,
        skip: u8,
    },
}

/// A retry after a faulted answer to SOFTWARE_TOKEN_MFA.
#[derive(Clone, Debug)]
enum Retry {
    No,
    /// The same code pick on the same session, at once.
    AtOnce,
    /// The same code pick on the same session after the clock moved.
    After(Advance),
}

fn user() -> impl Strategy<Value = usize> {
    0..USERS.len()
}

fn session_pick() -> impl Strategy<Value = SessionPick> {
    prop_oneof![
        12 => (0usize..3).prop_map(SessionPick::Fitting),
        2 => (0usize..8).prop_map(SessionPick::Any),
        2 => (0usize..4).prop_map(SessionPick::Consumed),
        1 => Just(SessionPick::Unknown),
    ]
}

fn caller_pick() -> impl Strategy<Value = CallerPick> {
    prop_oneof![
        16 => user().prop_map(CallerPick::Token),
        12 => session_pick().prop_map(CallerPick::Session),
        1 => Just(CallerPick::BadToken),
        1 => Just(CallerPick::EmptyToken),
        1 => user().prop_map(CallerPick::Both),
        1 => Just(CallerPick::Neither),
        1 => Just(CallerPick::ShortSession),
    ]
}

fn user_pick() -> impl Strategy<Value = UserPick> {
    prop_oneof![
        10 => Just(UserPick::Own),
        2 => user().prop_map(UserPick::User),
        1 => Just(UserPick::Empty),
    ]
}

fn code_pick() -> impl Strategy<Value = CodePick> {
    prop_oneof![
        10 => Just(CodePick::Right(0)),
        2 => Just(CodePick::Right(-1)),
        2 => Just(CodePick::Right(1)),
        10 => Just(CodePick::Wrong),
        3 => Just(CodePick::Replayed),
        2 => (0..MALFORMED.len()).prop_map(CodePick::Malformed),
        2 => any::<bool>().prop_map(CodePick::TwoOff),
        1 => Just(CodePick::OtherSecret),
        1 => user().prop_map(CodePick::OtherUser),
    ]
}

/// Codes for the sign-in composite: mostly the right one, so sign-ins succeed often enough to
/// move the watermark and reset counts.
fn sign_in_code_pick() -> impl Strategy<Value = CodePick> {
    prop_oneof![
        12 => Just(CodePick::Right(0)),
        2 => Just(CodePick::Right(1)),
        2 => Just(CodePick::Right(-1)),
        4 => code_pick(),
    ]
}

fn name_pick() -> impl Strategy<Value = NamePick> {
    prop_oneof![
        4 => Just(NamePick::Phone),
        3 => Just(NamePick::Absent),
        1 => Just(NamePick::Empty),
        1 => Just(NamePick::Unicode),
        1 => Just(NamePick::TooLong),
    ]
}

fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        3 => (1u64..=20).prop_map(Advance::Secs),
        2 => (21u64..=120).prop_map(Advance::Secs),
        1 => (121u64..=1_000).prop_map(Advance::Secs),
        1 => (1_000u64..=4_000).prop_map(Advance::Secs),
        3 => (0u64..30).prop_map(Advance::InStep),
        3 => (0u64..30).prop_map(Advance::NextStep),
        4 => (user(), 0u64..=1).prop_map(|(u, extra)| Advance::PastLock(u, extra)),
        2 => (0usize..4, 0u64..=2).prop_map(|(i, extra)| Advance::SessionExpiry(i, extra)),
        2 => (user(), 0u64..=2).prop_map(|(u, extra)| Advance::QuietEnd(u, extra)),
    ]
}

/// Pool configurations, mostly with software tokens on.
fn pool_pick() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 4 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize), 1 => Just(4usize)]
}

fn point() -> impl Strategy<Value = Point> {
    prop::sample::select(Point::ALL.to_vec())
}

fn fault_kind() -> impl Strategy<Value = FaultKind> {
    prop::sample::select(vec![
        FaultKind::Error,
        FaultKind::Timeout,
        FaultKind::ReplyLost,
    ])
}

fn fault() -> impl Strategy<Value = Transition> {
    (
        point(),
        fault_kind(),
        prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
    )
        .prop_map(|(point, kind, skip)| Transition::Fault { point, kind, skip })
}

fn faulted_sign_in() -> impl Strategy<Value = Transition> {
    (
        user(),
        sign_in_code_pick(),
        // The calls an answer makes (`put` is none of them: it stays armed, unreached).
        prop_oneof![
            1 => Just(Point::Get),
            1 => Just(Point::Load),
            3 => Just(Point::CompareAndSwap),
            3 => Just(Point::Consume),
            1 => Just(Point::Put),
        ],
        fault_kind(),
        prop_oneof![
            1 => Just(Retry::No),
            2 => Just(Retry::AtOnce),
            2 => (0u64..30).prop_map(|second| Retry::After(Advance::NextStep(second))),
            1 => advance().prop_map(Retry::After),
        ],
    )
        .prop_map(
            |(user, code, point, kind, retry)| Transition::FaultedSignIn {
                user,
                code,
                point,
                kind,
                retry,
            },
        )
}

fn faulted_enrol() -> impl Strategy<Value = Transition> {
    (user(), point(), fault_kind(), 1u8..=3).prop_map(|(user, point, kind, skip)| {
        Transition::FaultedEnrol {
            user,
            point,
            kind,
            skip,
        }
    })
}

fn transition() -> impl Strategy<Value = Transition> {
    prop_oneof![
        14 => fault(),
        5 => faulted_sign_in(),
        3 => faulted_enrol(),
        8 => caller_pick().prop_map(Transition::Associate),
        14 => (caller_pick(), code_pick(), name_pick())
            .prop_map(|(caller, code, name)| Transition::Verify(caller, code, name)),
        10 => (user(), prop::bool::weighted(0.4), (prop::bool::weighted(0.8), any::<bool>()))
            .prop_map(|(user, via_session, settings)| Transition::Enrol { user, via_session, settings }),
        16 => (user(), sign_in_code_pick()).prop_map(|(user, code)| Transition::SignIn(user, code)),
        3 => (user(), 1u8..=8, prop::bool::weighted(0.3))
            .prop_map(|(user, count, at_verify)| Transition::Hammer { user, count, at_verify }),
        6 => (any::<bool>(), user(), prop::bool::weighted(0.1), prop::option::weighted(0.9, (prop::bool::weighted(0.8), any::<bool>())))
            .prop_map(|(admin, user, bad_caller, settings)| Transition::SetPreference { admin, user, bad_caller, settings }),
        10 => user().prop_map(Transition::BeginSignIn),
        16 => (session_pick(), user_pick(), code_pick())
            .prop_map(|(session, user, code)| Transition::RespondCode(session, user, code)),
        5 => (session_pick(), user_pick())
            .prop_map(|(session, user)| Transition::RespondSetup(session, user)),
        2 => user().prop_map(Transition::AdminDelete),
        14 => advance().prop_map(Transition::Advance),
        3 => pool_pick().prop_map(Transition::SwitchPool),
        1 => Just(Transition::Sweep),
    ]
}

/// The generator: the setup and the transitions do not depend on what came before (every
/// transition is meaningful in every state), so the reference state is just the setup.
struct Sequences;

impl ReferenceStateMachine for Sequences {
    type State = Setup;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Setup> {
        (
            0u64..30,
            pool_pick(),
            prop::bool::weighted(0.25),
            prop_oneof![2 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize)],
            prop_oneof![Just(3u8), Just(4u8), Just(15u8)],
            any::<u64>(),
        )
            .prop_map(
                |(offset, pool, replace_immediately, lockout, session_minutes, seed)| Setup {
                    offset,
                    pool,
                    replace_immediately,
                    lockout,
                    session_minutes,
                    seed,
                },
            )
            .boxed()
    }

    fn transitions(_: &Setup) -> BoxedStrategy<Transition> {
        transition().boxed()
    }

    fn apply(state: Setup, _: &Transition) -> Setup {
        state
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test and the model in lockstep.

thread_local! {
    /// How often each kind of outcome occurred, so the run can show it reached them all.
    static TALLY: RefCell<BTreeMap<String, usize>> = const { RefCell::new(BTreeMap::new()) };
}

fn tally(key: impl Into<String>) {
    TALLY.with(|tally| *tally.borrow_mut().entry(key.into()).or_default() += 1);
}

/// A short name for what the model expected.
fn outcome_name<T>(expected: &Result<T, Refusal>) -> String {
    match expected {
        Ok(_) => "ok".to_owned(),
        Err(Refusal::Locked { .. }) => "Locked".to_owned(),
        Err(refusal) => format!("{refusal:?}"),
    }
}

/// A sealer that records the secrets a record encodes (verified first, then pending).
struct Capture(RefCell<Vec<Vec<u8>>>);

impl SecretSealer for Capture {
    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>, SealError> {
        self.0.borrow_mut().push(secret.to_vec());
        Ok(secret.to_vec())
    }

    fn open(&self, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        Ok(Zeroizing::new(sealed.to_vec()))
    }
}

struct Sut {
    /// The store the checks read (never faulted).
    store: MemoryStore,
    /// The same store behind the fault injector the service runs over.
    faulty: FaultyStore<MemoryStore>,
    service: FaultService,
    /// The fault armed by `Transition::Fault`: point, kind, operations still to skip.
    armed: Option<(Point, FaultKind, u8)>,
    model: Model,
    rng: ChaCha20Rng,
    /// splitmix64 state for the test's own choices.
    noise: u64,
    now: u64,
    /// Every (user, secret, step) a real call accepted.
    accepted: HashSet<(usize, Vec<u8>, u64)>,
    /// Every session a real call succeeded with.
    used_sessions: HashSet<String>,
    /// Per user, every secret a real Verify accepted.
    verified_ok: Vec<Vec<Vec<u8>>>,
    /// Every session value ever issued (swept ones must be gone from the store).
    issued: Vec<String>,
    /// SOFTWARE_TOKEN_MFA sessions whose step a faulted call burned.
    burned_sessions: Vec<String>,
    /// What the current transition is, for failure messages.
    context: String,
}

fn real_pool(setup: &Setup, pick: usize) -> PoolConfig {
    let (mode, software_tokens) = POOLS[pick];
    let lockout = LOCKOUTS[setup.lockout];
    let mode = match mode {
        Mode::Off => MfaMode::Off,
        Mode::Optional => MfaMode::Optional,
        Mode::On => MfaMode::On,
    };
    PoolConfig::default()
        .with_software_token_mfa(software_tokens)
        .unwrap()
        .with_mfa_mode(mode)
        .unwrap()
        .with_auth_session_validity_minutes(setup.session_minutes)
        .unwrap()
        .with_lockout(
            LockoutPolicy::new(
                lockout.free,
                lockout.first,
                lockout.max,
                lockout.quiet,
                lockout.cap,
            )
            .unwrap(),
        )
        .with_reassociation(if setup.replace_immediately {
            ReassociationPolicy::ReplaceImmediately
        } else {
            ReassociationPolicy::KeepUntilVerified
        })
}

fn model_pool(setup: &Setup, pick: usize) -> Pool {
    let (mode, software_tokens) = POOLS[pick];
    Pool {
        software_tokens,
        mode,
        session_secs: u64::from(setup.session_minutes) * 60,
        lockout: LOCKOUTS[setup.lockout],
        replace_immediately: setup.replace_immediately,
    }
}

fn real_point(point: Point) -> FaultPoint {
    match point {
        Point::Load => FaultPoint::Load,
        Point::CompareAndSwap => FaultPoint::CompareAndSwap,
        Point::Put => FaultPoint::Put,
        Point::Get => FaultPoint::Get,
        Point::Consume => FaultPoint::Consume,
    }
}

fn real_kind(kind: FaultKind) -> faults::FaultKind {
    match kind {
        FaultKind::Error => faults::FaultKind::Error,
        FaultKind::Timeout => faults::FaultKind::Timeout,
        FaultKind::ReplyLost => faults::FaultKind::ReplyLost,
    }
}

fn token(user: usize) -> String {
    format!("token-{}", USERS[user])
}

fn purpose_of(purpose: Purpose) -> SessionPurpose {
    match purpose {
        Purpose::Associate => SessionPurpose::MfaSetupAssociate,
        Purpose::Verify => SessionPurpose::MfaSetupVerify,
        Purpose::MfaSetup => SessionPurpose::MfaSetupRespond,
        Purpose::SoftwareTokenMfa => SessionPurpose::SoftwareTokenMfa,
    }
}

/// The failure count a stored `LockoutState` amounts to at `now` under the documented rule
/// (zero after `quiet` seconds from max(last failure, lock end), unless disabled).
fn effective_failures(state: &LockoutState, lockout: &Lockout, now: u64) -> u32 {
    if state.consecutive_failures() >= lockout.cap {
        return state.consecutive_failures();
    }
    let from = state
        .last_failure_at()
        .map(|at| at.0)
        .max(state.locked_until().map(|at| at.0));
    match from {
        Some(from) if now >= from + lockout.quiet => 0,
        _ => state.consecutive_failures(),
    }
}

impl Sut {
    fn new(setup: &Setup) -> Sut {
        let store = MemoryStore::new();
        let faulty = FaultyStore::new(store.clone());
        Sut {
            service: Service::new(
                faulty.clone(),
                faulty.clone(),
                resolve as Resolver,
                real_pool(setup, setup.pool),
            ),
            store,
            faulty,
            armed: None,
            model: Model::new(model_pool(setup, setup.pool), USERS.len()),
            rng: ChaCha20Rng::seed_from_u64(setup.seed),
            noise: setup.seed ^ 0x9e37_79b9_7f4a_7c15,
            now: BASE + setup.offset,
            accepted: HashSet::new(),
            used_sessions: HashSet::new(),
            verified_ok: vec![Vec::new(); USERS.len()],
            issued: Vec::new(),
            burned_sessions: Vec::new(),
            context: String::new(),
        }
    }

    fn next_noise(&mut self) -> u64 {
        self.noise = self.noise.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.noise;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    // --- store faults ---

    /// The fault for the operation about to run, planted in the wrapper, or none.
    /// `load_defined` says whether DESIGN.md fixes that this operation reads the record
    /// (`load`) at all; where it does not, a `load` fault is dropped rather than guessed at.
    fn arm(&mut self, load_defined: bool) -> Calls {
        match self.armed {
            Some((point, kind, 0)) => {
                self.armed = None;
                if point == Point::Load && !load_defined {
                    tally("fault dropped: implementation-defined");
                    return Calls::none();
                }
                self.faulty.fail_nth(real_point(point), 1, real_kind(kind));
                Calls::failing(point, kind)
            }
            Some((point, kind, skip)) => {
                self.armed = Some((point, kind, skip - 1));
                Calls::none()
            }
            None => Calls::none(),
        }
    }

    /// Clears the planted fault (fired or not) and returns the one that fired.
    fn disarm(&self) -> Option<faults::Fault> {
        let injected = self.faulty.injected();
        self.faulty.clear();
        self.faulty.reset_log();
        assert!(injected.len() <= 1, "{}: one fault at most", self.context);
        injected.first().copied()
    }

    /// The fault fired exactly when the model says the operation reached it, and an operation
    /// whose store call failed reported the store error, never an acceptance (fail closed).
    fn check_fault<T: Debug>(
        &self,
        operation: &str,
        calls: &Calls,
        fired: Option<faults::Fault>,
        real: &Result<T, Error>,
    ) {
        let context = &self.context;
        assert_eq!(
            fired.is_some(),
            calls.fired,
            "{context}: the fault {:?} fired {fired:?}; the model says reached: {}",
            calls.armed(),
            calls.fired
        );
        if let (Some(fault), Some((point, kind))) = (fired, calls.armed()) {
            assert_eq!(
                (fault.point, fault.kind),
                (real_point(point), real_kind(kind)),
                "{context}"
            );
            assert!(
                matches!(real, Err(Error::Store(_))),
                "{context}: a faulted {operation} answered {real:?}"
            );
            tally(format!("{operation}: fault at {} {kind:?}", fault.point));
            tally(format!("{operation}: fault at {}", fault.point));
            tally(format!("fault fired: {} {kind:?}", fault.point));
        } else if let Some((point, _)) = calls.armed() {
            tally(format!("fault not reached: {point:?}"));
        }
    }

    /// The session a `put` stored whose reply was lost: the last one the service's RNG drew.
    fn lost_session(&self) -> String {
        let mut shadow = self.rng.clone();
        shadow.set_word_pos(self.rng.get_word_pos() - SESSION_WORDS);
        SessionId::generate(&mut shadow).expose().to_owned()
    }

    /// The session an operation issued: from its reply, or recovered when the reply of the
    /// `put` was lost.
    fn issued_session(
        &self,
        replied: Option<&SessionId>,
        fired: Option<faults::Fault>,
    ) -> Option<String> {
        match (replied, fired) {
            (Some(session), _) => Some(session.expose().to_owned()),
            (
                None,
                Some(faults::Fault {
                    point: FaultPoint::Put,
                    kind: faults::FaultKind::ReplyLost,
                }),
            ) => Some(self.lost_session()),
            (None, _) => None,
        }
    }

    /// Registers a session the model says was stored although the reply was lost.
    fn register_lost(&mut self, calls: &Calls, value: Option<&String>) {
        if calls.fired && calls.armed() == Some((Point::Put, FaultKind::ReplyLost)) {
            let value = value.expect("a recovered session");
            tally("a session stored, its reply lost");
            assert!(
                !self.issued.contains(value),
                "{}: a session value was issued twice",
                self.context
            );
            self.issued.push(value.clone());
        }
    }

    /// A step the model says a faulted operation burned: it counts as accepted (no later
    /// call may accept it again), though the caller was never told.
    fn register_burn(&mut self, operation: &str, locked_before: bool) -> Option<Acceptance> {
        let burn = self.model.burned.take()?;
        tally(format!("{operation}: a step burned, the reply lost"));
        assert!(
            !locked_before,
            "{}: a code was accepted while locked or disabled",
            self.context
        );
        assert!(
            self.accepted
                .insert((burn.user, burn.secret.clone(), burn.step)),
            "{}: step {} of {}'s token accepted twice",
            self.context,
            burn.step,
            USERS[burn.user]
        );
        Some(burn)
    }

    /// The (verified, pending) secrets of `user`'s stored record.
    fn stored_secrets(&self, user: usize) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        let record = self
            .store
            .load(&UserId::new(USERS[user]))
            .unwrap()
            .map(|(record, _)| record)
            .unwrap_or_default();
        let capture = Capture(RefCell::new(Vec::new()));
        record.encode(&capture).unwrap();
        let mut secrets = capture.0.into_inner().into_iter();
        let verified = record.verified().and_then(|_| secrets.next());
        let pending = record.pending().and_then(|_| secrets.next());
        (verified, pending)
    }

    // --- resolving abstract picks against the model ---

    fn pick_session(&mut self, pick: &SessionPick, purpose: Purpose) -> String {
        let newest_first = |filter: &dyn Fn(&model::Session) -> bool| -> Vec<String> {
            self.model
                .sessions
                .iter()
                .rev()
                .filter(|session| filter(session))
                .map(|session| session.value.clone())
                .collect()
        };
        let (candidates, index) = match pick {
            SessionPick::Fitting(i) => (newest_first(&|s| s.purpose == purpose), *i),
            SessionPick::Any(i) => (newest_first(&|_| true), *i),
            SessionPick::Consumed(i) => (newest_first(&|s| s.consumed), *i),
            SessionPick::Unknown => (Vec::new(), 0),
        };
        let fallback = newest_first(&|_| true);
        match (candidates.is_empty(), fallback.is_empty(), pick) {
            (false, _, _) => candidates[index % candidates.len()].clone(),
            (true, false, SessionPick::Fitting(_) | SessionPick::Consumed(_)) => {
                fallback[index % fallback.len()].clone()
            }
            _ => {
                // Lower case: never a value the service issues (upper-case base32).
                let noise = self.next_noise();
                format!("unknown-session-{noise:020}")
            }
        }
    }

    fn session_user(&self, value: &str) -> usize {
        self.model
            .sessions
            .iter()
            .find(|session| session.value == value)
            .map_or(0, |session| session.user)
    }

    /// The request members and the model's view of a caller; the user whose secrets a code
    /// for this call is drawn from.
    fn pick_caller(
        &mut self,
        pick: &CallerPick,
        purpose: Purpose,
    ) -> (Option<String>, Option<String>, Caller, usize) {
        match pick {
            CallerPick::Token(user) => (Some(token(*user)), None, Caller::Token(*user), *user),
            CallerPick::BadToken => (Some("not-a-token".to_owned()), None, Caller::BadToken, 0),
            CallerPick::EmptyToken => (Some(String::new()), None, Caller::Malformed, 0),
            CallerPick::Session(pick) => {
                let value = self.pick_session(pick, purpose);
                let user = self.session_user(&value);
                (None, Some(value.clone()), Caller::Session(value), user)
            }
            CallerPick::Both(user) => {
                let session = self.pick_session(&SessionPick::Fitting(0), purpose);
                (Some(token(*user)), Some(session), Caller::Malformed, *user)
            }
            CallerPick::Neither => (None, None, Caller::Malformed, 0),
            CallerPick::ShortSession => (
                None,
                Some("S".repeat(SessionId::MIN_LEN - 1)),
                Caller::Malformed,
                0,
            ),
        }
    }

    /// A code for `user`: `target` is the secret the call checks (pending for Verify,
    /// verified for sign-in), `other` the user's other secret.
    fn pick_code(&mut self, pick: &CodePick, user: usize, for_verify: bool) -> String {
        let record = &self.model.users[user];
        let verified = record.verified.as_ref().map(|token| token.secret.clone());
        let (target, other) = if for_verify {
            (record.pending.clone(), verified.clone())
        } else {
            (verified.clone(), record.pending.clone())
        };
        let last_used = record.verified.as_ref().map(|token| token.last_used_step);
        let t = model::step_of(self.now);
        let step = |offset: i64| t.checked_add_signed(offset).unwrap_or(0);
        let code = match pick {
            CodePick::Right(offset) => target
                .as_ref()
                .map(|secret| model::code_at_step(secret, step(i64::from(*offset)))),
            CodePick::TwoOff(ahead) => target
                .as_ref()
                .map(|secret| model::code_at_step(secret, step(if *ahead { 2 } else { -2 }))),
            CodePick::Replayed => verified
                .as_ref()
                .zip(last_used)
                .map(|(secret, used)| model::code_at_step(secret, used)),
            CodePick::OtherSecret => other.as_ref().map(|secret| model::code_at_step(secret, t)),
            CodePick::OtherUser(other_user) => self.model.users[*other_user]
                .verified
                .as_ref()
                .map(|token| model::code_at_step(&token.secret, t)),
            CodePick::Malformed(i) => Some(MALFORMED[*i].to_owned()),
            CodePick::Wrong => None,
        };
        code.unwrap_or_else(|| self.wrong_code(&[target, other], t))
    }

    /// A six-digit code none of `secrets` shows in T−2..=T+2.
    fn wrong_code(&mut self, secrets: &[Option<Vec<u8>>], t: u64) -> String {
        let taken: Vec<String> = secrets
            .iter()
            .flatten()
            .flat_map(|secret| {
                (t.saturating_sub(2)..=t + 2).map(move |step| model::code_at_step(secret, step))
            })
            .collect();
        loop {
            let code = format!("{:06}", self.next_noise() % 1_000_000);
            if !taken.contains(&code) {
                return code;
            }
        }
    }

    fn pick_username(&self, pick: &UserPick, session: &str) -> (String, Option<usize>) {
        match pick {
            UserPick::Own => {
                let user = self.session_user(session);
                (USERS[user].to_owned(), Some(user))
            }
            UserPick::User(user) => (USERS[*user].to_owned(), Some(*user)),
            UserPick::Empty => (String::new(), None),
        }
    }

    // --- checks ---

    fn same<T: Debug, U: Debug>(
        &self,
        operation: &str,
        real: &Result<T, Error>,
        expected: &Result<U, Refusal>,
    ) {
        tally(format!("{operation}: {}", outcome_name(expected)));
        let context = &self.context;
        match (real, expected) {
            (Ok(_), Ok(_)) => {}
            (Err(error), Err(refusal)) => {
                assert_eq!(
                    error.code(),
                    refusal.code(),
                    "{context}: the service refused with {error:?}, the model with {refusal:?}"
                );
                if *refusal == Refusal::Store {
                    assert!(
                        matches!(error, Error::Store(_)),
                        "{context}: the model expected the store error, the service {error:?}"
                    );
                }
                if let Some(message) = refusal.message() {
                    assert_eq!(
                        error.to_string(),
                        message,
                        "{context}: {error:?} vs the model's {refusal:?}"
                    );
                }
                if let Refusal::Locked { until } = refusal {
                    assert_eq!(
                        *error,
                        Error::LockedOut {
                            retry_at: UnixTime(*until),
                            retry_after_secs: until - self.now,
                        },
                        "{context}"
                    );
                }
            }
            (real, expected) => {
                panic!("{context}: the service answered {real:?}, the model {expected:?}")
            }
        }
    }

    /// Whether the real record says codes are refused unevaluated now.
    fn really_locked_or_disabled(&self, user: usize) -> bool {
        let lockout = self.model.pool.lockout;
        self.store
            .load(&UserId::new(USERS[user]))
            .unwrap()
            .is_some_and(|(record, _)| {
                let state = record.lockout();
                state.consecutive_failures() >= lockout.cap
                    || state.locked_until().is_some_and(|until| until.0 > self.now)
            })
    }

    /// Records a real acceptance and checks the acceptance invariants.
    fn accept(&mut self, acceptance: &Acceptance, real_step: u64, locked_before: bool) {
        let context = &self.context;
        assert_eq!(
            real_step, acceptance.step,
            "{context}: the service recorded another step"
        );
        assert!(
            !locked_before,
            "{context}: a code was accepted while locked or disabled"
        );
        assert!(
            self.accepted
                .insert((acceptance.user, acceptance.secret.clone(), acceptance.step)),
            "{context}: step {} of {}'s token accepted twice",
            acceptance.step,
            USERS[acceptance.user]
        );
    }

    fn session_accepted(&mut self, value: &str) {
        assert!(
            self.used_sessions.insert(value.to_owned()),
            "{}: a session was accepted twice",
            self.context
        );
    }

    fn register_issued(&mut self, value: Option<&SessionId>) {
        if let Some(value) = value {
            assert!(
                !self.issued.iter().any(|v| v == value.expose()),
                "{}: a session value was issued twice",
                self.context
            );
            self.issued.push(value.expose().to_owned());
        }
    }

    // --- the operations ---

    fn associate(&mut self, pick: &CallerPick) {
        let (access_token, session, caller, user) = self.pick_caller(pick, Purpose::Associate);
        if let Caller::Session(value) = &caller {
            let fitting = self.model.sessions.iter().any(|s| {
                &s.value == value
                    && s.purpose == Purpose::Associate
                    && !s.consumed
                    && s.expires_at > self.now
            });
            if fitting && self.model.users[user].verified.is_some() {
                tally("associate: a live MFA_SETUP session of an enrolled user");
            }
        }
        let request = AssociateSoftwareTokenRequest {
            access_token,
            session: session.clone(),
        };
        let mut calls = self.arm(true);
        let outcome =
            self.service
                .associate_software_token(&request, UnixTime(self.now), &mut self.rng);
        let fired = self.disarm();
        let (secret, replied) = match &outcome.result {
            Ok(response) => {
                let code = response.secret_code.expose();
                assert!(
                    code.len() == 52
                        && code
                            .bytes()
                            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
                    "{}: SecretCode is 52 characters of upper-case base32",
                    self.context
                );
                let secret =
                    base32::decode(base32::Alphabet::Rfc4648 { padding: false }, code).unwrap();
                assert_eq!(secret.len(), 32, "{}: 32 secret bytes", self.context);
                (secret, response.session.clone())
            }
            // The reply is lost: if the secret was stored, the model learns it from the store
            // (a client that lost the reply; "the right code" then models it anyway).
            Err(_) => (self.stored_secrets(user).1.unwrap_or_default(), None),
        };
        let issued = self.issued_session(replied.as_ref(), fired);
        let expected =
            self.model
                .associate(&caller, self.now, &secret, issued.as_deref(), &mut calls);
        self.check_fault("associate", &calls, fired, &outcome.result);
        self.same("associate", &outcome.result, &expected);
        if calls.fired
            && calls.armed() == Some((Point::CompareAndSwap, FaultKind::ReplyLost))
            && self.model.users[user].pending.as_ref() == Some(&secret)
        {
            tally("associate: a pending secret nobody was told");
        }
        self.register_lost(&calls, issued.as_ref());
        if let Ok(with_session) = expected {
            if with_session {
                tally("associate: ok via session");
            }
            assert_eq!(
                replied.is_some(),
                with_session,
                "{}: a Session exactly on the session path",
                self.context
            );
            self.register_issued(replied.as_ref());
            if let Some(value) = session {
                self.session_accepted(&value);
            }
        }
    }

    fn verify(&mut self, pick: &CallerPick, code: &CodePick, name: &NamePick) {
        let (access_token, session, caller, user) = self.pick_caller(pick, Purpose::Verify);
        let user_code = self.pick_code(code, user, true);
        let friendly_device_name = match name {
            NamePick::Absent => None,
            NamePick::Phone => Some(format!("{}'s phone", USERS[user])),
            NamePick::Empty => Some(String::new()),
            NamePick::Unicode => Some("Ada’s \u{1f4f1} — 2ᵉ".to_owned()),
            NamePick::TooLong => Some("n".repeat(model::MAX_DEVICE_NAME_CHARS + 1)),
        };
        let locked_before = self.really_locked_or_disabled(user);
        let request = VerifySoftwareTokenRequest {
            access_token,
            session: session.clone(),
            user_code: user_code.clone(),
            friendly_device_name: friendly_device_name.clone(),
        };
        let mut calls = self.arm(true);
        let outcome =
            self.service
                .verify_software_token(&request, UnixTime(self.now), &mut self.rng);
        let fired = self.disarm();
        let replied = outcome
            .result
            .as_ref()
            .ok()
            .and_then(|response| response.session.clone());
        let issued = self.issued_session(replied.as_ref(), fired);
        let expected = self.model.verify(
            &caller,
            &user_code,
            friendly_device_name.as_deref(),
            self.now,
            issued.as_deref(),
            &mut calls,
        );
        self.check_fault("verify", &calls, fired, &outcome.result);
        self.same("verify", &outcome.result, &expected);
        self.register_lost(&calls, issued.as_ref());
        if let Some(burn) = self.register_burn("verify", locked_before) {
            // The pending secret was verified (the record written) before the fault.
            self.verified_ok[burn.user].push(burn.secret);
        }
        if let (Ok(response), Ok((acceptance, with_session))) = (&outcome.result, &expected) {
            assert_eq!(response.status, VerifyStatus::Success, "{}", self.context);
            assert_eq!(
                replied.is_some(),
                *with_session,
                "{}: a Session exactly on the session path",
                self.context
            );
            let step = outcome
                .events
                .iter()
                .find_map(|event| match event.kind {
                    EventKind::Verified { step, .. } => Some(step.value()),
                    _ => None,
                })
                .expect("a Verified event");
            if *with_session {
                tally("verify: ok via session");
            }
            if outcome.events.iter().any(|event| {
                matches!(
                    event.kind,
                    EventKind::Verified {
                        replaced_previous: true,
                        ..
                    }
                )
            }) {
                tally("verify: ok replacing a verified token");
            }
            self.accept(acceptance, step, locked_before);
            self.verified_ok[acceptance.user].push(acceptance.secret.clone());
            self.register_issued(replied.as_ref());
            if let Some(value) = session {
                self.session_accepted(&value);
            }
        }
    }

    fn set_preference(
        &mut self,
        admin: bool,
        user: usize,
        bad_caller: bool,
        settings: Option<(bool, bool)>,
    ) {
        let software_token_mfa_settings =
            settings.map(|(enabled, preferred_mfa)| SoftwareTokenMfaSettings {
                enabled,
                preferred_mfa,
            });
        let now = UnixTime(self.now);
        // A request without settings changes nothing; whether it reads the record anyway is
        // the implementation's business, so a `load` fault is not aimed at it.
        let mut calls = self.arm(settings.is_some());
        let (result, caller) = if admin {
            let username = if bad_caller { "" } else { USERS[user] };
            let request = AdminSetUserMfaPreferenceRequest {
                username: username.to_owned(),
                software_token_mfa_settings,
            };
            let caller = if bad_caller {
                Caller::Malformed
            } else {
                Caller::Token(user)
            };
            (
                self.service
                    .admin_set_user_mfa_preference(&request, now)
                    .result,
                caller,
            )
        } else {
            let request = SetUserMfaPreferenceRequest {
                access_token: if bad_caller {
                    "not-a-token".to_owned()
                } else {
                    token(user)
                },
                software_token_mfa_settings,
            };
            let caller = if bad_caller {
                Caller::BadToken
            } else {
                Caller::Token(user)
            };
            (
                self.service.set_user_mfa_preference(&request, now).result,
                caller,
            )
        };
        let fired = self.disarm();
        let expected = self
            .model
            .set_preference(admin, &caller, settings, &mut calls);
        let operation = if admin {
            "AdminSetUserMFAPreference"
        } else {
            "SetUserMFAPreference"
        };
        self.check_fault(operation, &calls, fired, &result);
        self.same(operation, &result, &expected);
    }

    /// Returns whether a SOFTWARE_TOKEN_MFA challenge was issued (its session is the newest).
    fn begin_sign_in(&mut self, user: usize) -> bool {
        // With the pool's MFA off no challenge depends on the record; whether the service
        // reads it anyway is its business, so a `load` fault is not aimed at it.
        let mut calls = self.arm(self.model.pool.mode != Mode::Off);
        let outcome = self.service.begin_sign_in(
            &UserId::new(USERS[user]),
            UnixTime(self.now),
            &mut self.rng,
        );
        let fired = self.disarm();
        let replied = outcome
            .result
            .as_ref()
            .ok()
            .and_then(|challenge| challenge.as_ref().map(|c| c.session.clone()));
        let issued = self.issued_session(replied.as_ref(), fired);
        let expected = self
            .model
            .begin_sign_in(user, self.now, issued.as_deref(), &mut calls);
        self.check_fault("begin sign-in", &calls, fired, &outcome.result);
        self.register_lost(&calls, issued.as_ref());
        let (challenge, expected) = match (outcome.result, expected) {
            (Ok(challenge), Ok(expected)) => (challenge, expected),
            (Err(Error::Store(_)), Err(Refusal::Store)) => {
                tally("begin sign-in: Store");
                return false;
            }
            (real, expected) => panic!(
                "{}: beginning a sign-in answered {real:?}, the model {expected:?}",
                self.context
            ),
        };
        tally(match &expected {
            None => "begin sign-in: none",
            Some(Challenge::SoftwareTokenMfa { .. }) => "begin sign-in: SOFTWARE_TOKEN_MFA",
            Some(Challenge::MfaSetup) => "begin sign-in: MFA_SETUP",
        });
        let context = &self.context;
        match (&challenge, &expected) {
            (None, None) => {}
            (Some(real), Some(Challenge::SoftwareTokenMfa { device_name })) => {
                assert_eq!(
                    real.challenge_name,
                    ChallengeName::SoftwareTokenMfa,
                    "{context}"
                );
                let parameters: BTreeMap<String, String> = device_name
                    .iter()
                    .map(|name| ("FRIENDLY_DEVICE_NAME".to_owned(), name.clone()))
                    .collect();
                assert_eq!(real.challenge_parameters, parameters, "{context}");
            }
            (Some(real), Some(Challenge::MfaSetup)) => {
                assert_eq!(real.challenge_name, ChallengeName::MfaSetup, "{context}");
                assert_eq!(
                    real.challenge_parameters,
                    BTreeMap::from([(
                        "MFAS_CAN_SETUP".to_owned(),
                        "[\"SOFTWARE_TOKEN_MFA\"]".to_owned()
                    )]),
                    "{context}"
                );
            }
            (real, expected) => {
                panic!("{context}: the service challenged {real:?}, the model {expected:?}")
            }
        }
        self.register_issued(challenge.as_ref().map(|c| &c.session));
        matches!(expected, Some(Challenge::SoftwareTokenMfa { .. }))
    }

    fn respond_code(&mut self, session: &SessionPick, user: &UserPick, code: &CodePick) {
        let session = self.pick_session(session, Purpose::SoftwareTokenMfa);
        let (username, user) = self.pick_username(user, &session);
        let code_user = user.unwrap_or(0);
        let code = self.pick_code(code, code_user, false);
        let locked_before = self.really_locked_or_disabled(code_user);
        let mut calls = self.arm(true);
        let outcome = self.service.respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: session.clone(),
                username: username.clone(),
                software_token_mfa_code: code.clone(),
            },
            UnixTime(self.now),
        );
        let fired = self.disarm();
        let expected = self
            .model
            .respond_software_token_mfa(&session, user, &code, self.now, &mut calls);
        self.check_fault("respond SOFTWARE_TOKEN_MFA", &calls, fired, &outcome.result);
        self.same("respond SOFTWARE_TOKEN_MFA", &outcome.result, &expected);
        if self
            .register_burn("respond SOFTWARE_TOKEN_MFA", locked_before)
            .is_some()
        {
            self.burned_sessions.push(session.clone());
        }
        if self.burned_sessions.contains(&session) {
            tally(format!(
                "respond SOFTWARE_TOKEN_MFA: {} on a session whose step a fault burned",
                outcome_name(&expected)
            ));
        }
        if let (Ok(authenticated), Ok(acceptance)) = (&outcome.result, &expected) {
            assert_eq!(
                authenticated.user,
                UserId::new(username),
                "{}",
                self.context
            );
            let step = outcome
                .events
                .iter()
                .find_map(|event| match event.kind {
                    EventKind::SignInAccepted { step } => Some(step.value()),
                    _ => None,
                })
                .expect("a SignInAccepted event");
            self.accept(acceptance, step, locked_before);
            self.session_accepted(&session);
        }
    }

    fn respond_setup(&mut self, session: &SessionPick, user: &UserPick) {
        let session = self.pick_session(session, Purpose::MfaSetup);
        let (username, user) = self.pick_username(user, &session);
        let mut calls = self.arm(true);
        let outcome = self.service.respond_to_mfa_setup(
            &RespondToMfaSetupRequest {
                session: session.clone(),
                username: username.clone(),
            },
            UnixTime(self.now),
        );
        let fired = self.disarm();
        let expected = self
            .model
            .respond_mfa_setup(&session, user, self.now, &mut calls);
        self.check_fault("respond MFA_SETUP", &calls, fired, &outcome.result);
        self.same("respond MFA_SETUP", &outcome.result, &expected);
        if let Ok(authenticated) = &outcome.result {
            assert_eq!(
                authenticated.user,
                UserId::new(username),
                "{}",
                self.context
            );
            self.session_accepted(&session);
        }
    }

    fn enrol(&mut self, user: usize, via_session: bool, (enabled, preferred): (bool, bool)) {
        if via_session {
            self.begin_sign_in(user);

            self.associate(&CallerPick::Session(SessionPick::Fitting(0)));
            self.verify(
                &CallerPick::Session(SessionPick::Fitting(0)),
                &CodePick::Right(0),
                &NamePick::Phone,
            );
            self.respond_setup(&SessionPick::Fitting(0), &UserPick::Own);
        } else {
            self.associate(&CallerPick::Token(user));
            self.verify(
                &CallerPick::Token(user),
                &CodePick::Right(0),
                &NamePick::Phone,
            );
            self.set_preference(false, user, false, Some((enabled, preferred)));
        }
    }

    fn admin_delete(&mut self, user: usize) {
        let mut calls = self.arm(true);
        let result = self
            .service
            .admin_delete_software_token(USERS[user], UnixTime(self.now))
            .result;
        let fired = self.disarm();
        let expected = self.model.admin_delete(user, &mut calls);
        self.check_fault("AdminDeleteSoftwareToken", &calls, fired, &result);
        self.same("AdminDeleteSoftwareToken", &result, &expected);
    }

    fn advance(&mut self, advance: &Advance) {
        let now = self.now;
        let step_start = now - now % model::STEP_SECS;
        self.now = match advance {
            Advance::Secs(secs) => now + secs,
            Advance::InStep(second) => now.max(step_start + second),
            Advance::NextStep(second) => step_start + model::STEP_SECS + second,
            Advance::PastLock(user, extra) => {
                now.max(self.model.users[*user].locked_until.unwrap_or(now)) + extra
            }
            Advance::SessionExpiry(i, extra) => {
                let expiries: Vec<u64> = self
                    .model
                    .sessions
                    .iter()
                    .rev()
                    .map(|session| session.expires_at)
                    .collect();
                match expiries.get(i % expiries.len().max(1)) {
                    Some(expires_at) => now.max(expires_at - 1 + extra),
                    None => now + 1,
                }
            }
            Advance::QuietEnd(user, extra) => {
                let record = &self.model.users[*user];
                match record.last_failure.max(record.locked_until) {
                    Some(from) => now.max(from + self.model.pool.lockout.quiet - 1 + extra),
                    None => now + 1,
                }
            }
        };
    }

    fn switch_pool(&mut self, setup: &Setup, pick: usize) {
        // A new service over the same store: the configuration changes, the data stays.
        self.service = Service::new(
            self.faulty.clone(),
            self.faulty.clone(),
            resolve as Resolver,
            real_pool(setup, pick),
        );
        self.model.pool = model_pool(setup, pick);
    }

    fn sweep(&mut self) {
        // Sweeping makes none of the faulted calls: an armed fault is cleared unreached.
        let calls = self.arm(true);
        let swept = self.service.sweep_sessions(UnixTime(self.now));
        let fired = self.disarm();
        self.check_fault("sweep", &calls, fired, &swept);
        let expected = self.model.sweep(self.now);
        if expected > 0 {
            tally("sweep removed sessions");
        }
        assert_eq!(swept, Ok(expected), "{}: sessions swept", self.context);
    }

    /// The service's visible state equals the model's: MFA views, sessions, records.
    fn check_state(&self) {
        let context = &self.context;
        let lockout = self.model.pool.lockout;
        for (user, name) in USERS.iter().enumerate() {
            let (list, preferred) = self.model.view(user);
            let expected = MfaView {
                user_mfa_setting_list: list,
                preferred_mfa_setting: preferred,
            };
            assert_eq!(
                self.service.admin_get_user(name).as_ref(),
                Ok(&expected),
                "{context}: AdminGetUser {name}"
            );
            assert_eq!(
                self.service.get_user(&token(user)).as_ref(),
                Ok(&expected),
                "{context}: GetUser {name}"
            );

            let model = &self.model.users[user];
            let record = self
                .store
                .load(&UserId::new(*name))
                .unwrap()
                .map(|(record, _)| record)
                .unwrap_or_default();
            let capture = Capture(RefCell::new(Vec::new()));
            record.encode(&capture).unwrap();
            let mut secrets = capture.0.into_inner().into_iter();
            let verified_secret = record.verified().and_then(|_| secrets.next());
            let pending_secret = record.pending().and_then(|_| secrets.next());

            assert_eq!(
                verified_secret.as_ref(),
                model.verified.as_ref().map(|token| &token.secret),
                "{context}: {name}'s verified secret"
            );
            assert_eq!(
                pending_secret.as_ref(),
                model.pending.as_ref(),
                "{context}: {name}'s pending secret"
            );
            if let (Some(real), Some(token)) = (record.verified(), &model.verified) {
                assert_eq!(
                    real.last_used_step().map(|step| step.value()),
                    Some(token.last_used_step),
                    "{context}: {name}'s watermark"
                );
                assert_eq!(
                    real.friendly_device_name(),
                    token.device_name.as_deref(),
                    "{context}: {name}'s device name"
                );
                assert_eq!(real.verified_at(), UnixTime(token.verified_at), "{context}");
                assert_eq!(
                    (record.preference().enabled, record.preference().preferred),
                    (model.enabled, model.preferred),
                    "{context}: {name}'s preference"
                );
            }
            let state = record.lockout();
            assert_eq!(
                effective_failures(state, &lockout, self.now),
                model.failures_at(&lockout, self.now),
                "{context}: {name}'s consecutive failures ({state:?} vs {model:?})"
            );
            assert_eq!(
                state.consecutive_failures() >= lockout.cap,
                model.disabled,
                "{context}: {name} disabled"
            );
            if !model.disabled {
                assert_eq!(
                    state.locked_until().filter(|until| until.0 > self.now),
                    model
                        .locked_until
                        .filter(|&until| until > self.now)
                        .map(UnixTime),
                    "{context}: {name}'s lock"
                );
            }
        }

        assert_eq!(
            self.store.session_count(),
            self.model.sessions.len(),
            "{context}: stored sessions"
        );
        for session in &self.model.sessions {
            let stored =
                SessionStore::get(&self.store, &SessionId::parse(&session.value).unwrap()).unwrap();
            assert_eq!(
                stored,
                Some(SessionRecord {
                    user: UserId::new(USERS[session.user]),
                    purpose: purpose_of(session.purpose),
                    expires_at: UnixTime(session.expires_at),
                    consumed: session.consumed,
                }),
                "{context}: a stored session"
            );
        }
    }

    /// The invariants, from the store alone.
    fn check_invariants(&self) {
        let context = &self.context;
        let cap = self.model.pool.lockout.cap;
        for (user, name) in USERS.iter().enumerate() {
            let Some((record, _)) = self.store.load(&UserId::new(*name)).unwrap() else {
                continue;
            };
            assert!(
                record.lockout().consecutive_failures() <= cap,
                "{context}: {name} has {} consecutive failures, above the cap {cap}",
                record.lockout().consecutive_failures()
            );
            if record.verified().is_some() {
                let capture = Capture(RefCell::new(Vec::new()));
                record.encode(&capture).unwrap();
                let secret = capture.0.into_inner().into_iter().next().unwrap();
                assert!(
                    self.verified_ok[user].contains(&secret),
                    "{context}: {name} has a verified token no Verify accepted"
                );
            }
        }
        for value in &self.issued {
            let swept = !self.model.sessions.iter().any(|s| &s.value == value);
            if swept {
                assert_eq!(
                    SessionStore::get(&self.store, &SessionId::parse(value).unwrap()).unwrap(),
                    None,
                    "{context}: a swept session is gone"
                );
            }
        }
    }
}

struct StateMachine;

impl StateMachineTest for StateMachine {
    type SystemUnderTest = Sut;
    type Reference = Sequences;

    fn init_test(setup: &Setup) -> Sut {
        Sut::new(setup)
    }

    fn apply(mut sut: Sut, setup: &Setup, transition: Transition) -> Sut {
        sut.context = format!(
            "at {} ({}s into step): {transition:?}",
            sut.now,
            sut.now % 30
        );
        let lockout = sut.model.pool.lockout;
        let before: Vec<model::User> = sut.model.users.clone();
        match &transition {
            Transition::Associate(caller) => sut.associate(caller),
            Transition::Verify(caller, code, name) => sut.verify(caller, code, name),
            Transition::SetPreference {
                admin,
                user,
                bad_caller,
                settings,
            } => sut.set_preference(*admin, *user, *bad_caller, *settings),
            Transition::BeginSignIn(user) => {
                sut.begin_sign_in(*user);
            }
            Transition::RespondCode(session, user, code) => sut.respond_code(session, user, code),
            Transition::RespondSetup(session, user) => sut.respond_setup(session, user),
            Transition::AdminDelete(user) => sut.admin_delete(*user),
            Transition::Advance(advance) => sut.advance(advance),
            Transition::SwitchPool(pick) => sut.switch_pool(setup, *pick),
            Transition::Sweep => sut.sweep(),
            Transition::Fault { point, kind, skip } => sut.armed = Some((*point, *kind, *skip)),
            Transition::FaultedSignIn {
                user,
                code,
                point,
                kind,
                retry,
            } => {
                sut.armed = Some((*point, *kind, 1));
                if sut.begin_sign_in(*user) {
                    let (session, answer) = (SessionPick::Fitting(0), UserPick::User(*user));
                    sut.respond_code(&session, &answer, code);
                    match retry {
                        Retry::No => {}
                        Retry::AtOnce => sut.respond_code(&session, &answer, code),
                        Retry::After(advance) => {
                            sut.advance(advance);
                            sut.respond_code(&session, &answer, code);
                        }
                    }
                }
                sut.armed = None;
            }
            Transition::FaultedEnrol {
                user,
                point,
                kind,
                skip,
            } => {
                sut.armed = Some((*point, *kind, *skip));
                sut.enrol(*user, true, (true, true));
                sut.armed = None;
            }
            Transition::Enrol {
                user,
                via_session,
                settings,
            } => sut.enrol(*user, *via_session, *settings),
            Transition::SignIn(user, code) => {
                if sut.begin_sign_in(*user) {
                    sut.respond_code(&SessionPick::Fitting(0), &UserPick::User(*user), code);
                }
            }
            Transition::Hammer {
                user,
                count,
                at_verify,
            } => {
                for _ in 0..*count {
                    sut.advance(&Advance::PastLock(*user, 0));
                    // Where a wrong code counts: at Verify when something is pending and
                    // either nothing is verified or the generator chose Verify.
                    let record = &sut.model.users[*user];
                    let at_verify =
                        record.pending.is_some() && (*at_verify || record.verified.is_none());
                    if at_verify {
                        sut.verify(
                            &CallerPick::Token(*user),
                            &CodePick::Wrong,
                            &NamePick::Absent,
                        );
                    } else if sut.begin_sign_in(*user) {
                        sut.respond_code(
                            &SessionPick::Fitting(0),
                            &UserPick::User(*user),
                            &CodePick::Wrong,
                        );
                    }
                }
            }
        }
        for (user, was) in sut.model.users.iter().zip(&before) {
            if user.locked_until != was.locked_until && user.locked_until.is_some() {
                tally("a lock started");
            }
            if user.disabled && !was.disabled {
                tally("a token was disabled");
            }
            if was.disabled && !user.disabled && user.pending.is_some() {
                tally("associate: dropped a disabled token");
            }
            if was.failures > 0 && !was.disabled && was.failures_at(&lockout, sut.now) == 0 {
                tally("a quiet period passed after failures");
            }
        }
        sut.check_state();
        sut
    }

    fn check_invariants(sut: &Sut, _: &Setup) {
        sut.check_invariants();
    }
}

/// 2,000 sequences unless `PROPTEST_CASES` says otherwise; the seed is fixed so every run
/// checks the same sequences, and shrunk failures are kept next to this file (and replayed
/// first on every run).
fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(2_000);
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/state_machine.proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Outcomes every run of at least the default size must reach: a generator change that stops
/// exercising one of them fails the test instead of silently testing less.
const MUST_REACH: &[&str] = &[
    "associate: ok",
    "associate: ok via session",
    "associate: InvalidSession",
    "associate: SessionReused",
    "associate: SessionExpired",
    "associate: PoolOff",
    "associate: InvalidAccessToken",
    "associate: InvalidParameter",
    "associate: dropped a disabled token",
    "associate: a live MFA_SETUP session of an enrolled user",
    "verify: ok",
    "verify: ok via session",
    "verify: ok replacing a verified token",
    "verify: VerifyMismatch",
    "verify: NothingPending",
    "verify: Locked",
    "verify: Disabled",
    "verify: InvalidParameter",
    "verify: PoolOff",
    "verify: SessionReused",
    "verify: SessionExpired",
    "verify: InvalidSession",
    "begin sign-in: SOFTWARE_TOKEN_MFA",
    "begin sign-in: MFA_SETUP",
    "begin sign-in: none",
    "respond SOFTWARE_TOKEN_MFA: ok",
    "respond SOFTWARE_TOKEN_MFA: CodeMismatch",
    "respond SOFTWARE_TOKEN_MFA: Replayed",
    "respond SOFTWARE_TOKEN_MFA: Locked",
    "respond SOFTWARE_TOKEN_MFA: Disabled",
    "respond SOFTWARE_TOKEN_MFA: NoVerifiedToken",
    "respond SOFTWARE_TOKEN_MFA: InvalidSession",
    "respond SOFTWARE_TOKEN_MFA: SessionExpired",
    "respond SOFTWARE_TOKEN_MFA: SessionReused",
    "respond SOFTWARE_TOKEN_MFA: InvalidParameter",
    "respond MFA_SETUP: ok",
    "respond MFA_SETUP: SessionReused",
    "respond MFA_SETUP: InvalidSession",
    "SetUserMFAPreference: ok",
    "SetUserMFAPreference: NotSetUp",
    "SetUserMFAPreference: NotVerified",
    "AdminSetUserMFAPreference: ok",
    "AdminSetUserMFAPreference: AdminNotSetUp",
    "a lock started",
    "a token was disabled",
    "a quiet period passed after failures",
    "sweep removed sessions",
    // Store faults: every point fails with every kind somewhere, and each operation meets a
    // fault at every call it makes (by point), or passes an armed point it does not call.
    "fault fired: load Error",
    "fault fired: load Timeout",
    "fault fired: load ReplyLost",
    "fault fired: compare_and_swap Error",
    "fault fired: compare_and_swap Timeout",
    "fault fired: compare_and_swap ReplyLost",
    "fault fired: put Error",
    "fault fired: put Timeout",
    "fault fired: put ReplyLost",
    "fault fired: get Error",
    "fault fired: get Timeout",
    "fault fired: get ReplyLost",
    "fault fired: consume Error",
    "fault fired: consume Timeout",
    "fault fired: consume ReplyLost",
    "fault not reached: Load",
    "fault not reached: CompareAndSwap",
    "fault not reached: Put",
    "fault not reached: Get",
    "fault not reached: Consume",
    "associate: fault at get",
    "associate: fault at load",
    "associate: fault at consume",
    "associate: fault at compare_and_swap",
    "associate: fault at put",
    "verify: fault at get",
    "verify: fault at load",
    "verify: fault at compare_and_swap",
    "verify: fault at consume",
    "verify: fault at put",
    "respond SOFTWARE_TOKEN_MFA: fault at get",
    "respond SOFTWARE_TOKEN_MFA: fault at load",
    "respond SOFTWARE_TOKEN_MFA: fault at compare_and_swap",
    "respond SOFTWARE_TOKEN_MFA: fault at consume",
    "respond MFA_SETUP: fault at get",
    "respond MFA_SETUP: fault at load",
    "respond MFA_SETUP: fault at consume",
    "begin sign-in: fault at load",
    "begin sign-in: fault at put",
    "SetUserMFAPreference: fault at load",
    "SetUserMFAPreference: fault at compare_and_swap",
    "AdminSetUserMFAPreference: fault at load",
    "AdminSetUserMFAPreference: fault at compare_and_swap",
    "AdminDeleteSoftwareToken: fault at load",
    "AdminDeleteSoftwareToken: fault at compare_and_swap",
    // …and what a fault leaves behind is what the next operations meet.
    "associate: a pending secret nobody was told",
    "a session stored, its reply lost",
    "verify: a step burned, the reply lost",
    "respond SOFTWARE_TOKEN_MFA: a step burned, the reply lost",
    "respond SOFTWARE_TOKEN_MFA: Replayed on a session whose step a fault burned",
    "respond SOFTWARE_TOKEN_MFA: SessionReused on a session whose step a fault burned",
    "respond SOFTWARE_TOKEN_MFA: ok on a session whose step a fault burned",
];

/// The service and the model agree on every response, view, session and record, and the
/// invariants hold, over random sequences of 1 to 39 operations.
///
/// The runner is spelled out (rather than `prop_state_machine!`) so that, after the run, the
/// test can check which outcomes the sequences reached.
#[test]
fn the_service_behaves_as_the_model() {
    let config = config();
    let cases = config.cases;
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &Sequences::sequential_strategy(1..40),
        |(setup, transitions, seen)| {
            StateMachine::test_sequential(config.clone(), setup, transitions, seen);
            Ok(())
        },
    );
    if let Err(error) = result {
        panic!("{error}");
    }
    let tally = TALLY.with(|tally| tally.borrow().clone());
    eprintln!("{cases} sequences; outcomes reached:");
    for (outcome, count) in &tally {
        eprintln!("{count:>8}  {outcome}");
    }
    let missing: Vec<&&str> = MUST_REACH
        .iter()
        .filter(|outcome| !tally.contains_key(**outcome))
        .collect();
    assert!(
        cases < 2_000 || missing.is_empty(),
        "the sequences never reached {missing:?}"
    );
}
