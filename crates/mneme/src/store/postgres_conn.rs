//! A blocking PostgreSQL connection whose every call has a deadline.
//!
//! The `postgres` crate's blocking client waits forever on a server (or proxy) that accepts a
//! connection and then stops answering; its `connect_timeout` covers only the TCP connect. This
//! wrapper drives `tokio-postgres` on a small runtime of its own and bounds each call, the
//! connection handshake included. After a timeout the connection's state is unknown, so the
//! caller must drop it.

use super::own_runtime::{block_on, OwnRuntime};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row};

/// Why a call failed.
#[derive(Debug)]
pub(super) enum Failure {
    /// The server or the client library reported an error.
    Db(tokio_postgres::Error),
    /// No answer within the deadline.
    TimedOut(Duration),
    /// The runtime could not start (out of threads or descriptors).
    Runtime(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Db(e) => match e.as_db_error() {
                Some(d) => f.write_str(d.message()),
                None => write!(f, "{e}"),
            },
            Failure::TimedOut(after) => write!(f, "no answer within {after:?}"),
            Failure::Runtime(e) => write!(f, "cannot start the client runtime: {e}"),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Db(e) => Some(e),
            Failure::Runtime(e) => Some(e),
            Failure::TimedOut(_) => None,
        }
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        Failure::Db(e)
    }
}

impl Failure {
    /// Whether the connection must be dropped: it timed out or closed, so a reply may still be
    /// pending on it, or it is gone.
    pub(super) fn connection_lost(&self) -> bool {
        match self {
            // A closed connection or an I/O failure; not the server's answer, nor a value the
            // client could not encode.
            Failure::Db(e) => {
                e.is_closed()
                    || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
            }
            Failure::TimedOut(_) | Failure::Runtime(_) => true,
        }
    }
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) struct PgConn {
    runtime: OwnRuntime,
    client: Client,
    io_timeout: Duration,
}

impl PgConn {
    /// Connects (TCP, startup, authentication) within `connect_timeout`.
    pub(super) fn connect(
        config: &Config,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> Result<PgConn, Failure> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Failure::Runtime)?;
        // The timer is made inside the runtime, which it needs.
        let connecting =
            async { tokio::time::timeout(connect_timeout, config.connect(NoTls)).await };
        let (client, connection) =
            block_on(&runtime, connecting).map_err(|_| Failure::TimedOut(connect_timeout))??;
        // Runs whenever a call blocks on the runtime.
        runtime.spawn(connection);
        Ok(PgConn {
            runtime: OwnRuntime::new(runtime),
            client,
            io_timeout,
        })
    }

    fn run<T: Send>(
        &self,
        call: impl Future<Output = Result<T, tokio_postgres::Error>> + Send,
    ) -> Result<T, Failure> {
        let bounded = async { tokio::time::timeout(self.io_timeout, call).await };
        block_on(&self.runtime, bounded)
            .map_err(|_| Failure::TimedOut(self.io_timeout))?
            .map_err(Failure::Db)
    }

    pub(super) fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Failure> {
        self.run(self.client.query(sql, params))
    }

    pub(super) fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, Failure> {
        self.run(self.client.query_opt(sql, params))
    }

    pub(super) fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, Failure> {
        self.run(self.client.query_one(sql, params))
    }

    pub(super) fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, Failure> {
        self.run(self.client.execute(sql, params))
    }

    pub(super) fn batch_execute(&mut self, sql: &str) -> Result<(), Failure> {
        self.run(self.client.batch_execute(sql))
    }

    /// Runs `f` between `BEGIN` and `COMMIT`, rolling back when it fails.
    pub(super) fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut PgConn) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.batch_execute("BEGIN")?;
        match f(self) {
            Ok(out) => self.batch_execute("COMMIT").map(|()| out),
            Err(e) => {
                if !e.connection_lost() {
                    self.batch_execute("ROLLBACK")?;
                }
                Err(e)
            }
        }
    }
}
