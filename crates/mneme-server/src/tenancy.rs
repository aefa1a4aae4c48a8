//! Which namespaces a request may touch. With tenants configured, a request must carry a known
//! key in `x-mneme-key` and may only name that key's namespaces; its default is the key's
//! first. The upstream's key (`Authorization`) is never looked at here.

use crate::config::ServeConfig;
use crate::error::ApiError;
use axum::http::HeaderMap;

/// The header a client names its mneme key in.
pub const KEY_HEADER: &str = "x-mneme-key";
/// The header a client names its namespace in (the REST API also takes it in the body).
pub const NAMESPACE_HEADER: &str = "x-mneme-namespace";

/// The namespace a request works in, after checking its key.
pub fn namespace(
    config: &ServeConfig,
    headers: &HeaderMap,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let asked = asked.or_else(|| headers.get(NAMESPACE_HEADER).and_then(|v| v.to_str().ok()));
    if config.tenants.is_empty() {
        return Ok(asked.unwrap_or(&config.namespace).to_owned());
    }
    let key = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthorized(format!(
                "this server asks for a key. Remediation: send it in the {KEY_HEADER} header"
            ))
        })?;
    let tenant = config
        .tenants
        .iter()
        .find(|t| constant_time_eq(t.key.as_bytes(), key.as_bytes()))
        .ok_or_else(|| {
            ApiError::unauthorized(format!(
                "unknown key in {KEY_HEADER}. Remediation: use a key configured on the server"
            ))
        })?;
    match asked {
        None => Ok(tenant.namespaces[0].clone()),
        Some(ns) if tenant.namespaces.iter().any(|n| n == ns) => Ok(ns.to_owned()),
        Some(ns) => Err(ApiError::forbidden(format!(
            "this key may not use namespace {ns:?}. Remediation: use one of {:?}",
            tenant.namespaces
        ))),
    }
}

/// Compares keys without leaking, through timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
