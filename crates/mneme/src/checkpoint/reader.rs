//! Reading an archive that may be hostile: every member header is checked as it streams by,
//! member names are never used as paths, reads are bounded, and only `store` is written, to a
//! temporary file that mneme chooses.

use super::manifest::Manifest;
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use tar::EntryType;

/// The largest `manifest.json` accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Bounds on what `loads` reads from an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// The largest member other than the manifest (default 64 GiB).
    pub max_member_bytes: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_member_bytes: 64 << 30,
        }
    }
}

fn bad_archive(problem: impl Into<String>) -> Error {
    Error::checkpoint(
        problem,
        "use an archive written by dumps() (mneme or mneme-cache 1.0); nothing was written",
    )
}

fn unreadable(source: &Path, e: impl std::fmt::Display) -> Error {
    Error::checkpoint(
        format!("{} is not a readable tar.gz archive: {e}", source.display()),
        "check that the file is complete (not truncated) and was written by dumps(); nothing was written",
    )
}

fn require_file(source: &Path) -> Result<()> {
    if source.is_file() {
        return Ok(());
    }
    Err(Error::checkpoint(
        format!(
            "checkpoint {} does not exist (or is not a file)",
            source.display()
        ),
        "pass the path of an archive written by dumps()",
    ))
}

/// The kinds of member an archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Member {
    Manifest,
    Store,
    /// Checked, then skipped (`vectors/…` and anything unknown).
    Other,
}

/// Applies the member safety rules (docs/formats.md, "Archives") to one header.
fn classify(entry: &tar::Entry<'_, impl Read>, limits: &LoadLimits) -> Result<Member> {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let refuse = |why: &str| bad_archive(format!("unsafe archive member {shown:?}: {why}"));
    let name = raw.strip_prefix(b"./").unwrap_or(&raw);
    if name.is_empty() {
        return Err(refuse("empty name"));
    }
    if name.contains(&0) {
        return Err(refuse("NUL byte in name"));
    }
    if name.contains(&b'\\') {
        return Err(refuse("backslash in name"));
    }
    if name.starts_with(b"/")
        || (name.len() >= 2 && name[1] == b':' && name[0].is_ascii_alphabetic())
    {
        return Err(refuse("absolute path"));
    }
    if name.split(|b| *b == b'/').any(|part| part == b"..") {
        return Err(refuse("'..' component"));
    }
    let kind = entry.header().entry_type();
    let size = entry
        .header()
        .size()
        .map_err(|e| refuse(&format!("bad size field: {e}")))?;
    let member = match name {
        b"manifest.json" => Member::Manifest,
        b"store" => Member::Store,
        _ => Member::Other,
    };
    match kind {
        EntryType::Regular | EntryType::Continuous => {}
        EntryType::Directory if name.starts_with(b"vectors/") || name == b"vectors" => {}
        EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName => {}
        EntryType::Symlink => return Err(refuse("symbolic link")),
        EntryType::Link => return Err(refuse("hard link")),
        EntryType::Char | EntryType::Block => return Err(refuse("device file")),
        EntryType::Fifo => return Err(refuse("FIFO")),
        EntryType::GNUSparse => return Err(refuse("GNU sparse file")),
        other => return Err(refuse(&format!("member type {other:?} is not allowed"))),
    }
    if member != Member::Other && kind != EntryType::Regular && kind != EntryType::Continuous {
        return Err(refuse("must be a regular file"));
    }
    let cap = if member == Member::Manifest {
        MAX_MANIFEST_BYTES
    } else {
        limits.max_member_bytes
    };
    if size > cap {
        return Err(refuse(&format!("{size} bytes, over the {cap}-byte limit")));
    }
    Ok(member)
}

/// Streams an archive's members through `visit`, enforcing the safety rules and duplicates.
fn for_each_member(
    source: &Path,
    limits: &LoadLimits,
    visit: &mut dyn FnMut(Member, &mut dyn Read, u64) -> Result<()>,
) -> Result<()> {
    let file = File::open(source).map_err(|e| unreadable(source, e))?;
    let gz = flate2::read::GzDecoder::new(BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(gz);
    let (mut manifests, mut stores) = (0, 0);
    let entries = archive.entries().map_err(|e| unreadable(source, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unreadable(source, e))?;
        let member = classify(&entry, limits)?;
        let counter = match member {
            Member::Manifest => &mut manifests,
            Member::Store => &mut stores,
            Member::Other => continue,
        };
        *counter += 1;
        if *counter > 1 {
            return Err(bad_archive(format!(
                "the archive holds a second {member:?} member"
            )));
        }
        let size = entry.header().size().unwrap_or(0);
        visit(member, &mut entry, size)?;
    }
    // A truncated gzip stream can end on a tar block boundary: make the decoder finish.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| unreadable(source, e))?;
    Ok(())
}

/// What a validated read produced.
pub(super) struct Extracted {
    pub manifest: Manifest,
    pub store: tempfile::NamedTempFile,
}

/// Reads and validates the manifest (via `validate`, before anything is written), then streams
/// `store` into a temporary file (0600) in `dest_dir`.
pub(super) fn extract(
    source: &Path,
    dest_dir: &Path,
    limits: &LoadLimits,
    validate: &mut dyn FnMut(&Manifest) -> Result<()>,
) -> Result<Extracted> {
    require_file(source)?;
    let mut manifest: Option<Manifest> = None;
    let mut store: Option<tempfile::NamedTempFile> = None;
    let mut store_before_manifest = false;
    let write_store = |from: &mut dyn Read, size: u64| -> Result<tempfile::NamedTempFile> {
        let mut tmp = crate::files::temp_in(dest_dir, ".mneme-restore-").map_err(|e| {
            Error::checkpoint_with(
                format!("cannot create a temporary file in {}", dest_dir.display()),
                "make the destination directory writable and check free disk space",
                e,
            )
        })?;
        let copied =
            io::copy(&mut from.take(size), tmp.as_file_mut()).map_err(|e| unreadable(source, e))?;
        if copied != size {
            return Err(bad_archive("the store member is truncated"));
        }
        Ok(tmp)
    };
    for_each_member(source, limits, &mut |member, data, size| {
        match member {
            Member::Manifest => {
                let mut bytes = Vec::with_capacity(size as usize);
                data.take(MAX_MANIFEST_BYTES)
                    .read_to_end(&mut bytes)
                    .map_err(|e| unreadable(source, e))?;
                let m = Manifest::parse(&bytes)?;
                validate(&m)?;
                manifest = Some(m);
            }
            Member::Store if manifest.is_some() => store = Some(write_store(data, size)?),
            Member::Store => store_before_manifest = true,
            Member::Other => {}
        }
        Ok(())
    })?;
    let manifest = manifest.ok_or_else(|| bad_archive("the archive has no manifest.json"))?;
    if store_before_manifest {
        // The manifest came after `store`: now that it is validated, read `store` in a second pass.
        for_each_member(source, limits, &mut |member, data, size| {
            if member == Member::Store {
                store = Some(write_store(data, size)?);
            }
            Ok(())
        })?;
    }
    let store = store.ok_or_else(|| bad_archive("the archive has no store member"))?;
    Ok(Extracted { manifest, store })
}

/// Reads just the manifest (for `inspect`), with the same safety rules.
///
/// # Errors
/// [`Error::Checkpoint`] for an unreadable, unsafe or manifest-less archive.
pub fn read_manifest(source: &Path) -> Result<Manifest> {
    manifest_of(source).map_err(|e| e.with_path(source))
}

fn manifest_of(source: &Path) -> Result<Manifest> {
    let mut manifest = None;
    require_file(source)?;
    for_each_member(source, &LoadLimits::default(), &mut |member, data, _| {
        if member == Member::Manifest {
            let mut bytes = Vec::new();
            data.take(MAX_MANIFEST_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|e| unreadable(source, e))?;
            manifest = Some(Manifest::parse(&bytes)?);
        }
        Ok(())
    })?;
    manifest.ok_or_else(|| bad_archive("the archive has no manifest.json"))
}
