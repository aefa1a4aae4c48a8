//! A DynamoDB API on loopback for the tests: `moto_server` from PyPI (installed into
//! `.venv-moto` by `scripts/setup-moto.sh`, which `scripts/test.sh` runs), started on a free
//! port and stopped when the test process ends; and an HTTP proxy in front of it that counts
//! requests by operation, answers `ProvisionedThroughputExceededException` on demand, or drops
//! every connection (an endpoint going down).
//!
//! A missing moto is a test failure, never a skip.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Credentials and region moto accepts (any do); set once per test process.
pub fn fake_aws_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // SAFETY: set once, before any test thread reads the AWS variables (every test calls
        // this before it builds a store).
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_REGION", "us-east-1");
            std::env::set_var("AWS_DEFAULT_REGION", "us-east-1"); // boto3 reads this one
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
    });
}

fn moto_server() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = std::env::var_os("MNEME_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-moto/bin/moto_server"));
    assert!(
        bin.exists(),
        "moto_server is not installed at {}: run scripts/setup-moto.sh (scripts/test.sh does) \
         or set MNEME_MOTO_SERVER",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// moto's server app, one request at a time, on the port given as its argument.
const SERIAL_MOTO: &str = "import sys\n\
from moto.server import DomainDispatcherApplication, create_backend_app\n\
from werkzeug.serving import run_simple\n\
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False, use_reloader=False)\n";

/// A moto_server of its own. It stops when this is dropped, or when the test process exits
/// (its shell wrapper reads our end of a pipe and kills it on EOF).
pub struct Moto {
    pub endpoint: String,
    port: u16,
    child: Child,
    _keepalive: Option<ChildStdin>,
}

impl Moto {
    pub fn start() -> Moto {
        fake_aws_env();
        let port = free_port();
        // moto_server's own entry point serves each request on a thread of its own, and moto does
        // not isolate concurrent transactions (two racing conditional writes can both pass),
        // which real DynamoDB does: serve one request at a time instead.
        let python = moto_server().with_file_name("python");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -c "$2" "$1" >/dev/null 2>&1 & pid=$!; read _; kill $pid"#)
            .arg(python)
            .arg(port.to_string())
            .arg(SERIAL_MOTO)
            .stdin(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let keepalive = child.stdin.take();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on 127.0.0.1:{port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
            _keepalive: keepalive,
        }
    }

    /// The test process's shared moto_server.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self._keepalive.take()); // EOF: the wrapper kills moto_server
        let _ = self.child.wait();
    }
}

/// A table name no other test uses.
pub fn table_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "mneme-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// How the proxy answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Forward,
    /// Answer every request with this DynamoDB error (HTTP 400), as AWS does for throttling
    /// (`ProvisionedThroughputExceededException`) or a bad key (`UnrecognizedClientException`).
    Refuse(&'static str),
    /// Close every connection without an answer.
    Down,
}

/// An HTTP/1.1 proxy on loopback in front of a DynamoDB endpoint.
pub struct HttpProxy {
    pub endpoint: String,
    mode: Arc<Mutex<Mode>>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    stopped: Arc<AtomicBool>,
}

impl HttpProxy {
    pub fn start(upstream: &str) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = HttpProxy {
            endpoint: format!("http://{}", listener.local_addr().unwrap()),
            mode: Arc::new(Mutex::new(Mode::Forward)),
            counts: Arc::default(),
            stopped: Arc::default(),
        };
        let (mode, counts, stopped) = (
            proxy.mode.clone(),
            proxy.counts.clone(),
            proxy.stopped.clone(),
        );
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                let (mode, counts, upstream) = (mode.clone(), counts.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &mode, &counts));
            }
        });
        proxy
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Requests forwarded or refused since the last call, by operation (`GetItem`, `Query`…).
    pub fn take_counts(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.counts.lock().unwrap())
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

/// One HTTP message: head lines and body.
struct Message {
    head: String,
    body: Vec<u8>,
}

fn read_message(r: &mut impl BufRead) -> Option<Message> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some(Message { head, body })
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head's lines but the blank one and `connection:`, each ending in CRLF.
fn without_connection(head: &str) -> String {
    head.lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect()
}

fn serve(
    client: TcpStream,
    upstream: &str,
    mode: &Mutex<Mode>,
    counts: &Mutex<BTreeMap<String, usize>>,
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    while let Some(request) = read_message(&mut reader) {
        let op = header(&request.head, "x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let current = *mode.lock().unwrap();
        if current == Mode::Down {
            return; // dropping the stream closes it unanswered
        }
        *counts.lock().unwrap().entry(op).or_default() += 1;
        let answer = if let Mode::Refuse(code) = current {
            let body = format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"refused by the test proxy"}}"#
            );
            let body = body.as_bytes();
            let mut m = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            m.extend_from_slice(body);
            m
        } else {
            let Ok(mut up) = TcpStream::connect(upstream.trim_start_matches("http://")) else {
                return;
            };
            // One request per upstream connection: moto closes after each answer anyway.
            let head = format!(
                "{}connection: close\r\n\r\n",
                without_connection(&request.head)
            );
            if up.write_all(head.as_bytes()).is_err() || up.write_all(&request.body).is_err() {
                return;
            }
            let mut r = BufReader::new(up);
            let Some(response) = read_message(&mut r) else {
                return;
            };
            let head = without_connection(&response.head);
            let mut m = format!("{head}\r\n").into_bytes();
            m.extend_from_slice(&response.body);
            m
        };
        if writer.write_all(&answer).is_err() {
            return;
        }
    }
}

#[cfg(feature = "dynamodb")]
/// The raw table, through the SDK, for checking items as DynamoDB holds them.
pub struct Raw {
    pub runtime: tokio::runtime::Runtime,
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

#[cfg(feature = "dynamodb")]
impl Raw {
    pub fn new(endpoint: &str, table: &str) -> Raw {
        fake_aws_env();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(endpoint)
                .load(),
        );
        Raw {
            runtime,
            client: aws_sdk_dynamodb::Client::new(&config),
            table: table.to_owned(),
        }
    }

    /// Every item, by id.
    pub fn items(
        &self,
    ) -> std::collections::BTreeMap<
        i64,
        std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    > {
        let out = self
            .runtime
            .block_on(self.client.scan().table_name(&self.table).send())
            .unwrap();
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                let aws_sdk_dynamodb::types::AttributeValue::N(id) = &i["id"] else {
                    panic!("id is not a number")
                };
                (id.parse().unwrap(), i)
            })
            .collect()
    }

    pub fn exists(&self) -> bool {
        self.runtime
            .block_on(self.client.describe_table().table_name(&self.table).send())
            .is_ok()
    }
}
