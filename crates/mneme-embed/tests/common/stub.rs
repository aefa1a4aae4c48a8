//! A local stand-in for an OpenAI-compatible embeddings server: it records every request and
//! answers as the test's script says (a status, headers and body, or silence).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `input` texts of an embeddings request.
    pub fn inputs(&self) -> Vec<String> {
        self.body["input"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the server does with a request.
pub enum Reply {
    Json(u16, serde_json::Value, Vec<(&'static str, String)>),
    /// Reads the request, then says nothing for this long.
    Stall(Duration),
}

type Script = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct Stub {
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Stub {
    /// Starts a server on 127.0.0.1 answering with `script(request, request_number)`.
    pub fn start(script: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let script: Arc<Script> = Arc::new(script);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                let script = script.clone();
                thread::spawn(move || serve(stream, &seen, script.as_ref()));
            }
        });
        Stub { url, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Request>>, script: &Script) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.trim_end().split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            headers.push((n.to_owned(), v.trim().to_owned()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Request {
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    };
    let n = {
        let mut all = seen.lock().unwrap();
        all.push(request.clone());
        all.len()
    };
    let mut stream = stream;
    match script(&request, n) {
        Reply::Stall(d) => thread::sleep(d),
        Reply::Json(status, value, extra) => {
            let body = value.to_string();
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (n, v) in extra {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
    }
}

/// A deterministic vector for a text: what a real model would return, as far as tests go.
pub fn vector_for(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    for (i, b) in text.bytes().enumerate() {
        v[(i * 31 + b as usize) % dim] += 1.0;
    }
    v[0] += 0.5;
    v
}

/// The OpenAI answer for `request`: one vector per input, of `dim` floats.
pub fn embeddings(request: &Request, dim: usize) -> Reply {
    let data: Vec<_> = request
        .inputs()
        .iter()
        .enumerate()
        .map(|(i, t)| serde_json::json!({"object": "embedding", "index": i, "embedding": vector_for(t, dim)}))
        .collect();
    Reply::Json(
        200,
        serde_json::json!({"object": "list", "data": data, "model": request.body["model"]}),
        vec![],
    )
}
