//! The table 1.0 uses: `id` (N) as the key, GSI `gsi_hash` on `(namespace, query_hash)` and GSI
//! `gsi_lru` on `(namespace, last_accessed_at)`, both projecting everything. Native DynamoDB TTL
//! is never enabled: an entry's `ttl` is a duration, not an expiry time.

use super::failure::{backend, code, Target};
use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ProvisionedThroughput, ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use std::time::{Duration, Instant};

/// How a created table is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Billing {
    /// On-demand capacity (1.0's default).
    #[default]
    PayPerRequest,
    /// Provisioned capacity: the same read and write units on the table and both indexes.
    Provisioned {
        /// Read capacity units.
        read: i64,
        /// Write capacity units.
        write: i64,
    },
}

/// How long `create_table` waits for the new table to become active.
const CREATE_WAIT: Duration = Duration::from_secs(120);

/// The error for a missing table, naming the schema to create.
pub(super) fn missing_table(table: &str) -> Error {
    Error::store_backend(
        format!("DynamoDB table {table:?} does not exist"),
        "open the store with create_table (DynamoDbStore::create_table(true), or \
         create_table=True in Python), or create it yourself with key id (Number, HASH), GSI \
         gsi_hash on namespace (String, HASH) + query_hash (String, RANGE) and GSI gsi_lru on \
         namespace (String, HASH) + last_accessed_at (Number, RANGE), both projecting ALL",
    )
}

fn built<T>(r: std::result::Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T> {
    r.map_err(|e| {
        Error::store_backend_with(
            "cannot build the DynamoDB table definition",
            "report this as a bug in mneme",
            e,
        )
    })
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement> {
    built(
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build(),
    )
}

fn attribute(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build(),
    )
}

fn throughput(billing: Billing) -> Result<Option<ProvisionedThroughput>> {
    match billing {
        Billing::PayPerRequest => Ok(None),
        Billing::Provisioned { read, write } => built(
            ProvisionedThroughput::builder()
                .read_capacity_units(read)
                .write_capacity_units(write)
                .build(),
        )
        .map(Some),
    }
}

fn index(name: &str, range: &str, billing: Billing) -> Result<GlobalSecondaryIndex> {
    built(
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key("namespace", KeyType::Hash)?)
            .key_schema(key(range, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .set_provisioned_throughput(throughput(billing)?)
            .build(),
    )
}

/// Creates the table, tolerating another process creating it at the same moment, and waits
/// until it is active.
pub(super) async fn create(client: &Client, t: &Target<'_>, billing: Billing) -> Result<()> {
    let table = t.table;
    let request = || -> Result<_> {
        let mode = match billing {
            Billing::PayPerRequest => BillingMode::PayPerRequest,
            Billing::Provisioned { .. } => BillingMode::Provisioned,
        };
        Ok(client
            .create_table()
            .table_name(table)
            .attribute_definitions(attribute("id", ScalarAttributeType::N)?)
            .attribute_definitions(attribute("namespace", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("query_hash", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("last_accessed_at", ScalarAttributeType::N)?)
            .key_schema(key("id", KeyType::Hash)?)
            .global_secondary_indexes(index("gsi_hash", "query_hash", billing)?)
            .global_secondary_indexes(index("gsi_lru", "last_accessed_at", billing)?)
            .billing_mode(mode)
            .set_provisioned_throughput(throughput(billing)?))
    };
    if let Err(e) = request()?.send().await {
        // Another process won the race: wait for its table like for ours.
        if code(&e) != Some("ResourceInUseException") {
            return Err(backend(t, "CreateTable", e));
        }
    }
    let started = Instant::now();
    loop {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .ok()
            .and_then(|d| d.table?.table_status);
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        if started.elapsed() > CREATE_WAIT {
            return Err(Error::store_backend(
                format!("DynamoDB table {table:?} was created but is not active after {CREATE_WAIT:?} (status {status:?})"),
                "check the table in the AWS console, then open the store again",
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
