//! Instruments for tests (feature `test-support`): counts, per thread, the HMAC key schedules
//! and code verifications this crate runs, so a test can prove that a refused request computed
//! none (a locked-out user, a malformed code).

pub mod fuzz_targets;

use std::cell::Cell;

thread_local! {
    static KEY_SCHEDULES: Cell<u64> = const { Cell::new(0) };
    static VERIFICATIONS: Cell<u64> = const { Cell::new(0) };
}

/// HMAC computations on this thread so far: key schedules (`TotpKey::new`) plus window
/// verifications (`TotpKey::verify`).
#[must_use]
pub fn hmac_computations() -> u64 {
    KEY_SCHEDULES.with(Cell::get) + VERIFICATIONS.with(Cell::get)
}

pub(crate) fn count_key_schedule() {
    KEY_SCHEDULES.with(|count| count.set(count.get() + 1));
}

pub(crate) fn count_verification() {
    VERIFICATIONS.with(|count| count.set(count.get() + 1));
}
