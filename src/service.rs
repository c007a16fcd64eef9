//! The driver: resolves the caller, loads the record, runs the pure transition, writes it with
//! compare-and-swap (retrying a bounded number of times on conflict), manages sessions, and
//! returns the response with the events.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use crate::api::{
    self, AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest,
    AssociateSoftwareTokenResponse, Authenticated, ChallengeName, RespondToMfaSetupRequest,
    RespondToSoftwareTokenMfaRequest, SecretCode, SetUserMfaPreferenceRequest, SignInChallenge,
    VerifySoftwareTokenRequest, VerifySoftwareTokenResponse, VerifyStatus,
};
use crate::error::Error;
use crate::event::Event;
use crate::identity::{AccessToken, Principal, SessionId, UserId};
use crate::lifecycle::{
    self, AssociationOrigin, MfaView, Next, PreferenceActor, SignInDecision, Transition,
};
use crate::pool::PoolConfig;
use crate::record::TokenRecord;
use crate::secret::Secret;
use crate::store::{
    CasError, ConsumeError, SessionPurpose, SessionRecord, SessionStore, TokenStore,
};
use crate::time::{TimeError, UnixTime};

/// Maps an access token to the user it was issued to. The crate never parses tokens: verifying
/// a JWT (signature, expiry, audience, `token_use`) is the caller's.
///
/// Any `Fn(&AccessToken) -> Option<UserId>` is a resolver.
pub trait AccessTokenResolver {
    /// The token's user, or `None` if the token is not valid (→ `NotAuthorizedException`
    /// "Invalid Access Token").
    fn resolve(&self, token: &AccessToken) -> Option<UserId>;
}

impl<F: Fn(&AccessToken) -> Option<UserId>> AccessTokenResolver for F {
    fn resolve(&self, token: &AccessToken) -> Option<UserId> {
        self(token)
    }
}

/// What an operation answered, and the audit events of everything it changed — including when
/// the answer is an error (a wrong code is refused *and* counted).
#[must_use = "the result says whether the operation succeeded"]
#[derive(Debug)]
pub struct Outcome<T> {
    /// The response, or the Cognito error to return.
    pub result: Result<T, Error>,
    /// What happened, in order.
    pub events: Vec<Event>,
}

impl<T> Outcome<T> {
    /// The result, dropping the events.
    ///
    /// # Errors
    /// The operation's error.
    pub fn into_result(self) -> Result<T, Error> {
        self.result
    }

    fn refused(error: Error) -> Outcome<T> {
        Outcome {
            result: Err(error),
            events: Vec::new(),
        }
    }
}

/// The software-token service an auth service calls, one method per Cognito operation.
///
/// Generic over the token store, the session store and the access-token resolver; every
/// method takes `now`, and those that mint secrets or sessions take the caller's CSPRNG.
/// Several services may share one store (clone a [`MemoryStore`](crate::MemoryStore), or point
/// them at one database): replay protection, single-use sessions and the lockout hold across
/// them because every change is a compare-and-swap or a conditional consume.
pub struct Service<T, S, R> {
    tokens: T,
    sessions: S,
    resolver: R,
    pool: PoolConfig,
    max_attempts: u32,
}

impl<T: TokenStore, S: SessionStore, R: AccessTokenResolver> Service<T, S, R> {
    /// Compare-and-swap attempts per operation before `ConcurrentModificationException`.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

    /// A service over the given stores, resolver and pool configuration.
    pub fn new(tokens: T, sessions: S, resolver: R, pool: PoolConfig) -> Service<T, S, R> {
        Service {
            tokens,
            sessions,
            resolver,
            pool,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// The same service with another bound on compare-and-swap attempts (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Service<T, S, R> {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The pool configuration.
    pub const fn pool(&self) -> &PoolConfig {
        &self.pool
    }

    /// The token store.
    pub const fn token_store(&self) -> &T {
        &self.tokens
    }

    /// The session store.
    pub const fn session_store(&self) -> &S {
        &self.sessions
    }

    /// AssociateSoftwareToken: a fresh secret from `rng` becomes the user's pending secret.
    ///
    /// On the session path the MFA_SETUP session is consumed *before* the secret is written, so
    /// of two calls racing on one session only one can issue a secret; the response carries a
    /// new session for VerifySoftwareToken. The access-token path returns no session.
    ///
    /// # Errors
    /// `InvalidParameterException` (both or neither principal, malformed session),
    /// `SoftwareTokenMFANotFoundException` (pool has software tokens off),
    /// `NotAuthorizedException` (invalid access token or session), store failures.
    pub fn associate_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &AssociateSoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<AssociateSoftwareTokenResponse> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let principal = match Principal::from_request(
            request.access_token.as_deref(),
            request.session.as_deref(),
        ) {
            Ok(principal) => principal,
            Err(error) => return Outcome::refused(error),
        };
        if !self.pool.software_token_mfa() {
            return Outcome::refused(Error::SoftwareTokenMfaNotEnabled);
        }
        let user = match self.resolve(&principal, SessionPurpose::MfaSetupAssociate, now) {
            Ok(user) => user,
            Err(error) => return Outcome::refused(error),
        };
        if let Principal::Session(session) = &principal
            && let Err(error) = self.consume(session)
        {
            return Outcome::refused(error);
        }
        let origin = match principal {
            Principal::AccessToken(_) => AssociationOrigin::AccessToken,
            Principal::Session(_) => AssociationOrigin::MfaSetupSession,
        };
        let secret = Secret::generate(rng);
        let secret_code = SecretCode::new(secret.to_base32());
        let mut events = Vec::new();
        let result = self
            .run(&user, now, &mut events, |current| {
                lifecycle::associate(current, &self.pool, secret.clone(), origin, now)
            })
            .and_then(|()| match principal {
                Principal::AccessToken(_) => Ok(None),
                Principal::Session(_) => self
                    .issue_session(&user, SessionPurpose::MfaSetupVerify, now, rng)
                    .map(Some),
            });
        Outcome {
            result: result.map(|session| AssociateSoftwareTokenResponse {
                secret_code,
                session,
            }),
            events,
        }
    }

    /// VerifySoftwareToken: a code for the pending secret makes it the user's verified token,
    /// with the matched step burned.
    ///
    /// On the session path the code is checked and the record written first, then the session
    /// consumed; the response carries the session that answers MFA_SETUP. A wrong code leaves
    /// the session standing (until it expires) and counts toward the lockout.
    ///
    /// # Errors
    /// `InvalidParameterException` (principal, code format, device name),
    /// `SoftwareTokenMFANotFoundException` (pool off, or nothing pending),
    /// `EnableSoftwareTokenMFAException` (wrong code), `NotAuthorizedException` (token,
    /// session, lockout), store failures.
    pub fn verify_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &VerifySoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<VerifySoftwareTokenResponse> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let validated =
            Principal::from_request(request.access_token.as_deref(), request.session.as_deref())
                .and_then(|principal| {
                    let code = api::parse_user_code("userCode", &request.user_code)?;
                    api::check_friendly_device_name(request.friendly_device_name.as_deref())?;
                    Ok((principal, code))
                });
        let (principal, code) = match validated {
            Ok(validated) => validated,
            Err(error) => return Outcome::refused(error),
        };
        if !self.pool.software_token_mfa() {
            return Outcome::refused(Error::SoftwareTokenMfaNotEnabled);
        }
        let user = match self.resolve(&principal, SessionPurpose::MfaSetupVerify, now) {
            Ok(user) => user,
            Err(error) => return Outcome::refused(error),
        };
        let mut events = Vec::new();
        let result = self
            .run(&user, now, &mut events, |current| {
                lifecycle::verify(
                    current,
                    &code,
                    request.friendly_device_name.clone(),
                    &self.pool,
                    now,
                )
            })
            .and_then(|_step| match &principal {
                Principal::AccessToken(_) => Ok(None),
                Principal::Session(session) => {
                    self.consume(session)?;
                    self.issue_session(&user, SessionPurpose::MfaSetupRespond, now, rng)
                        .map(Some)
                }
            });
        Outcome {
            result: result.map(|session| VerifySoftwareTokenResponse {
                status: VerifyStatus::Success,
                session,
            }),
            events,
        }
    }

    /// SetUserMFAPreference (software-token part), for the user the access token belongs to.
    ///
    /// # Errors
    /// `NotAuthorizedException` (invalid token), `InvalidParameterException` ("User has not set
    /// up software token mfa", "User has not verified software token mfa"), store failures.
    pub fn set_user_mfa_preference(
        &self,
        request: &SetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let user = match self.user_for_access_token(&request.access_token) {
            Ok(user) => user,
            Err(error) => return Outcome::refused(error),
        };
        self.set_preference(
            &user,
            request.software_token_mfa_settings,
            PreferenceActor::User,
            now,
        )
    }

    /// AdminSetUserMFAPreference (software-token part).
    ///
    /// # Errors
    /// `InvalidParameterException` ("User does not have delivery config set to turn on
    /// SOFTWARE_TOKEN_MFA", "User has not verified software token mfa", bad username), store
    /// failures.
    pub fn admin_set_user_mfa_preference(
        &self,
        request: &AdminSetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        match api::parse_username(&request.username) {
            Ok(user) => self.set_preference(
                &user,
                request.software_token_mfa_settings,
                PreferenceActor::Admin,
                now,
            ),
            Err(error) => Outcome::refused(error),
        }
    }

    fn set_preference(
        &self,
        user: &UserId,
        settings: Option<lifecycle::SoftwareTokenMfaSettings>,
        actor: PreferenceActor,
        now: UnixTime,
    ) -> Outcome<()> {
        let Some(settings) = settings else {
            return Outcome {
                result: Ok(()),
                events: Vec::new(),
            };
        };
        let mut events = Vec::new();
        let result = self.run(user, now, &mut events, |current| {
            lifecycle::set_preference(current, settings, actor)
        });
        Outcome { result, events }
    }

    /// The challenge, if any, after the caller has checked the user's password. A challenge
    /// comes with a new session bound to the user and its purpose.
    ///
    /// # Errors
    /// Store failures.
    pub fn begin_sign_in<G: CryptoRng + ?Sized>(
        &self,
        user: &UserId,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<Option<SignInChallenge>> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let record = match self.tokens.load(user) {
            Ok(loaded) => loaded.map(|(record, _)| record),
            Err(error) => return Outcome::refused(error.into()),
        };
        let (challenge_name, purpose, challenge_parameters) =
            match lifecycle::sign_in_decision(record.as_ref(), &self.pool) {
                SignInDecision::NoChallenge => {
                    return Outcome {
                        result: Ok(None),
                        events: Vec::new(),
                    };
                }
                SignInDecision::SoftwareTokenMfa {
                    friendly_device_name,
                } => (
                    ChallengeName::SoftwareTokenMfa,
                    SessionPurpose::SoftwareTokenMfa,
                    friendly_device_name
                        .map(|name| ("FRIENDLY_DEVICE_NAME".to_owned(), name))
                        .into_iter()
                        .collect::<BTreeMap<_, _>>(),
                ),
                SignInDecision::MfaSetup => (
                    ChallengeName::MfaSetup,
                    SessionPurpose::MfaSetupAssociate,
                    BTreeMap::from([(
                        "MFAS_CAN_SETUP".to_owned(),
                        format!("[\"{}\"]", lifecycle::SOFTWARE_TOKEN_MFA),
                    )]),
                ),
            };
        Outcome {
            result: self.issue_session(user, purpose, now, rng).map(|session| {
                Some(SignInChallenge {
                    challenge_name,
                    challenge_parameters,
                    session,
                })
            }),
            events: Vec::new(),
        }
    }

    /// RespondToAuthChallenge for SOFTWARE_TOKEN_MFA.
    ///
    /// The code is checked and the record written first (burning the step), then the session
    /// consumed; if another call consumed it first this one is refused and the step stays
    /// burned. A wrong or replayed code leaves the session standing.
    ///
    /// # Errors
    /// `InvalidParameterException` (format), `NotAuthorizedException` (session, lockout),
    /// `CodeMismatchException`, `ExpiredCodeException` (replay),
    /// `SoftwareTokenMFANotFoundException` (no verified token), store failures.
    pub fn respond_to_software_token_mfa(
        &self,
        request: &RespondToSoftwareTokenMfaRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let validated = SessionId::parse(&request.session).and_then(|session| {
            let user = api::parse_username(&request.username)?;
            let code =
                api::parse_user_code("softwareTokenMfaCode", &request.software_token_mfa_code)?;
            Ok((session, user, code))
        });
        let (session, user, code) = match validated {
            Ok(validated) => validated,
            Err(error) => return Outcome::refused(error),
        };
        if let Err(error) =
            self.open_session(&session, SessionPurpose::SoftwareTokenMfa, Some(&user), now)
        {
            return Outcome::refused(error);
        }
        let mut events = Vec::new();
        let result = self
            .run(&user, now, &mut events, |current| {
                lifecycle::check_sign_in_code(current, &code, &self.pool, now)
            })
            .and_then(|_step| self.consume(&session))
            .map(|()| Authenticated { user: user.clone() });
        Outcome { result, events }
    }

    /// RespondToAuthChallenge for MFA_SETUP, with the session VerifySoftwareToken returned.
    ///
    /// # Errors
    /// `InvalidParameterException` (format), `NotAuthorizedException` (session),
    /// `SoftwareTokenMFANotFoundException` (the token was deleted meanwhile), store failures.
    pub fn respond_to_mfa_setup(
        &self,
        request: &RespondToMfaSetupRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let result = SessionId::parse(&request.session)
            .and_then(|session| Ok((session, api::parse_username(&request.username)?)))
            .and_then(|(session, user)| {
                self.open_session(&session, SessionPurpose::MfaSetupRespond, Some(&user), now)?;
                let verified = self
                    .tokens
                    .load(&user)?
                    .is_some_and(|(record, _)| record.verified().is_some());
                if !verified {
                    return Err(Error::NoVerifiedToken);
                }
                self.consume(&session)?;
                Ok(Authenticated { user })
            });
        Outcome {
            result,
            events: Vec::new(),
        }
    }

    /// AdminDeleteSoftwareToken: removes the token, any pending secret, the preference and the
    /// failure counters. Deleting a user with nothing stored succeeds.
    ///
    /// # Errors
    /// `InvalidParameterException` (bad username), store failures.
    pub fn admin_delete_software_token(&self, username: &str, now: UnixTime) -> Outcome<()> {
        if let Err(error) = check_clock(now) {
            return Outcome::refused(error);
        }
        let user = match api::parse_username(username) {
            Ok(user) => user,
            Err(error) => return Outcome::refused(error),
        };
        let mut events = Vec::new();
        let result = self.run(&user, now, &mut events, lifecycle::admin_delete);
        Outcome { result, events }
    }

    /// The MFA part of GetUser, for the access token's user.
    ///
    /// # Errors
    /// `NotAuthorizedException` (invalid token), store failures.
    pub fn get_user(&self, access_token: &str) -> Result<MfaView, Error> {
        self.mfa_view(&self.user_for_access_token(access_token)?)
    }

    /// The MFA part of AdminGetUser.
    ///
    /// # Errors
    /// `InvalidParameterException` (bad username), store failures.
    pub fn admin_get_user(&self, username: &str) -> Result<MfaView, Error> {
        self.mfa_view(&api::parse_username(username)?)
    }

    fn mfa_view(&self, user: &UserId) -> Result<MfaView, Error> {
        let loaded = self.tokens.load(user)?;
        Ok(lifecycle::mfa_view(
            loaded.as_ref().map(|(record, _)| record),
        ))
    }

    /// Deletes sessions that expired at or before `now`: the maintenance call a deployment runs
    /// periodically. Returns how many were removed.
    ///
    /// # Errors
    /// Store failures.
    pub fn sweep_sessions(&self, now: UnixTime) -> Result<usize, Error> {
        Ok(self.sessions.sweep(now)?)
    }

    /// Load → transition → compare-and-swap, reloading and deciding again on conflict, at most
    /// `max_attempts` times. A store error fails closed: it is returned, never read as success.
    fn run<X>(
        &self,
        user: &UserId,
        now: UnixTime,
        events: &mut Vec<Event>,
        mut transition: impl FnMut(Option<&TokenRecord>) -> Transition<X>,
    ) -> Result<X, Error> {
        for _ in 0..self.max_attempts {
            let loaded = self.tokens.load(user)?;
            let (record, version) = match loaded {
                Some((record, version)) => (Some(record), Some(version)),
                None => (None, None),
            };
            let Transition {
                next,
                events: decided_events,
                outcome,
            } = transition(record.as_ref());
            let written = match next {
                Next::Keep => Ok(()),
                Next::Delete if version.is_none() => Ok(()),
                Next::Delete => self.tokens.compare_and_swap(user, version, None).map(drop),
                Next::Store(next) => self
                    .tokens
                    .compare_and_swap(user, version, Some(next))
                    .map(drop),
            };
            match written {
                Ok(()) => {
                    events.extend(decided_events.into_iter().map(|kind| Event {
                        user: user.clone(),
                        at: now,
                        kind,
                    }));
                    return outcome;
                }
                Err(CasError::Conflict) => {}
                Err(CasError::Store(error)) => return Err(Error::Store(error)),
            }
        }
        Err(Error::ConcurrentModification)
    }

    /// The user an access token belongs to, per the caller's resolver.
    fn user_for_access_token(&self, access_token: &str) -> Result<UserId, Error> {
        let token = AccessToken::parse(access_token)?;
        self.resolver
            .resolve(&token)
            .ok_or(Error::InvalidAccessToken)
    }

    /// The user a request acts for: the resolver's answer for an access token, the session's
    /// user for a session of `purpose`.
    fn resolve(
        &self,
        principal: &Principal,
        purpose: SessionPurpose,
        now: UnixTime,
    ) -> Result<UserId, Error> {
        match principal {
            Principal::AccessToken(token) => self
                .resolver
                .resolve(token)
                .ok_or(Error::InvalidAccessToken),
            Principal::Session(session) => self
                .open_session(session, purpose, None, now)
                .map(|record| record.user),
        }
    }

    /// A usable session: known, of `purpose`, for `user` (when given), not expired, not
    /// consumed.
    fn open_session(
        &self,
        session: &SessionId,
        purpose: SessionPurpose,
        user: Option<&UserId>,
        now: UnixTime,
    ) -> Result<SessionRecord, Error> {
        let record = self.sessions.get(session)?.ok_or(Error::InvalidSession)?;
        if record.purpose != purpose || user.is_some_and(|user| *user != record.user) {
            return Err(Error::InvalidSession);
        }
        if now >= record.expires_at {
            return Err(Error::SessionExpired);
        }
        if record.consumed {
            return Err(Error::SessionReused);
        }
        Ok(record)
    }

    fn consume(&self, session: &SessionId) -> Result<(), Error> {
        self.sessions.consume(session).map_err(|error| match error {
            ConsumeError::AlreadyConsumed => Error::SessionReused,
            ConsumeError::NotFound => Error::InvalidSession,
            ConsumeError::Store(error) => Error::Store(error),
        })
    }

    fn issue_session<G: CryptoRng + ?Sized>(
        &self,
        user: &UserId,
        purpose: SessionPurpose,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<SessionId, Error> {
        let session = SessionId::generate(rng);
        let record = SessionRecord {
            user: user.clone(),
            purpose,
            expires_at: UnixTime(now.0.saturating_add(self.pool.auth_session_validity_secs())),
            consumed: false,
        };
        self.sessions.put(&session, record)?;
        Ok(session)
    }
}

/// Refuses times no TOTP computation accepts before anything is read or written, so an absurd
/// clock can neither consume a session nor store a record stamped with it.
fn check_clock(now: UnixTime) -> Result<(), Error> {
    if now > UnixTime::MAX {
        return Err(Error::Clock(TimeError::OutOfRange { time: now }));
    }
    Ok(())
}
