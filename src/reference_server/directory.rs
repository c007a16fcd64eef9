//! What a user pool is besides software tokens — pools, app clients, users and passwords,
//! issued access tokens — kept by the reference server itself. The crate's lifecycle never
//! sees any of it except through [`TokenDirectory`], its access-token resolver.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// A user: name, `sub`, password and status.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) username: String,
    pub(crate) sub: String,
    pub(crate) password: Option<String>,
    pub(crate) permanent_password: bool,
    pub(crate) created_at: UnixTime,
    pub(crate) modified_at: UnixTime,
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

/// The server's directory of pools, clients and users.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    pub(crate) pools: HashMap<String, UserPool>,
    pub(crate) clients: HashMap<String, AppClient>,
    /// The client each issued session belongs to, for the AuthSessionValidity of the sessions
    /// issued after it in the same sign-in.
    pub(crate) session_clients: HashMap<String, String>,
    /// Each user's `sub` (the crate's [`UserId`], unique across pools) → pool id.
    pub(crate) subjects: HashMap<String, String>,
}

/// Issued access tokens.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenDirectory {
    grants: Arc<Mutex<HashMap<String, TokenGrant>>>,
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
