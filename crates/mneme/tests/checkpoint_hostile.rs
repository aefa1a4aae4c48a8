//! Hostile and broken archives: each gives its documented error, writes nothing outside a
//! temporary file (removed), and leaves the destination byte-identical.

mod common;

use common::fixtures::Fixture;
use mneme::checkpoint::LoadLimits;
use mneme::{Error, SemanticCache};
use std::io::{Read, Write};
use tar::{EntryType, Header};

/// One raw member: any name bytes, any type, any data.
struct M {
    name: Vec<u8>,
    kind: EntryType,
    data: Vec<u8>,
    link: Option<&'static [u8]>,
}

fn m(name: &str, data: &[u8]) -> M {
    M {
        name: name.as_bytes().to_vec(),
        kind: EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

fn typed(name: &str, kind: EntryType, link: Option<&'static [u8]>) -> M {
    M {
        name: name.as_bytes().to_vec(),
        kind,
        data: Vec::new(),
        link,
    }
}

/// A tar stream written header by header, without the path checks of `tar::Builder`.
fn raw_tar(members: &[M]) -> Vec<u8> {
    let mut out = Vec::new();
    for member in members {
        let mut h = Header::new_gnu();
        {
            let name = &mut h.as_old_mut().name;
            name.fill(0);
            name[..member.name.len()].copy_from_slice(&member.name);
        }
        if let Some(link) = member.link {
            let l = &mut h.as_old_mut().linkname;
            l[..link.len()].copy_from_slice(link);
        }
        h.set_mode(0o600);
        h.set_size(member.data.len() as u64);
        h.set_entry_type(member.kind);
        h.set_mtime(0);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&member.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

struct Case {
    f: Fixture,
    manifest: Vec<u8>,
    store: Vec<u8>,
}

impl Case {
    /// A real archive's parts, to assemble hostile variants from.
    fn new() -> Case {
        let f = Fixture::new();
        let cache = f.open();
        cache.put("q", "r").unwrap();
        let archive = f.dir.path().join("good.tar.gz");
        cache.dumps(&archive).unwrap();
        drop(cache);
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap());
        let (mut manifest, mut store) = (Vec::new(), Vec::new());
        for e in tar::Archive::new(gz).entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let target = if name == "manifest.json" {
                &mut manifest
            } else {
                &mut store
            };
            e.read_to_end(target).unwrap();
        }
        Case { f, manifest, store }
    }

    fn manifest_with(&self, key: &str, value: &str) -> Vec<u8> {
        let text = String::from_utf8(self.manifest.clone()).unwrap();
        let text = text.replace("[\n    \"default\"\n  ]", "[\"default\"]");
        let start = text.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4;
        let end = start + text[start..].find([',', '\n']).unwrap();
        format!("{}{value}{}", &text[..start], &text[end..]).into_bytes()
    }

    fn good(&self) -> Vec<M> {
        vec![m("manifest.json", &self.manifest), m("store", &self.store)]
    }

    /// Loads `archive_bytes` into a destination that already holds a cache; returns the error
    /// after checking that the destination and the directory are untouched.
    fn load_err(&self, archive_bytes: &[u8], limits: LoadLimits) -> Error {
        let dir = self.f.dir.path();
        let archive = dir.join("hostile.tar.gz");
        std::fs::write(&archive, archive_bytes).unwrap();
        let dest = dir.join("dest.db");
        if !dest.exists() {
            let c = SemanticCache::builder(self.f.embedder.clone())
                .path(&dest)
                .open()
                .unwrap();
            c.put("precious", "data").unwrap();
        }
        let before = std::fs::read(&dest).unwrap();
        let listing = || {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let files_before = listing();
        let err = SemanticCache::loads_with(
            &archive,
            SemanticCache::builder(self.f.embedder.clone()).path(&dest),
            limits,
        )
        .expect_err("a hostile archive must not load");
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            before,
            "destination untouched"
        );
        assert_eq!(listing(), files_before, "no file left behind");
        err
    }
}

fn checkpoint_error(e: Error, mentions: &str) {
    match e {
        Error::Checkpoint { message, .. } => {
            assert!(
                message.to_string().to_lowercase().contains(mentions),
                "{message}"
            )
        }
        other => panic!("expected CheckpointError mentioning {mentions:?}, got {other:?}"),
    }
}

#[test]
fn unsafe_member_names_are_refused() {
    let c = Case::new();
    for (name, why) in [
        ("/etc/passwd", "absolute"),
        ("C:/evil", "absolute"),
        ("../escape", "'..'"),
        ("vectors/../../escape", "'..'"),
        ("a\\b", "backslash"),
        ("./", "empty"),
    ] {
        let mut members = c.good();
        members.insert(1, m(name, b"x"));
        checkpoint_error(
            c.load_err(&gzip(&raw_tar(&members)), LoadLimits::default()),
            why,
        );
    }
}

#[test]
fn links_devices_and_fifos_are_refused() {
    let c = Case::new();
    for (member, why) in [
        (
            typed("evil", EntryType::Symlink, Some(b"/etc/passwd")),
            "symbolic link",
        ),
        (
            typed("store", EntryType::Symlink, Some(b"/etc/passwd")),
            "symbolic link",
        ),
        (
            typed("hard", EntryType::Link, Some(b"manifest.json")),
            "hard link",
        ),
        (typed("dev", EntryType::Char, None), "device"),
        (typed("blk", EntryType::Block, None), "device"),
        (typed("pipe", EntryType::Fifo, None), "fifo"),
        // tar itself rejects the sparse map before our rules run: still a CheckpointError.
        (typed("sparse", EntryType::GNUSparse, None), ""),
        (typed("somedir", EntryType::Directory, None), "not allowed"),
    ] {
        let mut members = vec![m("manifest.json", &c.manifest)];
        members.push(member);
        members.push(m("store", &c.store));
        checkpoint_error(
            c.load_err(&gzip(&raw_tar(&members)), LoadLimits::default()),
            why,
        );
    }
}

#[test]
fn duplicates_and_missing_members_are_refused() {
    let c = Case::new();
    let dup_manifest = [
        m("manifest.json", &c.manifest),
        m("manifest.json", &c.manifest),
        m("store", &c.store),
    ];
    checkpoint_error(
        c.load_err(&gzip(&raw_tar(&dup_manifest)), LoadLimits::default()),
        "second",
    );
    let dup_store = [
        m("manifest.json", &c.manifest),
        m("store", &c.store),
        m("./store", &c.store),
    ];
    checkpoint_error(
        c.load_err(&gzip(&raw_tar(&dup_store)), LoadLimits::default()),
        "second",
    );
    checkpoint_error(
        c.load_err(
            &gzip(&raw_tar(&[m("store", &c.store)])),
            LoadLimits::default(),
        ),
        "manifest",
    );
    checkpoint_error(
        c.load_err(
            &gzip(&raw_tar(&[m("manifest.json", &c.manifest)])),
            LoadLimits::default(),
        ),
        "store",
    );
    let dir_store = [
        m("manifest.json", &c.manifest),
        typed("store", EntryType::Directory, None),
    ];
    checkpoint_error(
        c.load_err(&gzip(&raw_tar(&dir_store)), LoadLimits::default()),
        "not allowed",
    );
}

#[test]
fn oversized_members_and_gzip_bombs_are_bounded() {
    let c = Case::new();
    // A store far larger than the limit: refused from its header, before reading its data.
    let limits = LoadLimits {
        max_member_bytes: 64 * 1024,
    };
    let bomb = vec![0u8; 8 << 20]; // 8 MiB of zeros: ~8 KiB gzipped, 128x the limit
    let archive = gzip(&raw_tar(&[
        m("manifest.json", &c.manifest),
        m("store", &bomb),
    ]));
    assert!(archive.len() < 1 << 20);
    checkpoint_error(c.load_err(&archive, limits), "limit");
    // The same for an unknown member, and for a manifest over 1 MiB.
    let archive = gzip(&raw_tar(&[
        m("manifest.json", &c.manifest),
        m("junk", &bomb),
        m("store", &c.store),
    ]));
    checkpoint_error(c.load_err(&archive, limits), "limit");
    let mut huge = c.manifest.clone();
    huge.truncate(huge.len() - 1);
    huge.extend(std::iter::repeat_n(b' ', 1 << 20));
    huge.push(b'}');
    checkpoint_error(
        c.load_err(
            &gzip(&raw_tar(&[m("manifest.json", &huge), m("store", &c.store)])),
            LoadLimits::default(),
        ),
        "limit",
    );
}

#[test]
fn broken_streams_are_refused() {
    let c = Case::new();
    let good = gzip(&raw_tar(&c.good()));
    checkpoint_error(
        c.load_err(&good[..good.len() / 2], LoadLimits::default()),
        "not a readable",
    );
    checkpoint_error(
        c.load_err(&good[..good.len() - 12], LoadLimits::default()),
        "not a readable",
    );
    checkpoint_error(
        c.load_err(
            &gzip(b"this is not a tar archive at all, just text"),
            LoadLimits::default(),
        ),
        "",
    );
    checkpoint_error(
        c.load_err(b"not even gzip", LoadLimits::default()),
        "not a readable",
    );
    checkpoint_error(c.load_err(b"", LoadLimits::default()), "");
    // A member that claims less than it holds: the surplus is read as a header and fails.
    let mut raw = raw_tar(&[m("manifest.json", &c.manifest)]);
    raw.truncate(raw.len() - 1024);
    let mut short = Header::new_gnu();
    short.set_path("store").unwrap();
    short.set_size(512);
    short.set_cksum();
    raw.extend_from_slice(short.as_bytes());
    raw.extend_from_slice(&c.store[..4096]);
    raw.resize(raw.len() + 1024, 0);
    checkpoint_error(c.load_err(&gzip(&raw), LoadLimits::default()), "");
}

#[test]
fn malformed_manifests_are_refused() {
    let c = Case::new();
    for (manifest, why) in [
        (b"[1, 2]".to_vec(), "object"),
        (b"{not json".to_vec(), "malformed"),
        (vec![0xff, 0xfe, 0x00], "utf-8"),
        (c.manifest_with("embedder_dim", "\"8\""), "integer"),
        (c.manifest_with("namespaces", "\"default\""), "list"),
        (c.manifest_with("store_backend", "7"), "string"),
        (c.manifest_with("format_version", "2"), "format version"),
    ] {
        let archive = gzip(&raw_tar(&[
            m("manifest.json", &manifest),
            m("store", &c.store),
        ]));
        checkpoint_error(c.load_err(&archive, LoadLimits::default()), why);
    }
}

#[test]
fn manifest_embedder_checks_come_before_any_write() {
    let c = Case::new();
    let archive = gzip(&raw_tar(&[
        m(
            "manifest.json",
            &c.manifest_with("embedder_fingerprint", "\"other\""),
        ),
        m("store", &c.store),
    ]));
    assert!(matches!(
        c.load_err(&archive, LoadLimits::default()),
        Error::EmbedderMismatch(_)
    ));
    let archive = gzip(&raw_tar(&[
        m("manifest.json", &c.manifest_with("embedder_dim", "9")),
        m("store", &c.store),
    ]));
    assert!(matches!(
        c.load_err(&archive, LoadLimits::default()),
        Error::EmbedderDimension(_)
    ));
    let archive = gzip(&raw_tar(&[
        m(
            "manifest.json",
            &c.manifest_with("vector_dtype", "\"float64\""),
        ),
        m("store", &c.store),
    ]));
    assert!(matches!(
        c.load_err(&archive, LoadLimits::default()),
        Error::Quantization(_)
    ));
}

#[test]
fn bad_store_members_are_refused() {
    let c = Case::new();
    let load = |store: &[u8]| {
        c.load_err(
            &gzip(&raw_tar(&[
                m("manifest.json", &c.manifest),
                m("store", store),
            ])),
            LoadLimits::default(),
        )
    };
    checkpoint_error(load(b"definitely not sqlite"), "not a sqlite database");
    // A SQLite database of another embedder than the manifest says.
    let other = c.f.dir.path().join("other.db");
    {
        let mut e = c.f.embedder.clone();
        e.fingerprint = "someone-else".into();
        SemanticCache::builder(e)
            .path(&other)
            .open()
            .unwrap()
            .put("x", "y")
            .unwrap();
    }
    checkpoint_error(load(&std::fs::read(&other).unwrap()), "embedder");
    // A newer schema.
    let newer = c.f.dir.path().join("newer.db");
    std::fs::write(&newer, &c.store).unwrap();
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.execute(
        "UPDATE schema_meta SET value = '2' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
        .unwrap();
    drop(conn);
    assert!(matches!(
        load(&std::fs::read(&newer).unwrap()),
        Error::SchemaMigration { .. }
    ));
    std::fs::remove_file(&newer).unwrap();
    // Damaged pages: integrity fails.
    let mut damaged = c.store.clone();
    let page = 4096;
    for b in &mut damaged[page * 2 + 100..page * 3] {
        *b = 0xA5;
    }
    match load(&damaged) {
        Error::CorruptCache { .. } | Error::Checkpoint { .. } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn tolerated_variations_load() {
    let c = Case::new();
    let dir = c.f.dir.path();
    let load_ok = |members: &[M], name: &str| {
        let archive = dir.join(name);
        std::fs::write(&archive, gzip(&raw_tar(members))).unwrap();
        let dest = dir.join(format!("{name}.db"));
        let cache = SemanticCache::loads(
            &archive,
            SemanticCache::builder(c.f.embedder.clone()).path(&dest),
        )
        .unwrap();
        assert_eq!(cache.get("q").unwrap().unwrap().response, "r");
    };
    // An optional vectors/ directory and files; members in either order; a leading "./".
    load_ok(
        &[
            m("./manifest.json", &c.manifest),
            typed("vectors/", EntryType::Directory, None),
            m("vectors/float32.bin", &[0u8; 64]),
            m("store", &c.store),
        ],
        "vectors.tar.gz",
    );
    load_ok(
        &[m("store", &c.store), m("manifest.json", &c.manifest)],
        "store-first.tar.gz",
    );
    let missing = c.f.dir.path().join("missing.tar.gz");
    let err = SemanticCache::loads(
        &missing,
        SemanticCache::builder(c.f.embedder.clone()).path(dir.join("x.db")),
    )
    .unwrap_err();
    checkpoint_error(err, "does not exist");
    assert!(!dir.join("x.db").exists());
}
