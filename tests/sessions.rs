//! Sign-in sessions (DESIGN.md §3 "Sessions"): the MFA_SETUP chain `begin_sign_in → S1 →
//! Associate(S1) → S2 → Verify(S2) → S3 → RespondToAuthChallenge(MFA_SETUP, S3)` in an `ON`
//! pool and the SOFTWARE_TOKEN_MFA challenge session; each session is single use (consumed only
//! by the call that succeeds, also across service instances sharing a store), bound to its user
//! and purpose, expires exactly AuthSessionValidity after it was issued, and is removed by an
//! explicit sweep.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // tests assert by panicking

mod common;

use common::{Harness, MemoryService, code_at, wrong_code};
use rand_chacha::ChaCha20Rng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, AssociateSoftwareTokenResponse, Authenticated, ChallengeName,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
    VerifySoftwareTokenResponse, VerifyStatus,
};
use softtoken::store::{SessionPurpose, SessionStore};
use softtoken::{Error, MfaMode, PoolConfig, Secret, SessionId, TokenStore, UnixTime, UserId};

const REUSED: &str = "Invalid session for the user, session can only be used once.";
const EXPIRED: &str = "Invalid session for the user, session is expired.";
const INVALID: &str = "Invalid session for the user.";

fn on_pool() -> PoolConfig {
    PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap()
}

fn associate_with<T: TokenStore, S: SessionStore>(
    service: &softtoken::Service<T, S, common::Resolver>,
    rng: &mut ChaCha20Rng,
    session: &str,
    now: UnixTime,
) -> Result<AssociateSoftwareTokenResponse, Error> {
    service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: None,
                session: Some(session.to_owned()),
            },
            now,
            rng,
        )
        .into_result()
}

fn verify_with(
    service: &MemoryService,
    rng: &mut ChaCha20Rng,
    session: &str,
    code: &str,
    now: UnixTime,
) -> Result<VerifySoftwareTokenResponse, Error> {
    service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: None,
                session: Some(session.to_owned()),
                user_code: code.to_owned(),
                friendly_device_name: Some("phone".to_owned()),
            },
            now,
            rng,
        )
        .into_result()
}

fn respond_setup_with(
    service: &MemoryService,
    session: &str,
    user: &str,
    now: UnixTime,
) -> Result<Authenticated, Error> {
    service
        .respond_to_mfa_setup(
            &RespondToMfaSetupRequest {
                session: session.to_owned(),
                username: user.to_owned(),
            },
            now,
        )
        .into_result()
}

fn respond_code_with(
    service: &MemoryService,
    session: &str,
    user: &str,
    code: &str,
    now: UnixTime,
) -> Result<Authenticated, Error> {
    service
        .respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: session.to_owned(),
                username: user.to_owned(),
                software_token_mfa_code: code.to_owned(),
            },
            now,
        )
        .into_result()
}

/// The four session-taking calls on the harness's own service, as methods so that `h.now` can
/// be passed while `h` is borrowed.
trait SessionCalls {
    fn associate_s(
        &mut self,
        session: &SessionId,
        now: UnixTime,
    ) -> Result<AssociateSoftwareTokenResponse, Error>;
    fn verify_s(
        &mut self,
        session: &SessionId,
        code: &str,
        now: UnixTime,
    ) -> Result<VerifySoftwareTokenResponse, Error>;
    fn respond_setup_s(
        &self,
        session: &SessionId,
        user: &str,
        now: UnixTime,
    ) -> Result<Authenticated, Error>;
    fn respond_code_s(
        &self,
        session: &SessionId,
        user: &str,
        code: &str,
        now: UnixTime,
    ) -> Result<Authenticated, Error>;
}

impl SessionCalls for Harness {
    fn associate_s(
        &mut self,
        session: &SessionId,
        now: UnixTime,
    ) -> Result<AssociateSoftwareTokenResponse, Error> {
        associate_with(&self.service, &mut self.rng, session.expose(), now)
    }

    fn verify_s(
        &mut self,
        session: &SessionId,
        code: &str,
        now: UnixTime,
    ) -> Result<VerifySoftwareTokenResponse, Error> {
        verify_with(&self.service, &mut self.rng, session.expose(), code, now)
    }

    fn respond_setup_s(
        &self,
        session: &SessionId,
        user: &str,
        now: UnixTime,
    ) -> Result<Authenticated, Error> {
        respond_setup_with(&self.service, session.expose(), user, now)
    }

    fn respond_code_s(
        &self,
        session: &SessionId,
        user: &str,
        code: &str,
        now: UnixTime,
    ) -> Result<Authenticated, Error> {
        respond_code_with(&self.service, session.expose(), user, code, now)
    }
}

/// `begin_sign_in` at `h.now`, expecting the given challenge; returns its session.
fn challenge(h: &mut Harness, user: &str, expected: ChallengeName) -> SessionId {
    let challenge = h.begin_sign_in(user).expect("a challenge");
    assert_eq!(challenge.challenge_name, expected);
    challenge.session
}

/// The whole MFA_SETUP chain at `h.now` up to (not including) the MFA_SETUP answer.
struct Chain {
    secret: Secret,
    s1: SessionId,
    s2: SessionId,
    s3: SessionId,
}

fn chain_to_s3(h: &mut Harness, user: &str) -> Chain {
    let s1 = challenge(h, user, ChallengeName::MfaSetup);
    let associated = h.associate_s(&s1, h.now).unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.expect("a session on the session path");
    let code = code_at(&secret, h.now);
    let verified = h.verify_s(&s2, &code, h.now).unwrap();
    let s3 = verified.session.expect("a session on the session path");
    Chain { secret, s1, s2, s3 }
}

fn is_consumed(h: &Harness, session: &SessionId) -> bool {
    h.store
        .get(session)
        .unwrap()
        .expect("session stored")
        .consumed
}

fn assert_error(result: Result<impl std::fmt::Debug, Error>, expected: &Error, message: &str) {
    let error = result.expect_err("the call must be refused");
    assert_eq!(&error, expected);
    assert_eq!(error.code(), "NotAuthorizedException");
    assert_eq!(error.to_string(), message);
}

#[test]
fn the_mfa_setup_chain_issues_a_new_session_at_each_step_and_ends_in_software_token_mfa() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);

    let associated = h.associate_s(&s1, h.now).unwrap();
    assert_eq!(associated.secret_code.expose().len(), 52);
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated
        .session
        .expect("Associate on the session path returns a Session");
    assert_ne!(s2, s1, "S2 is a new session");

    h.advance(5);
    let verified = h.verify_s(&s2, &code_at(&secret, h.now), h.now).unwrap();
    assert_eq!(verified.status, VerifyStatus::Success);
    let s3 = verified
        .session
        .expect("Verify on the session path returns a Session");
    assert_ne!(s3, s2, "S3 is a new session");
    assert_ne!(s3, s1);

    let authenticated = h.respond_setup_s(&s3, "alice", h.now).unwrap();
    assert_eq!(authenticated.user, UserId::new("alice"));
    for session in [&s1, &s2, &s3] {
        assert!(is_consumed(&h, session), "each step consumed its session");
    }

    // The next sign-in is challenged with the token just set up, and its code signs in.
    h.next_step();
    let next = h.begin_sign_in("alice").unwrap();
    assert_eq!(next.challenge_name, ChallengeName::SoftwareTokenMfa);
    h.respond_code_s(&next.session, "alice", &code_at(&secret, h.now), h.now)
        .unwrap();
}

#[test]
fn the_sessions_of_each_step_are_bound_to_their_purpose_in_the_store() {
    let mut h = Harness::with_pool(on_pool());
    let chain = chain_to_s3(&mut h, "alice");
    let purpose = |session: &SessionId| h.store.get(session).unwrap().unwrap().purpose;
    assert_eq!(purpose(&chain.s1), SessionPurpose::MfaSetupAssociate);
    assert_eq!(purpose(&chain.s2), SessionPurpose::MfaSetupVerify);
    assert_eq!(purpose(&chain.s3), SessionPurpose::MfaSetupRespond);
    for session in [&chain.s1, &chain.s2, &chain.s3] {
        assert_eq!(
            h.store.get(session).unwrap().unwrap().user,
            UserId::new("alice")
        );
    }
}

#[test]
fn associate_session_used_twice_can_only_be_used_once_and_keeps_the_first_secret() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let first = h.associate_s(&s1, h.now).unwrap();
    let before = h.store.load(&UserId::new("alice")).unwrap();
    let sessions_before = h.store.session_count();

    assert_error(h.associate_s(&s1, h.now), &Error::SessionReused, REUSED);
    assert_eq!(
        h.store.load(&UserId::new("alice")).unwrap(),
        before,
        "the refused call wrote no secret"
    );
    assert_eq!(
        h.store.session_count(),
        sessions_before,
        "and issued no session"
    );

    // The secret of the first call is the one that verifies.
    let secret = Secret::from_base32(first.secret_code.expose()).unwrap();
    let s2 = first.session.unwrap();
    h.verify_s(&s2, &code_at(&secret, h.now), h.now).unwrap();
}

#[test]
fn verify_session_used_twice_can_only_be_used_once() {
    let mut h = Harness::with_pool(on_pool());
    let chain = chain_to_s3(&mut h, "alice");
    h.next_step();
    let code = code_at(&chain.secret, h.now);
    assert_error(
        h.verify_s(&chain.s2, &code, h.now),
        &Error::SessionReused,
        REUSED,
    );
}

#[test]
fn mfa_setup_answer_session_used_twice_can_only_be_used_once() {
    let mut h = Harness::with_pool(on_pool());
    let chain = chain_to_s3(&mut h, "alice");
    h.respond_setup_s(&chain.s3, "alice", h.now).unwrap();
    assert_error(
        h.respond_setup_s(&chain.s3, "alice", h.now),
        &Error::SessionReused,
        REUSED,
    );
    // S1, consumed by Associate, is also refused as reused (not as unknown).
    assert_error(
        h.associate_s(&chain.s1, h.now),
        &Error::SessionReused,
        REUSED,
    );
}

#[test]
fn a_wrong_code_on_verify_leaves_the_session_usable_and_the_right_code_then_succeeds() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let associated = h.associate_s(&s1, h.now).unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();

    let wrong = wrong_code(&secret, h.now);
    assert_eq!(
        h.verify_s(&s2, &wrong, h.now).unwrap_err(),
        Error::VerifyCodeMismatch
    );
    assert!(!is_consumed(&h, &s2), "a wrong code does not consume S2");
    assert_eq!(h.stored_failures("alice"), 1, "but it counts");

    // A malformed code does not consume it either.
    let malformed = h.verify_s(&s2, "12345", h.now).unwrap_err();
    assert_eq!(malformed.code(), "InvalidParameterException");
    assert!(!is_consumed(&h, &s2));

    h.advance(10);
    let verified = h.verify_s(&s2, &code_at(&secret, h.now), h.now).unwrap();
    assert_eq!(verified.status, VerifyStatus::Success);
    assert!(is_consumed(&h, &s2), "the successful call consumed S2");
    h.respond_setup_s(&verified.session.unwrap(), "alice", h.now)
        .unwrap();
}

#[test]
fn a_wrong_or_replayed_code_leaves_the_software_token_mfa_session_and_the_right_code_consumes_it() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.associate("alice");
    let verify_code = code_at(&secret, h.now);
    h.verify_code("alice", &verify_code).unwrap();
    let session = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);

    assert_eq!(
        h.respond_code_s(&session, "alice", &wrong_code(&secret, h.now), h.now)
            .unwrap_err(),
        Error::CodeMismatch
    );
    assert!(
        !is_consumed(&h, &session),
        "a wrong code leaves the session"
    );
    assert_eq!(
        h.respond_code_s(&session, "alice", &verify_code, h.now)
            .unwrap_err(),
        Error::CodeReplayed,
        "the code Verify used is a replay"
    );
    assert!(
        !is_consumed(&h, &session),
        "a replayed code leaves the session"
    );
    assert_eq!(
        h.respond_code_s(&session, "alice", "12a456", h.now)
            .unwrap_err()
            .code(),
        "InvalidParameterException"
    );
    assert!(
        !is_consumed(&h, &session),
        "a malformed code leaves the session"
    );

    h.next_step();
    h.respond_code_s(&session, "alice", &code_at(&secret, h.now), h.now)
        .unwrap();
    assert!(
        is_consumed(&h, &session),
        "the right code consumed the session"
    );

    // Reusing it, even with a fresh code of a later step, is refused.
    h.next_step();
    assert_error(
        h.respond_code_s(&session, "alice", &code_at(&secret, h.now), h.now),
        &Error::SessionReused,
        REUSED,
    );
}

#[test]
fn sessions_expire_exactly_three_minutes_after_issue_by_default() {
    let mut h = Harness::with_pool(on_pool());
    let issued = h.now;
    let at = |seconds: u64| UnixTime(issued.0 + seconds);
    assert_eq!(h.service.pool().auth_session_validity_minutes(), 3);

    // S1: two challenges issued at the same instant.
    let s1_late = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let s1_in_time = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let associated = h.associate_s(&s1_in_time, at(179)).unwrap();
    assert_error(
        h.associate_s(&s1_late, at(180)),
        &Error::SessionExpired,
        EXPIRED,
    );
    assert!(
        !is_consumed(&h, &s1_late),
        "an expired session is not consumed"
    );

    // S2 issued at t+179 lives until t+359.
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();
    assert_error(
        h.verify_s(&s2, &code_at(&secret, at(359)), at(359)),
        &Error::SessionExpired,
        EXPIRED,
    );
    assert_eq!(
        h.stored_failures("alice"),
        0,
        "a code on an expired session is not evaluated"
    );
    let verified = h
        .verify_s(&s2, &code_at(&secret, at(358)), at(358))
        .unwrap();

    // S3 issued at t+358.
    let s3 = verified.session.unwrap();
    assert_error(
        h.respond_setup_s(&s3, "alice", at(358 + 180)),
        &Error::SessionExpired,
        EXPIRED,
    );
    h.respond_setup_s(&s3, "alice", at(358 + 179)).unwrap();
}

#[test]
fn a_software_token_mfa_session_expires_exactly_three_minutes_after_issue() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let issued = h.now;
    let late = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    let in_time = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);

    let t179 = UnixTime(issued.0 + 179);
    let t180 = UnixTime(issued.0 + 180);
    assert_error(
        h.respond_code_s(&late, "alice", &code_at(&secret, t180), t180),
        &Error::SessionExpired,
        EXPIRED,
    );
    h.respond_code_s(&in_time, "alice", &code_at(&secret, t179), t179)
        .unwrap();
}

#[test]
fn a_validity_of_fifteen_minutes_moves_the_expiry_boundary() {
    let pool = on_pool().with_auth_session_validity_minutes(15).unwrap();
    assert_eq!(pool.auth_session_validity_secs(), 900);
    let mut h = Harness::with_pool(pool);
    let issued = h.now;
    let at = |seconds: u64| UnixTime(issued.0 + seconds);
    let a = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let b = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let c = challenge(&mut h, "alice", ChallengeName::MfaSetup);

    h.associate_s(&a, at(180))
        .expect("valid past the default 3 minutes");
    h.associate_s(&b, at(899))
        .expect("valid one second before 15 minutes");
    assert_error(h.associate_s(&c, at(900)), &Error::SessionExpired, EXPIRED);
}

#[test]
fn a_validity_of_five_minutes_expires_at_three_hundred_seconds() {
    let pool = on_pool().with_auth_session_validity_minutes(5).unwrap();
    let mut h = Harness::with_pool(pool);
    let issued = h.now;
    let a = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let b = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    h.associate_s(&a, UnixTime(issued.0 + 299)).unwrap();
    assert_error(
        h.associate_s(&b, UnixTime(issued.0 + 300)),
        &Error::SessionExpired,
        EXPIRED,
    );
}

#[test]
fn auth_session_validity_outside_three_to_fifteen_minutes_is_refused() {
    for minutes in [0u8, 1, 2, 16, 60, 255] {
        let error = PoolConfig::default()
            .with_auth_session_validity_minutes(minutes)
            .unwrap_err();
        assert_eq!(
            error.code(),
            "InvalidParameterException",
            "{minutes} minutes"
        );
        assert!(error.is_invalid_request());
    }
    for minutes in 3u8..=15 {
        let pool = PoolConfig::default()
            .with_auth_session_validity_minutes(minutes)
            .unwrap();
        assert_eq!(pool.auth_session_validity_minutes(), minutes);
        assert_eq!(pool.auth_session_validity_secs(), u64::from(minutes) * 60);
    }
}

#[test]
fn a_session_of_the_wrong_purpose_is_invalid_and_stays_usable_for_its_own() {
    let mut h = Harness::with_pool(on_pool());
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);

    // S1 (answers Associate) used for Verify, for MFA_SETUP, for SOFTWARE_TOKEN_MFA.
    assert_error(
        h.verify_s(&s1, "123456", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.respond_setup_s(&s1, "alice", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.respond_code_s(&s1, "alice", "123456", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert!(!is_consumed(&h, &s1));

    let associated = h.associate_s(&s1, h.now).unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();
    let before = h.store.load(&UserId::new("alice")).unwrap();

    // S2 (answers Verify) used for Associate, for MFA_SETUP, for SOFTWARE_TOKEN_MFA.
    assert_error(h.associate_s(&s2, h.now), &Error::InvalidSession, INVALID);
    assert_error(
        h.respond_setup_s(&s2, "alice", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.respond_code_s(&s2, "alice", &code_at(&secret, h.now), h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_eq!(
        h.store.load(&UserId::new("alice")).unwrap(),
        before,
        "no secret replaced, nothing verified, nothing counted"
    );
    assert!(!is_consumed(&h, &s2));

    let s3 = h
        .verify_s(&s2, &code_at(&secret, h.now), h.now)
        .unwrap()
        .session
        .unwrap();

    // S3 (answers MFA_SETUP) used for Associate, for Verify, for SOFTWARE_TOKEN_MFA.
    h.next_step();
    assert_error(h.associate_s(&s3, h.now), &Error::InvalidSession, INVALID);
    assert_error(
        h.verify_s(&s3, &code_at(&secret, h.now), h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.respond_code_s(&s3, "alice", &code_at(&secret, h.now), h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert!(!is_consumed(&h, &s3));
    h.respond_setup_s(&s3, "alice", h.now).unwrap();

    // A SOFTWARE_TOKEN_MFA session used for Associate, for Verify, for MFA_SETUP.
    let mfa = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    let before = h.store.load(&UserId::new("alice")).unwrap();
    assert_error(h.associate_s(&mfa, h.now), &Error::InvalidSession, INVALID);
    assert_error(
        h.verify_s(&mfa, &code_at(&secret, h.now), h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.respond_setup_s(&mfa, "alice", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_eq!(h.store.load(&UserId::new("alice")).unwrap(), before);
    assert!(!is_consumed(&h, &mfa));
    h.respond_code_s(&mfa, "alice", &code_at(&secret, h.now), h.now)
        .unwrap();
}

#[test]
fn a_session_of_another_user_is_invalid() {
    let mut h = Harness::with_pool(on_pool());
    let chain = chain_to_s3(&mut h, "alice");
    let bob = h.enrol("bob");

    assert_error(
        h.respond_setup_s(&chain.s3, "bob", h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert!(!is_consumed(&h, &chain.s3));
    h.respond_setup_s(&chain.s3, "alice", h.now).unwrap();

    // Alice's SOFTWARE_TOKEN_MFA session answered as bob, with bob's right code.
    h.next_step();
    let alice_session = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    let bob_before = h.store.load(&UserId::new("bob")).unwrap();
    assert_error(
        h.respond_code_s(&alice_session, "bob", &code_at(&bob, h.now), h.now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_eq!(
        h.store.load(&UserId::new("bob")).unwrap(),
        bob_before,
        "bob's step was not burned"
    );
    assert!(!is_consumed(&h, &alice_session));
    h.respond_code_s(
        &alice_session,
        "alice",
        &code_at(&chain.secret, h.now),
        h.now,
    )
    .unwrap();
}

#[test]
fn a_well_formed_unknown_session_is_invalid() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let code = code_at(&secret, h.now);
    for unknown in ["A".repeat(20), "B".repeat(77), "C".repeat(2048)] {
        assert_error(
            associate_with(&h.service, &mut h.rng, &unknown, h.now),
            &Error::InvalidSession,
            INVALID,
        );
        assert_error(
            verify_with(&h.service, &mut h.rng, &unknown, &code, h.now),
            &Error::InvalidSession,
            INVALID,
        );
        assert_error(
            respond_setup_with(&h.service, &unknown, "alice", h.now),
            &Error::InvalidSession,
            INVALID,
        );
        assert_error(
            respond_code_with(&h.service, &unknown, "alice", &code, h.now),
            &Error::InvalidSession,
            INVALID,
        );
    }
    assert_eq!(h.store.session_count(), 0, "nothing was issued");
    // The code was never accepted, so it still signs in.
    h.sign_in("alice", &code).unwrap();
}

#[test]
fn sweep_removes_expired_sessions_consumed_or_not_and_then_they_are_unknown() {
    let mut h = Harness::with_pool(on_pool());
    let issued = h.now;
    let consumed = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    let unused = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    // Associate consumes `consumed` and issues an S2 at `issued` too.
    let s2 = h.associate_s(&consumed, issued).unwrap().session.unwrap();
    h.advance(60);
    let later = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    assert_eq!(h.store.session_count(), 4);

    assert_eq!(
        h.service.sweep_sessions(UnixTime(issued.0 + 179)).unwrap(),
        0,
        "nothing has expired yet"
    );
    assert_eq!(h.store.session_count(), 4);
    assert_eq!(
        h.service.sweep_sessions(UnixTime(issued.0 + 180)).unwrap(),
        3,
        "the three issued at t expire at t+180, consumed or not"
    );
    assert_eq!(h.store.session_count(), 1);
    for swept in [&consumed, &unused, &s2] {
        assert!(h.store.get(swept).unwrap().is_none());
    }

    // A swept session is now unknown, not expired.
    let now = UnixTime(issued.0 + 200);
    assert_error(h.associate_s(&unused, now), &Error::InvalidSession, INVALID);
    assert_error(
        h.associate_s(&consumed, now),
        &Error::InvalidSession,
        INVALID,
    );
    assert_error(
        h.verify_s(&s2, "123456", now),
        &Error::InvalidSession,
        INVALID,
    );

    // The session issued later survives and still works.
    h.associate_s(&later, now).unwrap();
    assert_eq!(
        h.service
            .sweep_sessions(UnixTime(issued.0 + 60 + 180))
            .unwrap(),
        1,
        "`later`, now consumed, expires 180 s after it was issued"
    );
}

#[test]
fn issued_sessions_are_between_20_and_2048_characters() {
    let mut h = Harness::with_pool(on_pool());
    let chain = chain_to_s3(&mut h, "alice");
    h.respond_setup_s(&chain.s3, "alice", h.now).unwrap();
    let mfa = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    for session in [&chain.s1, &chain.s2, &chain.s3, &mfa] {
        let value = session.expose();
        assert!(
            (SessionId::MIN_LEN..=SessionId::MAX_LEN).contains(&value.chars().count()),
            "session of {} characters",
            value.len()
        );
        assert_eq!(SessionId::parse(value).unwrap(), *session);
    }
    let values = [&chain.s1, &chain.s2, &chain.s3, &mfa].map(|s| s.expose().to_owned());
    for (i, a) in values.iter().enumerate() {
        for b in values.iter().skip(i + 1) {
            assert_ne!(a, b, "every issued session is distinct");
        }
    }
}

#[test]
fn single_use_holds_across_service_instances_sharing_a_store() {
    let mut h = Harness::with_pool(on_pool());
    let other = h.another_instance();
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);

    // Issued by one instance, used first on another: fine; then reused on the first: refused.
    let associated = associate_with(&other, &mut h.rng, s1.expose(), h.now).unwrap();
    assert_error(h.associate_s(&s1, h.now), &Error::SessionReused, REUSED);

    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let s2 = associated.session.unwrap();
    let code = code_at(&secret, h.now);
    let s3 = h.verify_s(&s2, &code, h.now).unwrap().session.unwrap();
    h.next_step();
    assert_error(
        verify_with(
            &other,
            &mut h.rng,
            s2.expose(),
            &code_at(&secret, h.now),
            h.now,
        ),
        &Error::SessionReused,
        REUSED,
    );

    respond_setup_with(&other, s3.expose(), "alice", h.now).unwrap();
    assert_error(
        h.respond_setup_s(&s3, "alice", h.now),
        &Error::SessionReused,
        REUSED,
    );

    let mfa = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    respond_code_with(
        &other,
        mfa.expose(),
        "alice",
        &code_at(&secret, h.now),
        h.now,
    )
    .unwrap();
    h.next_step();
    assert_error(
        h.respond_code_s(&mfa, "alice", &code_at(&secret, h.now), h.now),
        &Error::SessionReused,
        REUSED,
    );
    // The reused session was refused before the code was looked at: the fresh code was not
    // burned and signs in on a new challenge.
    let fresh = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    respond_code_with(
        &other,
        fresh.expose(),
        "alice",
        &code_at(&secret, h.now),
        h.now,
    )
    .unwrap();
}

#[test]
fn retrying_on_one_session_cannot_outrun_the_lockout() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    h.next_step();
    let session = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    let wrong = wrong_code(&secret, h.now);
    let free = h.service.pool().lockout().free_failures();
    for _ in 0..=free {
        assert_eq!(
            h.respond_code_s(&session, "alice", &wrong, h.now)
                .unwrap_err(),
            Error::CodeMismatch
        );
    }
    assert_eq!(h.stored_failures("alice"), free + 1, "every retry counted");
    let right = code_at(&secret, h.now);
    let Error::LockedOut { retry_at, .. } = h
        .respond_code_s(&session, "alice", &right, h.now)
        .unwrap_err()
    else {
        panic!("locked out after {} failures", free + 1);
    };
    assert!(!is_consumed(&h, &session), "refusals leave the session");

    // Once the lock has run out (well within the session's life) the same session answers.
    assert!(retry_at.0 < h.now.0 + 180);
    h.now = retry_at;
    h.respond_code_s(&session, "alice", &code_at(&secret, h.now), h.now)
        .unwrap();
    assert!(is_consumed(&h, &session));
}

/// A store that runs `hook` once, just before the first `load` (or `consume`) of the service
/// using it: a deterministic interleaving of a second instance into the middle of a call.
struct Interleave {
    inner: softtoken::MemoryStore,
    before_load: std::cell::RefCell<Option<Box<dyn FnOnce()>>>,
    before_consume: std::cell::RefCell<Option<Box<dyn FnOnce()>>>,
}

impl Interleave {
    fn new(inner: softtoken::MemoryStore) -> Interleave {
        Interleave {
            inner,
            before_load: std::cell::RefCell::new(None),
            before_consume: std::cell::RefCell::new(None),
        }
    }
}

impl TokenStore for Interleave {
    fn load(
        &self,
        user: &UserId,
    ) -> Result<Option<(softtoken::TokenRecord, softtoken::store::Version)>, softtoken::StoreError>
    {
        let hook = self.before_load.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.load(user)
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<softtoken::store::Version>,
        next: Option<softtoken::TokenRecord>,
    ) -> Result<Option<softtoken::store::Version>, softtoken::store::CasError> {
        self.inner.compare_and_swap(user, expected, next)
    }
}

impl SessionStore for Interleave {
    fn put(
        &self,
        session: &SessionId,
        record: softtoken::store::SessionRecord,
    ) -> Result<(), softtoken::StoreError> {
        self.inner.put(session, record)
    }

    fn get(
        &self,
        session: &SessionId,
    ) -> Result<Option<softtoken::store::SessionRecord>, softtoken::StoreError> {
        self.inner.get(session)
    }

    fn consume(&self, session: &SessionId) -> Result<(), softtoken::store::ConsumeError> {
        let hook = self.before_consume.borrow_mut().take();
        if let Some(hook) = hook {
            hook();
        }
        self.inner.consume(session)
    }

    fn sweep(&self, now: UnixTime) -> Result<usize, softtoken::StoreError> {
        self.inner.sweep(now)
    }
}

type Slot<T> = std::rc::Rc<std::cell::RefCell<Option<T>>>;

#[test]
fn two_instances_racing_on_one_sign_in_session_give_one_success_and_the_step_stays_burned() {
    let mut h = Harness::with_pool(on_pool());
    let secret = h.enrol("alice");
    // Two steps later both the previous and the current step are fresh and in the window.
    h.next_step();
    h.next_step();
    let now = h.now;
    let step = now.0 / 30;
    let session = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);

    // The loser passes the session check, then, before it loads the record, the winner runs
    // to completion with the previous step's code.
    let store = Interleave::new(h.store.clone());
    let winner = h.another_instance();
    let won: Slot<Result<Authenticated, Error>> = Slot::default();
    let (won_slot, value) = (won.clone(), session.expose().to_owned());
    let previous = common::code_at_step(&secret, step - 1);
    *store.before_load.borrow_mut() = Some(Box::new(move || {
        *won_slot.borrow_mut() = Some(respond_code_with(&winner, &value, "alice", &previous, now));
    }));
    let loser = softtoken::Service::new(
        store,
        h.store.clone(),
        common::resolve as common::Resolver,
        on_pool(),
    );
    let lost = loser
        .respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: session.expose().to_owned(),
                username: "alice".to_owned(),
                software_token_mfa_code: code_at(&secret, now),
            },
            now,
        )
        .into_result();

    assert_eq!(
        won.borrow_mut()
            .take()
            .expect("the winner ran")
            .unwrap()
            .user,
        UserId::new("alice")
    );
    assert_error(lost, &Error::SessionReused, REUSED);
    // The loser's code was checked and its step burned before the consume failed: fail closed.
    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    assert_eq!(
        record.verified().unwrap().last_used_step().unwrap().value(),
        step
    );
    let fresh = challenge(&mut h, "alice", ChallengeName::SoftwareTokenMfa);
    assert_eq!(
        h.respond_code_s(&fresh, "alice", &code_at(&secret, now), now)
            .unwrap_err(),
        Error::CodeReplayed
    );
}

#[test]
fn two_instances_racing_on_one_associate_session_issue_one_secret() {
    // The other instance runs to completion at either point inside this one's call: before
    // this one consumes S1, or before it loads the record. Either way exactly one call succeeds
    // and the pending secret is the one that call returned (no loser overwrites it).
    for before_load in [false, true] {
        let mut h = Harness::with_pool(on_pool());
        let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);
        let now = h.now;

        let tokens = Interleave::new(h.store.clone());
        let sessions = Interleave::new(h.store.clone());
        let other = h.another_instance();
        let other_result: Slot<Result<AssociateSoftwareTokenResponse, Error>> = Slot::default();
        let (slot, value) = (other_result.clone(), s1.expose().to_owned());
        let hook: Box<dyn FnOnce()> = Box::new(move || {
            let mut rng = <ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(1);
            *slot.borrow_mut() = Some(associate_with(&other, &mut rng, &value, now));
        });
        if before_load {
            *tokens.before_load.borrow_mut() = Some(hook);
        } else {
            *sessions.before_consume.borrow_mut() = Some(hook);
        }
        let this = softtoken::Service::new(
            tokens,
            sessions,
            common::resolve as common::Resolver,
            on_pool(),
        );
        let this_result = associate_with(&this, &mut h.rng, s1.expose(), now);
        let other_result = other_result.borrow_mut().take().expect("the other ran");

        let context = if before_load {
            "before load"
        } else {
            "before consume"
        };
        let (winner, loser) = match (this_result, other_result) {
            (Ok(winner), Err(loser)) | (Err(loser), Ok(winner)) => (winner, loser),
            (this, other) => panic!("{context}: exactly one success: {this:?} / {other:?}"),
        };
        assert_eq!(loser, Error::SessionReused, "{context}");
        let secret = Secret::from_base32(winner.secret_code.expose()).unwrap();
        let s2 = winner.session.unwrap();
        h.verify_s(&s2, &code_at(&secret, now), now)
            .unwrap_or_else(|error| panic!("{context}: the winner's secret is pending: {error}"));
    }
}

#[test]
fn a_stale_mfa_setup_session_cannot_replace_a_token_enrolled_meanwhile() {
    // S1 was issued while alice had no token; she then enrolled by another route. Whoever holds
    // S1 (it only needs the password) must not be able to swap her token for theirs.
    let mut h = Harness::with_pool(on_pool());
    let stale = h.begin_sign_in("alice").expect("MFA_SETUP").session;
    let secret = h.enrol("alice");
    let outcome = h.service.associate_software_token(
        &AssociateSoftwareTokenRequest {
            access_token: None,
            session: Some(stale.expose().to_owned()),
        },
        h.now,
        &mut h.rng,
    );
    assert_eq!(outcome.result.unwrap_err(), Error::InvalidSession);
    let (record, _) = h.store.load(&UserId::new("alice")).unwrap().unwrap();
    assert!(record.pending().is_none(), "no secret was issued");
    h.next_step();
    h.sign_in("alice", &code_at(&secret, h.now)).unwrap();
}

#[test]
fn an_associate_refused_for_an_enrolled_user_leaves_the_mfa_setup_session_unconsumed() {
    // Found by the state-machine test: the session was consumed before the refusal. A session
    // is consumed only by the call that succeeds with it, so after the refusal S1 is still
    // "invalid" (not "used once"), and once the token is deleted it sets up a new one.
    let mut h = Harness::with_pool(on_pool());
    let s1 = challenge(&mut h, "alice", ChallengeName::MfaSetup);
    h.enrol("alice");
    for _ in 0..2 {
        assert_error(h.associate_s(&s1, h.now), &Error::InvalidSession, INVALID);
        assert!(!is_consumed(&h, &s1), "a refused call does not consume S1");
    }
    h.service
        .admin_delete_software_token("alice", h.now)
        .into_result()
        .unwrap();
    let associated = h.associate_s(&s1, h.now).unwrap();
    assert!(is_consumed(&h, &s1));
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    h.verify_s(
        &associated.session.unwrap(),
        &code_at(&secret, h.now),
        h.now,
    )
    .unwrap();
}
