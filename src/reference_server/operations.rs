//! The operations: each reads its request into a `serde` type (the crate's API request type
//! for the software-token operations, a struct of its own for the server's pools, clients,
//! users and passwords), checks the members' lengths, consults the directory, calls the
//! crate's [`AsyncService`] for everything about software tokens, and serialises Cognito's
//! response (the crate's API response types where they exist).

use std::collections::{BTreeMap, HashMap};

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ReferenceServer;
use super::ServerStore;
use super::directory::{AppClient, RequestResolver, SessionClient, TokenGrant, User, UserPool};
use super::members::{lower_first, read};
use super::wire::{Refusal, WireResponse};
use crate::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest, ChallengeName,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    VerifySoftwareTokenRequest,
};
use crate::identity::{AccessToken, Principal, SessionId, UserId};
use crate::lifecycle::MfaView;
use crate::pool::MfaMode;
use crate::service::AsyncService;
use crate::store::AsyncSessionStore;
use crate::time::UnixTime;

/// Access, ID and refresh tokens live this long (Cognito's default access-token validity).
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// `PoolName`: 1 to 128 characters (Cognito's constraint).
pub const POOL_NAME_CHARS: (usize, usize) = (1, 128);
/// `ClientName`: 1 to 128 characters.
pub const CLIENT_NAME_CHARS: (usize, usize) = (1, 128);
/// `UserPoolId`: 1 to 55 characters.
pub const USER_POOL_ID_CHARS: (usize, usize) = (1, 55);
/// `ClientId`: 1 to 128 characters.
pub const CLIENT_ID_CHARS: (usize, usize) = (1, 128);
/// `Password` and `TemporaryPassword`: at most 256 characters.
pub const PASSWORD_CHARS: (usize, usize) = (0, 256);
/// `AccessToken`: 1 to [`AccessToken::MAX_LEN`](crate::AccessToken::MAX_LEN) characters, the
/// crate's own bound (Cognito documents none), checked by
/// [`AccessToken::parse`](crate::AccessToken::parse) for every operation that takes one.
pub const ACCESS_TOKEN_CHARS: (usize, usize) = (1, crate::AccessToken::MAX_LEN);

type PoolService<'a> = AsyncService<ServerStore, ServerStore, RequestResolver<'a>>;

/// `InvalidParameterException` unless `value` has `bounds` characters (inclusive), worded as
/// Cognito words its length constraints.
fn check_length(member: &str, value: &str, (min, max): (usize, usize)) -> Result<(), Refusal> {
    let length = value.chars().count();
    let constraint = if length < min {
        format!("greater than or equal to {min}")
    } else if length > max {
        format!("less than or equal to {max}")
    } else {
        return Ok(());
    };
    Err(Refusal::invalid_parameter(format!(
        "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must \
         have length {constraint}",
        lower_first(member)
    )))
}

/// A Cognito `Username`: 1 to 128 characters (the crate's check).
fn check_username(username: &str) -> Result<(), Refusal> {
    crate::api::parse_username(username)?;
    Ok(())
}

/// Random text from the request's CSPRNG: `len` characters of `[0-9a-z]`.
fn random_text<G: CryptoRng + ?Sized>(rng: &mut G, len: usize) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    rng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|byte| {
            ALPHABET
                .get(usize::from(*byte) % ALPHABET.len())
                .map_or('0', |c| char::from(*c))
        })
        .collect()
}

/// Cognito's `ExplicitAuthFlowsType` values, in the order its validation message lists them.
pub const EXPLICIT_AUTH_FLOWS: [&str; 9] = [
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
];

/// `ExplicitAuthFlows` validated against [`EXPLICIT_AUTH_FLOWS`], duplicates dropped (the
/// first kept), so a stored list has at most nine entries of Cognito's spelling; any other
/// value refuses the whole list with Cognito's enum constraint (the value is not echoed).
fn explicit_auth_flows(flows: &[String]) -> Result<Vec<String>, Refusal> {
    let mut valid: Vec<String> = Vec::with_capacity(EXPLICIT_AUTH_FLOWS.len());
    for flow in flows {
        if !EXPLICIT_AUTH_FLOWS.contains(&flow.as_str()) {
            return Err(Refusal::invalid_parameter(format!(
                "1 validation error detected: Value at 'explicitAuthFlows' failed to satisfy \
                 constraint: Member must satisfy constraint: [Member must satisfy enum value \
                 set: [{}]]",
                EXPLICIT_AUTH_FLOWS.join(", ")
            )));
        }
        if !valid.contains(flow) {
            valid.push(flow.clone());
        }
    }
    Ok(valid)
}

fn mfa_mode(text: &str) -> Result<MfaMode, Refusal> {
    match text {
        "OFF" => Ok(MfaMode::Off),
        "OPTIONAL" => Ok(MfaMode::Optional),
        "ON" => Ok(MfaMode::On),
        _ => Err(Refusal::invalid_parameter(
            "1 validation error detected: Value at 'mfaConfiguration' failed to satisfy \
             constraint: Member must satisfy enum value set: [OFF, ON, OPTIONAL]",
        )),
    }
}

// -- The server's own requests -------------------------------------------------------------

/// CreateUserPool's members this server reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserPool {
    pool_name: String,
    mfa_configuration: Option<String>,
}

/// CreateUserPoolClient's members this server reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserPoolClient {
    user_pool_id: String,
    client_name: String,
    explicit_auth_flows: Option<Vec<String>>,
    auth_session_validity: Option<i64>,
}

/// SetUserPoolMfaConfig's members this server reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SetUserPoolMfaConfig {
    user_pool_id: String,
    software_token_mfa_configuration: Option<SoftwareTokenMfaConfiguration>,
    mfa_configuration: Option<String>,
}

/// `SoftwareTokenMfaConfiguration`, in requests and responses.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SoftwareTokenMfaConfiguration {
    enabled: Option<bool>,
}

/// A request naming a pool (GetUserPoolMfaConfig).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRequest {
    user_pool_id: String,
}

/// A request naming a pool and one of its users (the admin operations).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminUserRequest {
    user_pool_id: String,
    username: String,
}

/// AdminCreateUser's members this server reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminCreateUser {
    user_pool_id: String,
    username: String,
    temporary_password: Option<String>,
}

/// AdminSetUserPassword's members.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminSetUserPassword {
    user_pool_id: String,
    username: String,
    password: String,
    permanent: Option<bool>,
}

/// InitiateAuth's members this server reads.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateAuth {
    auth_flow: String,
    client_id: String,
    auth_parameters: Option<AuthParameters>,
}

/// `AuthParameters` of USER_PASSWORD_AUTH.
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct AuthParameters {
    username: Option<String>,
    password: Option<String>,
}

/// RespondToAuthChallenge's members. Not the crate's request types: those take the user as
/// the crate knows it (here the user's `sub`, looked up from `USERNAME` in the client's
/// pool), do not carry `ClientId`, and word a missing response member differently from
/// Cognito's "Missing required parameter …".
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RespondToAuthChallenge {
    client_id: String,
    challenge_name: String,
    session: String,
    challenge_responses: Option<ChallengeResponses>,
}

/// `ChallengeResponses` of the two challenges.
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct ChallengeResponses {
    username: Option<String>,
    software_token_mfa_code: Option<String>,
}

// -- The server's own responses ------------------------------------------------------------

/// `{}`.
#[derive(Serialize)]
struct Empty {}

/// An entry of `Attributes` / `UserAttributes`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Attribute<'a> {
    name: &'a str,
    value: &'a str,
}

fn attributes(user: &User) -> [Attribute<'_>; 1] {
    [Attribute {
        name: "sub",
        value: &user.sub,
    }]
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserPoolResponse<'a> {
    user_pool: UserPoolDescription<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPoolDescription<'a> {
    id: &'a str,
    name: &'a str,
    mfa_configuration: MfaMode,
    creation_date: u64,
    last_modified_date: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CreateUserPoolClientResponse<'a> {
    user_pool_client: UserPoolClientDescription<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserPoolClientDescription<'a> {
    client_id: &'a str,
    user_pool_id: &'a str,
    client_name: &'a str,
    explicit_auth_flows: &'a [String],
    auth_session_validity: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MfaConfigResponse {
    software_token_mfa_configuration: SoftwareTokenMfaConfiguration,
    mfa_configuration: MfaMode,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AdminCreateUserResponse<'a> {
    user: UserDescription<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct UserDescription<'a> {
    username: &'a str,
    attributes: [Attribute<'a>; 1],
    user_create_date: u64,
    user_last_modified_date: u64,
    enabled: bool,
    user_status: &'static str,
}

/// A completed sign-in.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticationResponse {
    authentication_result: AuthenticationResult,
    challenge_parameters: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticationResult {
    access_token: String,
    id_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// GetUser's response: the user and the crate's MFA view.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetUserResponse<'a> {
    username: &'a str,
    user_attributes: [Attribute<'a>; 1],
    #[serde(flatten)]
    mfa: MfaView,
}

/// AdminGetUser's response: the user and the crate's MFA view.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AdminGetUserResponse<'a> {
    username: &'a str,
    user_attributes: [Attribute<'a>; 1],
    user_create_date: u64,
    user_last_modified_date: u64,
    enabled: bool,
    user_status: &'static str,
    #[serde(flatten)]
    mfa: MfaView,
}

impl ReferenceServer {
    /// The pool, or `ResourceNotFoundException`.
    fn pool(&self, pool_id: &str) -> Result<UserPool, Refusal> {
        self.directory().pools.get(pool_id).cloned().ok_or_else(|| {
            Refusal::resource_not_found(format!("User pool {pool_id} does not exist."))
        })
    }

    fn client(&self, client_id: &str) -> Result<AppClient, Refusal> {
        self.directory()
            .clients
            .get(client_id)
            .cloned()
            .ok_or_else(|| Refusal::resource_not_found("User pool client does not exist."))
    }

    /// A service for one pool, with the sessions it issues living as long as `client` says.
    fn service<'a>(
        &'a self,
        pool: &UserPool,
        validity_minutes: u8,
        now: UnixTime,
    ) -> Result<PoolService<'a>, Refusal> {
        let config = pool.config(validity_minutes)?;
        Ok(AsyncService::new(
            self.store.clone(),
            self.store.clone(),
            RequestResolver {
                tokens: &self.tokens,
                now,
            },
            config,
        ))
    }

    /// The pool and AuthSessionValidity a request's principal belongs to: an access token's
    /// grant, or the session's user and the client that began its sign-in.
    async fn principal_pool(
        &self,
        principal: &Principal,
        now: UnixTime,
    ) -> Result<(UserPool, u8), Refusal> {
        match principal {
            Principal::AccessToken(token) => {
                let grant = self
                    .tokens
                    .lookup(token.expose(), now)
                    .ok_or(crate::Error::InvalidAccessToken)?;
                Ok((self.pool(&grant.pool_id)?, 3))
            }
            Principal::Session(session) => {
                let record = AsyncSessionStore::get(&self.store, session)
                    .await
                    .map_err(crate::Error::from)?
                    .ok_or(crate::Error::InvalidSession)?;
                let pool_id = self
                    .directory()
                    .subjects
                    .get(record.user.as_str())
                    .cloned()
                    .ok_or(crate::Error::InvalidSession)?;
                let pool = self.pool(&pool_id)?;
                let directory = self.directory();
                let validity = directory
                    .session_clients
                    .get(session.expose())
                    .and_then(|entry| directory.clients.get(&entry.client_id))
                    .map_or(3, |client| client.auth_session_validity_minutes);
                Ok((pool, validity))
            }
        }
    }

    fn remember_session(&self, session: &SessionId, client_id: &str, now: UnixTime) {
        self.directory().session_clients.insert(
            session.expose().to_owned(),
            SessionClient {
                client_id: client_id.to_owned(),
                issued_at: now,
            },
        );
    }

    fn session_client(&self, session: &SessionId) -> Option<String> {
        self.directory()
            .session_clients
            .get(session.expose())
            .map(|entry| entry.client_id.clone())
    }

    fn authentication_result<G: CryptoRng + ?Sized>(
        &self,
        pool_id: &str,
        user: &User,
        now: UnixTime,
        rng: &mut G,
    ) -> WireResponse {
        let access_token = random_text(rng, 64);
        self.tokens.grant(
            access_token.clone(),
            TokenGrant {
                pool_id: pool_id.to_owned(),
                username: user.username.clone(),
                sub: user.sub.clone(),
                expires_at: UnixTime(now.0.saturating_add(TOKEN_LIFETIME_SECS)),
            },
        );
        WireResponse::ok(&AuthenticationResponse {
            authentication_result: AuthenticationResult {
                access_token,
                id_token: random_text(rng, 64),
                refresh_token: random_text(rng, 64),
                token_type: "Bearer",
                expires_in: TOKEN_LIFETIME_SECS,
            },
            challenge_parameters: BTreeMap::new(),
        })
    }

    pub(crate) fn create_user_pool<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: CreateUserPool = read(body)?;
        check_length("PoolName", &request.pool_name, POOL_NAME_CHARS)?;
        let mode = request
            .mfa_configuration
            .as_deref()
            .map(mfa_mode)
            .transpose()?
            .unwrap_or(MfaMode::Off);
        if mode == MfaMode::On {
            return Err(Refusal::invalid_parameter(
                "MFA configuration ON requires software token MFA to be enabled; create the pool \
                 with OFF or OPTIONAL and enable it with SetUserPoolMfaConfig",
            ));
        }
        let id = format!("us-east-1_{}", random_text(rng, 9));
        let pool = UserPool {
            id: id.clone(),
            mfa_mode: mode,
            software_token_mfa: false,
            users: HashMap::new(),
        };
        self.directory().pools.insert(id.clone(), pool);
        Ok(WireResponse::ok(&CreateUserPoolResponse {
            user_pool: UserPoolDescription {
                id: &id,
                name: &request.pool_name,
                mfa_configuration: mode,
                creation_date: now.0,
                last_modified_date: now.0,
            },
        }))
    }

    pub(crate) fn create_user_pool_client<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: CreateUserPoolClient = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        check_length("ClientName", &request.client_name, CLIENT_NAME_CHARS)?;
        let explicit_auth_flows =
            explicit_auth_flows(request.explicit_auth_flows.as_deref().unwrap_or_default())?;
        let validity = match request.auth_session_validity {
            None => 3,
            Some(minutes @ 3..=15) => u8::try_from(minutes).unwrap_or(3),
            Some(_) => {
                return Err(Refusal::invalid_parameter(
                    "1 validation error detected: Value at 'authSessionValidity' failed to \
                     satisfy constraint: Member must have value between 3 and 15",
                ));
            }
        };
        self.pool(&request.user_pool_id)?;
        let client = AppClient {
            id: random_text(rng, 26),
            pool_id: request.user_pool_id,
            name: request.client_name,
            explicit_auth_flows,
            auth_session_validity_minutes: validity,
        };
        let response = WireResponse::ok(&CreateUserPoolClientResponse {
            user_pool_client: UserPoolClientDescription {
                client_id: &client.id,
                user_pool_id: &client.pool_id,
                client_name: &client.name,
                explicit_auth_flows: &client.explicit_auth_flows,
                auth_session_validity: validity,
            },
        });
        self.directory().clients.insert(client.id.clone(), client);
        Ok(response)
    }

    pub(crate) fn set_user_pool_mfa_config(&self, body: &Value) -> Result<WireResponse, Refusal> {
        let request: SetUserPoolMfaConfig = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        let mode = request
            .mfa_configuration
            .as_deref()
            .map(mfa_mode)
            .transpose()?;
        let mut pool = self.pool(&request.user_pool_id)?;
        if let Some(software) = request.software_token_mfa_configuration {
            pool.software_token_mfa = software.enabled.unwrap_or(false);
        }
        if let Some(mode) = mode {
            pool.mfa_mode = mode;
        }
        // The crate's validation: ON needs the software token, this server's only factor.
        pool.config(3)?;
        let response = Self::mfa_config_response(&pool);
        self.directory().pools.insert(pool.id.clone(), pool);
        Ok(response)
    }

    pub(crate) fn get_user_pool_mfa_config(&self, body: &Value) -> Result<WireResponse, Refusal> {
        let request: PoolRequest = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        let pool = self.pool(&request.user_pool_id)?;
        Ok(Self::mfa_config_response(&pool))
    }

    fn mfa_config_response(pool: &UserPool) -> WireResponse {
        WireResponse::ok(&MfaConfigResponse {
            software_token_mfa_configuration: SoftwareTokenMfaConfiguration {
                enabled: Some(pool.software_token_mfa),
            },
            mfa_configuration: pool.mfa_mode,
        })
    }

    pub(crate) fn admin_create_user<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: AdminCreateUser = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        check_username(&request.username)?;
        if let Some(password) = &request.temporary_password {
            check_length("TemporaryPassword", password, PASSWORD_CHARS)?;
        }
        let pool_id = request.user_pool_id;
        let username = request.username;
        let mut directory = self.directory();
        let pool = directory.pools.get_mut(&pool_id).ok_or_else(|| {
            Refusal::resource_not_found(format!("User pool {pool_id} does not exist."))
        })?;
        if pool.users.contains_key(&username) {
            return Err(Refusal::new(
                "UsernameExistsException",
                "User account already exists",
            ));
        }
        let user = User {
            username: username.clone(),
            sub: format!(
                "{}-{}-{}-{}-{}",
                random_text(rng, 8),
                random_text(rng, 4),
                random_text(rng, 4),
                random_text(rng, 4),
                random_text(rng, 12)
            ),
            password: request.temporary_password,
            permanent_password: false,
            created_at: now,
            modified_at: now,
        };
        let response = WireResponse::ok(&AdminCreateUserResponse {
            user: UserDescription {
                username: &username,
                attributes: attributes(&user),
                user_create_date: now.0,
                user_last_modified_date: now.0,
                enabled: true,
                user_status: user.status(),
            },
        });
        let sub = user.sub.clone();
        pool.users.insert(username, user);
        directory.subjects.insert(sub, pool_id);
        Ok(response)
    }

    pub(crate) fn admin_set_user_password(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        let request: AdminSetUserPassword = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        check_username(&request.username)?;
        check_length("Password", &request.password, PASSWORD_CHARS)?;
        let mut directory = self.directory();
        let pool = directory
            .pools
            .get_mut(&request.user_pool_id)
            .ok_or_else(|| {
                Refusal::resource_not_found(format!(
                    "User pool {} does not exist.",
                    request.user_pool_id
                ))
            })?;
        let user = pool
            .users
            .get_mut(&request.username)
            .ok_or_else(Refusal::user_not_found)?;
        user.password = Some(request.password);
        user.permanent_password = request.permanent.unwrap_or(false);
        user.modified_at = now;
        Ok(WireResponse::ok(&Empty {}))
    }

    pub(crate) async fn initiate_auth<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: InitiateAuth = read(body)?;
        check_length("ClientId", &request.client_id, CLIENT_ID_CHARS)?;
        // The parameters' bounds before anything is looked up. Other AuthParameters entries
        // are ignored, never stored.
        if let Some(parameters) = &request.auth_parameters {
            if let Some(username) = &parameters.username {
                check_username(username)?;
            }
            if let Some(password) = &parameters.password {
                check_length("Password", password, PASSWORD_CHARS)?;
            }
        }
        let client = self.client(&request.client_id)?;
        if request.auth_flow != "USER_PASSWORD_AUTH" {
            return Err(Refusal::invalid_parameter(format!(
                "This reference server supports only the USER_PASSWORD_AUTH flow, not {}",
                request.auth_flow
            )));
        }
        if !client.allows_user_password_auth() {
            return Err(Refusal::invalid_parameter(
                "USER_PASSWORD_AUTH flow not enabled for this client",
            ));
        }
        let parameters = request
            .auth_parameters
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let username = parameters
            .username
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let password = parameters
            .password
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter PASSWORD"))?;
        let pool = self.pool(&client.pool_id)?;
        let user = pool
            .users
            .get(&username)
            .filter(|user| user.password.as_deref() == Some(password.as_str()))
            .ok_or_else(|| {
                Refusal::new("NotAuthorizedException", "Incorrect username or password.")
            })?;
        if !user.permanent_password {
            return Err(Refusal::new(
                "NotAuthorizedException",
                "This reference server does not implement NEW_PASSWORD_REQUIRED: set a permanent \
                 password with AdminSetUserPassword (Permanent=true) first",
            ));
        }
        let service = self.service(&pool, client.auth_session_validity_minutes, now)?;
        let outcome = service
            .begin_sign_in(&UserId::new(user.sub.as_str()), now, rng)
            .await;
        match outcome.result? {
            Some(challenge) => {
                self.remember_session(&challenge.session, &client.id, now);
                Ok(WireResponse::ok(&challenge))
            }
            None => Ok(self.authentication_result(&pool.id, user, now, rng)),
        }
    }

    pub(crate) async fn respond_to_auth_challenge<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let envelope: RespondToAuthChallenge = read(body)?;
        check_length("ClientId", &envelope.client_id, CLIENT_ID_CHARS)?;
        // USERNAME's bound before anything is looked up (the code and the session are the
        // crate's to check). Other ChallengeResponses entries are ignored, never stored.
        if let Some(username) = envelope
            .challenge_responses
            .as_ref()
            .and_then(|responses| responses.username.as_ref())
        {
            check_username(username)?;
        }
        let client = self.client(&envelope.client_id)?;
        let responses = envelope
            .challenge_responses
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let username = responses
            .username
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let pool = self.pool(&client.pool_id)?;
        let service = self.service(&pool, client.auth_session_validity_minutes, now)?;
        // The crate knows users by `sub`. An unknown user name cannot own the session: the
        // crate refuses it as an invalid session, as it does a session of another user.
        let user = pool.users.get(&username).cloned();
        let subject = user
            .as_ref()
            .map_or_else(|| "-".to_owned(), |user| user.sub.clone());
        let result = if envelope.challenge_name == ChallengeName::SoftwareTokenMfa.as_str() {
            let code = responses.software_token_mfa_code.ok_or_else(|| {
                Refusal::invalid_parameter("Missing required parameter SOFTWARE_TOKEN_MFA_CODE")
            })?;
            let request = RespondToSoftwareTokenMfaRequest {
                session: envelope.session,
                username: subject,
                software_token_mfa_code: code,
            };
            service
                .respond_to_software_token_mfa(&request, now)
                .await
                .result
        } else if envelope.challenge_name == ChallengeName::MfaSetup.as_str() {
            let request = RespondToMfaSetupRequest {
                session: envelope.session,
                username: subject,
            };
            service.respond_to_mfa_setup(&request, now).await.result
        } else {
            return Err(Refusal::invalid_parameter(format!(
                "This reference server answers only SOFTWARE_TOKEN_MFA and MFA_SETUP, not {}",
                envelope.challenge_name
            )));
        };
        result?;
        let user = user.ok_or_else(Refusal::user_not_found)?;
        Ok(self.authentication_result(&pool.id, &user, now, rng))
    }

    pub(crate) async fn associate_software_token<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: AssociateSoftwareTokenRequest = read(body)?;
        let (service, client) = self
            .principal_service(&request.access_token, &request.session, now)
            .await?;
        let response = service
            .associate_software_token(&request, now, rng)
            .await
            .result?;
        self.remember_next_session(response.session.as_ref(), client, now);
        Ok(WireResponse::ok(&response))
    }

    pub(crate) async fn verify_software_token<G: CryptoRng + ?Sized>(
        &self,
        body: &Value,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<WireResponse, Refusal> {
        let request: VerifySoftwareTokenRequest = read(body)?;
        let (service, client) = self
            .principal_service(&request.access_token, &request.session, now)
            .await?;
        let response = service
            .verify_software_token(&request, now, rng)
            .await
            .result?;
        self.remember_next_session(response.session.as_ref(), client, now);
        Ok(WireResponse::ok(&response))
    }

    /// The service of the pool the request's principal (access token or session) belongs
    /// to, and the app client that began the principal's sign-in, if any.
    async fn principal_service(
        &self,
        access_token: &Option<String>,
        session: &Option<String>,
        now: UnixTime,
    ) -> Result<(PoolService<'_>, Option<String>), Refusal> {
        // `Principal::from_request` checks the access token's bounds (`AccessToken::parse`) and
        // the session's (`SessionId::parse`) before anything is looked up.
        let principal = Principal::from_request(access_token.as_deref(), session.as_deref())?;
        let (pool, validity) = self.principal_pool(&principal, now).await?;
        let client = match &principal {
            Principal::Session(session) => self.session_client(session),
            Principal::AccessToken(_) => None,
        };
        Ok((self.service(&pool, validity, now)?, client))
    }

    /// Ties the session an operation returned to the app client of the sign-in it continues.
    fn remember_next_session(
        &self,
        session: Option<&SessionId>,
        client: Option<String>,
        now: UnixTime,
    ) {
        if let (Some(session), Some(client)) = (session, client) {
            self.remember_session(session, &client, now);
        }
    }

    /// The pool and user name an access token belongs to.
    fn token_user(&self, token: &str, now: UnixTime) -> Result<(UserPool, String), Refusal> {
        // The crate's bound ([`ACCESS_TOKEN_CHARS`]), before the lookup.
        let token = AccessToken::parse(token)?;
        let grant = self
            .tokens
            .lookup(token.expose(), now)
            .ok_or(crate::Error::InvalidAccessToken)?;
        Ok((self.pool(&grant.pool_id)?, grant.username))
    }

    /// The pool and an existing user of it, or `UserNotFoundException`.
    fn admin_user(&self, body: &Value) -> Result<(UserPool, User), Refusal> {
        let request: AdminUserRequest = read(body)?;
        check_length("UserPoolId", &request.user_pool_id, USER_POOL_ID_CHARS)?;
        check_username(&request.username)?;
        let pool = self.pool(&request.user_pool_id)?;
        let user = pool
            .users
            .get(&request.username)
            .cloned()
            .ok_or_else(Refusal::user_not_found)?;
        Ok((pool, user))
    }

    pub(crate) async fn set_user_mfa_preference(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        let request: SetUserMfaPreferenceRequest = read(body)?;
        let (pool, _) = self.token_user(&request.access_token, now)?;
        self.service(&pool, 3, now)?
            .set_user_mfa_preference(&request, now)
            .await
            .result?;
        Ok(WireResponse::ok(&Empty {}))
    }

    pub(crate) async fn admin_set_user_mfa_preference(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        let request: AdminSetUserMfaPreferenceRequest = read(body)?;
        let (pool, user) = self.admin_user(body)?;
        // The crate knows the user by `sub`.
        let request = AdminSetUserMfaPreferenceRequest {
            username: user.sub.clone(),
            ..request
        };
        self.service(&pool, 3, now)?
            .admin_set_user_mfa_preference(&request, now)
            .await
            .result?;
        Ok(WireResponse::ok(&Empty {}))
    }

    pub(crate) async fn get_user(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct GetUser {
            access_token: String,
        }
        let request: GetUser = read(body)?;
        let (pool, username) = self.token_user(&request.access_token, now)?;
        let user = pool
            .users
            .get(&username)
            .cloned()
            .ok_or_else(Refusal::user_not_found)?;
        let mfa = self
            .service(&pool, 3, now)?
            .get_user(&request.access_token)
            .await?;
        Ok(WireResponse::ok(&GetUserResponse {
            username: &username,
            user_attributes: attributes(&user),
            mfa,
        }))
    }

    pub(crate) async fn admin_get_user(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        let (pool, user) = self.admin_user(body)?;
        let mfa = self
            .service(&pool, 3, now)?
            .admin_get_user(&user.sub)
            .await?;
        Ok(WireResponse::ok(&AdminGetUserResponse {
            username: &user.username,
            user_attributes: attributes(&user),
            user_create_date: user.created_at.0,
            user_last_modified_date: user.modified_at.0,
            enabled: true,
            user_status: user.status(),
            mfa,
        }))
    }

    pub(crate) async fn admin_delete_software_token(
        &self,
        body: &Value,
        now: UnixTime,
    ) -> Result<WireResponse, Refusal> {
        let (pool, user) = self.admin_user(body)?;
        self.service(&pool, 3, now)?
            .admin_delete_software_token(&user.sub, now)
            .await
            .result?;
        Ok(WireResponse::ok(&Empty {}))
    }
}
