//! Caches in a shared store, named by URL where the CLI takes a cache file:
//! `dynamodb://TABLE?region=R&endpoint=URL&profile=P` (every parameter optional; the AWS chain
//! fills in the rest), for `stats` and `inspect`; `serve --store` also takes `redis://` and
//! `postgres://`.

use std::error::Error;

/// Whether `target` names a DynamoDB table rather than a file.
pub fn is_dynamodb(target: &str) -> bool {
    target.starts_with("dynamodb://")
}

/// The store a `dynamodb://` URL names (it never creates the table).
#[cfg(feature = "dynamodb")]
pub fn dynamodb(url: &str) -> Result<mneme::store::DynamoDbStore, Box<dyn Error>> {
    let rest = url.strip_prefix("dynamodb://").unwrap_or(url);
    let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut store = mneme::store::DynamoDbStore::new(table).map_err(|_| {
        format!("{url:?} names no table. Remediation: write dynamodb://TABLE?region=REGION")
    })?;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        store = match key {
            "region" => store.region(value),
            "endpoint" => store.endpoint_url(value),
            "profile" => store.profile(value),
            other => {
                return Err(format!(
                    "unknown parameter {other:?} in {url:?}. Remediation: use region, endpoint or profile"
                )
                .into())
            }
        };
    }
    Ok(store)
}

/// Without the `dynamodb` feature, a clear refusal.
#[cfg(not(feature = "dynamodb"))]
pub fn dynamodb(url: &str) -> Result<std::convert::Infallible, Box<dyn Error>> {
    Err(format!(
        "this mneme was built without DynamoDB support, so {url:?} cannot be opened. Remediation: \
         install it with the dynamodb feature (cargo install mneme-cli --features dynamodb)"
    )
    .into())
}

/// A cache on the table a `dynamodb://` URL names, with the embedder stamp read from it.
pub fn open_dynamodb(url: &str) -> Result<mneme::SemanticCache, Box<dyn Error>> {
    #[cfg(feature = "dynamodb")]
    {
        let store = dynamodb(url)?;
        let Some((fingerprint, dim)) = store.peek_stamp()? else {
            return Err(format!(
                "DynamoDB table {:?} holds no cache yet (no counter item). Remediation: open a cache on it first",
                store.table_name()
            )
            .into());
        };
        Ok(
            mneme::SemanticCache::builder(crate::Stamp { fingerprint, dim })
                .store(store)
                .open()?,
        )
    }
    #[cfg(not(feature = "dynamodb"))]
    match dynamodb(url)? {}
}
