//! Single-flight: concurrent identical misses (same scope and normalised query) make one
//! upstream call; the others wait for its answer. A leader that goes away without an answer
//! (its client hung up) releases the waiters with an error instead of leaving them hanging.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// An upstream answer as the proxy passes it on.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

type Slot = watch::Receiver<Option<Arc<Answer>>>;

#[derive(Default)]
pub struct Flights {
    inflight: Mutex<HashMap<String, Slot>>,
}

/// Either lead the call (and publish its answer) or follow one in flight.
pub enum Role<'a> {
    Leader(Lead<'a>),
    Follower(Slot),
}

pub struct Lead<'a> {
    flights: &'a Flights,
    key: String,
    tx: Option<watch::Sender<Option<Arc<Answer>>>>,
}

impl Flights {
    pub fn join(&self, key: String) -> Role<'_> {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = map.get(&key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Role::Leader(Lead {
            flights: self,
            key,
            tx: Some(tx),
        })
    }
}

impl Lead<'_> {
    /// Hands the answer to every follower and ends the flight.
    pub fn publish(mut self, answer: Arc<Answer>) {
        if let Some(tx) = self.tx.take() {
            self.end();
            let _ = tx.send(Some(answer));
        }
    }

    fn end(&self) {
        self.flights
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            self.end();
            let _ = tx.send(Some(Arc::new(Answer {
                status: 502,
                content_type: "application/json".into(),
                body: Bytes::from_static(
                    br#"{"error":{"message":"the identical request this one waited for was abandoned. Remediation: retry","type":"upstream_error","param":null,"code":null}}"#,
                ),
            })));
        }
    }
}

/// Waits for the leader's answer.
pub async fn follow(mut rx: Slot) -> Arc<Answer> {
    match rx.wait_for(Option::is_some).await {
        Ok(v) => v.clone().expect("wait_for returned a value"),
        Err(_) => Arc::new(Answer {
            status: 502,
            content_type: "application/json".into(),
            body: Bytes::from_static(br#"{"error":{"message":"the identical request this one waited for failed","type":"upstream_error","param":null,"code":null}}"#),
        }),
    }
}
