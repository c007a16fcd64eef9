//! Shared by the PostgreSQL tests: where the database is, a fresh schema per test, and a
//! blocking adapter so the (thread-based) store conformance suite can drive the async store.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use std::sync::atomic::{AtomicU64, Ordering};

use softtoken::postgres::PostgresStore;
use softtoken::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionRecord, SessionStore,
    TokenStore, Version,
};
use softtoken::{SessionId, StoreError, TokenRecord, UnixTime, UserId};
use tokio::runtime::{Handle, Runtime};

/// `SOFTTOKEN_PG_URL`, default the local test database.
pub fn url() -> String {
    std::env::var("SOFTTOKEN_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the PostgreSQL tests may be skipped: only when `SOFTTOKEN_SKIP_PG=1` is set.
fn skip_allowed() -> bool {
    std::env::var("SOFTTOKEN_SKIP_PG").as_deref() == Ok("1")
}

/// A schema name unique to this process and call, so runs and tests never collide.
pub fn fresh_schema(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "softtoken_test_{label}_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A migrated store on a fresh schema with its own pool, or `None` (after a loud notice) when
/// the database is unreachable and `SOFTTOKEN_SKIP_PG=1`. Unreachable without that variable
/// fails the test, saying how to start one.
pub async fn store(schema: &str, connections: usize) -> Option<PostgresStore> {
    let url = url();
    let store = PostgresStore::connect(&url, schema, connections).expect("a valid URL");
    match store.migrate().await {
        Ok(()) => Some(store),
        Err(error) if skip_allowed() => {
            eprintln!(
                "\n!!! SKIPPED PostgreSQL test (SOFTTOKEN_SKIP_PG=1): {url} unreachable: {error}\n"
            );
            None
        }
        Err(error) => panic!(
            "PostgreSQL at {url} is unreachable ({error}).\n\
             Start one (on this machine: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start),\n\
             point SOFTTOKEN_PG_URL at another, or set SOFTTOKEN_SKIP_PG=1 to skip these tests explicitly."
        ),
    }
}

/// Another handle on the same schema with its own pool (another service instance).
pub async fn another_pool(schema: &str, connections: usize) -> PostgresStore {
    PostgresStore::connect(&url(), schema, connections).expect("a valid URL")
}

/// Drops a test schema.
pub async fn drop_schema(schema: &str) {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

/// The async store seen through the blocking traits, for the thread-based conformance suite:
/// each call runs on `handle` from the calling (non-runtime) thread.
#[derive(Clone)]
pub struct Blocking {
    pub store: PostgresStore,
    pub handle: Handle,
}

impl TokenStore for Blocking {
    fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        self.handle
            .block_on(AsyncTokenStore::load(&self.store, user))
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        self.handle.block_on(AsyncTokenStore::compare_and_swap(
            &self.store,
            user,
            expected,
            next,
        ))
    }
}

impl SessionStore for Blocking {
    fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        self.handle
            .block_on(AsyncSessionStore::put(&self.store, session, record))
    }

    fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.handle
            .block_on(AsyncSessionStore::get(&self.store, session))
    }

    fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        self.handle
            .block_on(AsyncSessionStore::consume(&self.store, session))
    }

    fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        self.handle
            .block_on(AsyncSessionStore::sweep(&self.store, now))
    }
}

/// A multi-threaded runtime for tests that drive the store from plain threads.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
