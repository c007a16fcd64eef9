//! Store faults (issue 7; DESIGN.md §3 sessions' order of effects, §4 fail closed, §5 store
//! contract): every operation, at every store call it makes, under every fault kind (error,
//! timeout, the write happened but the reply was lost) fails closed — it returns the store
//! error and makes no further store call; nothing is accepted; a wrong code is either counted
//! in the store or answered with an error that accepted nothing; a session is never both
//! consumed and usable again; a code whose acceptance was written is never accepted again. Once
//! the faults stop, the next operations behave as DESIGN.md says, down to the exact Cognito
//! error.
//!
//! Each operation is first run fault-free through a counting `FaultyStore`; its calls, in order,
//! are asserted (the order of effects is part of the contract), and then every one of them is
//! failed in turn with each kind, each time on a fresh store built by the same deterministic
//! setup (explicit time, seeded RNG). `covered_fault_points` asserts the total.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use common::{Resolver, START, code_at, resolve, wrong_code};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest, ChallengeName,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    SignInChallenge, VerifySoftwareTokenRequest,
};
use softtoken::store::faults::{Fault, FaultKind, FaultPoint, FaultyStore};
use softtoken::store::{SessionRecord, SessionStore};
use softtoken::{
    AsyncService, Error, MemoryStore, MfaMode, MfaView, PoolConfig, Secret, Service, SessionId,
    SoftwareTokenMfaSettings, TokenRecord, TokenStore, UnixTime, UserId,
};

use FaultPoint::{CompareAndSwap as Cas, Consume, Get, Load, Put, Sweep};

const USER: &str = "alice";

type Faulty = FaultyStore<MemoryStore>;

/// The `ON` pool (every user with a verified token is challenged, others get MFA_SETUP).
fn pool() -> PoolConfig {
    PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap()
}

/// A service on a `FaultyStore` around a fresh `MemoryStore`, at `START`, with a seeded RNG.
struct Fx {
    faults: Faulty,
    service: Service<Faulty, Faulty, Resolver>,
    rng: ChaCha20Rng,
    now: UnixTime,
}

impl Fx {
    fn new() -> Fx {
        let faults = FaultyStore::new(MemoryStore::new());
        Fx {
            service: Service::new(faults.clone(), faults.clone(), resolve as Resolver, pool()),
            faults,
            rng: ChaCha20Rng::seed_from_u64(0xfa17),
            now: START,
        }
    }

    // What the store really holds, read past the fault injector.

    fn store(&self) -> &MemoryStore {
        self.faults.inner()
    }

    fn record(&self) -> Option<TokenRecord> {
        TokenStore::load(self.store(), &UserId::new(USER))
            .unwrap()
            .map(|(record, _)| record)
    }

    fn failures(&self) -> u32 {
        self.record()
            .map_or(0, |record| record.lockout().consecutive_failures())
    }

    fn is_verified(&self) -> bool {
        self.record()
            .is_some_and(|record| record.verified().is_some())
    }

    fn is_pending(&self) -> bool {
        self.record()
            .is_some_and(|record| record.pending().is_some())
    }

    /// The replay watermark (`last_used_step`).
    fn watermark(&self) -> Option<u64> {
        self.record()
            .and_then(|record| record.verified()?.last_used_step())
            .map(|step| step.0)
    }

    fn session(&self, session: &SessionId) -> SessionRecord {
        SessionStore::get(self.store(), session)
            .unwrap()
            .expect("the session is stored")
    }

    fn step(&self) -> u64 {
        self.now.0 / 30
    }

    fn next_step(&mut self) {
        self.now = UnixTime((self.now.0 / 30 + 1) * 30);
    }

    fn code(secret: &Secret, fx: &Fx) -> String {
        code_at(secret, fx.now)
    }

    // The operations, through the faulty store.

    fn associate_token(&mut self) -> Result<Secret, Error> {
        let request = AssociateSoftwareTokenRequest {
            access_token: Some(format!("token-{USER}")),
            session: None,
        };
        let response = self
            .service
            .associate_software_token(&request, self.now, &mut self.rng)
            .into_result()?;
        assert!(response.session.is_none());
        Ok(Secret::from_base32(response.secret_code.expose()).unwrap())
    }

    fn associate_session(&mut self, session: &SessionId) -> Result<(Secret, SessionId), Error> {
        let request = AssociateSoftwareTokenRequest {
            access_token: None,
            session: Some(session.expose().to_owned()),
        };
        let response = self
            .service
            .associate_software_token(&request, self.now, &mut self.rng)
            .into_result()?;
        Ok((
            Secret::from_base32(response.secret_code.expose()).unwrap(),
            response.session.expect("a session on the session path"),
        ))
    }

    fn verify_token(&mut self, code: &str) -> Result<(), Error> {
        let request = VerifySoftwareTokenRequest {
            access_token: Some(format!("token-{USER}")),
            session: None,
            user_code: code.to_owned(),
            friendly_device_name: Some("phone".to_owned()),
        };
        let response = self
            .service
            .verify_software_token(&request, self.now, &mut self.rng)
            .into_result()?;
        assert!(response.session.is_none());
        Ok(())
    }

    fn verify_session(&mut self, session: &SessionId, code: &str) -> Result<SessionId, Error> {
        let request = VerifySoftwareTokenRequest {
            access_token: None,
            session: Some(session.expose().to_owned()),
            user_code: code.to_owned(),
            friendly_device_name: Some("phone".to_owned()),
        };
        let response = self
            .service
            .verify_software_token(&request, self.now, &mut self.rng)
            .into_result()?;
        Ok(response.session.expect("a session on the session path"))
    }

    fn set_preference(&self) -> Result<(), Error> {
        let request = SetUserMfaPreferenceRequest {
            access_token: format!("token-{USER}"),
            software_token_mfa_settings: Some(on()),
        };
        self.service
            .set_user_mfa_preference(&request, self.now)
            .into_result()
    }

    fn admin_set_preference(&self) -> Result<(), Error> {
        let request = AdminSetUserMfaPreferenceRequest {
            username: USER.to_owned(),
            software_token_mfa_settings: Some(on()),
        };
        self.service
            .admin_set_user_mfa_preference(&request, self.now)
            .into_result()
    }

    fn begin(&mut self) -> Result<Option<SignInChallenge>, Error> {
        self.service
            .begin_sign_in(&UserId::new(USER), self.now, &mut self.rng)
            .into_result()
    }

    /// Begins a sign-in, fault-free, expecting `expected`; its session.
    fn challenge(&mut self, expected: ChallengeName) -> SessionId {
        let challenge = self.begin().unwrap().expect("a challenge");
        assert_eq!(challenge.challenge_name, expected);
        challenge.session
    }

    fn respond(&self, session: &SessionId, code: &str) -> Result<(), Error> {
        let request = RespondToSoftwareTokenMfaRequest {
            session: session.expose().to_owned(),
            username: USER.to_owned(),
            software_token_mfa_code: code.to_owned(),
        };
        let authenticated = self
            .service
            .respond_to_software_token_mfa(&request, self.now)
            .into_result()?;
        assert_eq!(authenticated.user, UserId::new(USER));
        Ok(())
    }

    fn respond_setup(&self, session: &SessionId) -> Result<(), Error> {
        let request = RespondToMfaSetupRequest {
            session: session.expose().to_owned(),
            username: USER.to_owned(),
        };
        let authenticated = self
            .service
            .respond_to_mfa_setup(&request, self.now)
            .into_result()?;
        assert_eq!(authenticated.user, UserId::new(USER));
        Ok(())
    }

    fn admin_delete(&self) -> Result<(), Error> {
        self.service
            .admin_delete_software_token(USER, self.now)
            .into_result()
    }

    fn get_user(&self) -> Result<MfaView, Error> {
        self.service.get_user(&format!("token-{USER}"))
    }

    fn admin_get_user(&self) -> Result<MfaView, Error> {
        self.service.admin_get_user(USER)
    }

    fn sweep(&self) -> Result<usize, Error> {
        self.service.sweep_sessions(self.now)
    }

    // Fault-free set-ups.

    /// Associate and verify on the access-token path; returns the secret and the step the
    /// verify burned, moved to the start of the next step.
    fn enrol(&mut self) -> (Secret, u64) {
        let secret = self.associate_token().unwrap();
        let code = Fx::code(&secret, self);
        self.verify_token(&code).unwrap();
        let step = self.step();
        assert_eq!(self.watermark(), Some(step));
        self.next_step();
        (secret, step)
    }

    /// The MFA_SETUP chain from S1 to the end, fault-free, all succeeding; the secret.
    fn complete_setup_chain(&mut self, s1: &SessionId) -> Secret {
        let (secret, s2) = self.associate_session(s1).unwrap();
        let code = Fx::code(&secret, self);
        let s3 = self.verify_session(&s2, &code).unwrap();
        self.respond_setup(&s3).unwrap();
        refused(self.respond_setup(&s3), &Error::SessionReused, "S3 twice");
        assert!(self.is_verified());
        assert_eq!(self.watermark(), Some(self.step()));
        secret
    }
}

fn on() -> SoftwareTokenMfaSettings {
    SoftwareTokenMfaSettings {
        enabled: true,
        preferred_mfa: true,
    }
}

fn mfa_on() -> MfaView {
    MfaView {
        user_mfa_setting_list: Some(vec!["SOFTWARE_TOKEN_MFA".to_owned()]),
        preferred_mfa_setting: Some("SOFTWARE_TOKEN_MFA".to_owned()),
    }
}

/// `result` is exactly `expected`: same variant, same Cognito name and message.
#[track_caller]
fn refused<T: core::fmt::Debug>(result: Result<T, Error>, expected: &Error, what: &str) {
    match result {
        Err(error) => {
            assert_eq!(&error, expected, "{what}");
            assert_eq!(error.code(), expected.code(), "{what}");
            assert_eq!(error.to_string(), expected.to_string(), "{what}");
        }
        Ok(value) => panic!("{what}: accepted ({value:?}), expected {expected:?}"),
    }
}

/// What a scenario's set-up hands its operation.
#[derive(Default)]
struct Ctx {
    secret: Option<Secret>,
    session: Option<SessionId>,
    /// The step the enrolment burned.
    enrol_step: u64,
}

impl Ctx {
    fn secret(&self) -> &Secret {
        self.secret.as_ref().unwrap()
    }

    fn session(&self) -> &SessionId {
        self.session.as_ref().unwrap()
    }
}

/// The fault one run injected, and where it fell in the fault-free call sequence.
struct Hit {
    fault: Fault,
    /// Its position in `trace`.
    index: usize,
    trace: Vec<FaultPoint>,
    what: String,
}

impl Hit {
    /// Whether the (first) call to `point` took effect in the store: it ran before the fault,
    /// or it is the faulted call and its write happened although the reply was lost.
    fn done(&self, point: FaultPoint) -> bool {
        self.trace
            .iter()
            .position(|&call| call == point)
            .is_some_and(|at| {
                at < self.index || (at == self.index && self.fault.kind == FaultKind::ReplyLost)
            })
    }
}

/// One operation: a deterministic set-up, the operation, its fault-free answer and store
/// calls, and what must hold after a fault once the faults stop (including recovery).
struct Scenario {
    name: &'static str,
    setup: fn(&mut Fx) -> Ctx,
    op: fn(&mut Fx, &Ctx) -> Result<(), Error>,
    fault_free: Result<(), Error>,
    calls: &'static [FaultPoint],
    after: fn(&mut Fx, &Ctx, &Hit),
}

/// Runs `scenario` fault-free, then once per (call, kind) with that call failed; returns how
/// many fault cases it covered.
fn cover(scenario: &Scenario) -> usize {
    let name = scenario.name;
    let mut fx = Fx::new();
    let ctx = (scenario.setup)(&mut fx);
    fx.faults.reset_log();
    let result = (scenario.op)(&mut fx, &ctx);
    assert_eq!(result, scenario.fault_free, "{name}: fault-free answer");
    let trace = fx.faults.calls();
    assert_eq!(trace, scenario.calls, "{name}: store calls, in order");
    assert!(fx.faults.injected().is_empty());

    let mut covered = 0;
    for (index, &point) in trace.iter().enumerate() {
        let nth = trace[..=index]
            .iter()
            .filter(|&&call| call == point)
            .count();
        for kind in FaultKind::ALL {
            let what = format!("{name}: {kind:?} at call #{index} ({point})");
            let mut fx = Fx::new();
            let ctx = (scenario.setup)(&mut fx);
            fx.faults.reset_log();
            fx.faults.fail_nth(point, nth as u64, kind);
            let result = (scenario.op)(&mut fx, &ctx);
            assert_eq!(
                fx.faults.injected(),
                [Fault { point, kind }],
                "{what}: the fault fired"
            );
            // Fail closed: the store error, and not one store call after it.
            match result {
                Err(Error::Store(error)) => assert_eq!(error, kind.error(point), "{what}"),
                other => panic!("{what}: did not fail closed: {other:?}"),
            }
            assert_eq!(fx.faults.calls(), trace[..=index], "{what}: went on");
            fx.faults.clear();
            let hit = Hit {
                fault: Fault { point, kind },
                index,
                trace: trace.clone(),
                what,
            };
            (scenario.after)(&mut fx, &ctx, &hit);
            assert!(
                fx.faults.injected().len() == 1,
                "{}: faults after clear()",
                hit.what
            );
            covered += 1;
        }
    }
    covered
}

// ---------------------------------------------------------------------------------------------
// The scenarios.

fn associate_token() -> Scenario {
    Scenario {
        name: "AssociateSoftwareToken (access token)",
        setup: |_| Ctx::default(),
        op: |fx, _| fx.associate_token().map(drop),
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, _, hit| {
            let w = &hit.what;
            assert!(!fx.is_verified(), "{w}");
            assert_eq!(fx.is_pending(), hit.done(Cas), "{w}: pending iff written");
            assert_eq!(fx.failures(), 0, "{w}");
            let secret = fx.associate_token().unwrap();
            let code = Fx::code(&secret, fx);
            fx.verify_token(&code).unwrap();
            assert_eq!(fx.watermark(), Some(fx.step()), "{w}");
        },
    }
}

fn reassociate_token() -> Scenario {
    Scenario {
        name: "AssociateSoftwareToken (access token) over a verified token",
        setup: |fx| {
            let (secret, enrol_step) = fx.enrol();
            Ctx {
                secret: Some(secret),
                enrol_step,
                ..Ctx::default()
            }
        },
        op: |fx, _| fx.associate_token().map(drop),
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            // KeepUntilVerified: the verified token is untouched either way.
            assert!(fx.is_verified(), "{w}");
            assert_eq!(fx.watermark(), Some(ctx.enrol_step), "{w}");
            assert_eq!(fx.is_pending(), hit.done(Cas), "{w}: pending iff written");
            let session = fx.challenge(ChallengeName::SoftwareTokenMfa);
            let code = Fx::code(ctx.secret(), fx);
            fx.respond(&session, &code).unwrap();
            refused(fx.respond(&session, &code), &Error::SessionReused, w);
        },
    }
}

fn associate_session() -> Scenario {
    Scenario {
        name: "AssociateSoftwareToken (session S1)",
        setup: |fx| Ctx {
            session: Some(fx.challenge(ChallengeName::MfaSetup)),
            ..Ctx::default()
        },
        op: |fx, ctx| fx.associate_session(ctx.session()).map(drop),
        fault_free: Ok(()),
        // A look at the record (an MFA_SETUP session is refused, unconsumed, once a token is
        // verified), then S1 consumed before the secret is written (DESIGN.md §3).
        calls: &[Get, Load, Consume, Load, Cas, Put],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let s1 = ctx.session();
            let consumed = hit.done(Consume);
            assert_eq!(fx.session(s1).consumed, consumed, "{w}");
            assert!(!fx.is_verified(), "{w}");
            assert_eq!(fx.is_pending(), hit.done(Cas), "{w}: pending iff written");
            // A lost put leaves an S2 nobody holds.
            let stored = 1 + usize::from(hit.done(Put));
            assert_eq!(fx.store().session_count(), stored, "{w}");
            let s1 = if consumed {
                refused(fx.associate_session(s1), &Error::SessionReused, w);
                assert_eq!(fx.is_pending(), hit.done(Cas), "{w}: the reuse wrote");
                fx.challenge(ChallengeName::MfaSetup)
            } else {
                s1.clone()
            };
            fx.complete_setup_chain(&s1);
        },
    }
}

fn verify_token_right() -> Scenario {
    Scenario {
        name: "VerifySoftwareToken (access token), right code",
        setup: |fx| Ctx {
            secret: Some(fx.associate_token().unwrap()),
            ..Ctx::default()
        },
        op: |fx, ctx| {
            let code = Fx::code(ctx.secret(), fx);
            fx.verify_token(&code)
        },
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let code = Fx::code(ctx.secret(), fx);
            assert_eq!(fx.failures(), 0, "{w}");
            if hit.done(Cas) {
                // Accepted and burned although the caller saw an error: the same code is
                // never accepted again, neither by Verify nor at sign-in.
                assert!(fx.is_verified() && !fx.is_pending(), "{w}");
                assert_eq!(fx.watermark(), Some(fx.step()), "{w}");
                refused(fx.verify_token(&code), &Error::NothingPending, w);
                let session = fx.challenge(ChallengeName::SoftwareTokenMfa);
                refused(fx.respond(&session, &code), &Error::CodeReplayed, w);
                assert_eq!(fx.failures(), 0, "{w}: a replay does not count");
                fx.next_step();
                let next = Fx::code(ctx.secret(), fx);
                fx.respond(&session, &next).unwrap();
            } else {
                assert!(!fx.is_verified() && fx.is_pending(), "{w}");
                fx.verify_token(&code).unwrap();
                assert_eq!(fx.watermark(), Some(fx.step()), "{w}");
            }
        },
    }
}

fn verify_token_wrong() -> Scenario {
    Scenario {
        name: "VerifySoftwareToken (access token), wrong code",
        setup: |fx| Ctx {
            secret: Some(fx.associate_token().unwrap()),
            ..Ctx::default()
        },
        op: |fx, ctx| {
            let code = wrong_code(ctx.secret(), fx.now);
            fx.verify_token(&code)
        },
        fault_free: Err(Error::VerifyCodeMismatch),
        calls: &[Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            // Counted iff the write took effect; otherwise the caller got an error that
            // accepted nothing and told nothing (a right code fails the same way).
            let counted = u32::from(hit.done(Cas));
            assert_eq!(fx.failures(), counted, "{w}");
            assert!(!fx.is_verified() && fx.is_pending(), "{w}");
            let wrong = wrong_code(ctx.secret(), fx.now);
            refused(fx.verify_token(&wrong), &Error::VerifyCodeMismatch, w);
            assert_eq!(fx.failures(), counted + 1, "{w}");
            let right = Fx::code(ctx.secret(), fx);
            fx.verify_token(&right).unwrap();
            assert_eq!(fx.failures(), 0, "{w}");
        },
    }
}

/// S1 → Associate(S1) → S2, fault-free.
fn at_s2(fx: &mut Fx) -> Ctx {
    let s1 = fx.challenge(ChallengeName::MfaSetup);
    let (secret, s2) = fx.associate_session(&s1).unwrap();
    Ctx {
        secret: Some(secret),
        session: Some(s2),
        ..Ctx::default()
    }
}

fn verify_session_right() -> Scenario {
    Scenario {
        name: "VerifySoftwareToken (session S2), right code",
        setup: at_s2,
        op: |fx, ctx| {
            let code = Fx::code(ctx.secret(), fx);
            fx.verify_session(ctx.session(), &code).map(drop)
        },
        fault_free: Ok(()),
        // Code checked and step burned, then S2 consumed, then S3 issued (DESIGN.md §3).
        calls: &[Get, Load, Cas, Consume, Put],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let s2 = ctx.session();
            let code = Fx::code(ctx.secret(), fx);
            let burned = hit.done(Cas);
            let consumed = hit.done(Consume);
            assert_eq!(fx.is_verified(), burned, "{w}");
            assert_eq!(fx.is_pending(), !burned, "{w}");
            assert_eq!(fx.session(s2).consumed, consumed, "{w}");
            // S1 (consumed) and S2, plus an S3 nobody holds if only the reply was lost.
            let stored = 2 + usize::from(hit.done(Put));
            assert_eq!(fx.store().session_count(), stored, "{w}");
            assert_eq!(fx.failures(), 0, "{w}");
            if !burned {
                // Nothing happened: the same session and code finish the chain.
                let s3 = fx.verify_session(s2, &code).unwrap();
                fx.respond_setup(&s3).unwrap();
                return;
            }
            assert_eq!(fx.watermark(), Some(fx.step()), "{w}");
            // S2 can no longer succeed: refused as reused if consumed, else nothing pending.
            let expected = if consumed {
                Error::SessionReused
            } else {
                Error::NothingPending
            };
            refused(fx.verify_session(s2, &code), &expected, w);
            fx.next_step();
            let next = Fx::code(ctx.secret(), fx);
            refused(fx.verify_session(s2, &next), &expected, w);
            // The verified token signs in; the burned code stays burned.
            let session = fx.challenge(ChallengeName::SoftwareTokenMfa);
            refused(fx.respond(&session, &code), &Error::CodeReplayed, w);
            fx.respond(&session, &next).unwrap();
            assert_eq!(fx.failures(), 0, "{w}");
        },
    }
}

fn verify_session_wrong() -> Scenario {
    Scenario {
        name: "VerifySoftwareToken (session S2), wrong code",
        setup: at_s2,
        op: |fx, ctx| {
            let code = wrong_code(ctx.secret(), fx.now);
            fx.verify_session(ctx.session(), &code).map(drop)
        },
        fault_free: Err(Error::VerifyCodeMismatch),
        calls: &[Get, Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let s2 = ctx.session();
            let counted = u32::from(hit.done(Cas));
            assert_eq!(fx.failures(), counted, "{w}");
            assert!(!fx.is_verified() && fx.is_pending(), "{w}");
            assert!(
                !fx.session(s2).consumed,
                "{w}: a wrong code leaves S2 standing"
            );
            let wrong = wrong_code(ctx.secret(), fx.now);
            refused(fx.verify_session(s2, &wrong), &Error::VerifyCodeMismatch, w);
            assert_eq!(fx.failures(), counted + 1, "{w}");
            let right = Fx::code(ctx.secret(), fx);
            let s3 = fx.verify_session(s2, &right).unwrap();
            fx.respond_setup(&s3).unwrap();
            assert_eq!(fx.failures(), 0, "{w}");
        },
    }
}

/// An enrolled user (access-token path), next step.
fn enrolled(fx: &mut Fx) -> Ctx {
    let (secret, enrol_step) = fx.enrol();
    Ctx {
        secret: Some(secret),
        enrol_step,
        ..Ctx::default()
    }
}

/// An enrolled user with software-token MFA enabled and preferred.
fn enrolled_preferring(fx: &mut Fx) -> Ctx {
    let ctx = enrolled(fx);
    fx.set_preference().unwrap();
    ctx
}

fn preference_after(fx: &mut Fx, hit: &Hit, set: fn(&Fx) -> Result<(), Error>) {
    let w = &hit.what;
    let record = fx.record().unwrap();
    let written = hit.done(Cas);
    assert_eq!(record.preference().enabled, written, "{w}");
    assert_eq!(record.preference().preferred, written, "{w}");
    assert!(record.verified().is_some(), "{w}");
    set(fx).unwrap();
    assert_eq!(fx.get_user().unwrap(), mfa_on(), "{w}");
}

fn set_preference() -> Scenario {
    Scenario {
        name: "SetUserMFAPreference",
        setup: enrolled,
        op: |fx, _| fx.set_preference(),
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, _, hit| preference_after(fx, hit, Fx::set_preference),
    }
}

fn admin_set_preference() -> Scenario {
    Scenario {
        name: "AdminSetUserMFAPreference",
        setup: enrolled,
        op: |fx, _| fx.admin_set_preference(),
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, _, hit| preference_after(fx, hit, Fx::admin_set_preference),
    }
}

fn begin_sign_in() -> Scenario {
    Scenario {
        name: "begin sign-in (SOFTWARE_TOKEN_MFA)",
        setup: enrolled,
        op: |fx, _| {
            let challenge = fx.begin()?.expect("a challenge");
            assert_eq!(challenge.challenge_name, ChallengeName::SoftwareTokenMfa);
            Ok(())
        },
        fault_free: Ok(()),
        calls: &[Load, Put],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            // A lost put leaves a session nobody holds; nothing else changed.
            let stored = usize::from(hit.done(Put));
            assert_eq!(fx.store().session_count(), stored, "{w}");
            assert_eq!(fx.watermark(), Some(ctx.enrol_step), "{w}");
            let session = fx.challenge(ChallengeName::SoftwareTokenMfa);
            let code = Fx::code(ctx.secret(), fx);
            fx.respond(&session, &code).unwrap();
        },
    }
}

/// An enrolled user at the next step with a SOFTWARE_TOKEN_MFA challenge session.
fn challenged(fx: &mut Fx) -> Ctx {
    let mut ctx = enrolled(fx);
    ctx.session = Some(fx.challenge(ChallengeName::SoftwareTokenMfa));
    ctx
}

fn respond_right() -> Scenario {
    Scenario {
        name: "RespondToAuthChallenge SOFTWARE_TOKEN_MFA, right code",
        setup: challenged,
        op: |fx, ctx| {
            let code = Fx::code(ctx.secret(), fx);
            fx.respond(ctx.session(), &code)
        },
        fault_free: Ok(()),
        // Step burned, then the session consumed (DESIGN.md §3).
        calls: &[Get, Load, Cas, Consume],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let session = ctx.session();
            let code = Fx::code(ctx.secret(), fx);
            let burned = hit.done(Cas);
            let consumed = hit.done(Consume);
            let step = if burned { fx.step() } else { ctx.enrol_step };
            assert_eq!(fx.watermark(), Some(step), "{w}");
            assert_eq!(fx.session(session).consumed, consumed, "{w}");
            assert_eq!(fx.failures(), 0, "{w}");
            if !burned {
                // Nothing happened: the same session and code succeed, once.
                fx.respond(session, &code).unwrap();
                refused(fx.respond(session, &code), &Error::SessionReused, w);
            } else if !consumed {
                // The accepted code is not accepted again; the session, never used by a
                // success, answers with the next step's code, once.
                refused(fx.respond(session, &code), &Error::CodeReplayed, w);
                assert_eq!(fx.failures(), 0, "{w}: a replay does not count");
                fx.next_step();
                let next = Fx::code(ctx.secret(), fx);
                fx.respond(session, &next).unwrap();
                refused(fx.respond(session, &next), &Error::SessionReused, w);
            } else {
                // Consumed although the caller saw an error: never usable again.
                refused(fx.respond(session, &code), &Error::SessionReused, w);
                fx.next_step();
                let next = Fx::code(ctx.secret(), fx);
                refused(fx.respond(session, &next), &Error::SessionReused, w);
                let fresh = fx.challenge(ChallengeName::SoftwareTokenMfa);
                fx.respond(&fresh, &next).unwrap();
            }
        },
    }
}

fn respond_wrong() -> Scenario {
    Scenario {
        name: "RespondToAuthChallenge SOFTWARE_TOKEN_MFA, wrong code",
        setup: challenged,
        op: |fx, ctx| {
            let code = wrong_code(ctx.secret(), fx.now);
            fx.respond(ctx.session(), &code)
        },
        fault_free: Err(Error::CodeMismatch),
        calls: &[Get, Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let session = ctx.session();
            let counted = u32::from(hit.done(Cas));
            assert_eq!(fx.failures(), counted, "{w}");
            assert_eq!(fx.watermark(), Some(ctx.enrol_step), "{w}");
            assert!(!fx.session(session).consumed, "{w}");
            let wrong = wrong_code(ctx.secret(), fx.now);
            refused(fx.respond(session, &wrong), &Error::CodeMismatch, w);
            assert_eq!(fx.failures(), counted + 1, "{w}");
            let right = Fx::code(ctx.secret(), fx);
            fx.respond(session, &right).unwrap();
            assert_eq!(fx.failures(), 0, "{w}");
        },
    }
}

fn respond_mfa_setup() -> Scenario {
    Scenario {
        name: "RespondToAuthChallenge MFA_SETUP",
        setup: |fx| {
            let mut ctx = at_s2(fx);
            let code = Fx::code(ctx.secret(), fx);
            ctx.session = Some(fx.verify_session(ctx.session(), &code).unwrap());
            ctx.enrol_step = fx.step();
            ctx
        },
        op: |fx, ctx| fx.respond_setup(ctx.session()),
        fault_free: Ok(()),
        calls: &[Get, Load, Consume],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            let s3 = ctx.session();
            let consumed = hit.done(Consume);
            assert_eq!(fx.session(s3).consumed, consumed, "{w}");
            assert_eq!(fx.watermark(), Some(ctx.enrol_step), "{w}");
            if consumed {
                refused(fx.respond_setup(s3), &Error::SessionReused, w);
                fx.next_step();
                let session = fx.challenge(ChallengeName::SoftwareTokenMfa);
                let code = Fx::code(ctx.secret(), fx);
                fx.respond(&session, &code).unwrap();
            } else {
                fx.respond_setup(s3).unwrap();
                refused(fx.respond_setup(s3), &Error::SessionReused, w);
            }
        },
    }
}

fn admin_delete() -> Scenario {
    Scenario {
        name: "AdminDeleteSoftwareToken",
        setup: enrolled_preferring,
        op: |fx, _| fx.admin_delete(),
        fault_free: Ok(()),
        calls: &[Load, Cas],
        after: |fx, ctx, hit| {
            let w = &hit.what;
            if hit.done(Cas) {
                assert!(fx.record().is_none(), "{w}");
            } else {
                assert_eq!(fx.watermark(), Some(ctx.enrol_step), "{w}");
                assert_eq!(fx.get_user().unwrap(), mfa_on(), "{w}");
            }
            fx.admin_delete().unwrap();
            assert!(fx.record().is_none(), "{w}");
            assert_eq!(fx.get_user().unwrap(), MfaView::default(), "{w}");
            let s1 = fx.challenge(ChallengeName::MfaSetup);
            fx.complete_setup_chain(&s1);
        },
    }
}

fn get_user() -> Scenario {
    Scenario {
        name: "GetUser",
        setup: enrolled_preferring,
        op: |fx, _| {
            assert_eq!(fx.get_user()?, mfa_on());
            Ok(())
        },
        fault_free: Ok(()),
        calls: &[Load],
        after: |fx, _, hit| assert_eq!(fx.get_user().unwrap(), mfa_on(), "{}", hit.what),
    }
}

fn admin_get_user() -> Scenario {
    Scenario {
        name: "AdminGetUser",
        setup: enrolled_preferring,
        op: |fx, _| {
            assert_eq!(fx.admin_get_user()?, mfa_on());
            Ok(())
        },
        fault_free: Ok(()),
        calls: &[Load],
        after: |fx, _, hit| assert_eq!(fx.admin_get_user().unwrap(), mfa_on(), "{}", hit.what),
    }
}

fn sweep() -> Scenario {
    Scenario {
        name: "sweep",
        setup: |fx| {
            let ctx = enrolled(fx);
            let _expiring = fx.challenge(ChallengeName::SoftwareTokenMfa);
            fx.now = UnixTime(fx.now.0 + pool().auth_session_validity_secs());
            ctx
        },
        op: |fx, _| {
            assert_eq!(fx.sweep()?, 1);
            Ok(())
        },
        fault_free: Ok(()),
        calls: &[Sweep],
        after: |fx, _, hit| {
            let w = &hit.what;
            let left = usize::from(!hit.done(Sweep));
            assert_eq!(fx.store().session_count(), left, "{w}");
            assert_eq!(fx.sweep().unwrap(), left, "{w}");
            assert_eq!(fx.store().session_count(), 0, "{w}");
        },
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        associate_token(),
        reassociate_token(),
        associate_session(),
        verify_token_right(),
        verify_token_wrong(),
        verify_session_right(),
        verify_session_wrong(),
        set_preference(),
        admin_set_preference(),
        begin_sign_in(),
        respond_right(),
        respond_wrong(),
        respond_mfa_setup(),
        admin_delete(),
        get_user(),
        admin_get_user(),
        sweep(),
    ]
}

// ---------------------------------------------------------------------------------------------
// One test per operation, and the total.

#[test]
fn associate_on_the_access_token_path_fails_closed() {
    assert_eq!(cover(&associate_token()), 6);
}

#[test]
fn reassociate_over_a_verified_token_fails_closed() {
    assert_eq!(cover(&reassociate_token()), 6);
}

#[test]
fn associate_on_the_session_path_fails_closed() {
    assert_eq!(cover(&associate_session()), 18);
}

#[test]
fn verify_right_code_on_the_access_token_path_fails_closed() {
    assert_eq!(cover(&verify_token_right()), 6);
}

#[test]
fn verify_wrong_code_on_the_access_token_path_fails_closed() {
    assert_eq!(cover(&verify_token_wrong()), 6);
}

#[test]
fn verify_right_code_on_the_session_path_fails_closed() {
    assert_eq!(cover(&verify_session_right()), 15);
}

#[test]
fn verify_wrong_code_on_the_session_path_fails_closed() {
    assert_eq!(cover(&verify_session_wrong()), 9);
}

#[test]
fn set_preference_fails_closed() {
    assert_eq!(cover(&set_preference()), 6);
}

#[test]
fn admin_set_preference_fails_closed() {
    assert_eq!(cover(&admin_set_preference()), 6);
}

#[test]
fn begin_sign_in_fails_closed() {
    assert_eq!(cover(&begin_sign_in()), 6);
}

#[test]
fn respond_with_the_right_code_fails_closed() {
    assert_eq!(cover(&respond_right()), 12);
}

#[test]
fn respond_with_a_wrong_code_fails_closed() {
    assert_eq!(cover(&respond_wrong()), 9);
}

#[test]
fn respond_to_mfa_setup_fails_closed() {
    assert_eq!(cover(&respond_mfa_setup()), 9);
}

#[test]
fn admin_delete_fails_closed() {
    assert_eq!(cover(&admin_delete()), 6);
}

#[test]
fn get_user_fails_closed() {
    assert_eq!(cover(&get_user()), 3);
}

#[test]
fn admin_get_user_fails_closed() {
    assert_eq!(cover(&admin_get_user()), 3);
}

#[test]
fn sweep_fails_closed() {
    assert_eq!(cover(&sweep()), 3);
}

/// The figure for README ("fault points covered"): 17 operations, 43 store calls on their
/// fault-free paths, each failed with each of the 3 kinds = 129 fault cases.
#[test]
fn covered_fault_points() {
    let scenarios = scenarios();
    let calls: usize = scenarios.iter().map(|scenario| scenario.calls.len()).sum();
    let points: usize = FaultPoint::ALL
        .iter()
        .filter(|point| scenarios.iter().any(|s| s.calls.contains(point)))
        .count();
    assert_eq!(scenarios.len(), 17);
    assert_eq!(
        points,
        FaultPoint::ALL.len(),
        "every fault point is reached"
    );
    assert_eq!(calls * FaultKind::ALL.len(), 129);
}

// ---------------------------------------------------------------------------------------------
// The plan API itself, and the async flavour.

#[test]
fn fail_always_fails_every_call_until_clear() {
    let store = FaultyStore::new(MemoryStore::new());
    let alice = UserId::new(USER);
    store.fail_always(Load, FaultKind::Error);
    for _ in 0..3 {
        assert_eq!(
            TokenStore::load(&store, &alice),
            Err(FaultKind::Error.error(Load))
        );
    }
    store.clear();
    assert_eq!(TokenStore::load(&store, &alice), Ok(None));
    assert_eq!(store.call_count(Load), 4);
    assert_eq!(store.injected().len(), 3);
    store.reset_log();
    assert!(store.calls().is_empty() && store.injected().is_empty());
}

/// Two faults planned for the same call do not cancel: the first planned fails that call,
/// the second the next one, then calls succeed again.
#[test]
fn faults_planned_for_the_same_call_both_fire() {
    let store = FaultyStore::new(MemoryStore::new());
    let alice = UserId::new(USER);
    store.fail_nth(Load, 1, FaultKind::Error);
    store.fail_nth(Load, 1, FaultKind::Timeout);
    assert_eq!(
        TokenStore::load(&store, &alice),
        Err(FaultKind::Error.error(Load))
    );
    assert_eq!(
        TokenStore::load(&store, &alice),
        Err(FaultKind::Timeout.error(Load))
    );
    assert_eq!(TokenStore::load(&store, &alice), Ok(None));
    assert_eq!(store.injected().len(), 2);
}

#[test]
fn fault_kinds_differ_and_only_a_lost_reply_writes() {
    let messages: Vec<String> = FaultKind::ALL
        .iter()
        .map(|kind| kind.error(Cas).message().to_owned())
        .collect();
    assert!(messages[1].contains("timed out"));
    assert!(messages[0] != messages[1] && messages[1] != messages[2]);

    let session = SessionId::parse("s".repeat(20).as_str()).unwrap();
    let record = SessionRecord {
        user: UserId::new(USER),
        purpose: softtoken::store::SessionPurpose::SoftwareTokenMfa,
        expires_at: UnixTime(100),
        consumed: false,
    };
    for kind in FaultKind::ALL {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_nth(Put, 1, kind);
        assert!(SessionStore::put(&store, &session, record.clone()).is_err());
        let written = SessionStore::get(store.inner(), &session)
            .unwrap()
            .is_some();
        assert_eq!(written, kind == FaultKind::ReplyLost, "{kind:?}");
    }
}

/// The async stores: a right code whose consume loses its reply on `AsyncService` burns the
/// step and the session, and the session is refused as reused afterwards.
#[tokio::test]
async fn async_service_fails_closed_on_a_lost_consume_reply() {
    let faults = FaultyStore::new(MemoryStore::new());
    let service = AsyncService::new(faults.clone(), faults.clone(), resolve as Resolver, pool());
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut now = START;
    let associated = service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(format!("token-{USER}")),
                session: None,
            },
            now,
            &mut rng,
        )
        .await
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let verify = VerifySoftwareTokenRequest {
        access_token: Some(format!("token-{USER}")),
        session: None,
        user_code: code_at(&secret, now),
        friendly_device_name: None,
    };
    service
        .verify_software_token(&verify, now, &mut rng)
        .await
        .into_result()
        .unwrap();
    now = UnixTime(now.0 + 30);
    let challenge = service
        .begin_sign_in(&UserId::new(USER), now, &mut rng)
        .await
        .into_result()
        .unwrap()
        .unwrap();
    let respond = RespondToSoftwareTokenMfaRequest {
        session: challenge.session.expose().to_owned(),
        username: USER.to_owned(),
        software_token_mfa_code: code_at(&secret, now),
    };

    faults.reset_log();
    faults.fail_nth(Consume, 1, FaultKind::ReplyLost);
    let result = service.respond_to_software_token_mfa(&respond, now).await;
    assert!(matches!(result.result, Err(Error::Store(_))));
    assert_eq!(faults.calls(), [Get, Load, Cas, Consume]);
    assert!(
        SessionStore::get(faults.inner(), &challenge.session)
            .unwrap()
            .unwrap()
            .consumed
    );

    faults.clear();
    let again = service.respond_to_software_token_mfa(&respond, now).await;
    refused(again.result, &Error::SessionReused, "async reuse");

    // An error injected before the store is reached writes nothing on the async path either.
    faults.fail_nth(Cas, 1, FaultKind::Timeout);
    let fresh = service
        .begin_sign_in(&UserId::new(USER), now, &mut rng)
        .await
        .into_result()
        .unwrap()
        .unwrap();
    now = UnixTime(now.0 + 30);
    let code = code_at(&secret, now);
    let request = RespondToSoftwareTokenMfaRequest {
        session: fresh.session.expose().to_owned(),
        username: USER.to_owned(),
        software_token_mfa_code: code.clone(),
    };
    let timed_out = service.respond_to_software_token_mfa(&request, now).await;
    assert_eq!(
        timed_out.result,
        Err(Error::Store(FaultKind::Timeout.error(Cas)))
    );
    faults.clear();
    service
        .respond_to_software_token_mfa(&request, now)
        .await
        .into_result()
        .unwrap();
}
