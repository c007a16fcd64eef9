//! PostgreSQL stores (feature `postgres`): [`PostgresStore`] implements [`AsyncTokenStore`]
//! and [`AsyncSessionStore`] on `tokio-postgres`, pooled with `deadpool-postgres` (async-native,
//! tokio-based and maintained; `bb8` would do as well, deadpool needs less glue).
//!
//! Every write is one conditional statement, so several service instances — each with its own
//! pool — can share one database without table locks or `SERIALIZABLE` retries:
//!
//! | contract | statement |
//! |---|---|
//! | insert where none exists | `INSERT … ON CONFLICT (user_id) DO NOTHING RETURNING version` |
//! | update at a version | `UPDATE … SET version = nextval(…), record = $3 WHERE user_id = $1 AND version = $2` |
//! | delete at a version | `DELETE … WHERE user_id = $1 AND version = $2` |
//! | consume a session once | `UPDATE sessions SET consumed = true WHERE id_hash = $1 AND NOT consumed` |
//! | sweep | `DELETE FROM sessions WHERE expires_at <= $1` |
//!
//! Versions come from a sequence and never repeat, even after a delete and a fresh insert.
//! Records are stored as [`TokenRecord::encode`] bytes, secrets sealed by the store's
//! [`SecretSealer`] (default [`PlainSecrets`]: as is — whoever reads the table can compute
//! codes; pass a KMS- or AEAD-backed sealer where that matters). Sessions are stored under the
//! SHA-256 of their value, so the table holds no usable session. Every database or connection
//! error becomes a [`StoreError`] and the operation fails closed.
//!
//! The schema is created by [`PostgresStore::migrate`] from versioned migrations recorded in
//! `softtoken_migrations`, inside a schema of the caller's choice.
//!
//! A blocking service uses PostgreSQL through [`AsyncService`](crate::AsyncService) and its
//! runtime's `block_on` (e.g. `tokio::runtime::Handle::block_on` from a non-runtime thread).

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::{PlainSecrets, SecretSealer, TokenRecord};
use crate::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionPurpose, SessionRecord,
    Version,
};
use crate::time::UnixTime;

/// The migrations, in order; each runs once per schema. `{schema}` is replaced by the quoted
/// schema name.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE SEQUENCE {schema}.record_versions;
     CREATE TABLE {schema}.token_records (
         user_id text PRIMARY KEY,
         version bigint NOT NULL,
         record  bytea  NOT NULL
     );
     CREATE TABLE {schema}.sessions (
         id_hash    bytea    PRIMARY KEY,
         user_id    text     NOT NULL,
         purpose    smallint NOT NULL,
         expires_at bigint   NOT NULL,
         consumed   boolean  NOT NULL DEFAULT false
     );
     CREATE INDEX sessions_expires_at ON {schema}.sessions (expires_at);",
)];

/// How long a connection attempt, an unacknowledged send or a wait for a pooled connection may
/// take before the call fails (closed).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Token records and sessions in PostgreSQL. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    sealer: Arc<dyn SecretSealer + Send + Sync>,
}

impl core::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

/// A store error naming the step and the database's reason: the error and its sources, first
/// line of each (a server error's DETAIL line can quote row values, so it is left out).
fn store_error(context: &str, error: impl std::error::Error) -> StoreError {
    let mut reason = first_line(&error.to_string()).to_owned();
    let mut source = error.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(first_line(&cause.to_string()));
        source = cause.source();
    }
    StoreError::new(format!("postgres {context}: {reason}"))
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

impl PostgresStore {
    /// A store with its own pool of up to `max_connections` connections to `url`
    /// (`postgres://user@host:port/db`), using tables in `schema` (created by
    /// [`PostgresStore::migrate`]). Connections are opened lazily and verified before reuse,
    /// so a connection the server dropped is replaced rather than reused.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid URL or schema name.
    pub fn connect(
        url: &str,
        schema: &str,
        max_connections: usize,
    ) -> Result<PostgresStore, StoreError> {
        // PostgreSQL truncates identifiers to 63 bytes: longer names could silently share one.
        if schema.is_empty()
            || schema.len() > 63
            || !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::new(
                "postgres schema names must be 1 to 63 ASCII letters, digits or '_'",
            ));
        }
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|error| store_error("url", error))?;
        // A database that silently drops packets must fail calls, not hang them: bound the
        // connect, unacknowledged sends, and (below) every wait on the pool.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(TIMEOUT);
        }
        config.tcp_user_timeout(TIMEOUT);
        config.keepalives_idle(TIMEOUT);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(TIMEOUT))
            .create_timeout(Some(TIMEOUT))
            .recycle_timeout(Some(TIMEOUT))
            .build()
            .map_err(|error| store_error("pool", error))?;
        Ok(PostgresStore {
            pool,
            schema: format!("\"{schema}\""),
            sealer: Arc::new(PlainSecrets),
        })
    }

    /// The same store sealing secrets with `sealer` (a KMS or AEAD key).
    #[must_use]
    pub fn with_sealer(
        mut self,
        sealer: impl SecretSealer + Send + Sync + 'static,
    ) -> PostgresStore {
        self.sealer = Arc::new(sealer);
        self
    }

    /// Creates the schema and applies every migration not yet recorded in it. Safe to run from
    /// several instances at once (an advisory lock serialises them).
    ///
    /// # Errors
    /// [`StoreError`] when the database refuses.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(|error| store_error("migrate", error))?;
        let statements = format!(
            "SELECT pg_advisory_xact_lock(7354629);
             CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.softtoken_migrations (
                 version    integer     PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );",
            schema = self.schema
        );
        transaction
            .batch_execute(&statements)
            .await
            .map_err(|error| store_error("migrate", error))?;
        for (version, sql) in MIGRATIONS {
            let applied = transaction
                .query_opt(
                    &format!(
                        "SELECT 1 FROM {}.softtoken_migrations WHERE version = $1",
                        self.schema
                    ),
                    &[version],
                )
                .await
                .map_err(|error| store_error("migrate", error))?;
            if applied.is_some() {
                continue;
            }
            transaction
                .batch_execute(&sql.replace("{schema}", &self.schema))
                .await
                .map_err(|error| store_error("migrate", error))?;
            transaction
                .execute(
                    &format!(
                        "INSERT INTO {}.softtoken_migrations (version) VALUES ($1)",
                        self.schema
                    ),
                    &[version],
                )
                .await
                .map_err(|error| store_error("migrate", error))?;
        }
        transaction
            .commit()
            .await
            .map_err(|error| store_error("migrate", error))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|error| store_error("connection", error))
    }

    fn encode(&self, record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
        record
            .encode(self.sealer.as_ref())
            .map_err(|error| store_error("seal", error))
    }

    async fn load_record(
        &self,
        user: &UserId,
    ) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT version, record FROM {}.token_records WHERE user_id = $1",
                    self.schema
                ),
                &[&user.as_str()],
            )
            .await
            .map_err(|error| store_error("load", error))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(|error| store_error("load", error))?;
        let bytes: Vec<u8> = row.try_get(1).map_err(|error| store_error("load", error))?;
        let record = TokenRecord::decode(&bytes, self.sealer.as_ref())
            .map_err(|error| store_error("decode", error))?;
        Ok(Some((record, Version(version.cast_unsigned()))))
    }

    async fn swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        let client = self.client().await?;
        let schema = &self.schema;
        let user = user.as_str();
        let failed =
            |error: tokio_postgres::Error| CasError::Store(store_error("compare-and-swap", error));
        match (expected, next) {
            (None, Some(record)) => {
                let bytes = self.encode(&record)?;
                let row = client
                    .query_opt(
                        &format!(
                            "INSERT INTO {schema}.token_records (user_id, version, record)
                             VALUES ($1, nextval('{schema}.record_versions'), $2)
                             ON CONFLICT (user_id) DO NOTHING RETURNING version"
                        ),
                        &[&user, &bytes],
                    )
                    .await
                    .map_err(failed)?;
                version_of(row)
            }
            (Some(version), Some(record)) => {
                let bytes = self.encode(&record)?;
                let row = client
                    .query_opt(
                        &format!(
                            "UPDATE {schema}.token_records
                             SET version = nextval('{schema}.record_versions'), record = $3
                             WHERE user_id = $1 AND version = $2 RETURNING version"
                        ),
                        &[&user, &version.0.cast_signed(), &bytes],
                    )
                    .await
                    .map_err(failed)?;
                version_of(row)
            }
            (Some(version), None) => {
                let deleted = client
                    .execute(
                        &format!(
                            "DELETE FROM {schema}.token_records WHERE user_id = $1 AND version = $2"
                        ),
                        &[&user, &version.0.cast_signed()],
                    )
                    .await
                    .map_err(failed)?;
                if deleted == 1 {
                    Ok(None)
                } else {
                    Err(CasError::Conflict)
                }
            }
            (None, None) => {
                let exists = client
                    .query_opt(
                        &format!("SELECT 1 FROM {schema}.token_records WHERE user_id = $1"),
                        &[&user],
                    )
                    .await
                    .map_err(failed)?;
                if exists.is_some() {
                    Err(CasError::Conflict)
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// The version a conditional write returned, or a conflict when it matched no row.
fn version_of(row: Option<tokio_postgres::Row>) -> Result<Option<Version>, CasError> {
    let row = row.ok_or(CasError::Conflict)?;
    let version: i64 = row
        .try_get(0)
        .map_err(|error| CasError::Store(store_error("compare-and-swap", error)))?;
    Ok(Some(Version(version.cast_unsigned())))
}

/// Sessions are stored under the SHA-256 of their value.
fn session_key(session: &SessionId) -> Vec<u8> {
    Sha256::digest(session.expose().as_bytes()).to_vec()
}

const fn purpose_code(purpose: SessionPurpose) -> i16 {
    match purpose {
        SessionPurpose::MfaSetupAssociate => 1,
        SessionPurpose::MfaSetupVerify => 2,
        SessionPurpose::MfaSetupRespond => 3,
        SessionPurpose::SoftwareTokenMfa => 4,
    }
}

fn purpose_from_code(code: i16) -> Result<SessionPurpose, StoreError> {
    match code {
        1 => Ok(SessionPurpose::MfaSetupAssociate),
        2 => Ok(SessionPurpose::MfaSetupVerify),
        3 => Ok(SessionPurpose::MfaSetupRespond),
        4 => Ok(SessionPurpose::SoftwareTokenMfa),
        _ => Err(StoreError::new(format!(
            "postgres: unknown session purpose {code}"
        ))),
    }
}

/// Unix seconds as PostgreSQL `bigint`; times past `i64::MAX` clamp (they are refused long
/// before, at `UnixTime::MAX`).
fn seconds(time: UnixTime) -> i64 {
    i64::try_from(time.0).unwrap_or(i64::MAX)
}

impl AsyncTokenStore for PostgresStore {
    async fn load(&self, user: &UserId) -> Result<Option<(TokenRecord, Version)>, StoreError> {
        self.load_record(user).await
    }

    async fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> Result<Option<Version>, CasError> {
        self.swap(user, expected, next).await
    }
}

impl AsyncSessionStore for PostgresStore {
    async fn put(&self, session: &SessionId, record: SessionRecord) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO {}.sessions (id_hash, user_id, purpose, expires_at, consumed)
                     VALUES ($1, $2, $3, $4, $5)",
                    self.schema
                ),
                &[
                    &session_key(session),
                    &record.user.as_str(),
                    &purpose_code(record.purpose),
                    &seconds(record.expires_at),
                    &record.consumed,
                ],
            )
            .await
            .map_err(|error| store_error("put session", error))?;
        Ok(())
    }

    async fn get(&self, session: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT user_id, purpose, expires_at, consumed FROM {}.sessions
                     WHERE id_hash = $1",
                    self.schema
                ),
                &[&session_key(session)],
            )
            .await
            .map_err(|error| store_error("get session", error))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let read = |error| store_error("get session", error);
        let user: String = row.try_get(0).map_err(read)?;
        let purpose: i16 = row.try_get(1).map_err(read)?;
        let expires_at: i64 = row.try_get(2).map_err(read)?;
        let consumed: bool = row.try_get(3).map_err(read)?;
        Ok(Some(SessionRecord {
            user: UserId::new(user),
            purpose: purpose_from_code(purpose)?,
            expires_at: UnixTime(expires_at.max(0).cast_unsigned()),
            consumed,
        }))
    }

    async fn consume(&self, session: &SessionId) -> Result<(), ConsumeError> {
        let client = self.client().await?;
        let key = session_key(session);
        let failed = |error| ConsumeError::Store(store_error("consume session", error));
        let updated = client
            .execute(
                &format!(
                    "UPDATE {}.sessions SET consumed = true WHERE id_hash = $1 AND NOT consumed",
                    self.schema
                ),
                &[&key],
            )
            .await
            .map_err(failed)?;
        if updated == 1 {
            return Ok(());
        }
        // Only tells the two refusals apart; the update above already decided.
        let exists = client
            .query_opt(
                &format!("SELECT 1 FROM {}.sessions WHERE id_hash = $1", self.schema),
                &[&key],
            )
            .await
            .map_err(failed)?;
        Err(if exists.is_some() {
            ConsumeError::AlreadyConsumed
        } else {
            ConsumeError::NotFound
        })
    }

    async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute(
                &format!(
                    "DELETE FROM {}.sessions WHERE expires_at <= $1",
                    self.schema
                ),
                &[&seconds(now)],
            )
            .await
            .map_err(|error| store_error("sweep", error))?;
        Ok(usize::try_from(deleted).unwrap_or(usize::MAX))
    }
}
