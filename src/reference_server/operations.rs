//! The operations: each reads its members, consults the directory, calls the crate's
//! [`Service`] for everything about software tokens, and writes Cognito's response.

use std::collections::HashMap;

use rand_core::CryptoRng;
use serde_json::{Map, Value};

use super::ReferenceServer;
use super::ServerStore;
use super::directory::{AppClient, RequestResolver, TokenGrant, User, UserPool};
use super::wire::{Body, Members, Refusal};
use crate::api::{
    AdminSetUserMfaPreferenceRequest, AssociateSoftwareTokenRequest, ChallengeName,
    RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    SignInChallenge, VerifySoftwareTokenRequest,
};
use crate::identity::{Principal, SessionId, UserId};
use crate::lifecycle::{MfaView, SoftwareTokenMfaSettings};
use crate::pool::MfaMode;
use crate::service::AsyncService;
use crate::store::AsyncSessionStore;
use crate::time::UnixTime;

/// Access, ID and refresh tokens live this long (Cognito's default access-token validity).
const TOKEN_LIFETIME_SECS: u64 = 3600;

type PoolService<'a> = AsyncService<ServerStore, ServerStore, RequestResolver<'a>>;

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

fn software_token_settings(
    members: &Members<'_>,
) -> Result<Option<SoftwareTokenMfaSettings>, Refusal> {
    members
        .structure("SoftwareTokenMfaSettings")?
        .map(|settings| {
            Ok(SoftwareTokenMfaSettings {
                enabled: settings.boolean("Enabled")?.unwrap_or(false),
                preferred_mfa: settings.boolean("PreferredMfa")?.unwrap_or(false),
            })
        })
        .transpose()
}

fn mfa_view_members(body: Body, view: MfaView) -> Body {
    body.with_optional("PreferredMfaSetting", view.preferred_mfa_setting)
        .with_optional("UserMFASettingList", view.user_mfa_setting_list)
}

fn attributes(user: &User) -> Value {
    Value::Array(vec![
        Body::new()
            .with("Name", "sub")
            .with("Value", user.sub.as_str())
            .into_value(),
    ])
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
                    .and_then(|client| directory.clients.get(client))
                    .map_or(3, |client| client.auth_session_validity_minutes);
                Ok((pool, validity))
            }
        }
    }

    fn remember_session(&self, session: &SessionId, client_id: &str) {
        self.directory()
            .session_clients
            .insert(session.expose().to_owned(), client_id.to_owned());
    }

    fn session_client(&self, session: &SessionId) -> Option<String> {
        self.directory()
            .session_clients
            .get(session.expose())
            .cloned()
    }

    fn authentication_result<G: CryptoRng + ?Sized>(
        &self,
        pool_id: &str,
        user: &User,
        now: UnixTime,
        rng: &mut G,
    ) -> Body {
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
        let result = Body::new()
            .with("AccessToken", access_token)
            .with("IdToken", random_text(rng, 64))
            .with("RefreshToken", random_text(rng, 64))
            .with("TokenType", "Bearer")
            .with("ExpiresIn", TOKEN_LIFETIME_SECS);
        Body::new()
            .with("AuthenticationResult", result.into_value())
            .with("ChallengeParameters", Value::Object(Map::new()))
    }

    fn challenge_body(&self, challenge: &SignInChallenge, client_id: &str) -> Body {
        self.remember_session(&challenge.session, client_id);
        let parameters: Map<String, Value> = challenge
            .challenge_parameters
            .iter()
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect();
        Body::new()
            .with("ChallengeName", challenge.challenge_name.as_str())
            .with("Session", challenge.session.expose())
            .with("ChallengeParameters", Value::Object(parameters))
    }

    pub(crate) fn create_user_pool<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let name = members.required_string("PoolName")?;
        let mode = members
            .string("MfaConfiguration")?
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
        let described = Body::new()
            .with("Id", id.as_str())
            .with("Name", name)
            .with("MfaConfiguration", mode.as_str())
            .with("CreationDate", now.0)
            .with("LastModifiedDate", now.0);
        Ok(Body::new().with("UserPool", described.into_value()))
    }

    pub(crate) fn create_user_pool_client<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let pool_id = members.required_string("UserPoolId")?;
        let name = members.required_string("ClientName")?;
        self.pool(pool_id)?;
        let flows: Vec<String> = members
            .string_list("ExplicitAuthFlows")?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let validity = match members.integer("AuthSessionValidity")? {
            None => 3,
            Some(minutes @ 3..=15) => u8::try_from(minutes).unwrap_or(3),
            Some(_) => {
                return Err(Refusal::invalid_parameter(
                    "1 validation error detected: Value at 'authSessionValidity' failed to \
                     satisfy constraint: Member must have value between 3 and 15",
                ));
            }
        };
        let client = AppClient {
            id: random_text(rng, 26),
            pool_id: pool_id.to_owned(),
            name: name.to_owned(),
            explicit_auth_flows: flows.clone(),
            auth_session_validity_minutes: validity,
        };
        let described = Body::new()
            .with("ClientId", client.id.as_str())
            .with("UserPoolId", pool_id)
            .with("ClientName", client.name.as_str())
            .with("ExplicitAuthFlows", flows)
            .with("AuthSessionValidity", validity);
        self.directory().clients.insert(client.id.clone(), client);
        Ok(Body::new().with("UserPoolClient", described.into_value()))
    }

    pub(crate) fn set_user_pool_mfa_config(&self, members: &Members<'_>) -> Result<Body, Refusal> {
        let pool_id = members.required_string("UserPoolId")?;
        let mut pool = self.pool(pool_id)?;
        if let Some(software) = members.structure("SoftwareTokenMfaConfiguration")? {
            pool.software_token_mfa = software.boolean("Enabled")?.unwrap_or(false);
        }
        if let Some(mode) = members.string("MfaConfiguration")? {
            pool.mfa_mode = mfa_mode(mode)?;
        }
        // The crate's validation: ON needs the software token, this server's only factor.
        pool.config(3)?;
        let body = Self::mfa_config_body(&pool);
        self.directory().pools.insert(pool.id.clone(), pool);
        Ok(body)
    }

    pub(crate) fn get_user_pool_mfa_config(&self, members: &Members<'_>) -> Result<Body, Refusal> {
        let pool = self.pool(members.required_string("UserPoolId")?)?;
        Ok(Self::mfa_config_body(&pool))
    }

    fn mfa_config_body(pool: &UserPool) -> Body {
        Body::new()
            .with(
                "SoftwareTokenMfaConfiguration",
                Body::new()
                    .with("Enabled", pool.software_token_mfa)
                    .into_value(),
            )
            .with("MfaConfiguration", pool.mfa_mode.as_str())
    }

    pub(crate) fn admin_create_user<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let pool_id = members.required_string("UserPoolId")?;
        let username = members.required_string("Username")?;
        crate::api::parse_username(username)?;
        let password = members.string("TemporaryPassword")?;
        let mut directory = self.directory();
        let pool = directory.pools.get_mut(pool_id).ok_or_else(|| {
            Refusal::resource_not_found(format!("User pool {pool_id} does not exist."))
        })?;
        if pool.users.contains_key(username) {
            return Err(Refusal::new(
                "UsernameExistsException",
                "User account already exists",
            ));
        }
        let user = User {
            username: username.to_owned(),
            sub: format!(
                "{}-{}-{}-{}-{}",
                random_text(rng, 8),
                random_text(rng, 4),
                random_text(rng, 4),
                random_text(rng, 4),
                random_text(rng, 12)
            ),
            password: password.map(str::to_owned),
            permanent_password: false,
            created_at: now,
            modified_at: now,
        };
        let described = Body::new()
            .with("Username", username)
            .with("Attributes", attributes(&user))
            .with("UserCreateDate", now.0)
            .with("UserLastModifiedDate", now.0)
            .with("Enabled", true)
            .with("UserStatus", user.status());
        let sub = user.sub.clone();
        pool.users.insert(username.to_owned(), user);
        directory.subjects.insert(sub, pool_id.to_owned());
        Ok(Body::new().with("User", described.into_value()))
    }

    pub(crate) fn admin_set_user_password(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let pool_id = members.required_string("UserPoolId")?;
        let username = members.required_string("Username")?;
        let password = members.required_string("Password")?;
        let permanent = members.boolean("Permanent")?.unwrap_or(false);
        let mut directory = self.directory();
        let pool = directory.pools.get_mut(pool_id).ok_or_else(|| {
            Refusal::resource_not_found(format!("User pool {pool_id} does not exist."))
        })?;
        let user = pool
            .users
            .get_mut(username)
            .ok_or_else(Refusal::user_not_found)?;
        user.password = Some(password.to_owned());
        user.permanent_password = permanent;
        user.modified_at = now;
        Ok(Body::new())
    }

    pub(crate) async fn initiate_auth<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let flow = members.required_string("AuthFlow")?;
        let client = self.client(members.required_string("ClientId")?)?;
        if flow != "USER_PASSWORD_AUTH" {
            return Err(Refusal::invalid_parameter(format!(
                "This reference server supports only the USER_PASSWORD_AUTH flow, not {flow}"
            )));
        }
        if !client.allows_user_password_auth() {
            return Err(Refusal::invalid_parameter(
                "USER_PASSWORD_AUTH flow not enabled for this client",
            ));
        }
        let parameters = members
            .structure("AuthParameters")?
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let username = parameters
            .string("USERNAME")?
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let password = parameters
            .string("PASSWORD")?
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter PASSWORD"))?;
        let pool = self.pool(&client.pool_id)?;
        let user = pool
            .users
            .get(username)
            .filter(|user| user.password.as_deref() == Some(password))
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
            Some(challenge) => Ok(self.challenge_body(&challenge, &client.id)),
            None => Ok(self.authentication_result(&pool.id, user, now, rng)),
        }
    }

    pub(crate) async fn respond_to_auth_challenge<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let client = self.client(members.required_string("ClientId")?)?;
        let challenge = members.required_string("ChallengeName")?;
        let session = members.required_string("Session")?;
        let responses = members
            .structure("ChallengeResponses")?
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let username = responses
            .string("USERNAME")?
            .ok_or_else(|| Refusal::invalid_parameter("Missing required parameter USERNAME"))?;
        let pool = self.pool(&client.pool_id)?;
        let service = self.service(&pool, client.auth_session_validity_minutes, now)?;
        // An unknown user name cannot own the session: the crate refuses it as an invalid
        // session, as it does a session of another user.
        let user = pool.users.get(username).cloned();
        let subject = user.as_ref().map_or("-", |user| user.sub.as_str());
        let result = if challenge == ChallengeName::SoftwareTokenMfa.as_str() {
            let code = responses
                .string("SOFTWARE_TOKEN_MFA_CODE")?
                .ok_or_else(|| {
                    Refusal::invalid_parameter("Missing required parameter SOFTWARE_TOKEN_MFA_CODE")
                })?;
            service
                .respond_to_software_token_mfa(
                    &RespondToSoftwareTokenMfaRequest {
                        session: session.to_owned(),
                        username: subject.to_owned(),
                        software_token_mfa_code: code.to_owned(),
                    },
                    now,
                )
                .await
        } else if challenge == ChallengeName::MfaSetup.as_str() {
            service
                .respond_to_mfa_setup(
                    &RespondToMfaSetupRequest {
                        session: session.to_owned(),
                        username: subject.to_owned(),
                    },
                    now,
                )
                .await
        } else {
            return Err(Refusal::invalid_parameter(format!(
                "This reference server answers only SOFTWARE_TOKEN_MFA and MFA_SETUP, not {challenge}"
            )));
        };
        result.result?;
        let user = user.ok_or_else(Refusal::user_not_found)?;
        Ok(self.authentication_result(&pool.id, &user, now, rng))
    }

    pub(crate) async fn associate_software_token<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let request = AssociateSoftwareTokenRequest {
            access_token: members.string("AccessToken")?.map(str::to_owned),
            session: members.string("Session")?.map(str::to_owned),
        };
        let (service, client) = self
            .principal_service(&request.access_token, &request.session, now)
            .await?;
        let response = service
            .associate_software_token(&request, now, rng)
            .await
            .result?;
        self.remember_next_session(response.session.as_ref(), client);
        Ok(Body::new()
            .with("SecretCode", response.secret_code.expose())
            .with_optional("Session", response.session.as_ref().map(SessionId::expose)))
    }

    pub(crate) async fn verify_software_token<G: CryptoRng + ?Sized>(
        &self,
        members: &Members<'_>,
        now: UnixTime,
        rng: &mut G,
    ) -> Result<Body, Refusal> {
        let request = VerifySoftwareTokenRequest {
            access_token: members.string("AccessToken")?.map(str::to_owned),
            session: members.string("Session")?.map(str::to_owned),
            user_code: members.required_string("UserCode")?.to_owned(),
            friendly_device_name: members.string("FriendlyDeviceName")?.map(str::to_owned),
        };
        let (service, client) = self
            .principal_service(&request.access_token, &request.session, now)
            .await?;
        let response = service
            .verify_software_token(&request, now, rng)
            .await
            .result?;
        self.remember_next_session(response.session.as_ref(), client);
        Ok(Body::new()
            .with("Status", response.status.as_str())
            .with_optional("Session", response.session.as_ref().map(SessionId::expose)))
    }

    /// The service of the pool the request's principal (access token or session) belongs
    /// to, and the app client that began the principal's sign-in, if any.
    async fn principal_service(
        &self,
        access_token: &Option<String>,
        session: &Option<String>,
        now: UnixTime,
    ) -> Result<(PoolService<'_>, Option<String>), Refusal> {
        let principal = Principal::from_request(access_token.as_deref(), session.as_deref())?;
        let (pool, validity) = self.principal_pool(&principal, now).await?;
        let client = match &principal {
            Principal::Session(session) => self.session_client(session),
            Principal::AccessToken(_) => None,
        };
        Ok((self.service(&pool, validity, now)?, client))
    }

    /// Ties the session an operation returned to the app client of the sign-in it continues.
    fn remember_next_session(&self, session: Option<&SessionId>, client: Option<String>) {
        if let (Some(session), Some(client)) = (session, client) {
            self.remember_session(session, &client);
        }
    }

    /// The pool and user name an access token belongs to.
    fn token_user(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<(UserPool, String, String), Refusal> {
        let token = members.required_string("AccessToken")?;
        let grant = self
            .tokens
            .lookup(token, now)
            .ok_or(crate::Error::InvalidAccessToken)?;
        Ok((self.pool(&grant.pool_id)?, grant.username, token.to_owned()))
    }

    /// The pool and an existing user of it, or `UserNotFoundException`.
    fn admin_user(&self, members: &Members<'_>) -> Result<(UserPool, User), Refusal> {
        let pool = self.pool(members.required_string("UserPoolId")?)?;
        let username = members.required_string("Username")?;
        let user = pool
            .users
            .get(username)
            .cloned()
            .ok_or_else(Refusal::user_not_found)?;
        Ok((pool, user))
    }

    pub(crate) async fn set_user_mfa_preference(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let (pool, _, token) = self.token_user(members, now)?;
        let settings = software_token_settings(members)?;
        self.service(&pool, 3, now)?
            .set_user_mfa_preference(
                &SetUserMfaPreferenceRequest {
                    access_token: token,
                    software_token_mfa_settings: settings,
                },
                now,
            )
            .await
            .result?;
        Ok(Body::new())
    }

    pub(crate) async fn admin_set_user_mfa_preference(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let (pool, user) = self.admin_user(members)?;
        let settings = software_token_settings(members)?;
        self.service(&pool, 3, now)?
            .admin_set_user_mfa_preference(
                &AdminSetUserMfaPreferenceRequest {
                    username: user.sub.clone(),
                    software_token_mfa_settings: settings,
                },
                now,
            )
            .await
            .result?;
        Ok(Body::new())
    }

    pub(crate) async fn get_user(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let (pool, username, token) = self.token_user(members, now)?;
        let user = pool
            .users
            .get(&username)
            .cloned()
            .ok_or_else(Refusal::user_not_found)?;
        let view = self.service(&pool, 3, now)?.get_user(&token).await?;
        Ok(mfa_view_members(
            Body::new()
                .with("Username", username.as_str())
                .with("UserAttributes", attributes(&user)),
            view,
        ))
    }

    pub(crate) async fn admin_get_user(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let (pool, user) = self.admin_user(members)?;
        let view = self
            .service(&pool, 3, now)?
            .admin_get_user(&user.sub)
            .await?;
        Ok(mfa_view_members(
            Body::new()
                .with("Username", user.username.as_str())
                .with("UserAttributes", attributes(&user))
                .with("UserCreateDate", user.created_at.0)
                .with("UserLastModifiedDate", user.modified_at.0)
                .with("Enabled", true)
                .with("UserStatus", user.status()),
            view,
        ))
    }

    pub(crate) async fn admin_delete_software_token(
        &self,
        members: &Members<'_>,
        now: UnixTime,
    ) -> Result<Body, Refusal> {
        let (pool, user) = self.admin_user(members)?;
        self.service(&pool, 3, now)?
            .admin_delete_software_token(&user.sub, now)
            .await
            .result?;
        Ok(Body::new())
    }
}
