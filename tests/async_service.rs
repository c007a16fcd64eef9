//! `AsyncService` runs the same operations as the blocking `Service`: a scripted enrolment,
//! sign-in, replay, wrong code and delete give identical answers and events on both, over one
//! `MemoryStore` each.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod common;

use common::{START, code_at, resolve};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
};
use softtoken::{
    AsyncService, Error, MemoryStore, MfaMode, PoolConfig, Secret, Service, UnixTime, UserId,
};

type Resolver = common::Resolver;

/// What a scripted session answered, step by step, in a comparable form.
#[derive(Debug, PartialEq, Eq)]
struct Transcript(Vec<String>);

fn pool() -> PoolConfig {
    PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap()
}

fn associate_request() -> AssociateSoftwareTokenRequest {
    AssociateSoftwareTokenRequest {
        access_token: Some("token-alice".to_owned()),
        session: None,
    }
}

fn verify_request(code: String) -> VerifySoftwareTokenRequest {
    VerifySoftwareTokenRequest {
        access_token: Some("token-alice".to_owned()),
        session: None,
        user_code: code,
        friendly_device_name: Some("phone".to_owned()),
    }
}

fn respond_request(session: &str, code: String) -> RespondToSoftwareTokenMfaRequest {
    RespondToSoftwareTokenMfaRequest {
        session: session.to_owned(),
        username: "alice".to_owned(),
        software_token_mfa_code: code,
    }
}

fn record<T: core::fmt::Debug>(
    transcript: &mut Vec<String>,
    result: &Result<T, Error>,
    events: usize,
) {
    transcript.push(match result {
        Ok(_) => format!("ok, {events} events"),
        Err(error) => format!("{}: {error}, {events} events", error.code()),
    });
}

fn blocking_script() -> Transcript {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let store = MemoryStore::new();
    let service = Service::new(store.clone(), store, resolve as Resolver, pool());
    let mut transcript = Vec::new();
    let mut now = START;
    let associated = service.associate_software_token(&associate_request(), now, &mut rng);
    record(&mut transcript, &associated.result, associated.events.len());
    let secret = Secret::from_base32(associated.result.unwrap().secret_code.expose()).unwrap();
    let wrong = service.verify_software_token(&verify_request("000000".into()), now, &mut rng);
    record(&mut transcript, &wrong.result, wrong.events.len());
    let verified =
        service.verify_software_token(&verify_request(code_at(&secret, now)), now, &mut rng);
    record(&mut transcript, &verified.result, verified.events.len());
    now = UnixTime(now.0 + 30);
    for _ in 0..2 {
        let challenge = service
            .begin_sign_in(&UserId::new("alice"), now, &mut rng)
            .into_result()
            .unwrap()
            .unwrap();
        let answer = service.respond_to_software_token_mfa(
            &respond_request(challenge.session.expose(), code_at(&secret, now)),
            now,
        );
        record(&mut transcript, &answer.result, answer.events.len());
    }
    let deleted = service.admin_delete_software_token("alice", now);
    record(&mut transcript, &deleted.result, deleted.events.len());
    let view = service.admin_get_user("alice");
    record(&mut transcript, &view, 0);
    Transcript(transcript)
}

async fn async_script() -> Transcript {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let store = MemoryStore::new();
    let service = AsyncService::new(store.clone(), store, resolve as Resolver, pool());
    let mut transcript = Vec::new();
    let mut now = START;
    let associated = service
        .associate_software_token(&associate_request(), now, &mut rng)
        .await;
    record(&mut transcript, &associated.result, associated.events.len());
    let secret = Secret::from_base32(associated.result.unwrap().secret_code.expose()).unwrap();
    let wrong = service
        .verify_software_token(&verify_request("000000".into()), now, &mut rng)
        .await;
    record(&mut transcript, &wrong.result, wrong.events.len());
    let verified = service
        .verify_software_token(&verify_request(code_at(&secret, now)), now, &mut rng)
        .await;
    record(&mut transcript, &verified.result, verified.events.len());
    now = UnixTime(now.0 + 30);
    for _ in 0..2 {
        let challenge = service
            .begin_sign_in(&UserId::new("alice"), now, &mut rng)
            .await
            .into_result()
            .unwrap()
            .unwrap();
        let answer = service
            .respond_to_software_token_mfa(
                &respond_request(challenge.session.expose(), code_at(&secret, now)),
                now,
            )
            .await;
        record(&mut transcript, &answer.result, answer.events.len());
    }
    let deleted = service.admin_delete_software_token("alice", now).await;
    record(&mut transcript, &deleted.result, deleted.events.len());
    let view = service.admin_get_user("alice").await;
    record(&mut transcript, &view, 0);
    Transcript(transcript)
}

#[tokio::test]
async fn the_async_service_answers_exactly_as_the_blocking_one() {
    let blocking = blocking_script();
    assert_eq!(
        blocking.0.get(4).map(String::as_str),
        Some("ExpiredCodeException: Your software token has already been used once., 1 events"),
        "the script exercises a replay: {blocking:?}"
    );
    assert_eq!(async_script().await, blocking);
}
