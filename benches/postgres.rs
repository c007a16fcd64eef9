//! Sign-in verification through `AsyncService` on PostgreSQL, beside the same on `MemoryStore`:
//! one client, and 16 concurrent tasks, in one run.
//!
//! Run with `cargo bench --bench postgres` (PostgreSQL from `SOFTTOKEN_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; the tables go into a fresh schema that is dropped
//! at the end). When the database is unreachable the `postgres/…` ids are skipped, loudly.
//!
//! - `postgres/sign_in/single`, `memory/sign_in/single`: one task answering challenges one
//!   after another with `respond_to_software_token_mfa` and a correct code (session lookup,
//!   record load, the transition, compare-and-swap, session consume).
//! - `postgres/sign_in/concurrent16`, `memory/sign_in/concurrent16`: 16 tasks on a
//!   multi-threaded tokio runtime, each on its own user (so none replays another's code), each
//!   answering its own challenges. The time is wall-clock from the moment all 16 are ready to
//!   the moment the last finishes, divided by the sign-ins done: criterion's time per iteration
//!   is the inverse of the throughput, not a latency.
//!
//! Each task calls `begin_sign_in` for its next batch (at most `BATCH` challenges, one step
//! apart) before the timed part, waits for the others on a barrier, then answers them; only the
//! answers are timed. Every answer's own latency is also recorded, and at the end one summary
//! line per configuration gives ops/s, p50 and p99 (over all timed calls, criterion's warm-up
//! included), the compare-and-swap conflicts the token store reported (counted by a wrapper
//! around it), and the `ConcurrentModificationException`s answered (none expected: no two tasks
//! share a user).

// Benchmarks are not library code: a failed setup step should simply abort the run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use softtoken::api::{
    AssociateSoftwareTokenRequest, RespondToSoftwareTokenMfaRequest, VerifySoftwareTokenRequest,
};
use softtoken::postgres::PostgresStore;
use softtoken::store::{CasError, Version};
use softtoken::{
    AccessToken, AsyncService, AsyncSessionStore, AsyncTokenStore, Error, MemoryStore, MfaMode,
    PoolConfig, Secret, Step, StoreError, TokenRecord, TotpConfig, TotpKey, UnixTime, UserId,
};
use tokio::runtime::Runtime;
use tokio::sync::Barrier;

fn resolve(token: &AccessToken) -> Option<UserId> {
    token.expose().strip_prefix("token-").map(UserId::new)
}

type Resolver = fn(&AccessToken) -> Option<UserId>;

const START: u64 = 1_700_000_010;

/// Challenges each task sets up ahead of one timed round.
const BATCH: u64 = 256;

/// Tasks in the concurrent configurations, and connections in the PostgreSQL pool.
const TASKS: usize = 16;

/// Seeds for the clients' RNGs, one per client, so no two users share a secret.
static SEEDS: AtomicU64 = AtomicU64::new(1);

/// How long to wait for PostgreSQL before skipping its benchmarks.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The token store with a count of the compare-and-swaps it refused with a conflict.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    conflicts: Arc<AtomicU64>,
}

impl<S: AsyncTokenStore> AsyncTokenStore for Counting<S> {
    fn load(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Version)>, StoreError>> + Send {
        self.inner.load(user)
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> impl Future<Output = Result<Option<Version>, CasError>> + Send {
        let swapped = self.inner.compare_and_swap(user, expected, next);
        let conflicts = &self.conflicts;
        async move {
            let result = swapped.await;
            if matches!(result, Err(CasError::Conflict)) {
                conflicts.fetch_add(1, Ordering::Relaxed);
            }
            result
        }
    }
}

/// What a backend must be for the service's futures to run on spawned tasks.
trait Backend: AsyncTokenStore + AsyncSessionStore + Clone + Send + Sync + 'static {}
impl<S: AsyncTokenStore + AsyncSessionStore + Clone + Send + Sync + 'static> Backend for S {}

type Svc<S> = AsyncService<Counting<S>, S, Resolver>;

/// One enrolled user and its authenticator app.
struct Client {
    user: UserId,
    app: TotpKey,
    /// The last step a challenge was issued at.
    step: u64,
    rng: ChaCha20Rng,
}

impl Client {
    /// The next instant to sign in at, one step after the last.
    fn next_at(&mut self) -> UnixTime {
        self.step += 1;
        // When two adjacent steps share a code (about once in 500 000 steps), the first sign-in
        // matches both and burns the later one, so the next step's identical code is rightly a
        // replay; skip past such a pair.
        while self.app.code_at_step(Step(self.step)) == self.app.code_at_step(Step(self.step - 1)) {
            self.step += 1;
        }
        UnixTime(self.step * 30 + 5)
    }
}

/// Associates and verifies a software token for `name`.
async fn enrol<S: Backend>(service: &Svc<S>, name: &str, seed: u64) -> Client {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let token = format!("token-{name}");
    let associated = service
        .associate_software_token(
            &AssociateSoftwareTokenRequest {
                access_token: Some(token.clone()),
                session: None,
            },
            UnixTime(START),
            &mut rng,
        )
        .await
        .into_result()
        .unwrap();
    let secret = Secret::from_base32(associated.secret_code.expose()).unwrap();
    let app = TotpKey::new(&secret, TotpConfig::default());
    service
        .verify_software_token(
            &VerifySoftwareTokenRequest {
                access_token: Some(token),
                session: None,
                user_code: app.code_at(UnixTime(START)).unwrap().reveal(),
                friendly_device_name: None,
            },
            UnixTime(START),
            &mut rng,
        )
        .await
        .into_result()
        .unwrap();
    Client {
        user: UserId::new(name),
        app,
        step: START / 30,
        rng,
    }
}

/// What one task did in one round.
struct TaskReport {
    client: Client,
    started: Instant,
    finished: Instant,
    latencies: Vec<Duration>,
    concurrent_modifications: u64,
}

/// One task's round: `count` challenges set up, then (after the barrier) answered and timed.
async fn run_task<S: Backend>(
    service: Arc<Svc<S>>,
    mut client: Client,
    count: u64,
    barrier: Arc<Barrier>,
) -> TaskReport {
    let mut prepared = Vec::new();
    for _ in 0..count {
        let at = client.next_at();
        let challenge = service
            .begin_sign_in(&client.user, at, &mut client.rng)
            .await
            .into_result()
            .unwrap()
            .unwrap();
        let request = RespondToSoftwareTokenMfaRequest {
            session: challenge.session.expose().to_owned(),
            username: client.user.as_str().to_owned(),
            software_token_mfa_code: client.app.code_at(at).unwrap().reveal(),
        };
        prepared.push((request, at));
    }
    let mut latencies = Vec::with_capacity(prepared.len());
    let mut concurrent_modifications = 0;
    barrier.wait().await;
    let started = Instant::now();
    for (request, at) in &prepared {
        let sent = Instant::now();
        let outcome = service.respond_to_software_token_mfa(request, *at).await;
        latencies.push(sent.elapsed());
        match outcome.result {
            Ok(_) => {}
            Err(Error::ConcurrentModification) => concurrent_modifications += 1,
            Err(error) => panic!("{error:?} at {at:?} for {}", client.user.as_str()),
        }
    }
    let finished = Instant::now();
    TaskReport {
        client,
        started,
        finished,
        latencies,
        concurrent_modifications,
    }
}

/// Everything one configuration's timed calls did, for its summary line.
#[derive(Default)]
struct Stats {
    latencies: Vec<Duration>,
    ops: u64,
    timed: Duration,
    cas_conflicts: u64,
    concurrent_modifications: u64,
}

impl Stats {
    /// The latency at percentile `percent` (nearest rank).
    fn percentile(sorted: &[Duration], percent: usize) -> Duration {
        let rank = (sorted.len() * percent).div_ceil(100);
        sorted
            .get(rank.saturating_sub(1))
            .copied()
            .unwrap_or_default()
    }

    fn summary(&mut self, id: &str) {
        if self.ops == 0 {
            println!("summary {id}: not run");
            return;
        }
        self.latencies.sort_unstable();
        let ops_per_sec = self.ops as f64 / self.timed.as_secs_f64();
        println!(
            "summary {id}: {ops_per_sec:.0} ops/s ({} sign-ins in {:.3} s timed), \
             p50 {:?}, p99 {:?}, CAS conflicts {}, ConcurrentModification {}",
            self.ops,
            self.timed.as_secs_f64(),
            Stats::percentile(&self.latencies, 50),
            Stats::percentile(&self.latencies, 99),
            self.cas_conflicts,
            self.concurrent_modifications,
        );
    }
}

/// One configuration: a service, its enrolled clients (one per task), and what was measured.
struct Bench<S> {
    service: Arc<Svc<S>>,
    clients: Vec<Client>,
    stats: Stats,
}

impl<S: Backend> Bench<S> {
    fn new(runtime: &Runtime, service: &Arc<Svc<S>>, label: &str, tasks: usize) -> Bench<S> {
        let clients = runtime.block_on(async {
            let mut clients = Vec::new();
            for index in 0..tasks {
                let seed = SEEDS.fetch_add(1, Ordering::Relaxed);
                clients.push(enrol(service, &format!("{label}-{index}"), seed).await);
            }
            clients
        });
        Bench {
            service: Arc::clone(service),
            clients,
            stats: Stats::default(),
        }
    }

    /// `iters` sign-ins shared out over the clients, in rounds of at most `BATCH` per client;
    /// returns the wall-clock time of the timed parts.
    fn run(&mut self, runtime: &Runtime, iters: u64) -> Duration {
        let tasks = self.clients.len() as u64;
        let conflicts_before = self.service.token_store().conflicts.load(Ordering::Relaxed);
        let mut remaining = iters;
        let mut total = Duration::ZERO;
        while remaining > 0 {
            let round = remaining.min(BATCH * tasks);
            remaining -= round;
            let service = &self.service;
            let clients = &mut self.clients;
            let reports = runtime.block_on(async {
                let barrier = Arc::new(Barrier::new(clients.len()));
                let handles: Vec<_> = clients
                    .drain(..)
                    .zip(0_u64..)
                    .map(|(client, index)| {
                        let count = round / tasks + u64::from(index < round % tasks);
                        tokio::spawn(run_task(
                            Arc::clone(service),
                            client,
                            count,
                            Arc::clone(&barrier),
                        ))
                    })
                    .collect();
                let mut reports = Vec::with_capacity(handles.len());
                for handle in handles {
                    reports.push(handle.await.unwrap());
                }
                reports
            });
            let started = reports.iter().map(|report| report.started).min().unwrap();
            let finished = reports.iter().map(|report| report.finished).max().unwrap();
            total += finished - started;
            for report in reports {
                self.stats.latencies.extend(report.latencies);
                self.stats.concurrent_modifications += report.concurrent_modifications;
                clients.push(report.client);
            }
            // Untimed: keep the session table small. Every session issued so far is answered,
            // and sessions live minutes, so those expired by the slowest client's clock can go.
            let oldest = clients.iter().map(|client| client.step).min().unwrap();
            runtime
                .block_on(service.sweep_sessions(UnixTime(oldest * 30)))
                .unwrap();
        }
        self.stats.ops += iters;
        self.stats.timed += total;
        self.stats.cas_conflicts +=
            self.service.token_store().conflicts.load(Ordering::Relaxed) - conflicts_before;
        total
    }
}

/// The benchmarks of one backend: a single client and 16 concurrent ones, each behind an
/// untimed warm-up round that opens the pool's connections.
fn bench_backend<S: Backend>(
    c: &mut Criterion,
    runtime: &Runtime,
    name: &str,
    store: S,
    sample_size: usize,
) -> Vec<(String, Stats)> {
    let pool = PoolConfig::default().with_mfa_mode(MfaMode::On).unwrap();
    let tokens = Counting {
        inner: store.clone(),
        conflicts: Arc::new(AtomicU64::new(0)),
    };
    let service = Arc::new(AsyncService::new(tokens, store, resolve as Resolver, pool));
    let mut group = c.benchmark_group(format!("{name}/sign_in"));
    group.sample_size(sample_size);
    group.throughput(Throughput::Elements(1));
    let mut results = Vec::new();
    for (id, tasks) in [("single", 1), ("concurrent16", TASKS)] {
        let mut bench = Bench::new(runtime, &service, &format!("{name}-{id}"), tasks);
        bench.run(runtime, BATCH * tasks as u64);
        bench.stats = Stats::default();
        group.bench_function(id, |b| b.iter_custom(|iters| bench.run(runtime, iters)));
        results.push((format!("{name}/sign_in/{id}"), bench.stats));
    }
    group.finish();
    results
}

fn pg_url() -> String {
    std::env::var("SOFTTOKEN_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema name unique to this run.
fn fresh_schema() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!("softtoken_bench_{}_{nanos}", std::process::id())
}

/// A migrated store on `schema`, or `None` (after a notice) when PostgreSQL is unreachable.
fn postgres_store(runtime: &Runtime, url: &str, schema: &str) -> Option<PostgresStore> {
    let skipped = |why: String| {
        eprintln!(
            "\n!!! SKIPPING postgres/sign_in/* benchmarks: PostgreSQL at {url} {why}.\n\
             !!! Start one or point SOFTTOKEN_PG_URL at another to run them.\n"
        );
        None
    };
    let store = match PostgresStore::connect(url, schema, TASKS) {
        Ok(store) => store,
        Err(error) => return skipped(format!("cannot be used ({error})")),
    };
    // The timeout's timer needs the runtime, so it is made inside it.
    match runtime.block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, store.migrate()).await }) {
        Ok(Ok(())) => Some(store),
        Ok(Err(error)) => skipped(format!("is unreachable ({error})")),
        Err(_) => skipped(format!("did not answer within {CONNECT_TIMEOUT:?}")),
    }
}

/// Drops the bench's schema when dropped, also when a benchmark panics.
struct SchemaGuard<'a> {
    runtime: &'a Runtime,
    url: String,
    schema: String,
}

impl Drop for SchemaGuard<'_> {
    fn drop(&mut self) {
        let dropped = self.runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                    self.schema
                ))
                .await
        });
        match dropped {
            Ok(()) => eprintln!("dropped schema {}", self.schema),
            Err(error) => eprintln!("could not drop schema {}: {error}", self.schema),
        }
    }
}

fn bench_sign_in(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = pg_url();
    let schema = fresh_schema();
    let mut results = Vec::new();
    let mut guard = None;
    if let Some(store) = postgres_store(&runtime, &url, &schema) {
        guard = Some(SchemaGuard {
            runtime: &runtime,
            url,
            schema,
        });
        results.extend(bench_backend(c, &runtime, "postgres", store, 20));
    }
    results.extend(bench_backend(c, &runtime, "memory", MemoryStore::new(), 20));
    println!();
    for (id, stats) in &mut results {
        stats.summary(id);
    }
    drop(guard);
}

/// Short runs: the whole file finishes in about a minute.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_sign_in
}
criterion_main!(benches);
