//! A reference model of the Cognito software-token lifecycle, written from DESIGN.md §2–§4 and
//! the documented decisions where DESIGN is silent — not from `src/lifecycle.rs`. It is meant
//! to be read top to bottom and believed: plain data, one function per operation, checks in
//! the order a request meets them (request form, pool, caller, record, lock, code).
//!
//! It computes TOTP codes itself (RFC 6238 on the `hmac` crate) from the raw secret bytes the
//! real service handed out in its AssociateSoftwareToken response, so it knows the right code
//! for every secret at every time without asking the crate.
//!
//! Decisions DESIGN.md leaves open that the model takes (each one is documented behaviour of
//! the crate; `tests/state_machine.rs` lists them too):
//! - five free consecutive failures, then locks of `first` seconds doubling to `max`; the
//!   count resets on success or after `quiet` seconds counted from max(last failure, lock
//!   end); at `cap` consecutive failures the token is disabled until associated again;
//! - a disabled token is dropped by the next association (either policy); association beside a
//!   live verified token keeps the failure count, association with no verified token left
//!   restarts it (the only secret guessed at is replaced);
//! - an MFA_SETUP session is refused by Associate once the user has a verified token;
//! - of two window steps sharing a code the highest fresh one is recorded;
//! - a session is consumed only by the call that succeeds with it;
//! - a code of 7 or 8 ASCII digits passes the request edge and is refused as malformed once the
//!   record is loaded (after the caller is resolved), since a pool may change its digit count;
//! - Verify with nothing pending says "Software Token MFA does not exist for the user.";
//! - an operation writes the record only when it changes it (a success, a counted failure, an
//!   association, a changed preference, a delete of an existing record): a refusal, a replay
//!   or an unchanged preference makes no compare-and-swap.
//!
//! Store faults ([`Calls`]): each operation names the store calls it needs in DESIGN.md's
//! order, and a fault armed for the first call to one point ends it with the store error,
//! keeping the writes before that call (and the faulted write itself when only its reply was
//! lost).

#![allow(dead_code)] // each test binary uses its own part of the model

use hmac::{KeyInit, Mac};

/// Cognito's TOTP step.
pub const STEP_SECS: u64 = 30;
/// The longest FriendlyDeviceName, in characters.
pub const MAX_DEVICE_NAME_CHARS: usize = 131_072;
/// `UserMFASettingList` / `PreferredMfaSetting` value.
pub const SOFTWARE_TOKEN_MFA: &str = "SOFTWARE_TOKEN_MFA";

/// RFC 4226 HOTP with HMAC-SHA1, 6 digits, at `counter`, the slow obvious way.
#[must_use]
pub fn hotp(key: &[u8], counter: u64) -> String {
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let word = u32::from_be_bytes([
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]) & 0x7fff_ffff;
    format!("{:06}", word % 1_000_000)
}

/// RFC 6238 step of a time (T0 = 0, 30 s).
#[must_use]
pub const fn step_of(now: u64) -> u64 {
    now / STEP_SECS
}

/// The code of `key` at `step`.
#[must_use]
pub fn code_at_step(key: &[u8], step: u64) -> String {
    hotp(key, step)
}

/// Whether a submitted code passes the request edge: 6 to 8 ASCII digits (RFC 4226's range).
/// The edge cannot know the token's digit count; see [`right_length`].
#[must_use]
pub fn edge_form(code: &str) -> bool {
    (6..=8).contains(&code.chars().count()) && code.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a code that passed the edge has the token's length (six digits, Cognito's only
/// length). Checked once the record is loaded, before anything else about the token, so a
/// pool may change its digit count without stranding tokens enrolled under the old one.
#[must_use]
pub fn right_length(code: &str) -> bool {
    code.len() == 6
}

/// The steps of the window around `now` (T-1, T, T+1) whose code is `code`, highest first.
#[must_use]
pub fn matching_steps(key: &[u8], code: &str, now: u64) -> Vec<u64> {
    let t = step_of(now);
    let mut steps = vec![t + 1, t];
    if let Some(previous) = t.checked_sub(1) {
        steps.push(previous);
    }
    steps.retain(|&step| code_at_step(key, step) == code);
    steps
}

/// The pool's MFA mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No challenge.
    Off,
    /// Challenged when the user enabled the factor.
    Optional,
    /// Everyone: SOFTWARE_TOKEN_MFA with a verified token, else MFA_SETUP.
    On,
}

/// The lockout numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failures before the first lock.
    pub free: u32,
    /// The first lock, seconds.
    pub first: u64,
    /// The longest lock, seconds.
    pub max: u64,
    /// Quiet seconds (after the last failure and the end of the lock) that reset the count.
    pub quiet: u64,
    /// Consecutive failures that disable the token.
    pub cap: u32,
}

impl Lockout {
    /// DESIGN.md: 5 free, 1 s doubling to 15 minutes, 15 quiet minutes, 100 disables.
    pub const DEFAULT: Lockout = Lockout {
        free: 5,
        first: 1,
        max: 900,
        quiet: 900,
        cap: 100,
    };

    /// The lock the `failures`-th consecutive failure imposes, in seconds (0: none).
    #[must_use]
    pub fn lock_for(&self, failures: u32) -> u64 {
        if failures <= self.free {
            return 0;
        }
        let doublings = failures - self.free - 1;
        let mut lock = self.first;
        for _ in 0..doublings {
            lock = lock.saturating_mul(2);
            if lock >= self.max {
                return self.max;
            }
        }
        lock.min(self.max)
    }
}

/// The pool configuration the model decides with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Software-token MFA enabled for the pool.
    pub software_tokens: bool,
    /// MFA mode.
    pub mode: Mode,
    /// AuthSessionValidity, seconds.
    pub session_secs: u64,
    /// Lockout numbers.
    pub lockout: Lockout,
    /// `ReplaceImmediately` (else `KeepUntilVerified`).
    pub replace_immediately: bool,
}

/// Why the model expects a call to be refused: the Cognito exception and, where DESIGN.md
/// gives one, its exact message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A malformed request member (code form, principal, device name, username).
    InvalidParameter,
    /// The pool has software-token MFA off.
    PoolOff,
    /// The resolver did not know the access token.
    InvalidAccessToken,
    /// Verify with nothing pending.
    NothingPending,
    /// Verify with a wrong code.
    VerifyMismatch,
    /// Sign-in with a wrong code.
    CodeMismatch,
    /// Sign-in with a code of a used step.
    Replayed,
    /// A challenge answered for a user with no verified token.
    NoVerifiedToken,
    /// SetUserMFAPreference enabling with nothing associated.
    NotSetUp,
    /// AdminSetUserMFAPreference enabling with nothing associated.
    AdminNotSetUp,
    /// Enabling with a token associated but not verified.
    NotVerified,
    /// Unknown session, wrong purpose or user.
    InvalidSession,
    /// Session past its validity.
    SessionExpired,
    /// Session already used by a successful call.
    SessionReused,
    /// Locked out until then.
    Locked {
        /// The end of the lock.
        until: u64,
    },
    /// Disabled by the hard cap.
    Disabled,
    /// A store call failed (or its reply was lost): the operation fails closed.
    Store,
}

impl Refusal {
    /// The Cognito exception name (DESIGN.md §3).
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Refusal::InvalidParameter
            | Refusal::NotSetUp
            | Refusal::AdminNotSetUp
            | Refusal::NotVerified => "InvalidParameterException",
            Refusal::PoolOff | Refusal::NothingPending | Refusal::NoVerifiedToken => {
                "SoftwareTokenMFANotFoundException"
            }
            Refusal::InvalidAccessToken
            | Refusal::InvalidSession
            | Refusal::SessionExpired
            | Refusal::SessionReused
            | Refusal::Locked { .. }
            | Refusal::Disabled => "NotAuthorizedException",
            Refusal::VerifyMismatch => "EnableSoftwareTokenMFAException",
            Refusal::CodeMismatch => "CodeMismatchException",
            Refusal::Replayed => "ExpiredCodeException",
            Refusal::Store => "InternalErrorException",
        }
    }

    /// The exact message DESIGN.md §3 gives (None: the message is free).
    #[must_use]
    pub const fn message(self) -> Option<&'static str> {
        Some(match self {
            Refusal::InvalidParameter | Refusal::Store => return None,
            Refusal::PoolOff => "Software Token MFA has not been enabled by the userPool.",
            Refusal::InvalidAccessToken => "Invalid Access Token",
            // DESIGN.md gives this wording for the sign-in case; Verify with nothing pending
            // says the same thing about the same state.
            Refusal::NothingPending | Refusal::NoVerifiedToken => {
                "Software Token MFA does not exist for the user."
            }
            Refusal::VerifyMismatch => "Code mismatch and fail enable Software Token MFA",
            Refusal::CodeMismatch => "Invalid code received for user",
            Refusal::Replayed => "Your software token has already been used once.",
            Refusal::NotSetUp => "User has not set up software token mfa",
            Refusal::AdminNotSetUp => {
                "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA"
            }
            Refusal::NotVerified => "User has not verified software token mfa",
            Refusal::InvalidSession => "Invalid session for the user.",
            Refusal::SessionExpired => "Invalid session for the user, session is expired.",
            Refusal::SessionReused => {
                "Invalid session for the user, session can only be used once."
            }
            Refusal::Locked { .. } => {
                "Too many failed attempts to present a software token code. Try again later."
            }
            Refusal::Disabled => {
                "Software token disabled after too many failed attempts; an administrator must reset it."
            }
        })
    }
}

/// A verified token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The raw secret.
    pub secret: Vec<u8>,
    /// FriendlyDeviceName given at Verify.
    pub device_name: Option<String>,
    /// When Verify succeeded.
    pub verified_at: u64,
    /// The replay watermark: only later steps are accepted.
    pub last_used_step: u64,
}

/// Everything the model knows about one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// The associated, not yet verified secret.
    pub pending: Option<Vec<u8>>,
    /// The verified token.
    pub verified: Option<Token>,
    /// The user enabled software-token MFA.
    pub enabled: bool,
    /// …and prefers it.
    pub preferred: bool,
    /// Consecutive wrong codes (Verify and sign-in together).
    pub failures: u32,
    /// When the last wrong code was evaluated.
    pub last_failure: Option<u64>,
    /// Codes are refused unevaluated before this time.
    pub locked_until: Option<u64>,
    /// The hard cap was reached.
    pub disabled: bool,
}

impl User {
    /// The failure count as it stands at `now` (zero once the quiet period has passed).
    #[must_use]
    pub fn failures_at(&self, lockout: &Lockout, now: u64) -> u32 {
        if self.disabled {
            return self.failures;
        }
        match self.last_failure.max(self.locked_until) {
            Some(from) if now >= from.saturating_add(lockout.quiet) => 0,
            _ => self.failures,
        }
    }

    fn clear_failures(&mut self) {
        self.failures = 0;
        self.last_failure = None;
        self.locked_until = None;
        self.disabled = false;
    }

    fn drop_verified(&mut self) {
        self.verified = None;
        self.enabled = false;
        self.preferred = false;
    }

    /// May a code be evaluated now? Applies a quiet-period reset.
    fn admit(&mut self, lockout: &Lockout, now: u64) -> Result<(), Refusal> {
        if self.disabled {
            return Err(Refusal::Disabled);
        }
        if let Some(until) = self.locked_until
            && now < until
        {
            return Err(Refusal::Locked { until });
        }
        if self.failures_at(lockout, now) == 0 {
            self.clear_failures();
        }
        Ok(())
    }

    /// One more wrong code at `now`.
    fn fail(&mut self, lockout: &Lockout, now: u64) {
        self.failures += 1;
        self.last_failure = Some(now);
        let lock = lockout.lock_for(self.failures);
        self.locked_until = (lock > 0).then_some(now + lock);
        if self.failures >= lockout.cap {
            self.disabled = true;
        }
    }
}

/// What a session is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// S1 → AssociateSoftwareToken.
    Associate,
    /// S2 → VerifySoftwareToken.
    Verify,
    /// S3 → RespondToAuthChallenge(MFA_SETUP).
    MfaSetup,
    /// RespondToAuthChallenge(SOFTWARE_TOKEN_MFA).
    SoftwareTokenMfa,
}

/// One issued session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its value, as the real service issued it.
    pub value: String,
    /// Its purpose.
    pub purpose: Purpose,
    /// Its user (index).
    pub user: usize,
    /// First instant it is no longer valid.
    pub expires_at: u64,
    /// A call succeeded with it.
    pub consumed: bool,
}

/// Who a request is from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A valid access token of this user.
    Token(usize),
    /// An access token the resolver does not know.
    BadToken,
    /// A well-formed session value.
    Session(String),
    /// Malformed: both members, neither, or a session of the wrong length.
    Malformed,
}

/// The challenge `begin_sign_in` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// SOFTWARE_TOKEN_MFA with the device name, if the user gave one.
    SoftwareTokenMfa {
        /// FRIENDLY_DEVICE_NAME.
        device_name: Option<String>,
    },
    /// MFA_SETUP (MFAS_CAN_SETUP = `["SOFTWARE_TOKEN_MFA"]`).
    MfaSetup,
}

/// A code accepted: by whom, which secret, which step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The user.
    pub user: usize,
    /// The secret whose code it was.
    pub secret: Vec<u8>,
    /// The step recorded.
    pub step: u64,
}

/// The MFA part of GetUser: (`UserMFASettingList`, `PreferredMfaSetting`).
pub type View = (Option<Vec<String>>, Option<String>);

/// A store call a fault can be injected into (DESIGN.md §5; `sweep` is not modelled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// `TokenStore::load`.
    Load,
    /// `TokenStore::compare_and_swap`.
    CompareAndSwap,
    /// `SessionStore::put`.
    Put,
    /// `SessionStore::get`.
    Get,
    /// `SessionStore::consume`.
    Consume,
}

impl Point {
    /// Every point.
    pub const ALL: [Point; 5] = [
        Point::Load,
        Point::CompareAndSwap,
        Point::Put,
        Point::Get,
        Point::Consume,
    ];
}

/// How a faulted call fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// Refused: nothing happened.
    Error,
    /// Timed out before reaching the store: nothing happened.
    Timeout,
    /// The call took effect, its reply was lost: a write happened, a read is wasted.
    ReplyLost,
}

/// The store calls one operation makes, as far as DESIGN.md fixes them, with the fault armed
/// for the first call to one point. An operation's model calls [`Calls::read`] and
/// [`Calls::write`] where it needs the store, in the order DESIGN.md gives (reads before the
/// decisions that need them; Associate consumes its session, then writes the record, then
/// issues the next session; a code check writes the record, then consumes its session, then
/// issues the next one). A faulted call ends the operation with the store error: the writes
/// before it happened, a lost-reply write happened too, nothing after it did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Calls {
    armed: Option<(Point, FaultKind)>,
    /// The armed fault was reached.
    pub fired: bool,
}

impl Calls {
    /// No fault.
    #[must_use]
    pub const fn none() -> Calls {
        Calls {
            armed: None,
            fired: false,
        }
    }

    /// The first call to `point` fails with `kind`.
    #[must_use]
    pub const fn failing(point: Point, kind: FaultKind) -> Calls {
        Calls {
            armed: Some((point, kind)),
            fired: false,
        }
    }

    /// The armed fault, if any.
    #[must_use]
    pub const fn armed(&self) -> Option<(Point, FaultKind)> {
        self.armed
    }

    fn hits(&mut self, point: Point) -> Option<FaultKind> {
        match self.armed {
            Some((armed, kind)) if armed == point && !self.fired => {
                self.fired = true;
                Some(kind)
            }
            _ => None,
        }
    }

    /// A read: a faulted one (of any kind) ends the operation with nothing after it done.
    fn read(&mut self, point: Point) -> Result<(), Refusal> {
        match self.hits(point) {
            Some(_) => Err(Refusal::Store),
            None => Ok(()),
        }
    }

    /// A write: whether its effect persists, and whether the operation goes on.
    fn write(&mut self, point: Point) -> (bool, Result<(), Refusal>) {
        match self.hits(point) {
            None => (true, Ok(())),
            Some(kind) => (kind == FaultKind::ReplyLost, Err(Refusal::Store)),
        }
    }
}

/// The whole model: the pool, the users, the sessions.
#[derive(Clone, Debug)]
pub struct Model {
    /// The pool configuration in force.
    pub pool: Pool,
    /// The users, by index.
    pub users: Vec<User>,
    /// Every session issued and not swept, in issue order.
    pub sessions: Vec<Session>,
    /// A step the last operation burned (the record written) although it then failed on a
    /// store fault: the step is used, the caller was not told.
    pub burned: Option<Acceptance>,
}

impl Model {
    /// A model with `users` users who never set anything up.
    #[must_use]
    pub fn new(pool: Pool, users: usize) -> Model {
        Model {
            pool,
            users: vec![User::default(); users],
            sessions: Vec::new(),
            burned: None,
        }
    }

    fn session_index(&self, value: &str) -> Option<usize> {
        self.sessions.iter().position(|s| s.value == value)
    }

    /// The session checks every session-taking call makes, in order: known, of this purpose
    /// (and, when the call names a user, of that user), not expired, not used. Reads the
    /// session first.
    fn check_session(
        &self,
        value: &str,
        purpose: Purpose,
        user: Option<usize>,
        now: u64,
        calls: &mut Calls,
    ) -> Result<usize, Refusal> {
        calls.read(Point::Get)?;
        let index = self.session_index(value).ok_or(Refusal::InvalidSession)?;
        let session = &self.sessions[index];
        if session.purpose != purpose || user.is_some_and(|user| user != session.user) {
            return Err(Refusal::InvalidSession);
        }
        if now >= session.expires_at {
            return Err(Refusal::SessionExpired);
        }
        if session.consumed {
            return Err(Refusal::SessionReused);
        }
        Ok(index)
    }

    fn issue(&mut self, value: Option<&str>, purpose: Purpose, user: usize, now: u64) {
        let value = value.unwrap_or("<the real service issued no session>");
        self.sessions.push(Session {
            value: value.to_owned(),
            purpose,
            user,
            expires_at: now + self.pool.session_secs,
            consumed: false,
        });
    }

    /// Issues a session (a `put`): `issued` is its value, as the real service returned it or,
    /// when the reply was lost, as the test recovered it.
    fn put_session(
        &mut self,
        issued: Option<&str>,
        purpose: Purpose,
        user: usize,
        now: u64,
        calls: &mut Calls,
    ) -> Result<(), Refusal> {
        let (persists, then) = calls.write(Point::Put);
        if persists {
            self.issue(issued, purpose, user, now);
        }
        then
    }

    /// Consumes a session (a conditional write).
    fn consume(&mut self, index: usize, calls: &mut Calls) -> Result<(), Refusal> {
        let (persists, then) = calls.write(Point::Consume);
        if persists {
            self.sessions[index].consumed = true;
        }
        then
    }

    /// Writes `next` as `user`'s record (the compare-and-swap).
    fn store(&mut self, user: usize, next: User, calls: &mut Calls) -> Result<(), Refusal> {
        let (persists, then) = calls.write(Point::CompareAndSwap);
        if persists {
            self.users[user] = next;
        }
        then
    }

    /// Writes `next`, which burns `acceptance`'s step, as `user`'s record.
    fn store_burning(
        &mut self,
        user: usize,
        next: User,
        acceptance: &Acceptance,
        calls: &mut Calls,
    ) -> Result<(), Refusal> {
        let (persists, then) = calls.write(Point::CompareAndSwap);
        if !persists {
            return then;
        }
        self.users[user] = next;
        self.after_burn(acceptance, then)
    }

    /// After the record burning `acceptance` was written: a later fault leaves the step
    /// burned and the caller untold.
    fn after_burn(
        &mut self,
        acceptance: &Acceptance,
        result: Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        if result.is_err() {
            self.burned = Some(acceptance.clone());
        }
        result
    }

    /// AssociateSoftwareToken. `secret` is what the real service returned, or (its reply
    /// lost) the pending secret it stored; `issued` its new session. Returns whether a session
    /// is issued.
    ///
    /// # Errors
    /// The refusal the model expects.
    pub fn associate(
        &mut self,
        caller: &Caller,
        now: u64,
        secret: &[u8],
        issued: Option<&str>,
        calls: &mut Calls,
    ) -> Result<bool, Refusal> {
        if *caller == Caller::Malformed {
            return Err(Refusal::InvalidParameter);
        }
        if !self.pool.software_tokens {
            return Err(Refusal::PoolOff);
        }
        let (user, session) = match caller {
            Caller::Token(user) => (*user, None),
            Caller::BadToken => return Err(Refusal::InvalidAccessToken),
            Caller::Session(value) => {
                let index = self.check_session(value, Purpose::Associate, None, now, calls)?;
                let user = self.sessions[index].user;
                calls.read(Point::Load)?;
                if self.users[user].verified.is_some() {
                    // A stale MFA_SETUP session cannot swap a token enrolled meanwhile.
                    return Err(Refusal::InvalidSession);
                }
                (user, Some(index))
            }
            Caller::Malformed => return Err(Refusal::InvalidParameter),
        };
        match session {
            // Consumed first, then the secret written (DESIGN.md §3).
            Some(index) => self.consume(index, calls)?,
            None => calls.read(Point::Load)?,
        }
        let mut record = self.users[user].clone();
        if record.disabled {
            // The guessed-at token stays dead; the new secret starts a fresh count.
            record.drop_verified();
            record.clear_failures();
        } else if self.pool.replace_immediately {
            record.drop_verified();
        }
        if record.verified.is_none() {
            // No live token left to guess at: the count restarts with the new secret.
            record.clear_failures();
        }
        record.pending = Some(secret.to_vec());
        self.store(user, record, calls)?;
        if session.is_some() {
            self.put_session(issued, Purpose::Verify, user, now, calls)?;
        }
        Ok(session.is_some())
    }

    /// VerifySoftwareToken. Returns the acceptance and whether a session is issued.
    ///
    /// # Errors
    /// The refusal the model expects.
    pub fn verify(
        &mut self,
        caller: &Caller,
        code: &str,
        device_name: Option<&str>,
        now: u64,
        issued: Option<&str>,
        calls: &mut Calls,
    ) -> Result<(Acceptance, bool), Refusal> {
        if *caller == Caller::Malformed
            || !edge_form(code)
            || device_name.is_some_and(|name| name.chars().count() > MAX_DEVICE_NAME_CHARS)
        {
            return Err(Refusal::InvalidParameter);
        }
        if !self.pool.software_tokens {
            return Err(Refusal::PoolOff);
        }
        let (user, session) = match caller {
            Caller::Token(user) => (*user, None),
            Caller::BadToken => return Err(Refusal::InvalidAccessToken),
            Caller::Session(value) => {
                let index = self.check_session(value, Purpose::Verify, None, now, calls)?;
                (self.sessions[index].user, Some(index))
            }
            Caller::Malformed => return Err(Refusal::InvalidParameter),
        };
        calls.read(Point::Load)?;
        if !right_length(code) {
            return Err(Refusal::InvalidParameter);
        }
        let lockout = self.pool.lockout;
        let mut record = self.users[user].clone();
        let Some(pending) = record.pending.clone() else {
            return Err(Refusal::NothingPending);
        };
        record.admit(&lockout, now)?;
        // No watermark: the pending secret has never been used.
        let Some(&step) = matching_steps(&pending, code, now).first() else {
            record.fail(&lockout, now);
            self.store(user, record, calls)?;
            return Err(Refusal::VerifyMismatch);
        };
        record.verified = Some(Token {
            secret: pending.clone(),
            device_name: device_name.map(str::to_owned),
            verified_at: now,
            last_used_step: step,
        });
        record.pending = None;
        record.clear_failures();
        let acceptance = Acceptance {
            user,
            secret: pending,
            step,
        };
        self.store_burning(user, record, &acceptance, calls)?;
        if let Some(index) = session {
            let consumed = self.consume(index, calls);
            self.after_burn(&acceptance, consumed)?;
            let put = self.put_session(issued, Purpose::MfaSetup, user, now, calls);
            self.after_burn(&acceptance, put)?;
        }
        Ok((acceptance, session.is_some()))
    }

    /// SetUserMFAPreference (`admin == false`, by `caller`'s token) or
    /// AdminSetUserMFAPreference (`admin == true`); `settings` is (Enabled, PreferredMfa).
    /// Writes only a changed preference.
    ///
    /// # Errors
    /// The refusal the model expects.
    pub fn set_preference(
        &mut self,
        admin: bool,
        caller: &Caller,
        settings: Option<(bool, bool)>,
        calls: &mut Calls,
    ) -> Result<(), Refusal> {
        let user = match caller {
            Caller::Token(user) => *user,
            Caller::BadToken => return Err(Refusal::InvalidAccessToken),
            Caller::Session(_) | Caller::Malformed => return Err(Refusal::InvalidParameter),
        };
        let Some((enabled, preferred)) = settings else {
            return Ok(());
        };
        calls.read(Point::Load)?;
        let mut record = self.users[user].clone();
        // Preferring is turning it on too.
        if (enabled || preferred) && record.verified.is_none() {
            return Err(if record.pending.is_some() {
                Refusal::NotVerified
            } else if admin {
                Refusal::AdminNotSetUp
            } else {
                Refusal::NotSetUp
            });
        }
        let preference = (enabled, enabled && preferred);
        if record.verified.is_some() && (record.enabled, record.preferred) != preference {
            (record.enabled, record.preferred) = preference;
            self.store(user, record, calls)?;
        }
        Ok(())
    }

    /// The challenge after a correct password (never refused, lock or not; only a store
    /// fault fails it). `issued` is the real service's session.
    ///
    /// # Errors
    /// Only [`Refusal::Store`].
    pub fn begin_sign_in(
        &mut self,
        user: usize,
        now: u64,
        issued: Option<&str>,
        calls: &mut Calls,
    ) -> Result<Option<Challenge>, Refusal> {
        calls.read(Point::Load)?;
        let record = &self.users[user];
        let challenge = match (self.pool.mode, &record.verified) {
            (Mode::Off, _) => None,
            (Mode::Optional, Some(token)) if record.enabled => Some(Challenge::SoftwareTokenMfa {
                device_name: token.device_name.clone(),
            }),
            (Mode::Optional, _) => None,
            (Mode::On, Some(token)) => Some(Challenge::SoftwareTokenMfa {
                device_name: token.device_name.clone(),
            }),
            (Mode::On, None) => Some(Challenge::MfaSetup),
        };
        match challenge {
            Some(Challenge::MfaSetup) => {
                self.put_session(issued, Purpose::Associate, user, now, calls)?;
            }
            Some(Challenge::SoftwareTokenMfa { .. }) => {
                self.put_session(issued, Purpose::SoftwareTokenMfa, user, now, calls)?;
            }
            None => {}
        }
        Ok(challenge)
    }

    /// RespondToAuthChallenge(SOFTWARE_TOKEN_MFA) as `username` (index; `None`: a malformed
    /// user name).
    ///
    /// # Errors
    /// The refusal the model expects.
    pub fn respond_software_token_mfa(
        &mut self,
        session: &str,
        username: Option<usize>,
        code: &str,
        now: u64,
        calls: &mut Calls,
    ) -> Result<Acceptance, Refusal> {
        let Some(user) = username else {
            return Err(Refusal::InvalidParameter);
        };
        if !edge_form(code) {
            return Err(Refusal::InvalidParameter);
        }
        let index =
            self.check_session(session, Purpose::SoftwareTokenMfa, Some(user), now, calls)?;
        calls.read(Point::Load)?;
        if !right_length(code) {
            return Err(Refusal::InvalidParameter);
        }
        let lockout = self.pool.lockout;
        let mut record = self.users[user].clone();
        let Some(token) = record.verified.clone() else {
            return Err(Refusal::NoVerifiedToken);
        };
        record.admit(&lockout, now)?;
        let matching = matching_steps(&token.secret, code, now);
        // Highest first: the first fresh one is the highest fresh one.
        let fresh = matching.iter().find(|&&step| step > token.last_used_step);
        match (fresh, matching.is_empty()) {
            (Some(&step), _) => {
                if let Some(verified) = record.verified.as_mut() {
                    verified.last_used_step = step;
                }
                record.clear_failures();
                let acceptance = Acceptance {
                    user,
                    secret: token.secret,
                    step,
                };
                // The step is burned first, then the session consumed (DESIGN.md §3).
                self.store_burning(user, record, &acceptance, calls)?;
                let consumed = self.consume(index, calls);
                self.after_burn(&acceptance, consumed)?;
                Ok(acceptance)
            }
            (None, false) => Err(Refusal::Replayed),
            (None, true) => {
                record.fail(&lockout, now);
                self.store(user, record, calls)?;
                Err(Refusal::CodeMismatch)
            }
        }
    }

    /// RespondToAuthChallenge(MFA_SETUP) as `username`: no code, Verify proved possession.
    ///
    /// # Errors
    /// The refusal the model expects.
    pub fn respond_mfa_setup(
        &mut self,
        session: &str,
        username: Option<usize>,
        now: u64,
        calls: &mut Calls,
    ) -> Result<(), Refusal> {
        let Some(user) = username else {
            return Err(Refusal::InvalidParameter);
        };
        let index = self.check_session(session, Purpose::MfaSetup, Some(user), now, calls)?;
        calls.read(Point::Load)?;
        if self.users[user].verified.is_none() {
            return Err(Refusal::NoVerifiedToken);
        }
        self.consume(index, calls)?;
        Ok(())
    }

    /// AdminDeleteSoftwareToken: token, pending secret, preference and counters go (a write
    /// only when there is a record: a pending or verified secret).
    ///
    /// # Errors
    /// Only [`Refusal::Store`].
    pub fn admin_delete(&mut self, user: usize, calls: &mut Calls) -> Result<(), Refusal> {
        calls.read(Point::Load)?;
        let record = &self.users[user];
        if record.pending.is_some() || record.verified.is_some() {
            self.store(user, User::default(), calls)?;
        }
        Ok(())
    }

    /// The MFA view of GetUser/AdminGetUser.
    #[must_use]
    pub fn view(&self, user: usize) -> View {
        let record = &self.users[user];
        if record.verified.is_none() {
            return (None, None);
        }
        (
            record.enabled.then(|| vec![SOFTWARE_TOKEN_MFA.to_owned()]),
            record.preferred.then(|| SOFTWARE_TOKEN_MFA.to_owned()),
        )
    }

    /// Removes sessions expired at `now`; returns how many.
    pub fn sweep(&mut self, now: u64) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|session| session.expires_at > now);
        before - self.sessions.len()
    }
}
