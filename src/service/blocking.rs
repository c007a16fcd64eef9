//! Runs the async driver over blocking stores: each store call completes before its future is
//! created, so every future the driver awaits is already ready and one poll finishes it.

use core::future::{Future, ready};
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use crate::error::StoreError;
use crate::identity::{SessionId, UserId};
use crate::record::TokenRecord;
use crate::store::{
    AsyncSessionStore, AsyncTokenStore, CasError, ConsumeError, SessionRecord, SessionStore,
    TokenStore, Version,
};
use crate::time::UnixTime;

/// A blocking store presented as an async one whose futures are always ready.
pub(crate) struct Blocking<T>(pub(crate) T);

impl<T: TokenStore> AsyncTokenStore for Blocking<T> {
    fn load(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<(TokenRecord, Version)>, StoreError>> + Send {
        ready(self.0.load(user))
    }

    fn compare_and_swap(
        &self,
        user: &UserId,
        expected: Option<Version>,
        next: Option<TokenRecord>,
    ) -> impl Future<Output = Result<Option<Version>, CasError>> + Send {
        ready(self.0.compare_and_swap(user, expected, next))
    }
}

impl<S: SessionStore> AsyncSessionStore for Blocking<S> {
    fn put(
        &self,
        session: &SessionId,
        record: SessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.0.put(session, record))
    }

    fn get(
        &self,
        session: &SessionId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send {
        ready(self.0.get(session))
    }

    fn consume(
        &self,
        session: &SessionId,
    ) -> impl Future<Output = Result<(), ConsumeError>> + Send {
        ready(self.0.consume(session))
    }

    fn sweep(&self, now: UnixTime) -> impl Future<Output = Result<usize, StoreError>> + Send {
        ready::<Result<usize, StoreError>>(self.0.sweep(now))
    }
}

/// Drives a future whose every await is on a [`Ready`] future to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // Not reached with `Blocking` stores or `MemoryStore`, whose futures are ready when
        // created (the only futures this crate drives here); yielding keeps the loop polite
        // should one ever be pending.
        std::thread::yield_now();
    }
}
