//! What the service adds over the raw engine: a full sign-in code check and an association
//! through `Service` on `MemoryStore`, beside the engine's own verification, in one run.
//!
//! Run with `cargo bench --bench service`.
//!
//! - `service/engine_verify`: `TotpKey::verify` on a prepared key (the engine alone).
//! - `service/engine_prepare_and_verify`: the key schedule plus the verification, which is
//!   what the stateless lifecycle runs per request.
//! - `service/verify_sign_in`: `respond_to_software_token_mfa` with a correct code: session
//!   lookup, record load, the transition, compare-and-swap, session consume. Each iteration
//!   answers a fresh challenge one step later (set up outside the timing), so every code is new.
//! - `service/associate`: `associate_software_token` on the access-token path: a fresh secret
//!   from a seeded ChaCha20, the transition, compare-and-swap.

// Benchmarks are not library code: a failed setup step should simply abort the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
};
use softtoken::{
    AccessToken, Code, Digits, MemoryStore, MfaMode, PoolConfig, Secret, Service, Step, TotpConfig,
    TotpKey, UnixTime, UserId,
};

fn resolve(token: &AccessToken) -> Option<UserId> {
    token.expose().strip_prefix("token-").map(UserId::new)
}

type Resolver = fn(&AccessToken) -> Option<UserId>;

const START: u64 = 1_700_000_010;

/// Challenges set up ahead of each timed batch.
const BATCH: u64 = 256;

fn bench_service(c: &mut Criterion) {
    let store = MemoryStore::new();
    let pool = PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap();
    let service = Service::new(store.clone(), store.clone(), resolve as Resolver, pool);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let user = UserId::new("alice");

    // Enrol alice.
    let associated = service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some("token-alice".to_owned()),
                session: None,
            },
            UnixTime(START),
            &mut rng,
        )
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let app = TotpKey::new(&secret, TotpConfig::default());
    service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: Some("token-alice".to_owned()),
                session: None,
                user_code: app.code_at(UnixTime(START)).unwrap().reveal(),
                friendly_device_name: None,
            },
            UnixTime(START),
            &mut rng,
        )
        .into_result()
        .unwrap();

    let mut group = c.benchmark_group("service");

    let now = UnixTime(1_111_111_109);
    let code = app.code_at(now).unwrap();
    assert!(app.verify(&code, now, None).is_ok());
    let typed = code.reveal();
    group.bench_function("engine_verify", |b| {
        b.iter(|| {
            let parsed = Code::parse(black_box(&typed), Digits::Six).unwrap();
            black_box(&app).verify(&parsed, black_box(now), Some(Step(0)))
        });
    });
    group.bench_function("engine_prepare_and_verify", |b| {
        b.iter(|| {
            let key = TotpKey::new(black_box(&secret), TotpConfig::default());
            let parsed = Code::parse(black_box(&typed), Digits::Six).unwrap();
            key.verify(&parsed, black_box(now), Some(Step(0)))
        });
    });

    let mut step = START / 30 + 1;
    group.bench_function("verify_sign_in", |b| {
        b.iter_batched(
            || {
                step += 1;
                // When two adjacent steps share a code (about once in 500 000 steps), the first
                // sign-in matches both and burns the later one, so the next step's identical
                // code is rightly a replay; skip past such a pair.
                while app.code_at_step(Step(step)) == app.code_at_step(Step(step - 1)) {
                    step += 1;
                }
                let at = UnixTime(step * 30 + 5);
                // Keep the session map small, sweeping only sessions long expired: the batch set
                // up ahead of the timed calls (at most `BATCH` challenges) must survive.
                if step.is_multiple_of(1024) {
                    service
                        .sweep_sessions(UnixTime(at.0 - 30 * 2 * BATCH))
                        .unwrap();
                }
                let challenge = service
                    .begin_sign_in(&user, at, &mut rng)
                    .into_result()
                    .unwrap()
                    .unwrap();
                let request = RespondToSoftwareTokenMfaRequest {
                    session: challenge.session.expose().to_owned(),
                    username: "alice".to_owned(),
                    software_token_mfa_code: app.code_at(at).unwrap().reveal(),
                };
                (request, at)
            },
            |(request, at)| {
                let outcome = service.respond_to_software_token_mfa(&request, at);
                assert!(outcome.result.is_ok(), "{:?} at {at:?}", outcome.result);
                outcome
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    let associate = AssociateSoftwareTokenRequest {
        access_token: Some("token-bob".to_owned()),
        session: None,
    };
    let mut assoc_rng = ChaCha20Rng::seed_from_u64(2);
    group.bench_function("associate", |b| {
        b.iter(|| service.associate_software_token(&associate, UnixTime(START), &mut assoc_rng));
    });
    group.finish();
}

/// Short runs: the whole file finishes in well under a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_service
}
criterion_main!(benches);
