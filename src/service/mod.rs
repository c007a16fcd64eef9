//! The service an auth service calls, one method per Cognito operation, in a blocking and an
//! async flavour over one driver (`driver.rs`): the operations are written once.

mod blocking;
mod driver;

use rand_core::CryptoRng;

use crate::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest,
    AssociateSoftwareTokenResponse, Authenticated, RespondToMfaSetupRequest,
    RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest, SignInChallenge,
    VerifySoftwareTokenRequest, VerifySoftwareTokenResponse,
};
use crate::error::Error;
use crate::event::Event;
use crate::identity::{AccessToken, UserId};
use crate::lifecycle::MfaView;
use crate::pool::PoolConfig;
use crate::store::{AsyncSessionStore, AsyncTokenStore, SessionStore, TokenStore};
use crate::time::UnixTime;
use blocking::Blocking;
pub(crate) use blocking::block_on;
use driver::Driver;

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
}

/// Compare-and-swap attempts per operation before `ConcurrentModificationException`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// The software-token service over blocking stores ([`TokenStore`], [`SessionStore`]).
///
/// Generic over the token store, the session store and the access-token resolver; every
/// method takes `now`, and those that mint secrets or sessions take the caller's CSPRNG.
/// Several services may share one store (clone a [`MemoryStore`](crate::MemoryStore), or point
/// them at one database): replay protection, single-use sessions and the lockout hold across
/// them because every change is a compare-and-swap or a conditional consume.
///
/// [`AsyncService`] runs the same operations over async stores; a service on a blocking
/// thread can use an async backend (PostgreSQL) through it with its runtime's `block_on`.
pub struct Service<T, S, R> {
    driver: Driver<Blocking<T>, Blocking<S>, R>,
}

impl<T: TokenStore, S: SessionStore, R: AccessTokenResolver> Service<T, S, R> {
    /// A service over the given stores, resolver and pool configuration.
    pub fn new(tokens: T, sessions: S, resolver: R, pool: PoolConfig) -> Service<T, S, R> {
        Service {
            driver: Driver {
                tokens: Blocking(tokens),
                sessions: Blocking(sessions),
                resolver,
                pool,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
        }
    }

    /// Compare-and-swap attempts per operation before `ConcurrentModificationException`.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = DEFAULT_MAX_ATTEMPTS;

    /// The same service with another bound on compare-and-swap attempts (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Service<T, S, R> {
        self.driver.max_attempts = attempts.max(1);
        self
    }

    /// The pool configuration.
    pub const fn pool(&self) -> &PoolConfig {
        &self.driver.pool
    }

    /// The token store.
    pub const fn token_store(&self) -> &T {
        &self.driver.tokens.0
    }

    /// The session store.
    pub const fn session_store(&self) -> &S {
        &self.driver.sessions.0
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
        block_on(self.driver.associate_software_token(request, now, rng))
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
        block_on(self.driver.verify_software_token(request, now, rng))
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
        block_on(self.driver.set_user_mfa_preference(request, now))
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
        block_on(self.driver.admin_set_user_mfa_preference(request, now))
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
        block_on(self.driver.begin_sign_in(user, now, rng))
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
        block_on(self.driver.respond_to_software_token_mfa(request, now))
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
        block_on(self.driver.respond_to_mfa_setup(request, now))
    }

    /// AdminDeleteSoftwareToken: removes the token, any pending secret, the preference and the
    /// failure counters. Deleting a user with nothing stored succeeds.
    ///
    /// # Errors
    /// `InvalidParameterException` (bad username), store failures.
    pub fn admin_delete_software_token(&self, username: &str, now: UnixTime) -> Outcome<()> {
        block_on(self.driver.admin_delete_software_token(username, now))
    }

    /// The MFA part of GetUser, for the access token's user.
    ///
    /// # Errors
    /// `NotAuthorizedException` (invalid token), store failures.
    pub fn get_user(&self, access_token: &str) -> Result<MfaView, Error> {
        block_on(self.driver.get_user(access_token))
    }

    /// The MFA part of AdminGetUser.
    ///
    /// # Errors
    /// `InvalidParameterException` (bad username), store failures.
    pub fn admin_get_user(&self, username: &str) -> Result<MfaView, Error> {
        block_on(self.driver.admin_get_user(username))
    }

    /// Deletes sessions that expired at or before `now`: the maintenance call a deployment runs
    /// periodically. Returns how many were removed.
    ///
    /// # Errors
    /// Store failures.
    pub fn sweep_sessions(&self, now: UnixTime) -> Result<usize, Error> {
        block_on(self.driver.sweep_sessions(now))
    }
}

/// The software-token service over async stores ([`AsyncTokenStore`], [`AsyncSessionStore`]):
/// the same operations, decisions and order of effects as [`Service`], awaited on the caller's
/// runtime. The crate depends on no runtime.
pub struct AsyncService<T, S, R> {
    driver: Driver<T, S, R>,
}

impl<T: AsyncTokenStore, S: AsyncSessionStore, R: AccessTokenResolver> AsyncService<T, S, R> {
    /// A service over the given async stores, resolver and pool configuration.
    pub fn new(tokens: T, sessions: S, resolver: R, pool: PoolConfig) -> AsyncService<T, S, R> {
        AsyncService {
            driver: Driver {
                tokens,
                sessions,
                resolver,
                pool,
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
        }
    }

    /// The same service with another bound on compare-and-swap attempts (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> AsyncService<T, S, R> {
        self.driver.max_attempts = attempts.max(1);
        self
    }

    /// The pool configuration.
    pub const fn pool(&self) -> &PoolConfig {
        &self.driver.pool
    }

    /// The token store.
    pub const fn token_store(&self) -> &T {
        &self.driver.tokens
    }

    /// The session store.
    pub const fn session_store(&self) -> &S {
        &self.driver.sessions
    }

    /// The async form of [`Service::associate_software_token`].
    ///
    /// # Errors
    /// As [`Service::associate_software_token`].
    pub async fn associate_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &AssociateSoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<AssociateSoftwareTokenResponse> {
        self.driver
            .associate_software_token(request, now, rng)
            .await
    }

    /// The async form of [`Service::verify_software_token`].
    ///
    /// # Errors
    /// As [`Service::verify_software_token`].
    pub async fn verify_software_token<G: CryptoRng + ?Sized>(
        &self,
        request: &VerifySoftwareTokenRequest,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<VerifySoftwareTokenResponse> {
        self.driver.verify_software_token(request, now, rng).await
    }

    /// The async form of [`Service::set_user_mfa_preference`].
    ///
    /// # Errors
    /// As [`Service::set_user_mfa_preference`].
    pub async fn set_user_mfa_preference(
        &self,
        request: &SetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        self.driver.set_user_mfa_preference(request, now).await
    }

    /// The async form of [`Service::admin_set_user_mfa_preference`].
    ///
    /// # Errors
    /// As [`Service::admin_set_user_mfa_preference`].
    pub async fn admin_set_user_mfa_preference(
        &self,
        request: &AdminSetUserMfaPreferenceRequest,
        now: UnixTime,
    ) -> Outcome<()> {
        self.driver
            .admin_set_user_mfa_preference(request, now)
            .await
    }

    /// The async form of [`Service::begin_sign_in`].
    ///
    /// # Errors
    /// As [`Service::begin_sign_in`].
    pub async fn begin_sign_in<G: CryptoRng + ?Sized>(
        &self,
        user: &UserId,
        now: UnixTime,
        rng: &mut G,
    ) -> Outcome<Option<SignInChallenge>> {
        self.driver.begin_sign_in(user, now, rng).await
    }

    /// The async form of [`Service::respond_to_software_token_mfa`].
    ///
    /// # Errors
    /// As [`Service::respond_to_software_token_mfa`].
    pub async fn respond_to_software_token_mfa(
        &self,
        request: &RespondToSoftwareTokenMfaRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        self.driver
            .respond_to_software_token_mfa(request, now)
            .await
    }

    /// The async form of [`Service::respond_to_mfa_setup`].
    ///
    /// # Errors
    /// As [`Service::respond_to_mfa_setup`].
    pub async fn respond_to_mfa_setup(
        &self,
        request: &RespondToMfaSetupRequest,
        now: UnixTime,
    ) -> Outcome<Authenticated> {
        self.driver.respond_to_mfa_setup(request, now).await
    }

    /// The async form of [`Service::admin_delete_software_token`].
    ///
    /// # Errors
    /// As [`Service::admin_delete_software_token`].
    pub async fn admin_delete_software_token(&self, username: &str, now: UnixTime) -> Outcome<()> {
        self.driver.admin_delete_software_token(username, now).await
    }

    /// The async form of [`Service::get_user`].
    ///
    /// # Errors
    /// As [`Service::get_user`].
    pub async fn get_user(&self, access_token: &str) -> Result<MfaView, Error> {
        self.driver.get_user(access_token).await
    }

    /// The async form of [`Service::admin_get_user`].
    ///
    /// # Errors
    /// As [`Service::admin_get_user`].
    pub async fn admin_get_user(&self, username: &str) -> Result<MfaView, Error> {
        self.driver.admin_get_user(username).await
    }

    /// The async form of [`Service::sweep_sessions`].
    ///
    /// # Errors
    /// As [`Service::sweep_sessions`].
    pub async fn sweep_sessions(&self, now: UnixTime) -> Result<usize, Error> {
        self.driver.sweep_sessions(now).await
    }
}
