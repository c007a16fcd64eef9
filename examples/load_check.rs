//! A load check of the reference server's software-token operations over loopback HTTP.
//!
//! ```sh
//! cargo run --release --example load_check -- [--seconds N] [--concurrency C] \
//!     [--endpoint-url URL] [--users U] [--racers R] [--verify-groups V]
//! ```
//!
//! By default it starts `softtoken::reference_server` in-process on `127.0.0.1:0`; with
//! `--endpoint-url` it drives an external Cognito-compatible server instead (which must share
//! this machine's clock to within a few seconds, since codes are computed here).
//!
//! **Setup** (timed separately): one pool with software tokens enabled and MFA `ON`, one app
//! client allowing `USER_PASSWORD_AUTH`, and `U` sign-in users plus one user per Verify group,
//! each enrolled through the `MFA_SETUP` chain (InitiateAuth → AssociateSoftwareToken(Session)
//! → VerifySoftwareToken(Session) → RespondToAuthChallenge(MFA_SETUP)). Enrolment verifies with
//! the code of the step *before* the current one (inside the ±1 window; never within 3 s of a
//! step's end), so the current step is still fresh for sign-in and every user yields an
//! acceptance as soon as the load starts, however short the run.
//!
//! **Load**: `C` concurrent requests in groups of `R` racers (default 4), for `N` seconds; a
//! round started before the deadline finishes. Each group owns its users, so rounds on one user
//! never overlap:
//!
//! - *Sign-in groups* take their users round-robin. A round: R concurrent `InitiateAuth`
//!   (each its own `SOFTWARE_TOKEN_MFA` session), then the code for the client's current step
//!   `n`, then R concurrent `RespondToAuthChallenge` with that same code. The server sees `n` or
//!   `n + 1` (the window covers both), so for each attempted (user, step) exactly one answer in
//!   the whole run may be an acceptance (counting enrolment's Verify, which burns its step), and
//!   every other answer must be `ExpiredCodeException` (replay). Codes equal to the code of
//!   step `n + 1` or `n + 2` (about 2 in 10⁶), for which the server could burn another step,
//!   are not submitted.
//! - *Verify groups* measure `VerifySoftwareToken` under load without lockouts: a round is one
//!   `AssociateSoftwareToken` (access token; a fresh secret each time, so every round's code is
//!   new), then R concurrent `VerifySoftwareToken` with the same correct code. Exactly one must
//!   answer `SUCCESS`; the others must be `SoftwareTokenMFANotFoundException` (the pending
//!   secret was already consumed by the winner).
//!
//! Any other answer — `CodeMismatchException`, `NotAuthorizedException`,
//! `ConcurrentModificationException`, a transport error, a malformed response — is
//! *unexpected*. The example prints requests, requests/s and p50/p99/max latency per
//! operation, and exits non-zero on any unexpected answer, any (user, step) or Verify round
//! with other than one acceptance, or a run that accepted nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use softtoken::reference_server::{ReferenceServer, serve};
use softtoken::{Secret, Step, TotpConfig, TotpKey, UnixTime};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const PASSWORD: &str = "Load-check-Passw0rd!";
/// How many unexpected answers are printed in full.
const SAMPLES: usize = 10;

const INITIATE: &str = "InitiateAuth";
const RESPOND_MFA: &str = "RespondToAuthChallenge(SOFTWARE_TOKEN_MFA)";
const RESPOND_SETUP: &str = "RespondToAuthChallenge(MFA_SETUP)";
const ASSOCIATE: &str = "AssociateSoftwareToken";
const VERIFY: &str = "VerifySoftwareToken";

/// The command line.
struct Options {
    seconds: u64,
    concurrency: usize,
    endpoint_url: Option<String>,
    users: usize,
    racers: usize,
    verify_groups: Option<usize>,
}

const USAGE: &str = "usage: load_check [--seconds N] [--concurrency C] [--endpoint-url URL] \
                     [--users U] [--racers R] [--verify-groups V]";

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        seconds: 10,
        concurrency: 32,
        endpoint_url: None,
        users: 64,
        racers: 4,
        verify_groups: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg.clone(), None),
        };
        if name == "--help" || name == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = match inline {
            Some(value) => value,
            None => args
                .next()
                .ok_or_else(|| format!("{name} needs a value; {USAGE}"))?,
        };
        let number = |value: &str| {
            value
                .parse::<usize>()
                .map_err(|error| format!("{name} {value}: {error}"))
        };
        match name.as_str() {
            "--seconds" => {
                options.seconds = value
                    .parse()
                    .map_err(|error| format!("{name} {value}: {error}"))?;
            }
            "--concurrency" => options.concurrency = number(&value)?,
            "--endpoint-url" => options.endpoint_url = Some(value),
            "--users" => options.users = number(&value)?,
            "--racers" => options.racers = number(&value)?,
            "--verify-groups" => options.verify_groups = Some(number(&value)?),
            _ => return Err(format!("unknown argument {name}; {USAGE}")),
        }
    }
    if options.racers == 0 || options.users == 0 || options.seconds == 0 {
        return Err("--racers, --users and --seconds must be positive".to_owned());
    }
    Ok(options)
}

/// One answer from the server.
enum Reply {
    /// HTTP 200 and its JSON body.
    Ok(Value),
    /// An AWS-style error: `__type` (without any namespace prefix) and `message`.
    Refused { kind: String, message: String },
    /// A transport error or a response that is neither.
    Failed(String),
}

impl Reply {
    fn describe(&self) -> String {
        match self {
            Reply::Ok(body) => format!("200 {body}"),
            Reply::Refused { kind, message } => format!("{kind}: {message}"),
            Reply::Failed(reason) => reason.clone(),
        }
    }

    fn is_refusal(&self, expected: &str) -> bool {
        matches!(self, Reply::Refused { kind, .. } if kind == expected)
    }
}

/// An AWS JSON 1.1 client for one endpoint.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    url: Arc<str>,
}

impl Api {
    /// Sends one operation and times it (request written to response body read).
    async fn call(&self, operation: &str, body: &Value) -> (Reply, Duration) {
        let started = Instant::now();
        let reply = self.exchange(operation, body).await;
        (reply, started.elapsed())
    }

    async fn exchange(&self, operation: &str, body: &Value) -> Reply {
        let sent = self
            .http
            .post(&*self.url)
            .header("X-Amz-Target", format!("{TARGET_PREFIX}{operation}"))
            .header("Content-Type", CONTENT_TYPE)
            .body(body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return Reply::Failed(format!("transport error: {error}")),
        };
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(error) => return Reply::Failed(format!("HTTP {status}, body unreadable: {error}")),
        };
        let Ok(parsed) = serde_json::from_str::<Value>(&text) else {
            return Reply::Failed(format!("HTTP {status}, body is not JSON: {text:.200}"));
        };
        if status.is_success() {
            return Reply::Ok(parsed);
        }
        match parsed.get("__type").and_then(Value::as_str) {
            Some(kind) => Reply::Refused {
                kind: kind.rsplit('#').next().unwrap_or(kind).to_owned(),
                message: parsed
                    .get("message")
                    .or_else(|| parsed.get("Message"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
            None => Reply::Failed(format!("HTTP {status} without __type: {text:.200}")),
        }
    }

    /// Setup calls: anything but a 200 is fatal.
    async fn must(
        &self,
        operation: &'static str,
        body: &Value,
        tally: &mut Tally,
    ) -> Result<Value, String> {
        let (reply, took) = self.call(operation, body).await;
        let label = if operation == "RespondToAuthChallenge" {
            RESPOND_SETUP
        } else {
            operation
        };
        tally.latency(label, took);
        match reply {
            Reply::Ok(value) => Ok(value),
            other => Err(format!("setup: {operation} failed: {}", other.describe())),
        }
    }
}

/// A string member, or a setup error naming it.
fn member<'v>(value: &'v Value, path: &[&str]) -> Result<&'v str, String> {
    path.iter()
        .try_fold(value, |value, name| value.get(name))
        .and_then(Value::as_str)
        .ok_or_else(|| format!("setup: response without {}: {value}", path.join(".")))
}

/// Counts and latencies of one task, merged at the end.
#[derive(Default)]
struct Tally {
    /// Per operation, latencies in microseconds.
    latencies: BTreeMap<&'static str, Vec<u64>>,
    unexpected: u64,
    samples: Vec<String>,
    /// Sign-in: acceptances per (user, step), including enrolment's Verify.
    accepted: BTreeMap<(usize, u64), u64>,
    /// Sign-in: the (user, step) pairs a round submitted a code for.
    attempted: BTreeSet<(usize, u64)>,
    sign_in_rounds: u64,
    sign_in_acceptances: u64,
    replays_refused: u64,
    /// Rounds not submitted because the code was shared with a later step.
    ambiguous_skipped: u64,
    verify_rounds: u64,
    verify_rounds_exactly_one: u64,
    verify_successes: u64,
    verify_losers_refused: u64,
}

impl Tally {
    fn latency(&mut self, label: &'static str, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latencies.entry(label).or_default().push(micros);
    }

    fn unexpected(&mut self, what: String) {
        self.unexpected += 1;
        if self.samples.len() < SAMPLES {
            self.samples.push(what);
        }
    }

    fn merge(&mut self, other: Tally) {
        for (operation, mut latencies) in other.latencies {
            self.latencies
                .entry(operation)
                .or_default()
                .append(&mut latencies);
        }
        self.unexpected += other.unexpected;
        for sample in other.samples {
            if self.samples.len() < SAMPLES {
                self.samples.push(sample);
            }
        }
        for (key, count) in other.accepted {
            *self.accepted.entry(key).or_default() += count;
        }
        self.attempted.extend(other.attempted);
        self.sign_in_rounds += other.sign_in_rounds;
        self.sign_in_acceptances += other.sign_in_acceptances;
        self.replays_refused += other.replays_refused;
        self.ambiguous_skipped += other.ambiguous_skipped;
        self.verify_rounds += other.verify_rounds;
        self.verify_rounds_exactly_one += other.verify_rounds_exactly_one;
        self.verify_successes += other.verify_successes;
        self.verify_losers_refused += other.verify_losers_refused;
    }

    fn requests(&self) -> usize {
        self.latencies.values().map(Vec::len).sum()
    }

    /// Attempted (user, step) pairs whose acceptance count is not exactly one.
    fn violations(&self) -> Vec<((usize, u64), u64)> {
        self.attempted
            .iter()
            .map(|key| (*key, self.accepted.get(key).copied().unwrap_or(0)))
            .filter(|(_, count)| *count != 1)
            .collect()
    }
}

/// Nearest-rank percentile (`per_mille` of 1000) of sorted microseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], per_mille: usize) -> f64 {
    let rank = per_mille.saturating_mul(sorted.len()).div_ceil(1000);
    let value = sorted
        .get(rank.saturating_sub(1))
        .or(sorted.last())
        .copied()
        .unwrap_or(0);
    value as f64 / 1000.0
}

/// One table row; the rate only when the phase ran for a meaningful, fixed time.
fn print_row(name: &str, sorted: &[u64], seconds: Option<f64>) {
    let rate = seconds.map_or_else(
        || "-".to_owned(),
        |seconds| format!("{:.1}", sorted.len() as f64 / seconds),
    );
    println!(
        "  {:<44} {:>9} {:>10} {:>9.2} {:>9.2} {:>9.2}",
        name,
        sorted.len(),
        rate,
        percentile_ms(sorted, 500),
        percentile_ms(sorted, 990),
        percentile_ms(sorted, 1000),
    );
}

/// Requests, rate and p50/p99/max latency per operation, then for all of them.
fn print_latencies(tally: &mut Tally, elapsed: Option<Duration>) {
    println!(
        "  {:<44} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "operation", "requests", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    let seconds = elapsed.map(|elapsed| elapsed.as_secs_f64().max(f64::MIN_POSITIVE));
    let mut all = Vec::new();
    for (operation, latencies) in &mut tally.latencies {
        latencies.sort_unstable();
        all.extend_from_slice(latencies);
        print_row(operation, latencies, seconds);
    }
    all.sort_unstable();
    print_row("all", &all, seconds);
}

/// The step the client's clock is in, with the Cognito default TOTP configuration.
fn current_step() -> Result<Step, String> {
    TotpConfig::default()
        .step_at(UnixTime::now())
        .map_err(|error| format!("clock: {error}"))
}

/// Whether the code of `step` equals that of `step + 1` or `step + 2`: then a server whose
/// clock is in `step` or `step + 1` would match (and burn) the later step, since it takes the
/// highest matching one, and the per-(user, step) count would be misattributed.
fn ambiguous(key: &TotpKey, step: Step) -> bool {
    let code = key.code_at_step(step).reveal();
    [1, 2].iter().any(|ahead| {
        key.code_at_step(Step(step.0.saturating_add(*ahead)))
            .reveal()
            == code
    })
}

/// Sleeps until at least 3 s remain in the current 30 s step.
async fn away_from_step_end() {
    let period_ms = TotpConfig::default().period_secs().saturating_mul(1000);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(0));
    let into = now_ms.checked_rem(period_ms).unwrap_or(0);
    if into + 3000 > period_ms {
        tokio::time::sleep(Duration::from_millis(period_ms - into + 100)).await;
    }
}

/// A sign-in user: its name, index (for the per-(user, step) book) and authenticator.
struct SignInUser {
    index: usize,
    name: String,
    key: TotpKey,
}

/// What enrolment gives back.
struct Enrolled {
    user: SignInUser,
    access_token: String,
}

/// Creates a user and enrols it through the MFA_SETUP chain.
async fn enrol(
    api: Api,
    pool_id: Arc<str>,
    client_id: Arc<str>,
    index: usize,
    name: String,
) -> Result<(Enrolled, Tally), String> {
    let mut tally = Tally::default();
    let pool_id = &*pool_id;
    let client_id = &*client_id;
    api.must(
        "AdminCreateUser",
        &json!({"UserPoolId": pool_id, "Username": name, "TemporaryPassword": PASSWORD}),
        &mut tally,
    )
    .await?;
    api.must(
        "AdminSetUserPassword",
        &json!({"UserPoolId": pool_id, "Username": name, "Password": PASSWORD, "Permanent": true}),
        &mut tally,
    )
    .await?;
    let challenge = api
        .must(
            "InitiateAuth",
            &json!({
                "AuthFlow": "USER_PASSWORD_AUTH",
                "ClientId": client_id,
                "AuthParameters": {"USERNAME": name, "PASSWORD": PASSWORD},
            }),
            &mut tally,
        )
        .await?;
    if member(&challenge, &["ChallengeName"])? != "MFA_SETUP" {
        return Err(format!("setup: expected MFA_SETUP, got {challenge}"));
    }
    let associated = api
        .must(
            "AssociateSoftwareToken",
            &json!({"Session": member(&challenge, &["Session"])?}),
            &mut tally,
        )
        .await?;
    let secret = Secret::from_base32(member(&associated, &["SecretCode"])?)
        .map_err(|error| format!("setup: SecretCode: {error}"))?;
    let key = TotpKey::new(&secret, TotpConfig::default());
    // The previous step's code (the window's -1), so the current step stays fresh for
    // sign-in; never near a step's end, so the server is still in the same step.
    let verify_step = loop {
        away_from_step_end().await;
        let step = Step(current_step()?.0.saturating_sub(1));
        if !ambiguous(&key, step) {
            break step;
        }
        tokio::time::sleep(Duration::from_secs(TotpConfig::default().period_secs())).await;
    };
    let verified = api
        .must(
            "VerifySoftwareToken",
            &json!({
                "Session": member(&associated, &["Session"])?,
                "UserCode": key.code_at_step(verify_step).reveal(),
                "FriendlyDeviceName": "load-check",
            }),
            &mut tally,
        )
        .await?;
    if member(&verified, &["Status"])? != "SUCCESS" {
        return Err(format!("setup: VerifySoftwareToken: {verified}"));
    }
    // Enrolment's Verify burns its step: that is the one acceptance of this code.
    tally.accepted.insert((index, verify_step.0), 1);
    let signed_in = api
        .must(
            "RespondToAuthChallenge",
            &json!({
                "ClientId": client_id,
                "ChallengeName": "MFA_SETUP",
                "Session": member(&verified, &["Session"])?,
                "ChallengeResponses": {"USERNAME": name},
            }),
            &mut tally,
        )
        .await?;
    let access_token = member(&signed_in, &["AuthenticationResult", "AccessToken"])?.to_owned();
    Ok((
        Enrolled {
            user: SignInUser { index, name, key },
            access_token,
        },
        tally,
    ))
}

/// A sign-in group: rounds of R racers answering one user's challenge with one code.
async fn sign_in_group(
    api: Api,
    client_id: Arc<str>,
    users: Vec<SignInUser>,
    racers: usize,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally::default();
    for user in users.iter().cycle() {
        if Instant::now() >= deadline {
            break;
        }
        let mut initiates = JoinSet::new();
        let body = json!({
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": &*client_id,
            "AuthParameters": {"USERNAME": user.name, "PASSWORD": PASSWORD},
        });
        for _ in 0..racers {
            let api = api.clone();
            let body = body.clone();
            initiates.spawn(async move { api.call("InitiateAuth", &body).await });
        }
        let mut sessions = Vec::new();
        while let Some(joined) = initiates.join_next().await {
            let (reply, took) = match joined {
                Ok(done) => done,
                Err(error) => {
                    tally.unexpected(format!("{INITIATE}: task failed: {error}"));
                    continue;
                }
            };
            tally.latency(INITIATE, took);
            let session = match &reply {
                Reply::Ok(body)
                    if body.get("ChallengeName").and_then(Value::as_str)
                        == Some("SOFTWARE_TOKEN_MFA") =>
                {
                    body.get("Session").and_then(Value::as_str)
                }
                _ => None,
            };
            match session {
                Some(session) => sessions.push(session.to_owned()),
                None => tally.unexpected(format!("{INITIATE}: {}", reply.describe())),
            }
        }
        let step = match current_step() {
            Ok(step) => step,
            Err(error) => {
                tally.unexpected(error);
                break;
            }
        };
        if ambiguous(&user.key, step) {
            tally.ambiguous_skipped += 1;
            continue;
        }
        if sessions.is_empty() {
            continue;
        }
        let code = user.key.code_at_step(step).reveal();
        tally.sign_in_rounds += 1;
        tally.attempted.insert((user.index, step.0));
        let mut responds = JoinSet::new();
        for session in sessions {
            let api = api.clone();
            let body = json!({
                "ClientId": &*client_id,
                "ChallengeName": "SOFTWARE_TOKEN_MFA",
                "Session": session,
                "ChallengeResponses": {"USERNAME": user.name, "SOFTWARE_TOKEN_MFA_CODE": code},
            });
            responds.spawn(async move { api.call("RespondToAuthChallenge", &body).await });
        }
        while let Some(joined) = responds.join_next().await {
            let (reply, took) = match joined {
                Ok(done) => done,
                Err(error) => {
                    tally.unexpected(format!("{RESPOND_MFA}: task failed: {error}"));
                    continue;
                }
            };
            tally.latency(RESPOND_MFA, took);
            match &reply {
                Reply::Ok(body)
                    if body
                        .pointer("/AuthenticationResult/AccessToken")
                        .is_some_and(Value::is_string) =>
                {
                    tally.sign_in_acceptances += 1;
                    *tally.accepted.entry((user.index, step.0)).or_default() += 1;
                }
                refused if refused.is_refusal("ExpiredCodeException") => {
                    tally.replays_refused += 1;
                }
                other => tally.unexpected(format!(
                    "{RESPOND_MFA} user {} step {}: {}",
                    user.name,
                    step.0,
                    other.describe()
                )),
            }
        }
    }
    tally
}

/// A Verify group: re-associate one user, then R racers verify the new secret's code.
async fn verify_group(api: Api, access_token: String, racers: usize, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let (reply, took) = api
            .call(
                "AssociateSoftwareToken",
                &json!({"AccessToken": access_token}),
            )
            .await;
        tally.latency(ASSOCIATE, took);
        let secret = match &reply {
            Reply::Ok(body) => body
                .get("SecretCode")
                .and_then(Value::as_str)
                .and_then(|code| Secret::from_base32(code).ok()),
            _ => None,
        };
        let Some(secret) = secret else {
            tally.unexpected(format!("{ASSOCIATE}: {}", reply.describe()));
            continue;
        };
        let key = TotpKey::new(&secret, TotpConfig::default());
        let step = match current_step() {
            Ok(step) => step,
            Err(error) => {
                tally.unexpected(error);
                break;
            }
        };
        let body =
            json!({"AccessToken": access_token, "UserCode": key.code_at_step(step).reveal()});
        let mut verifies = JoinSet::new();
        for _ in 0..racers {
            let api = api.clone();
            let body = body.clone();
            verifies.spawn(async move { api.call("VerifySoftwareToken", &body).await });
        }
        let mut successes = 0;
        while let Some(joined) = verifies.join_next().await {
            let (reply, took) = match joined {
                Ok(done) => done,
                Err(error) => {
                    tally.unexpected(format!("{VERIFY}: task failed: {error}"));
                    continue;
                }
            };
            tally.latency(VERIFY, took);
            match &reply {
                Reply::Ok(body)
                    if body.get("Status").and_then(Value::as_str) == Some("SUCCESS") =>
                {
                    successes += 1;
                }
                refused if refused.is_refusal("SoftwareTokenMFANotFoundException") => {
                    tally.verify_losers_refused += 1;
                }
                other => {
                    tally.unexpected(format!("{VERIFY} step {}: {}", step.0, other.describe()))
                }
            }
        }
        tally.verify_rounds += 1;
        tally.verify_successes += successes;
        if successes == 1 {
            tally.verify_rounds_exactly_one += 1;
        }
    }
    tally
}

/// Starts the reference server in-process on an ephemeral loopback port.
async fn start_in_process() -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|error| format!("bind 127.0.0.1:0: {error}"))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("local_addr: {error}"))?;
    tokio::spawn(async move {
        if let Err(error) = serve(listener, Arc::new(ReferenceServer::new())).await {
            eprintln!("reference server stopped: {error}");
        }
    });
    Ok(format!("http://{address}/"))
}

async fn run(options: Options) -> Result<bool, String> {
    let groups = options.concurrency / options.racers;
    let verify_groups = options.verify_groups.unwrap_or(groups / 4);
    let sign_in_groups = groups.saturating_sub(verify_groups);
    if sign_in_groups == 0 {
        return Err(format!(
            "--concurrency {} with --racers {} and {verify_groups} Verify groups leaves no sign-in \
             group",
            options.concurrency, options.racers
        ));
    }
    let url = match &options.endpoint_url {
        Some(url) => url.clone(),
        None => start_in_process().await?,
    };
    let where_ = if options.endpoint_url.is_some() {
        "external server"
    } else {
        "in-process reference server"
    };
    println!("load_check: {where_} at {url}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(options.concurrency.max(1))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|error| format!("HTTP client: {error}"))?;
    let api = Api {
        http,
        url: url.into(),
    };

    // Setup.
    let setup_started = Instant::now();
    let mut setup = Tally::default();
    let pool = api
        .must(
            "CreateUserPool",
            &json!({"PoolName": "load-check"}),
            &mut setup,
        )
        .await?;
    let pool_id: Arc<str> = member(&pool, &["UserPool", "Id"])?.into();
    api.must(
        "SetUserPoolMfaConfig",
        &json!({
            "UserPoolId": &*pool_id,
            "SoftwareTokenMfaConfiguration": {"Enabled": true},
            "MfaConfiguration": "ON",
        }),
        &mut setup,
    )
    .await?;
    let client = api
        .must(
            "CreateUserPoolClient",
            &json!({
                "UserPoolId": &*pool_id,
                "ClientName": "load-check",
                "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"],
            }),
            &mut setup,
        )
        .await?;
    let client_id: Arc<str> = member(&client, &["UserPoolClient", "ClientId"])?.into();
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let mut enrolments = JoinSet::new();
    let total_users = options.users + verify_groups;
    for index in 0..total_users {
        let name = if index < options.users {
            format!("signin-{index}")
        } else {
            format!("verify-{}", index - options.users)
        };
        let (api, pool_id, client_id, permits) = (
            api.clone(),
            pool_id.clone(),
            client_id.clone(),
            permits.clone(),
        );
        enrolments.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|error| format!("semaphore: {error}"))?;
            enrol(api, pool_id, client_id, index, name).await
        });
    }
    let mut sign_in_users = Vec::new();
    let mut verify_tokens = Vec::new();
    while let Some(joined) = enrolments.join_next().await {
        let (enrolled, tally) =
            joined.map_err(|error| format!("setup: enrolment task failed: {error}"))??;
        if enrolled.user.index < options.users {
            setup.merge(tally);
            sign_in_users.push(enrolled.user);
        } else {
            // Verify users never sign in: their enrolment step is not part of the book.
            let Tally { latencies, .. } = tally;
            setup.merge(Tally {
                latencies,
                ..Tally::default()
            });
            verify_tokens.push(enrolled.access_token);
        }
    }
    let setup_elapsed = setup_started.elapsed();
    println!(
        "setup: 1 pool (software tokens enabled, MFA ON), 1 client, {} sign-in users + {} Verify \
         users enrolled via MFA_SETUP in {:.2} s ({} requests)",
        sign_in_users.len(),
        verify_tokens.len(),
        setup_elapsed.as_secs_f64(),
        setup.requests(),
    );
    print_latencies(&mut setup, None);

    // Load.
    println!(
        "load: {} s, concurrency {} = {sign_in_groups} sign-in groups + {verify_groups} Verify \
         groups x {} racers",
        options.seconds,
        sign_in_groups * options.racers + verify_groups * options.racers,
        options.racers,
    );
    let mut shares: Vec<Vec<SignInUser>> = (0..sign_in_groups).map(|_| Vec::new()).collect();
    sign_in_users.sort_by_key(|user| user.index);
    for (position, user) in sign_in_users.into_iter().enumerate() {
        if let Some(share) = shares.get_mut(position % sign_in_groups) {
            share.push(user);
        }
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let mut groups_running = JoinSet::new();
    for share in shares.into_iter().filter(|share| !share.is_empty()) {
        groups_running.spawn(sign_in_group(
            api.clone(),
            client_id.clone(),
            share,
            options.racers,
            deadline,
        ));
    }
    for token in verify_tokens {
        groups_running.spawn(verify_group(api.clone(), token, options.racers, deadline));
    }
    // The enrolment Verify acceptances belong to the same book as the sign-in ones.
    let mut load = Tally {
        accepted: std::mem::take(&mut setup.accepted),
        ..Tally::default()
    };
    while let Some(joined) = groups_running.join_next().await {
        match joined {
            Ok(tally) => load.merge(tally),
            Err(error) => load.unexpected(format!("load group task failed: {error}")),
        }
    }
    let elapsed = started.elapsed();
    let requests = load.requests();
    let throughput = requests as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    println!(
        "load: {requests} requests in {:.2} s = {throughput:.1} requests/s",
        elapsed.as_secs_f64()
    );
    print_latencies(&mut load, Some(elapsed));

    let violations = load.violations();
    let codes_ok = load.attempted.len() - violations.len();
    println!(
        "sign-in: {} rounds; {} (user, step) codes attempted, {codes_ok} accepted exactly once \
         ({} sign-in acceptances); {} replays refused with ExpiredCodeException; {} rounds \
         skipped (code shared with a later step)",
        load.sign_in_rounds,
        load.attempted.len(),
        load.sign_in_acceptances,
        load.replays_refused,
        load.ambiguous_skipped,
    );
    for ((user, step), count) in violations.iter().take(SAMPLES) {
        println!("  VIOLATION: user signin-{user} step {step} accepted {count} times");
    }
    let verify_violations = load.verify_rounds - load.verify_rounds_exactly_one;
    println!(
        "verify: {} rounds, {} with exactly one SUCCESS ({} SUCCESS in all); {} racing Verifies \
         refused with SoftwareTokenMFANotFoundException",
        load.verify_rounds,
        load.verify_rounds_exactly_one,
        load.verify_successes,
        load.verify_losers_refused,
    );
    println!("unexpected: {}", load.unexpected);
    for sample in &load.samples {
        println!("  UNEXPECTED: {sample}");
    }
    let proved_something =
        load.sign_in_acceptances > 0 && (verify_groups == 0 || load.verify_rounds > 0);
    let pass =
        load.unexpected == 0 && violations.is_empty() && verify_violations == 0 && proved_something;
    let all = {
        let mut all: Vec<u64> = load.latencies.values().flatten().copied().collect();
        all.sort_unstable();
        all
    };
    println!(
        "SUMMARY: {} — {requests} requests in {:.2} s ({throughput:.0} req/s, p50 {:.2} ms, p99 \
         {:.2} ms), concurrency {}; {codes_ok}/{} sign-in codes accepted exactly once, {} \
         replays refused; {}/{} Verify rounds with exactly one SUCCESS; {} unexpected",
        if pass { "PASS" } else { "FAIL" },
        elapsed.as_secs_f64(),
        percentile_ms(&all, 500),
        percentile_ms(&all, 990),
        options.concurrency,
        load.attempted.len(),
        load.replays_refused,
        load.verify_rounds_exactly_one,
        load.verify_rounds,
        load.unexpected,
    );
    if !proved_something {
        println!("  nothing was accepted: the run proved nothing");
    }
    Ok(pass)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("load_check: {message}");
            ExitCode::FAILURE
        }
    }
}
