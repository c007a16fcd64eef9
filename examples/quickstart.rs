//! A user enrols a software token and signs in with it, on the embedded `MemoryStore`:
//! associate → verify → enable → sign in → the same code refused as a replay → admin delete.
//! Each step prints what a Cognito client would see.
//!
//! Run: `cargo run --example quickstart`
//!
//! The service never reads a clock or draws randomness itself: this example passes it the
//! system time and OS randomness, and plays the authenticator app with `TotpKey`.

use getrandom::SysRng;
use rand_core::UnwrapErr;
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, SetUserMfaPreferenceRequest,
    VerifySoftwareTokenRequest,
};
use softtoken::{
    AccessToken, MemoryStore, PoolConfig, Secret, Service, SoftwareTokenMfaSettings, TotpConfig,
    TotpKey, UnixTime, UserId,
};

/// The auth service's own token check; here, one known token for alice.
fn resolve_access_token(token: &AccessToken) -> Option<UserId> {
    (token.expose() == "alice-access-token").then(|| UserId::new("alice"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = UnwrapErr(SysRng);
    let store = MemoryStore::new();
    let service = Service::new(
        store.clone(),
        store,
        resolve_access_token,
        PoolConfig::default(),
    );
    let access_token = Some("alice-access-token".to_owned());
    let mut now = UnixTime::now();

    // 1. AssociateSoftwareToken: a fresh secret, pending until verified.
    let associated = service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: access_token.clone(),
                session: None,
            },
            now,
            &mut rng,
        )
        .into_result()?;
    let secret = Secret::from_base32(associated.secret_code.expose())?;
    println!(
        "1. AssociateSoftwareToken  SecretCode = {}",
        associated.secret_code.expose()
    );
    let uri = secret.to_otpauth_uri(&TotpConfig::default(), "softtoken demo", "alice");
    println!("                           scan: {}", uri.as_str());
    // With the `qr` feature (which the crate's own examples always have), the same URI as a
    // QR code for a phone to scan off the terminal (drawn for dark text on a light background).
    #[cfg(feature = "qr")]
    print!("\n{}\n", softtoken::qr::terminal(&uri)?.as_str());

    // The user's authenticator app, from here on.
    let app = TotpKey::new(&secret, TotpConfig::default());

    // 2. VerifySoftwareToken with the code the app shows.
    let code = app.code_at(now)?.reveal();
    let verified = service.verify_software_token(
        &VerifySoftwareTokenRequest {
            access_token: access_token.clone(),
            session: None,
            user_code: code.clone(),
            friendly_device_name: Some("Alice's phone".to_owned()),
        },
        now,
        &mut rng,
    );
    for event in &verified.events {
        println!("                           event: {:?}", event.kind);
    }
    println!(
        "2. VerifySoftwareToken     UserCode = {code} → Status = {}",
        verified.into_result()?.status.as_str()
    );

    // 3. SetUserMFAPreference: enable and prefer the software token.
    service
        .set_user_mfa_preference(
            &SetUserMfaPreferenceRequest {
                access_token: "alice-access-token".to_owned(),
                software_token_mfa_settings: Some(SoftwareTokenMfaSettings {
                    enabled: true,
                    preferred_mfa: true,
                }),
            },
            now,
        )
        .into_result()?;
    let view = service.get_user("alice-access-token")?;
    println!(
        "3. SetUserMFAPreference     UserMFASettingList = {:?}, PreferredMfaSetting = {:?}",
        view.user_mfa_setting_list, view.preferred_mfa_setting
    );

    // 4. Sign in: after the password check, the challenge; answer it with the next code (the
    //    code Verify used is burned).
    now = UnixTime((now.as_secs() / 30 + 1) * 30);
    let challenge = service
        .begin_sign_in(&UserId::new("alice"), now, &mut rng)
        .into_result()?
        .ok_or("an enabled token must be challenged")?;
    println!(
        "4. InitiateAuth             ChallengeName = {}, ChallengeParameters = {:?}",
        challenge.challenge_name.as_str(),
        challenge.challenge_parameters
    );
    let code = app.code_at(now)?.reveal();
    let answer = RespondToSoftwareTokenMfaRequest {
        session: challenge.session.expose().to_owned(),
        username: "alice".to_owned(),
        software_token_mfa_code: code.clone(),
    };
    let signed_in = service
        .respond_to_software_token_mfa(&answer, now)
        .into_result()?;
    println!(
        "   RespondToAuthChallenge  SOFTWARE_TOKEN_MFA_CODE = {code} → signed in as {}",
        signed_in.user
    );

    // 5. The same code again, on a fresh challenge: a replay.
    let again = service
        .begin_sign_in(&UserId::new("alice"), now, &mut rng)
        .into_result()?
        .ok_or("still challenged")?;
    let replay = service
        .respond_to_software_token_mfa(
            &RespondToSoftwareTokenMfaRequest {
                session: again.session.expose().to_owned(),
                ..answer
            },
            now,
        )
        .into_result();
    match replay {
        Err(error) => println!("5. Same code again          {}: {error}", error.code()),
        Ok(_) => return Err("a replayed code must be refused".into()),
    }

    // 6. AdminDeleteSoftwareToken: token and preference gone.
    service
        .admin_delete_software_token("alice", now)
        .into_result()?;
    let view = service.admin_get_user("alice")?;
    println!(
        "6. AdminDeleteSoftwareToken UserMFASettingList = {:?}; next sign-in challenge: {:?}",
        view.user_mfa_setting_list,
        service
            .begin_sign_in(&UserId::new("alice"), now, &mut rng)
            .into_result()?
            .map(|challenge| challenge.challenge_name)
    );
    Ok(())
}
