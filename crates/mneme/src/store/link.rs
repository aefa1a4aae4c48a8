//! A network store's connection, reopened after a failure.
//!
//! A connection that failed in the middle of a call (an I/O error, a timeout, a drop) may still
//! have a reply in flight, so it is never reused: it becomes `Lost`, and the next call opens a
//! new one, which is how a restarted server is picked up without a new store. An idempotent
//! call is tried once more on the new connection; any other is not, since it may or may not
//! have been applied, and its error says so.

use crate::error::{Error, Result};
use std::time::Duration;

/// The connection's state.
pub(super) enum Link<C> {
    NotOpen,
    Connected(C),
    Lost,
    /// After `close()`: every call, `open` included, is [`Error::CacheClosed`].
    Closed,
}

/// What a failed call's error names: the store type, the server kind and its address.
pub(super) struct Server<'a> {
    pub store: &'static str,
    pub kind: &'static str,
    pub address: &'a str,
    pub io_timeout: Duration,
}

impl<C> Link<C> {
    /// The open connection, made now unless there is one (a store's `open`, and a call after
    /// a lost connection).
    pub(super) fn connected(
        &mut self,
        server: &Server<'_>,
        connect: impl FnOnce() -> Result<C>,
    ) -> Result<&mut C> {
        match self {
            Link::Closed => return Err(Error::closed(server.store)),
            Link::NotOpen | Link::Lost => *self = Link::Connected(connect()?),
            Link::Connected(_) => {}
        }
        match self {
            Link::Connected(c) => Ok(c),
            _ => Err(Error::closed(server.store)),
        }
    }

    /// Runs `f` on the connection, reconnecting first if the last one was lost. `connection_failed`
    /// tells an error that spoils the connection from one the server answered with.
    pub(super) fn run<T>(
        &mut self,
        server: &Server<'_>,
        idempotent: bool,
        connect: impl Fn() -> Result<C>,
        connection_failed: impl Fn(&Error) -> bool,
        mut f: impl FnMut(&mut C) -> Result<T>,
    ) -> Result<T> {
        if matches!(self, Link::NotOpen) {
            // Used before open: the same error class as after close (mneme-cache 1.0's).
            return Err(Error::cache_closed(
                format!("{} is not open", server.store),
                "call open(fingerprint, dim) first (SemanticCache does this for you)",
            ));
        }
        let mut retries = usize::from(idempotent);
        loop {
            match f(self.connected(server, &connect)?) {
                Err(e) if connection_failed(&e) => {
                    *self = Link::Lost;
                    if retries == 0 {
                        return Err(lost(server, e, idempotent));
                    }
                    retries -= 1;
                }
                other => return other,
            }
        }
    }
}

/// The error for a call whose connection failed, naming the server and the setting to raise.
fn lost(server: &Server<'_>, e: Error, idempotent: bool) -> Error {
    let problem = match &e {
        Error::StoreBackend { message, .. } => message.problem().to_owned(),
        other => other.to_string(),
    };
    let outcome = if idempotent {
        "the call was retried once on a new connection"
    } else {
        "the write may or may not have been applied; read the entry back before repeating it"
    };
    Error::store_backend_with(
        format!(
            "{problem} ({} at {}; {outcome})",
            server.kind, server.address
        ),
        format!(
            "check the server and the network; the next call reconnects. A slow server: raise \
             {}::io_timeout (now {:?})",
            server.store, server.io_timeout
        ),
        e,
    )
}
