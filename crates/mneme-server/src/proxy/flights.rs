//! Single-flight: concurrent misses for one question make one upstream call; the others wait
//! for its answer. "One question" is the same scope and normalised query, or (near-duplicate
//! coalescing) a query of the same scope that the cache would serve the flight's answer to as a
//! semantic hit once stored: same threshold, verifier and confidence rule, judged with the
//! embeddings both requests computed anyway. A leader that goes away without an answer (its
//! client hung up) releases the waiters with an error instead of leaving them hanging.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// An upstream answer as the proxy passes it on.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

type Slot = watch::Receiver<Option<Arc<Answer>>>;

/// A call in flight: who may join it.
struct Flight {
    namespace: String,
    query: String,
    /// The leader's query embedding, L2-normalised; absent when it could not be embedded.
    unit: Option<Vec<f32>>,
    slot: Slot,
}

#[derive(Default)]
pub struct Flights {
    inflight: Mutex<HashMap<String, Flight>>,
}

/// Either lead the call (and publish its answer) or follow one in flight.
pub enum Role<'a> {
    Leader(Lead<'a>),
    /// Following an identical request (`None`) or a near-duplicate at this similarity.
    Follower(Slot, Option<f64>),
}

pub struct Lead<'a> {
    flights: &'a Flights,
    key: String,
    tx: Option<watch::Sender<Option<Arc<Answer>>>>,
}

/// A miss about to call the upstream.
pub struct Miss<'v> {
    /// Scope and normalised query: identical requests share it.
    pub key: String,
    pub namespace: String,
    pub query: String,
    /// The query's embedding, when the lookup computed one.
    pub embedding: Option<&'v [f32]>,
    /// Whether the answer will be stored (not `no-store`): only then may near-duplicates join.
    pub shared: bool,
}

impl Flights {
    /// Follows the flight of an identical request, else the most similar flight of the same
    /// namespace that `serves(flight's query, similarity)` accepts, else leads a new one.
    /// `serves` runs outside the flights' lock: a verifier may take its time.
    pub fn join(&self, miss: Miss<'_>, serves: impl Fn(&str, f64) -> bool) -> Role<'_> {
        let unit = miss.embedding.map(|v| {
            let mut u = v.to_vec();
            mneme::quant::l2_normalize(&mut u);
            u
        });
        let mut near: Vec<(f64, String, Slot)> = {
            let map = self.lock();
            if let Some(f) = map.get(&miss.key) {
                return Role::Follower(f.slot.clone(), None);
            }
            let Some(u) = &unit else {
                return self.lead(map, miss, None);
            };
            map.values()
                .filter(|f| f.namespace == miss.namespace)
                .filter_map(|f| Some((dot(u, f.unit.as_deref()?), f.query.clone(), f.slot.clone())))
                .collect()
        };
        near.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let Some((similarity, _, slot)) = near.into_iter().find(|(s, q, _)| serves(q, *s)) {
            return Role::Follower(slot, Some(similarity));
        }
        let map = self.lock();
        // An identical request may have started leading while `serves` ran.
        if let Some(f) = map.get(&miss.key) {
            return Role::Follower(f.slot.clone(), None);
        }
        // An answer that will not be stored is not offered to near-duplicates either.
        let unit = unit.filter(|_| miss.shared);
        self.lead(map, miss, unit)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lead(
        &self,
        mut map: MutexGuard<'_, HashMap<String, Flight>>,
        miss: Miss<'_>,
        unit: Option<Vec<f32>>,
    ) -> Role<'_> {
        let (tx, rx) = watch::channel(None);
        map.insert(
            miss.key.clone(),
            Flight {
                namespace: miss.namespace,
                query: miss.query,
                unit,
                slot: rx,
            },
        );
        Role::Leader(Lead {
            flights: self,
            key: miss.key,
            tx: Some(tx),
        })
    }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
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
                    br#"{"error":{"message":"the request this one joined was abandoned (its client went away). Remediation: retry","type":"upstream_error","param":null,"code":null}}"#,
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
            body: Bytes::from_static(br#"{"error":{"message":"the request this one joined failed. Remediation: retry","type":"upstream_error","param":null,"code":null}}"#),
        }),
    }
}
