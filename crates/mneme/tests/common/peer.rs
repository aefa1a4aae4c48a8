//! Runs `tests/interop/peer.py` under the Python that has mneme-cache 1.0 installed.
//!
//! `scripts/test.sh` creates that environment (`.venv-peer`); `MNEME_PEER_PYTHON` overrides it.
//! A missing peer is a test failure, never a skip: interop is a promise we test in CI.

use mneme::metadata::{parse, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn python() -> PathBuf {
    let p = std::env::var_os("MNEME_PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-peer/bin/python"));
    assert!(
        p.exists(),
        "the mneme-cache peer is not installed at {}: run scripts/test.sh (it installs it) \
         or set MNEME_PEER_PYTHON",
        p.display()
    );
    p
}

pub fn interop_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(name)
}

/// Runs `peer.py args…` (with `stdin`), returning its JSON output.
pub fn run(args: &[&str], stdin: Option<&str>) -> Value {
    let mut child = Command::new(python())
        .arg(interop_file("peer.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the peer");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(std::str::from_utf8(&out.stdout).unwrap()).expect("peer prints JSON")
}

/// Field access helpers for JSON values.
pub trait Json {
    fn at(&self, key: &str) -> &Value;
    fn items(&self) -> &[Value];
    fn str(&self) -> &str;
    fn int(&self) -> i64;
    fn num(&self) -> f64;
}

impl Json for Value {
    fn at(&self, key: &str) -> &Value {
        match self {
            Value::Object(m) => m.get(key).unwrap_or(&Value::Null),
            other => panic!("not an object: {other:?}"),
        }
    }
    fn items(&self) -> &[Value] {
        match self {
            Value::Array(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }
    fn str(&self) -> &str {
        match self {
            Value::String(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }
    fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            other => panic!("not an int: {other:?}"),
        }
    }
    fn num(&self) -> f64 {
        match self {
            Value::Int(i) => *i as f64,
            Value::Float(f) => *f,
            other => panic!("not a number: {other:?}"),
        }
    }
}
