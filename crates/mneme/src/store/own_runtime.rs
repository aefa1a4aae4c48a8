//! A network client's own tokio runtime, for stores whose client library is async (PostgreSQL,
//! DynamoDB) behind the sync [`Store`](super::Store) trait.

use std::future::Future;

/// Runs `future` on the store's own runtime. Called from inside another runtime (an async
/// server calling the sync cache), a thread of its own does the blocking, since a runtime may
/// not block a thread that drives another one.
pub(super) fn block_on<F: Future + Send>(runtime: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_err() {
        return runtime.block_on(future);
    }
    std::thread::scope(|s| {
        s.spawn(|| runtime.block_on(future))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// The store's own runtime, shut down without waiting when the connection goes: dropping the
/// store inside someone else's async context (a server's shutdown) must not panic the way
/// dropping a runtime there does.
pub(super) struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    pub(super) fn new(runtime: tokio::runtime::Runtime) -> Self {
        OwnRuntime(Some(runtime))
    }
}

impl std::ops::Deref for OwnRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the runtime is present until drop")
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
