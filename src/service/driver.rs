//! Every operation, written once: resolve the caller, load, run the pure transition,
//! compare-and-swap (retrying a bounded number of times), manage sessions, collect events.
//!
//! The driver is `async` over [`AsyncTokenStore`] / [`AsyncSessionStore`]. The async service
//! awaits it on the caller's runtime; the blocking [`Service`](super::Service) runs it over
//! ready-made futures of a blocking store (see `super::blocking`), so both flavours execute the
//! same steps in the same order.

use std::collections::BTreeMap;

use rand_core::CryptoRng;

use super::{AccessTokenResolver, Outcome};
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
    self, AssociationOrigin, MfaView, Next, PreferenceActor, SignInDecision,
    SoftwareTokenMfaSettings, Transition,
};
use crate::pool::PoolConfig;
use crate::record::TokenRecord;
use crate::secret::Secret;
use crate::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionPurpose, SessionRecord,
};
use crate::time::{TimeError, UnixTime};

/// The stores, the resolver and the pool configuration every operation runs against.
pub(crate) struct Driver<T, S, R> {
    pub(crate) tokens: T,
    pub(crate) sessions: S,
    pub(crate) resolver: R,
    pub(crate) pool: PoolConfig,
    pub(crate) max_attempts: u32,
}

/// Runs an operation body that reports into `events`, as an [`Outcome`].
macro_rules! outcome {
    ($events:ident => $body:expr) => {{
        let mut $events = Vec::new();
        let result = $body;
        Outcome {
            result,
            events: $events,
        }
    }};
}

impl<T: AsyncTokenStore, S: AsyncSessionStore, R: AccessTokenResolver> Driver<T, S, R> {
    pub(crate) async fn associate_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &AssociateSoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<AssociateSoftwareTokenResponse> {
        outcome!(events => self.associate_inner(request, now, rng, &mut events).await)
    }

    async fn associate_inner<G: CryptoRng + ?Sized>(
        &self,
        request: &AssociateSoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
        events: &mut Vec<Event>,
    ) -> Result<AssociateSoftwareTokenResponse, Error> {
        check_clock(now)?;
        let principal =
            Principal::from_request(request.access_token.as_deref(), request.session.as_deref())?;
        if !self.pool.software_token_mfa() {
            return Err(Error::SoftwareTokenMfaNotEnabled);
        }
        let user = self
            .resolve(&principal, SessionPurpose::MfaSetupAssociate, now)
            .await?;
        let origin = match principal {
            Principal::AccessToken(_) => AssociationOrigin::AccessToken,
            Principal::Session(_) => AssociationOrigin::MfaSetupSession,
        };
        // Consumed before the secret is written: of two calls racing on one session, the
        // loser must not overwrite the winner's secret. But a session is consumed only by a
        // call that succeeds, so the lifecycle's refusal is given first, leaving the session
        // unconsumed; a token verified between this look and the write is still refused by
        // `lifecycle::associate` (fail closed).
        if let Principal::Session(session) = &principal {
            let current = self.tokens.load(&user).await?;
            lifecycle::check_association(current.as_ref().map(|(record, _)| record), origin)?;
            self.consume(session).await?;
        }
        let secret = Secret::generate(rng);
        let secret_code = SecretCode::new(secret.to_base32());
        self.run(&user, now, events, |current| {
            lifecycle::associate(current, &self.pool, secret.clone(), origin, now)
        })
        .await?;
        let session = match principal {
            Principal::AccessToken(_) => None,
            Principal::Session(_) => Some(
                self.issue_session(&user, SessionPurpose::MfaSetupVerify, now, rng)
                    .await?,
            ),
        };
        Ok(AssociateSoftwareTokenResponse {
            secret_code,
            session,
        })
    }

    pub(crate) async fn verify_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &VerifySoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<VerifySoftwareTokenResponse> {
        outcome!(events => self.verify_inner(request, now, rng, &mut events).await)
    }

    async fn verify_inner<G: CryptoRng + ?Sized>(
        &self,
        request: &VerifySoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
        events: &mut Vec<Event>,
    ) -> Result<VerifySoftwareTokenResponse, Error> {
        check_clock(now)?;
        let principal =
            Principal::from_request(request.access_token.as_deref(), request.session.as_deref())?;
        let code = api::parse_user_code("userCode", &request.user_code)?;
        api::check_friendly_device_name(request.friendly_device_name.as_deref())?;
        if !self.pool.software_token_mfa() {
            return Err(Error::SoftwareTokenMfaNotEnabled);
        }
        let user = self
            .resolve(&principal, SessionPurpose::MfaSetupVerify, now)
            .await?;
        // The code is checked and the record written (the step burned) before the session is
        // consumed: a wrong code leaves the session standing.
        self.run(&user, now, events, |current| {
            lifecycle::verify(
                current,
                &code,
                request.friendly_device_name.clone(),
                &self.pool,
                now,
            )
        })
        .await?;
        let session = match &principal {
            Principal::AccessToken(_) => None,
            Principal::Session(session) => {
                self.consume(session).await?;
                Some(
                    self.issue_session(&user, SessionPurpose::MfaSetupRespond, now, rng)
                        .await?,
                )
            }
        };
        Ok(VerifySoftwareTokenResponse {
            status: VerifyStatus::Success,
            session,
        })
    }

    pub(crate) async fn set_user_mfa_preference(
        &self,
        request: &SetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        outcome!(events => {
            match check_clock(now).and_then(|()| self.user_for_access_token(&request.access_token)) {
                Ok(user) => {
                    self.set_preference(
                        &user,
                        request.software_token_mfa_settings,
                        PreferenceActor::User,
                        now,
                        &mut events,
                    )
                    .await
                }
                Err(error) => Err(error),
            }
        })
    }

    pub(crate) async fn admin_set_user_mfa_preference(
        &self,
        request: &AdminSetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        outcome!(events => {
            match check_clock(now).and_then(|()| api::parse_username(&request.username)) {
                Ok(user) => {
                    self.set_preference(
                        &user,
                        request.software_token_mfa_settings,
                        PreferenceActor::Admin,
                        now,
                        &mut events,
                    )
                    .await
                }
                Err(error) => Err(error),
            }
        })
    }

    async fn set_preference(
        &self,
        user: &UserId,
        settings: Option<SoftwareTokenMfaSettings>,
        actor: PreferenceActor,
        now: UnixTime,
        events: &mut Vec<Event>,
    ) -> Result<(), Error> {
        let Some(settings) = settings else {
            return Ok(());
        };
        self.run(user, now, events, |current| {
            lifecycle::set_preference(current, settings, actor)
        })
        .await
    }

    pub(crate) async fn begin_sign_in<G: CryptoRng + ?Sized>(
        &self,
        user: &UserId,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<Option<SignInChallenge>> {
        outcome!(_events => self.begin_sign_in_inner(user, now, rng).await)
    }

    async fn begin_sign_in_inner<G: CryptoRng + ?Sized>(
        &self,
        user: &UserId,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Option<SignInChallenge>, Error> {
        check_clock(now)?;
        let record = self.tokens.load(user).await?.map(|(record, _)| record);
        let (challenge_name, purpose, challenge_parameters) =
            match lifecycle::sign_in_decision(record.as_ref(), &self.pool) {
                SignInDecision::NoChallenge => return Ok(None),
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
        let session = self.issue_session(user, purpose, now, rng).await?;
        Ok(Some(SignInChallenge {
            challenge_name,
            challenge_parameters,
            session,
        }))
    }

    pub(crate) async fn respond_to_software_token_mfa(
        &self,
        request: &RespondToSoftwareTokenMfaRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        outcome!(events => self.respond_software_token_inner(request, now, &mut events).await)
    }

    async fn respond_software_token_inner(
        &self,
        request: &RespondToSoftwareTokenMfaRequest,
        now: UnixTime,
        events: &mut Vec<Event>,
    ) -> Result<Authenticated, Error> {
        check_clock(now)?;
        let session = SessionId::parse(&request.session)?;
        let user = api::parse_username(&request.username)?;
        let code = api::parse_user_code("softwareTokenMfaCode", &request.software_token_mfa_code)?;
        self.open_session(&session, SessionPurpose::SoftwareTokenMfa, Some(&user), now)
            .await?;
        // Check and burn the step first, then consume: if another call consumed the session
        // meanwhile, this one is refused and the burned step stays burned (fail closed).
        self.run(&user, now, events, |current| {
            lifecycle::check_sign_in_code(current, &code, &self.pool, now)
        })
        .await?;
        self.consume(&session).await?;
        Ok(Authenticated { user })
    }

    pub(crate) async fn respond_to_mfa_setup(
        &self,
        request: &RespondToMfaSetupRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        outcome!(_events => self.respond_mfa_setup_inner(request, now).await)
    }

    async fn respond_mfa_setup_inner(
        &self,
        request: &RespondToMfaSetupRequest,
        now: UnixTime,
    ) -> Result<Authenticated, Error> {
        check_clock(now)?;
        let session = SessionId::parse(&request.session)?;
        let user = api::parse_username(&request.username)?;
        self.open_session(&session, SessionPurpose::MfaSetupRespond, Some(&user), now)
            .await?;
        let verified = self
            .tokens
            .load(&user)
            .await?
            .is_some_and(|(record, _)| record.verified().is_some());
        if !verified {
            return Err(Error::NoVerifiedToken);
        }
        self.consume(&session).await?;
        Ok(Authenticated { user })
    }

    pub(crate) async fn admin_delete_software_token(
        &self,
        username: &str,
        now: UnixTime,
    ) -> Outcome<()> {
        outcome!(events => {
            match check_clock(now).and_then(|()| api::parse_username(username)) {
                Ok(user) => self.run(&user, now, &mut events, lifecycle::admin_delete).await,
                Err(error) => Err(error),
            }
        })
    }

    pub(crate) async fn get_user(&self, access_token: &str) -> Result<MfaView, Error> {
        let user = self.user_for_access_token(access_token)?;
        self.mfa_view(&user).await
    }

    pub(crate) async fn admin_get_user(&self, username: &str) -> Result<MfaView, Error> {
        self.mfa_view(&api::parse_username(username)?).await
    }

    async fn mfa_view(&self, user: &UserId) -> Result<MfaView, Error> {
        let loaded = self.tokens.load(user).await?;
        Ok(lifecycle::mfa_view(
            loaded.as_ref().map(|(record, _)| record),
        ))
    }

    pub(crate) async fn sweep_sessions(&self, now: UnixTime) -> Result<usize, Error> {
        Ok(self.sessions.sweep(now).await?)
    }

    /// Load → transition → compare-and-swap, reloading and deciding again on conflict, at most
    /// `max_attempts` times. A store error fails closed: it is returned, never read as success.
    async fn run<X>(
        &self,
        user: &UserId,
        now: UnixTime,
        events: &mut Vec<Event>,
        mut transition: impl FnMut(Option<&TokenRecord>) -> Transition<X>,
    ) -> Result<X, Error> {
        for _ in 0..self.max_attempts {
            let (record, version) = match self.tokens.load(user).await? {
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
                Next::Delete => self
                    .tokens
                    .compare_and_swap(user, version, None)
                    .await
                    .map(drop),
                Next::Store(next) => self
                    .tokens
                    .compare_and_swap(user, version, Some(next))
                    .await
                    .map(drop),
            };
            match written {
                Ok(()) => {
                    events.extend(decided_events.into_iter().map(|kind| {
                        let event = Event {
                            user: user.clone(),
                            at: now,
                            kind,
                        };
                        // Every recorded event is emitted once, here (feature `tracing`).
                        #[cfg(feature = "tracing")]
                        crate::trace::emit(&event);
                        event
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
    async fn resolve(
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
                .await
                .map(|record| record.user),
        }
    }

    /// A usable session: known, of `purpose`, for `user` (when given), not expired, not
    /// consumed.
    async fn open_session(
        &self,
        session: &SessionId,
        purpose: SessionPurpose,
        user: Option<&UserId>,
        now: UnixTime,
    ) -> Result<SessionRecord, Error> {
        let record = self
            .sessions
            .get(session)
            .await?
            .ok_or(Error::InvalidSession)?;
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

    async fn consume(&self, session: &SessionId) -> Result<(), Error> {
        self.sessions
            .consume(session)
            .await
            .map_err(|error| match error {
                ConsumeError::AlreadyConsumed => Error::SessionReused,
                ConsumeError::NotFound => Error::InvalidSession,
                ConsumeError::Store(error) => Error::Store(error),
            })
    }

    async fn issue_session<G: CryptoRng + ?Sized>(
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
        self.sessions.put(&session, record).await?;
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
