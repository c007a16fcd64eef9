//! The deterministic harness every service test uses: a hand-advanced clock, a seeded RNG, one
//! shared `MemoryStore`, and an access-token resolver that knows `token-<user>` tokens.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToMfaSetupRequest, RespondToSoftwareTokenMfaRequest,
    SignInChallenge, VerifySoftwareTokenRequest,
};
use softtoken::{
    AccessToken, Error, LockoutPolicy, MemoryStore, MfaMode, PoolConfig, Secret, Service,
    SessionId, Step, TotpConfig, TotpKey, UnixTime, UserId,
};

/// The resolver: `token-<user>` is `<user>`'s access token; anything else is invalid.
pub fn resolve(token: &AccessToken) -> Option<UserId> {
    token.expose().strip_prefix("token-").map(UserId::new)
}

pub type Resolver = fn(&AccessToken) -> Option<UserId>;
pub type MemoryService = Service<MemoryStore, MemoryStore, Resolver>;

/// A start time well inside a 30-second step (step 56666666, second 10 of it).
pub const START: UnixTime = UnixTime(1_700_000_000);

/// An `ON` pool (every user with a verified token is challenged) with the given lockout.
pub fn on_pool_with_lockout(policy: LockoutPolicy) -> PoolConfig {
    PoolConfig::default()
        .with_mfa_mode(MfaMode::On)
        .unwrap()
        .with_lockout(policy)
}

pub struct Harness {
    pub store: MemoryStore,
    pub service: MemoryService,
    pub rng: ChaCha20Rng,
    pub now: UnixTime,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_pool(PoolConfig::default())
    }

    pub fn with_pool(pool: PoolConfig) -> Harness {
        let store = MemoryStore::new();
        Harness {
            service: Service::new(store.clone(), store.clone(), resolve as Resolver, pool),
            store,
            rng: ChaCha20Rng::seed_from_u64(0x5eed),
            now: START,
        }
    }

    /// A harness on [`on_pool_with_lockout`] where `user` has a verified token, moved to the
    /// start of the next step so the current code is fresh.
    pub fn enrolled(policy: LockoutPolicy, user: &str) -> (Harness, Secret) {
        let mut h = Harness::with_pool(on_pool_with_lockout(policy));
        let secret = h.enrol(user);
        h.next_step();
        (h, secret)
    }

    /// A second service instance on the same store (another auth-service replica).
    pub fn another_instance(&self) -> MemoryService {
        Service::new(
            self.store.clone(),
            self.store.clone(),
            resolve as Resolver,
            *self.service.pool(),
        )
    }

    pub fn advance(&mut self, seconds: u64) {
        self.now = UnixTime(self.now.0 + seconds);
    }

    /// Moves to the start of the next 30-second step.
    pub fn next_step(&mut self) {
        self.now = UnixTime((self.now.0 / 30 + 1) * 30);
    }

    pub fn token(user: &str) -> Option<String> {
        Some(format!("token-{user}"))
    }

    /// AssociateSoftwareToken with an access token; returns the secret.
    pub fn associate(&mut self, user: &str) -> Secret {
        let request = AssociateSoftwareTokenRequest {
            access_token: Harness::token(user),
            session: None,
        };
        let response = self
            .service
            .associate_software_token(&request, self.now, &mut self.rng)
            .into_result()
            .expect("associate");
        Secret::from_base32(response.secret_code.expose()).unwrap()
    }

    /// VerifySoftwareToken with an access token and the given code.
    pub fn verify_code(&mut self, user: &str, code: &str) -> Result<(), Error> {
        let request = VerifySoftwareTokenRequest {
            access_token: Harness::token(user),
            session: None,
            user_code: code.to_owned(),
            friendly_device_name: Some(format!("{user}'s phone")),
        };
        self.service
            .verify_software_token(&request, self.now, &mut self.rng)
            .into_result()
            .map(drop)
    }

    /// Associate and verify with the current code; returns the secret.
    pub fn enrol(&mut self, user: &str) -> Secret {
        let secret = self.associate(user);
        let code = code_at(&secret, self.now);
        self.verify_code(user, &code).expect("verify");
        secret
    }

    /// InitiateAuth after the password check: the challenge, if any.
    pub fn begin_sign_in(&mut self, user: &str) -> Option<SignInChallenge> {
        self.service
            .begin_sign_in(&UserId::new(user), self.now, &mut self.rng)
            .into_result()
            .expect("begin sign-in")
    }

    /// Answers a SOFTWARE_TOKEN_MFA challenge session with `code`.
    pub fn respond(&self, user: &str, session: &SessionId, code: &str) -> Result<(), Error> {
        let request = RespondToSoftwareTokenMfaRequest {
            session: session.expose().to_owned(),
            username: user.to_owned(),
            software_token_mfa_code: code.to_owned(),
        };
        self.service
            .respond_to_software_token_mfa(&request, self.now)
            .into_result()
            .map(drop)
    }

    /// A full sign-in: begin (expecting SOFTWARE_TOKEN_MFA) and answer with `code`.
    pub fn sign_in(&mut self, user: &str, code: &str) -> Result<(), Error> {
        let challenge = self
            .begin_sign_in(user)
            .expect("a SOFTWARE_TOKEN_MFA challenge");
        self.respond(user, &challenge.session, code)
    }

    pub fn respond_mfa_setup(&self, user: &str, session: &SessionId) -> Result<(), Error> {
        let request = RespondToMfaSetupRequest {
            session: session.expose().to_owned(),
            username: user.to_owned(),
        };
        self.service
            .respond_to_mfa_setup(&request, self.now)
            .into_result()
            .map(drop)
    }

    /// The stored consecutive-failure count.
    pub fn stored_failures(&self, user: &str) -> u32 {
        use softtoken::TokenStore;
        self.store
            .load(&UserId::new(user))
            .unwrap()
            .map_or(0, |(record, _)| record.lockout().consecutive_failures())
    }
}

/// The code an authenticator app shows for `secret` at `now` (Cognito's defaults).
pub fn code_at(secret: &Secret, now: UnixTime) -> String {
    TotpKey::new(secret, TotpConfig::default())
        .code_at(now)
        .unwrap()
        .reveal()
}

/// The code for a given step.
pub fn code_at_step(secret: &Secret, step: u64) -> String {
    TotpKey::new(secret, TotpConfig::default())
        .code_at_step(Step(step))
        .reveal()
}

/// A well-formed code that matches none of the steps around `now` for `secret`.
pub fn wrong_code(secret: &Secret, now: UnixTime) -> String {
    let step = now.0 / 30;
    let taken: Vec<String> = (step.saturating_sub(2)..=step + 2)
        .map(|s| code_at_step(secret, s))
        .collect();
    (0..1_000_000u32)
        .map(|n| format!("{n:06}"))
        .find(|code| !taken.contains(code))
        .unwrap()
}
