//! The remote embedder against a local OpenAI-compatible stub: batching, order, auth, retry with
//! backoff, timeouts, dimension checks, and a cache that writes nothing when embedding fails.

mod common;

use common::stub::{embeddings, vector_for, Reply, Stub};
use mneme::{Embedder, SemanticCache};
use mneme_embed::{EmbedError, RemoteEmbedder, RemoteOptions};
use serde_json::json;
use std::time::{Duration, Instant};

fn options(stub: &Stub) -> RemoteOptions {
    RemoteOptions {
        api_key: Some("sk-test".into()),
        dimensions: Some(8),
        initial_backoff: Duration::from_millis(10),
        ..RemoteOptions::new(&stub.url, "text-embedding-3-small")
    }
}

fn error_json(message: &str) -> serde_json::Value {
    json!({"error": {"message": message, "type": "test"}})
}

#[test]
fn batches_keep_order_and_send_the_openai_request() {
    let stub = Stub::start(|r, _| embeddings(r, 8));
    let e = RemoteEmbedder::connect(RemoteOptions {
        batch_size: 2,
        ..options(&stub)
    })
    .unwrap();
    let texts = ["one", "two", "three", "four", "five"];
    let vectors = e.embed_batch(&texts).unwrap();
    for (t, v) in texts.iter().zip(&vectors) {
        assert_eq!(v, &vector_for(t, 8), "{t}");
    }
    let requests = stub.requests();
    assert_eq!(requests.len(), 3, "five texts in batches of two");
    let r = &requests[0];
    assert_eq!(r.path, "/v1/embeddings");
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(r.body["model"], "text-embedding-3-small");
    assert_eq!(r.body["dimensions"], 8);
    assert_eq!(r.body["encoding_format"], "float");
    assert_eq!(r.inputs(), ["one", "two"]);
    assert_eq!(e.fingerprint(), "remote:text-embedding-3-small:8");
}

#[test]
fn answers_out_of_index_order_are_put_back_in_order() {
    let stub = Stub::start(|r, _| {
        let mut data: Vec<_> = r
            .inputs()
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"index": i, "embedding": vector_for(t, 8)}))
            .collect();
        data.reverse();
        Reply::Json(200, json!({"data": data}), vec![])
    });
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    let v = e.embed_batch(&["a", "b", "c"]).unwrap();
    assert_eq!(v[0], vector_for("a", 8));
    assert_eq!(v[2], vector_for("c", 8));
}

#[test]
fn without_dimensions_one_probe_learns_them() {
    let stub = Stub::start(|r, _| embeddings(r, 12));
    let e = RemoteEmbedder::connect(RemoteOptions {
        dimensions: None,
        ..options(&stub)
    })
    .unwrap();
    assert_eq!(e.dim(), 12);
    let probe = &stub.requests()[0];
    assert!(probe.body.get("dimensions").is_none(), "no dimensions sent");
}

#[test]
fn the_azure_key_header_and_a_full_deployment_url() {
    let stub = Stub::start(|r, _| embeddings(r, 8));
    let url = format!(
        "{}/openai/deployments/emb/embeddings?api-version=2024-02-01",
        stub.url
    );
    let e = RemoteEmbedder::connect(RemoteOptions {
        api_key_header: "api-key".into(),
        ..RemoteOptions {
            base_url: url,
            ..options(&stub)
        }
    })
    .unwrap();
    e.embed("x").unwrap();
    let r = &stub.requests()[0];
    assert_eq!(
        r.path,
        "/v1/openai/deployments/emb/embeddings?api-version=2024-02-01"
    );
    assert_eq!(r.header("api-key"), Some("sk-test"));
    assert_eq!(r.header("authorization"), None);
}

#[test]
fn rate_limits_and_server_errors_are_retried_with_backoff() {
    // 429 (Retry-After 0), then 503, then the answer.
    let stub = Stub::start(|r, n| match n {
        1 => Reply::Json(
            429,
            error_json("slow down"),
            vec![("retry-after", "0".into())],
        ),
        2 => Reply::Json(503, error_json("overloaded"), vec![]),
        _ => embeddings(r, 8),
    });
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    assert_eq!(e.embed("hello").unwrap(), vector_for("hello", 8));
    assert_eq!(stub.requests().len(), 3);
}

#[test]
fn retries_end_in_a_clear_unavailable_error() {
    let stub = Stub::start(|_, _| Reply::Json(500, error_json("boom"), vec![]));
    let e = RemoteEmbedder::connect(RemoteOptions {
        max_retries: 2,
        ..options(&stub)
    })
    .unwrap();
    let err = e.embed_texts(&["x"]).unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("3 attempt(s)") && text.contains("boom"),
        "{text}"
    );
    assert!(text.contains("Remediation:"), "{text}");
    assert_eq!(stub.requests().len(), 3);
}

#[test]
fn a_bad_key_is_unauthorized_at_once_and_names_the_variable() {
    let stub = Stub::start(|_, _| Reply::Json(401, error_json("Incorrect API key"), vec![]));
    let err = RemoteEmbedder::connect(RemoteOptions {
        dimensions: None,
        api_key_env: "MY_EMBED_KEY".into(),
        ..options(&stub)
    })
    .unwrap_err();
    assert!(matches!(err, EmbedError::Unauthorized(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("Incorrect API key") && text.contains("MY_EMBED_KEY"),
        "{text}"
    );
    assert_eq!(stub.requests().len(), 1, "no retry on 401");
}

#[test]
fn a_wrong_dimension_is_refused() {
    let stub = Stub::start(|r, _| embeddings(r, 6));
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    match e.embed_texts(&["x"]).unwrap_err() {
        EmbedError::BadResponse { dimensions, .. } => assert_eq!(dimensions, Some((8, 6))),
        other => panic!("expected BadResponse, got {other}"),
    }
}

#[test]
fn a_malformed_answer_is_a_bad_response() {
    let stub = Stub::start(|_, _| Reply::Json(200, json!({"data": [{"embedding": []}]}), vec![]));
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    assert!(matches!(
        e.embed_texts(&["x"]).unwrap_err(),
        EmbedError::BadResponse { .. }
    ));
    let stub = Stub::start(|_, _| Reply::Json(400, error_json("input too long"), vec![]));
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    let err = e.embed_texts(&["x"]).unwrap_err();
    assert!(err.to_string().contains("input too long"), "{err}");
    assert_eq!(stub.requests().len(), 1, "no retry on 400");
}

#[test]
fn a_silent_server_times_out_within_the_bound() {
    let stub = Stub::start(|_, _| Reply::Stall(Duration::from_secs(10)));
    let e = RemoteEmbedder::connect(RemoteOptions {
        request_timeout: Duration::from_millis(300),
        max_retries: 1,
        ..options(&stub)
    })
    .unwrap();
    let start = Instant::now();
    let err = e.embed_texts(&["x"]).unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn an_unreachable_endpoint_fails_fast() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RemoteEmbedder::connect(RemoteOptions {
        dimensions: None,
        max_retries: 0,
        ..RemoteOptions::new(format!("http://127.0.0.1:{port}/v1"), "m")
    })
    .unwrap_err();
    assert!(matches!(err, EmbedError::Unavailable(_)), "{err}");
}

#[test]
fn empty_text_and_bad_options_are_refused_before_any_request() {
    let stub = Stub::start(|r, _| embeddings(r, 8));
    let e = RemoteEmbedder::connect(options(&stub)).unwrap();
    assert!(matches!(
        e.embed_texts(&["ok", ""]).unwrap_err(),
        EmbedError::InvalidInput(_)
    ));
    assert!(stub.requests().is_empty());
    for bad in [
        RemoteOptions {
            batch_size: 0,
            ..options(&stub)
        },
        RemoteOptions::new("", "m"),
    ] {
        assert!(matches!(
            RemoteEmbedder::connect(bad).unwrap_err(),
            EmbedError::InvalidInput(_)
        ));
    }
}

#[test]
fn a_cache_writes_nothing_when_the_endpoint_fails() {
    let stub = Stub::start(|r, n| {
        if n == 1 {
            embeddings(r, 8)
        } else {
            Reply::Json(500, error_json("down"), vec![])
        }
    });
    let e = RemoteEmbedder::connect(RemoteOptions {
        max_retries: 0,
        ..options(&stub)
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = SemanticCache::open(dir.path().join("c.db"), e).unwrap();
    cache.put("first", "one").unwrap();
    let err = cache.put("second", "two").unwrap_err();
    assert!(matches!(err, mneme::Error::Embedder(_)), "{err}");
    assert!(
        err.cause::<EmbedError>().is_some(),
        "the embedder's own error is kept"
    );
    assert_eq!(cache.stats(None).unwrap().entries, 1);
    // A get whose embedding fails is a miss, not an error.
    assert!(cache.get("something else").unwrap().is_none());
}
