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
    /// Order of registration: a request that judged the flights up to `seq` outside the lock
    /// judges only the later ones when it comes back.
    seq: u64,
}

#[derive(Default)]
struct InFlight {
    by_key: HashMap<String, Flight>,
    next_seq: u64,
}

#[derive(Default)]
pub struct Flights {
    inflight: Mutex<InFlight>,
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
        // Flights registered while `serves` ran are judged in turn, so two near-duplicates
        // arriving together cannot both miss each other and both lead.
        let mut judged = 0;
        loop {
            let mut near: Vec<(f64, String, Slot)> = {
                let state = self.lock();
                if let Some(f) = state.by_key.get(&miss.key) {
                    return Role::Follower(f.slot.clone(), None);
                }
                let fresh = |f: &&Flight| f.seq >= judged && f.namespace == miss.namespace;
                let candidates: Vec<_> = match &unit {
                    Some(u) => state
                        .by_key
                        .values()
                        .filter(fresh)
                        .filter_map(|f| {
                            Some((dot(u, f.unit.as_deref()?), f.query.clone(), f.slot.clone()))
                        })
                        .collect(),
                    None => Vec::new(),
                };
                if candidates.is_empty() {
                    // An answer that will not be stored is not offered to near-duplicates.
                    let unit = unit.filter(|_| miss.shared);
                    return self.lead(state, miss, unit);
                }
                judged = state.next_seq;
                candidates
            };
            near.sort_by(|a, b| b.0.total_cmp(&a.0));
            if let Some((similarity, _, slot)) = near.into_iter().find(|(s, q, _)| serves(q, *s)) {
                return Role::Follower(slot, Some(similarity));
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, InFlight> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lead(
        &self,
        mut state: MutexGuard<'_, InFlight>,
        miss: Miss<'_>,
        unit: Option<Vec<f32>>,
    ) -> Role<'_> {
        let (tx, rx) = watch::channel(None);
        let seq = state.next_seq;
        state.next_seq += 1;
        state.by_key.insert(
            miss.key.clone(),
            Flight {
                namespace: miss.namespace,
                query: miss.query,
                unit,
                slot: rx,
                seq,
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
            .by_key
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn miss<'v>(query: &str, embedding: &'v [f32]) -> Miss<'v> {
        Miss {
            key: query.into(),
            namespace: "ns".into(),
            query: query.into(),
            embedding: Some(embedding),
            shared: true,
        }
    }

    #[test]
    fn a_near_duplicate_that_starts_leading_while_another_is_judged_is_joined() {
        let flights = Flights::default();
        let (x, a, b) = ([0.0, 1.0], [1.0, 0.0], [1.0, 0.1]);
        let _unrelated = flights.join(miss("x", &x), |_, _| false);
        // While A judges the unrelated flight, B (A's paraphrase) registers and leads.
        let b_lead = RefCell::new(None);
        let role = flights.join(miss("a", &a), |query, _| {
            if b_lead.borrow().is_none() {
                *b_lead.borrow_mut() = Some(flights.join(miss("b", &b), |_, _| false));
            }
            query == "b"
        });
        assert!(matches!(b_lead.borrow().as_ref(), Some(Role::Leader(_))));
        match role {
            Role::Follower(_, Some(similarity)) => assert!(similarity > 0.99, "{similarity}"),
            _ => panic!("A led a second call instead of joining B's"),
        }
    }

    #[test]
    fn a_rejected_flight_is_not_judged_twice_and_the_request_leads() {
        let flights = Flights::default();
        let _x = flights.join(miss("x", &[1.0, 0.0]), |_, _| false);
        let judged = RefCell::new(Vec::new());
        let role = flights.join(miss("y", &[1.0, 0.0]), |query, _| {
            judged.borrow_mut().push(query.to_string());
            false
        });
        assert!(matches!(role, Role::Leader(_)));
        assert_eq!(*judged.borrow(), ["x"]);
    }
}
