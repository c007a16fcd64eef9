//! The public store conformance suite, run against `MemoryStore` — the same calls a PostgreSQL,
//! DynamoDB or Redis backend makes from its own tests.

use softtoken::MemoryStore;
use softtoken::store::conformance;

#[test]
fn memory_store_honours_the_token_store_contract() {
    let store = MemoryStore::new();
    conformance::token_store(|| store.clone());
}

#[test]
fn memory_store_honours_the_session_store_contract() {
    let store = MemoryStore::new();
    conformance::session_store(|| store.clone());
}

#[test]
fn memory_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<MemoryStore>();
}
