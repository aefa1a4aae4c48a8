//! The requests each store method makes, as async functions on one table. Every name goes
//! through a placeholder: `namespace` and `ttl` are DynamoDB reserved words.

use super::failure::{backend, code, Target};
use super::items::{self, key, n, s, Counter, Item, COUNTER_ID};
use crate::error::{Error, Result};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure, Select, TransactWriteItem,
    Update,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

/// Attempts of a transaction that other writers' transactions cancel (1.0's figure).
const CONFLICT_ATTEMPTS: u32 = 5;

/// Attempts of a new insert at the counter before giving up. More than 1.0's 5: a loser learns
/// the counter from its cancellation and retries at once, so each round some writer wins, but
/// one writer among several busy ones can lose a few rounds in a row.
const INSERT_ATTEMPTS: u32 = 12;

/// How far past the counter a loser aims at most (see `insert_new`).
const MAX_LEAD: i64 = 8;

/// Every attribute of an entry but the embedding: what an exact hit reads.
const HIT_FIELDS: &[&str] = &[
    "id",
    "namespace",
    "query_hash",
    "query",
    "response",
    "metadata",
    "created_at",
    "last_accessed_at",
    "ttl",
    "access_count",
];

pub(super) struct Db<'a> {
    pub client: Client,
    pub t: Target<'a>,
    /// Parallel scan segments.
    pub segments: i32,
}

/// Waits before retry `attempt + 1` of a cancelled transaction: 10 ms × (attempt + 1), plus up to
/// 10 ms of jitter so that two writers that collided do not retry in step.
async fn back_off(attempt: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() ^ std::process::id()) % 10);
    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt + 1) + jitter)).await;
}

/// A request's expression placeholders.
#[derive(Default, Clone)]
pub(super) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    pub(super) fn name(mut self, placeholder: &str, name: &str) -> Self {
        self.names.insert(placeholder.into(), name.into());
        self
    }
    pub(super) fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.into(), value);
        self
    }
    /// A projection of `fields` (all attributes when empty), each through a placeholder since
    /// several (`namespace`, `query`, `ttl`) are reserved words.
    fn project(&mut self, fields: &[&str]) -> Option<String> {
        if fields.is_empty() {
            return None;
        }
        let mut placeholders = Vec::with_capacity(fields.len());
        for (i, f) in fields.iter().enumerate() {
            let p = format!("#f{i}");
            self.names.insert(p.clone(), (*f).to_owned());
            placeholders.push(p);
        }
        Some(placeholders.join(", "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn built<T>(r: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T> {
    r.map_err(|e| {
        Error::store_backend_with(
            "cannot build a DynamoDB request",
            "report this as a bug in mneme",
            e,
        )
    })
}

/// What a transaction came to.
pub(super) enum Outcome {
    Done,
    /// A condition failed; with the item whose condition failed, as it stood, when the write
    /// asked for it (`ReturnValuesOnConditionCheckFailure`).
    Cancelled(Option<Item>),
}

impl Db<'_> {
    fn table(&self) -> &str {
        self.t.table
    }

    pub(super) async fn get_item(&self, id: i64, fields: &[&str]) -> Result<Option<Item>> {
        let mut expr = Expr::default();
        let projection = expr.project(fields);
        let out = self
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(key(id)))
            .consistent_read(true)
            .set_projection_expression(projection.clone())
            .set_expression_attribute_names(expr.names())
            .send()
            .await
            .map_err(|e| backend(&self.t, "GetItem", e))?;
        Ok(out.item)
    }

    pub(super) async fn counter(&self) -> Result<Option<Counter>> {
        Ok(self
            .get_item(COUNTER_ID, &[])
            .await?
            .as_ref()
            .map(Counter::of))
    }

    /// Creates the counter item unless it exists; `false` when another process made it first.
    pub(super) async fn create_counter(&self, item: Item) -> Result<bool> {
        match self
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend(&self.t, "PutItem (counter item)", e)),
        }
    }

    /// `UpdateItem` on one item; `false` when the condition failed.
    pub(super) async fn update(
        &self,
        id: i64,
        update: &str,
        condition: Option<&str>,
        expr: Expr,
    ) -> Result<bool> {
        match self
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(id)))
            .update_expression(update)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if code(&e) == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(backend(&self.t, "UpdateItem", e)),
        }
    }

    /// Every item of a paginated query on an index.
    pub(super) async fn query(
        &self,
        index: &str,
        condition: &str,
        fields: &[&str],
        mut expr: Expr,
    ) -> Result<Vec<Item>> {
        let projection = expr.project(fields);
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .index_name(index)
                .key_condition_expression(condition)
                .set_projection_expression(projection.clone())
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend(&self.t, "Query", e))?;
            rows.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(rows);
            }
        }
    }

    /// `(last_accessed_at, id)` of the `n` least recently used entries of `namespace`, reading
    /// `gsi_lru` page by page only until the n-th is settled (ties at its time included).
    pub(super) async fn lru(&self, namespace: &str, n: usize) -> Result<Vec<(i64, i64)>> {
        let mut expr = Expr::default()
            .name("#ns", "namespace")
            .value(":ns", s(namespace));
        let projection = expr.project(&["id", "last_accessed_at"]);
        let page = i32::try_from(n.saturating_add(1))
            .unwrap_or(i32::MAX)
            .clamp(25, 1000);
        let mut keyed: Vec<(i64, i64)> = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.table())
                .index_name("gsi_lru")
                .key_condition_expression("#ns = :ns")
                .set_projection_expression(projection.clone())
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .limit(page)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend(&self.t, "Query (gsi_lru)", e))?;
            keyed.extend(
                out.items.unwrap_or_default().iter().filter_map(|r| {
                    Some((items::num(r, "last_accessed_at")?, items::num(r, "id")?))
                }),
            );
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            // The index is ascending by time: once an item is later than the n-th, no later
            // page can enter the first n.
            let settled = keyed.len() > n && {
                let mut times: Vec<i64> = keyed.iter().map(|k| k.0).collect();
                times.sort_unstable();
                times[n - 1] < *times.last().unwrap_or(&i64::MIN)
            };
            if start.is_none() || settled {
                keyed.sort_unstable();
                keyed.truncate(n);
                return Ok(keyed);
            }
        }
    }

    /// The entry items of `(namespace, query_hash)`, lowest id first (several exist only after
    /// two processes raced to insert the same new key).
    pub(super) async fn by_hash(
        &self,
        namespace: &str,
        query_hash: &str,
        fields: &[&str],
    ) -> Result<Vec<Item>> {
        if namespace.is_empty() {
            return Ok(Vec::new()); // the index cannot hold one
        }
        let expr = Expr::default()
            .name("#ns", "namespace")
            .value(":ns", s(namespace))
            .value(":qh", s(query_hash));
        let mut rows = self
            .query("gsi_hash", "#ns = :ns AND query_hash = :qh", fields, expr)
            .await?;
        rows.sort_by_key(|r| items::num(r, "id").unwrap_or(i64::MAX));
        Ok(rows)
    }

    /// The exact hit's row, without its embedding.
    pub(super) async fn hit_by_hash(
        &self,
        namespace: &str,
        query_hash: &str,
    ) -> Result<Option<Item>> {
        Ok(self
            .by_hash(namespace, query_hash, HIT_FIELDS)
            .await?
            .into_iter()
            .next())
    }

    /// One segment of a paginated scan.
    async fn scan_segment(
        &self,
        segment: i32,
        filter: &str,
        projection: Option<&str>,
        count: bool,
        expr: &Expr,
    ) -> Result<(Vec<Item>, u64)> {
        let (mut rows, mut counted) = (Vec::new(), 0u64);
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(self.table())
                .segment(segment)
                .total_segments(self.segments)
                .filter_expression(filter)
                .set_select(count.then_some(Select::Count))
                .set_projection_expression(projection.map(str::to_owned))
                .set_expression_attribute_names(expr.names())
                .set_expression_attribute_values(expr.values())
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| backend(&self.t, "Scan", e))?;
            counted += u64::try_from(out.count).unwrap_or(0);
            rows.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok((rows, counted));
            }
        }
    }

    /// A full scan in parallel segments (unordered), or its count.
    pub(super) async fn scan(
        &self,
        filter: &str,
        fields: &[&str],
        count: bool,
        mut expr: Expr,
    ) -> Result<(Vec<Item>, u64)> {
        let projection = expr.project(fields);
        let projection = projection.as_deref();
        let parts = futures_util::future::try_join_all(
            (0..self.segments).map(|seg| self.scan_segment(seg, filter, projection, count, &expr)),
        )
        .await?;
        let mut rows = Vec::new();
        let mut counted = 0;
        for (r, c) in parts {
            rows.extend(r);
            counted += c;
        }
        Ok((rows, counted))
    }

    /// The entry items with `id > after` (and in `namespace`), in ascending id order.
    pub(super) async fn entries_after(&self, after: i64, fields: &[&str]) -> Result<Vec<Item>> {
        let expr = Expr::default().value(":after", n(after.max(COUNTER_ID)));
        let (mut rows, _) = self.scan("id > :after", fields, false, expr).await?;
        rows.sort_by_key(|r| items::num(r, "id").unwrap_or(i64::MAX));
        Ok(rows)
    }

    /// Runs a transaction. A condition that failed is `Cancelled`; a cancellation for any other
    /// reason (another writer's transaction on the same item, usually the counter) wrote
    /// nothing, so it is retried here with a jittered backoff rather than reported as a failed
    /// condition (which would lose an upsert or call a present row absent).
    async fn transact(&self, what: &str, writes: Vec<TransactWriteItem>) -> Result<Outcome> {
        for attempt in 0..CONFLICT_ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .send()
                .await;
            let e = match sent {
                Ok(_) => return Ok(Outcome::Done),
                Err(e) if code(&e) == Some("TransactionCanceledException") => e,
                Err(e) => return Err(backend(&self.t, what, e)),
            };
            let reasons = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons()
                }
                _ => &[],
            };
            if reasons
                .iter()
                .any(|r| r.code() == Some("ConditionalCheckFailed"))
            {
                let item = reasons.iter().find_map(|r| r.item()).cloned();
                return Ok(Outcome::Cancelled(item));
            }
            back_off(attempt).await;
        }
        Err(Error::store_backend(
            format!(
                "{what} on DynamoDB table {:?} conflicted with other writers {CONFLICT_ATTEMPTS} times",
                self.table()
            ),
            "other processes are writing the same items heavily: retry the call, or spread the writers over several tables",
        ))
    }

    /// The counter update of a data write: `ADD version_counter 1`, plus `extra`. A failed
    /// `condition` returns the counter as it stood.
    fn bump(&self, update: &str, condition: Option<&str>, expr: Expr) -> Result<TransactWriteItem> {
        let expr = expr.value(":one", n(1));
        Ok(TransactWriteItem::builder()
            .update(built(
                Update::builder()
                    .table_name(self.table())
                    .set_key(Some(key(COUNTER_ID)))
                    .update_expression(update)
                    .set_condition_expression(condition.map(str::to_owned))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build(),
            )?)
            .build())
    }

    /// Overwrites an existing id's item with the version bump, in one transaction.
    pub(super) async fn put_existing(&self, item: Item) -> Result<()> {
        let put = built(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .build(),
        )?;
        let writes = vec![
            TransactWriteItem::builder().put(put).build(),
            self.bump("ADD version_counter :one", None, Expr::default())?,
        ];
        // No condition: only a conflict cancels it, and `transact` retries those.
        self.transact("TransactWriteItems (upsert)", writes)
            .await
            .map(drop)
    }

    /// Writes a new item at id `next` if the counter still says `next`, moving it on and bumping
    /// the version in the same transaction.
    pub(super) async fn put_new(&self, next: i64, item: Item) -> Result<Outcome> {
        let put = built(
            Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(id)")
                .build(),
        )?;
        let writes = vec![
            TransactWriteItem::builder().put(put).build(),
            self.bump(
                "SET next_id = :after ADD version_counter :one",
                Some("next_id = :next"),
                Expr::default()
                    .value(":next", n(next))
                    .value(":after", n(next + 1)),
            )?,
        ];
        self.transact("TransactWriteItems (insert)", writes).await
    }

    /// Inserts a new entry: tries `hint` (the last id this process saw), then the counter's
    /// `next_id`, retrying only when another writer moved the counter. A loser learns the
    /// counter from its cancellation and retries at once; when it loses again it aims past the
    /// counter by as many ids as the others took meanwhile (at most [`MAX_LEAD`]): a writer in a
    /// tight loop always has its next insert on the way, so a loser that retries at the counter
    /// stays one step behind it for as long as it runs.
    pub(super) async fn insert_new(
        &self,
        hint: Option<i64>,
        entry: &crate::store::StoredEntry,
    ) -> Result<i64> {
        let mut next = hint;
        for attempt in 0..INSERT_ATTEMPTS {
            let id = match next {
                Some(id) => id,
                None => self
                    .get_item(COUNTER_ID, &["next_id"])
                    .await?
                    .and_then(|c| items::num(&c, "next_id"))
                    .unwrap_or(1),
            };
            match self.put_new(id, items::entry_item(id, entry)).await? {
                Outcome::Done => return Ok(id),
                Outcome::Cancelled(counter) => {
                    let fresh = counter
                        .filter(|c| items::num(c, "id") == Some(COUNTER_ID))
                        .and_then(|c| items::num(&c, "next_id"));
                    next = match fresh {
                        // Behind again after a retry: other writers took `f - id` ids while
                        // this one was on its way, and will take as many during the next one.
                        Some(f) if f > id && attempt > 0 => Some(f + (f - id).min(MAX_LEAD)),
                        Some(f) if f != id => Some(f),
                        _ => None,
                    };
                }
            }
        }
        Err(Error::store_backend(
            format!(
                "an insert into DynamoDB table {:?} lost the counter race after {INSERT_ATTEMPTS} retries",
                self.table()
            ),
            "other processes are inserting heavily: retry the put, or spread the writers over several tables",
        ))
    }

    /// Deletes an item and bumps the version in one transaction; `false` when it was gone.
    pub(super) async fn delete(&self, id: i64) -> Result<bool> {
        let delete = built(
            Delete::builder()
                .table_name(self.table())
                .set_key(Some(key(id)))
                .condition_expression("attribute_exists(id)")
                .build(),
        )?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.bump("ADD version_counter :one", None, Expr::default())?,
        ];
        Ok(matches!(
            self.transact("TransactWriteItems (delete)", writes).await?,
            Outcome::Done
        ))
    }
}

/// Adds `AND #ns = :ns` to a filter when a namespace is given.
pub(super) fn with_namespace(filter: &str, expr: Expr, namespace: Option<&str>) -> (String, Expr) {
    match namespace {
        Some(ns) => (
            format!("{filter} AND #ns = :ns"),
            expr.name("#ns", "namespace").value(":ns", s(ns)),
        ),
        None => (filter.to_owned(), expr),
    }
}
