//! SDK errors as `StoreBackendError`s that say what to do: a missing table, throttling,
//! credentials, an unreachable endpoint, a timeout.

use super::table::missing_table;
use crate::error::Error;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Where a failed call went, for its message.
pub(super) struct Target<'a> {
    pub table: &'a str,
    pub endpoint: &'a str,
    pub max_attempts: u32,
}

/// The error code of a service error (`ConditionalCheckFailedException`, …), if the service
/// answered.
pub(super) fn code<E, R>(e: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

const THROTTLED: [&str; 4] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

const DENIED: [&str; 7] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "ExpiredTokenException",
    "AccessDeniedException",
    "InvalidClientTokenId",
];

const CREDENTIALS_HINT: &str = "give the process AWS credentials (AWS_ACCESS_KEY_ID and \
    AWS_SECRET_ACCESS_KEY, a profile in ~/.aws with DynamoDbStore::profile / AWS_PROFILE, or an \
    instance role) allowed DescribeTable, GetItem, PutItem, UpdateItem, DeleteItem, Query, Scan, \
    TransactWriteItems (and CreateTable with create_table)";

/// The store error for an SDK failure of `op`.
pub(super) fn backend<E, R>(t: &Target<'_>, op: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let table = t.table;
    let detail = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("an unnamed error");
            let message = s.err().message().unwrap_or("");
            if code == "ResourceNotFoundException" {
                return missing_table(table);
            }
            if THROTTLED.contains(&code) {
                return Error::store_backend_with(
                    format!(
                        "DynamoDB throttled {op} on table {table:?} ({code}) after {} attempts with backoff",
                        t.max_attempts
                    ),
                    "raise the table's capacity (provisioned_capacity, or billing_mode \
                     PAY_PER_REQUEST), spread the load, or allow more attempts \
                     (DynamoDbStore::max_attempts)",
                    e,
                );
            }
            if DENIED.contains(&code) {
                return Error::store_backend_with(
                    format!("DynamoDB refused {op} on table {table:?}: {code}: {message}"),
                    CREDENTIALS_HINT,
                    e,
                );
            }
            Error::store_backend_with(
                format!("DynamoDB {op} on table {table:?} failed: {code}: {message}"),
                "check the table (its key schema and indexes) and the request; the message above is DynamoDB's",
                e,
            )
        }
        SdkError::TimeoutError(_) => timed_out(t, op, e),
        SdkError::DispatchFailure(d) if d.is_timeout() => timed_out(t, op, e),
        _ if detail.contains("credentials") || detail.contains("credential provider") => {
            Error::store_backend_with(
                format!("no usable AWS credentials for {op} on DynamoDB table {table:?}: {detail}"),
                CREDENTIALS_HINT,
                e,
            )
        }
        SdkError::DispatchFailure(_) => Error::store_backend_with(
            format!(
                "cannot reach DynamoDB at {} for {op} on table {table:?}: {detail}",
                t.endpoint
            ),
            "check the endpoint URL and the network (for a local test server: is it running?); \
             the next call tries again",
            e,
        ),
        _ => Error::store_backend_with(
            format!("DynamoDB {op} on table {table:?} failed: {detail}"),
            "check the endpoint, the region and the credentials",
            e,
        ),
    }
}

fn timed_out<E, R>(t: &Target<'_>, op: &str, e: SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Error::store_backend_with(
        format!(
            "no answer from DynamoDB at {} for {op} on table {:?} in time",
            t.endpoint, t.table
        ),
        "check the endpoint and the network; a slow link: raise DynamoDbStore::connect_timeout \
         or io_timeout",
        e,
    )
}

/// An item that does not have 1.0's layout.
pub(super) fn corrupt(table: &str, what: &str) -> Error {
    Error::store_backend(
        format!("DynamoDB table {table:?} holds {what}"),
        "the table must hold only mneme entries (1.0's layout); point the store at its own table",
    )
}
