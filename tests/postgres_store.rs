//! The PostgreSQL stores honour the store contract: the public conformance suite (including its
//! 8-thread compare-and-swap and consume races) against `PostgresStore`, migrations that apply
//! once, and sealed secrets at rest. Needs the database at `SOFTTOKEN_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); fails when it is unreachable unless
//! `SOFTTOKEN_SKIP_PG=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests assert by panicking

mod pg;

use softtoken::store::conformance;

#[test]
fn postgres_store_honours_the_token_store_contract() {
    let runtime = pg::runtime();
    let schema = pg::fresh_schema("tokens");
    let Some(store) = runtime.block_on(pg::store(&schema, 16)) else {
        return;
    };
    let blocking = pg::Blocking {
        store,
        handle: runtime.handle().clone(),
    };
    conformance::token_store(|| blocking.clone());
    runtime.block_on(pg::drop_schema(&schema));
}

#[test]
fn postgres_store_honours_the_session_store_contract() {
    let runtime = pg::runtime();
    let schema = pg::fresh_schema("sessions");
    let Some(store) = runtime.block_on(pg::store(&schema, 16)) else {
        return;
    };
    let blocking = pg::Blocking {
        store,
        handle: runtime.handle().clone(),
    };
    conformance::session_store(|| blocking.clone());
    runtime.block_on(pg::drop_schema(&schema));
}

#[test]
fn migrations_apply_once_and_concurrently() {
    let runtime = pg::runtime();
    let schema = pg::fresh_schema("migrate");
    runtime.block_on(async {
        let Some(first) = pg::store(&schema, 2).await else {
            return;
        };
        // A second instance migrating the same schema, twice, concurrently: no error, and the
        // migration table records version 1 once.
        let second = pg::another_pool(&schema, 2).await;
        let (a, b) = tokio::join!(first.migrate(), second.migrate());
        a.unwrap();
        b.unwrap();
        let (client, connection) = tokio_postgres::connect(&pg::url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client
            .query(
                &format!("SELECT version FROM \"{schema}\".softtoken_migrations"),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        pg::drop_schema(&schema).await;
    });
}
