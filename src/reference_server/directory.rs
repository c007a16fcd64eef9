//! What a user pool is besides software tokens — pools, app clients, users and passwords,
//! issued access tokens — kept by the reference server itself. The crate's lifecycle never
//! sees any of it except through [`TokenDirectory`], its access-token resolver.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use crate::identity::{AccessToken, UserId};
use crate::pool::{MfaMode, PoolConfig};
use crate::service::AccessTokenResolver;
use crate::time::UnixTime;

/// A user pool: its MFA settings and users.
#[derive(Clone, Debug)]
pub(crate) struct UserPool {
    pub(crate) id: String,
    pub(crate) mfa_mode: MfaMode,
    pub(crate) software_token_mfa: bool,
    pub(crate) users: HashMap<String, User>,
}

impl UserPool {
    /// The crate's configuration for this pool, with a client's AuthSessionValidity.
    pub(crate) fn config(
        &self,
        auth_session_validity_minutes: u8,
    ) -> Result<PoolConfig, crate::Error> {
        PoolConfig::default()
            .with_software_token_mfa(true)?
            .with_mfa_mode(self.mfa_mode)?
            .with_software_token_mfa(self.software_token_mfa)?
            .with_auth_session_validity_minutes(auth_session_validity_minutes)
    }
}

/// An app client.
#[derive(Clone, Debug)]
pub(crate) struct AppClient {
    pub(crate) id: String,
    pub(crate) pool_id: String,
    pub(crate) name: String,
    pub(crate) explicit_auth_flows: Vec<String>,
    pub(crate) auth_session_validity_minutes: u8,
}

impl AppClient {
    pub(crate) fn allows_user_password_auth(&self) -> bool {
        self.explicit_auth_flows
            .iter()
            .any(|flow| flow == "ALLOW_USER_PASSWORD_AUTH" || flow == "USER_PASSWORD_AUTH")
    }
}

/// A user: name, `sub`, password and status. Its `Debug` leaves the password out.
#[derive(Clone)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) sub: String,
    pub(crate) password: Option<String>,
    pub(crate) permanent_password: bool,
    pub(crate) created_at: UnixTime,
    pub(crate) modified_at: UnixTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("sub", &self.sub)
            .field(
                "password",
                &format_args!(
                    "{}",
                    if self.password.is_some() {
                        "<redacted>"
                    } else {
                        "None"
                    }
                ),
            )
            .field("permanent_password", &self.permanent_password)
            .field("created_at", &self.created_at)
            .field("modified_at", &self.modified_at)
            .finish()
    }
}

impl User {
    pub(crate) fn status(&self) -> &'static str {
        if self.permanent_password {
            "CONFIRMED"
        } else {
            "FORCE_CHANGE_PASSWORD"
        }
    }
}

/// Where an issued access token leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TokenGrant {
    pub(crate) pool_id: String,
    pub(crate) username: String,
    pub(crate) sub: String,
    pub(crate) expires_at: UnixTime,
}

/// The server's directory of pools, clients and users. Its `Debug` prints counts only: the
/// users' passwords and the live sessions (the keys of `session_clients`) stay out.
#[derive(Default)]
pub(crate) struct Directory {
    pub(crate) pools: HashMap<String, UserPool>,
    pub(crate) clients: HashMap<String, AppClient>,
    /// The client each issued session belongs to, for the AuthSessionValidity of the sessions
    /// issued after it in the same sign-in.
    pub(crate) session_clients: HashMap<String, SessionClient>,
    /// Each user's `sub` (the crate's [`UserId`], unique across pools) → pool id.
    pub(crate) subjects: HashMap<String, String>,
}

/// The app client a session was issued for, and when: no session outlives
/// [`SessionClient::KEPT_SECS`] after it was issued, so the entry can go then.
#[derive(Clone)]
pub(crate) struct SessionClient {
    pub(crate) client_id: String,
    pub(crate) issued_at: UnixTime,
}

impl SessionClient {
    /// The longest AuthSessionValidity, 15 minutes.
    pub(crate) const KEPT_SECS: u64 = 15 * 60;
}

impl Directory {
    /// Forgets the clients of sessions issued more than 15 minutes before `now`; returns how
    /// many.
    pub(crate) fn forget_expired_sessions(&mut self, now: UnixTime) -> usize {
        let before = self.session_clients.len();
        self.session_clients
            .retain(|_, entry| now.0 < entry.issued_at.0.saturating_add(SessionClient::KEPT_SECS));
        before - self.session_clients.len()
    }
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Directory")
            .field("pools", &self.pools.len())
            .field("clients", &self.clients.len())
            .field(
                "users",
                &self
                    .pools
                    .values()
                    .map(|pool| pool.users.len())
                    .sum::<usize>(),
            )
            .field("sessions", &self.session_clients.len())
            .finish_non_exhaustive()
    }
}

/// Issued access tokens (the map's keys). Its `Debug` prints how many, never a token.
#[derive(Clone, Default)]
pub(crate) struct TokenDirectory {
    grants: Arc<Mutex<HashMap<String, TokenGrant>>>,
}

impl fmt::Debug for TokenDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("TokenDirectory");
        match try_lock(&self.grants) {
            Some(grants) => out.field("grants", &grants.len()),
            None => out.field("grants", &format_args!("<locked>")),
        };
        out.finish()
    }
}

/// The `Debug` of a locked value, without waiting: formatting while the same thread holds
/// the lock prints `<locked>` instead of deadlocking.
pub(crate) struct Locked<'a, T>(pub(crate) &'a Mutex<T>);

impl<T: fmt::Debug> fmt::Debug for Locked<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match try_lock(self.0) {
            Some(value) => value.fmt(f),
            None => f.write_str("<locked>"),
        }
    }
}

fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update under these locks is a single insert, so a poisoned lock still holds
    // consistent data.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenDirectory {
    pub(crate) fn grant(&self, token: String, grant: TokenGrant) {
        lock(&self.grants).insert(token, grant);
    }

    /// Drops the grants expired at `now`; returns how many.
    pub(crate) fn forget_expired(&self, now: UnixTime) -> usize {
        let mut grants = lock(&self.grants);
        let before = grants.len();
        grants.retain(|_, grant| now < grant.expires_at);
        before - grants.len()
    }

    /// Live and expired grants not yet forgotten.
    #[cfg(feature = "test-support")]
    pub(crate) fn len(&self) -> usize {
        lock(&self.grants).len()
    }

    /// The grant of a live token at `now`.
    pub(crate) fn lookup(&self, token: &str, now: UnixTime) -> Option<TokenGrant> {
        lock(&self.grants)
            .get(token)
            .filter(|grant| now < grant.expires_at)
            .cloned()
    }
}

/// The access-token resolver of one request: the directory judged at the request's time.
pub(crate) struct RequestResolver<'a> {
    pub(crate) tokens: &'a TokenDirectory,
    pub(crate) now: UnixTime,
}

impl AccessTokenResolver for RequestResolver<'_> {
    fn resolve(&self, token: &AccessToken) -> Option<UserId> {
        self.tokens
            .lookup(token.expose(), self.now)
            .map(|grant| UserId::new(grant.sub))
    }
}
