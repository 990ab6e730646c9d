//! `truckroll backup` and `truckroll restore` for the embedded default
//! (SQLite and the `fs` blob directory), while the server runs (issue 19).
//!
//! A backup directory holds:
//!
//! ```text
//! manifest.json   format, when, the database's size and SHA-256, object count (written last:
//!                 a directory without it is an unfinished backup and restore refuses it)
//! truckroll.db    the database, copied with SQLite's online backup API
//! blobs/…         the blob directory's objects, under their keys
//! blobs.sha256    one line per object: `<sha256>  <key>`
//! ```
//!
//! Database and objects agree because objects are written before any row
//! names them and never change afterwards (content-addressed keys, written
//! to a temporary file and renamed): the objects are copied once before the
//! database snapshot and once after it (only those not copied yet), so every
//! object a row of the snapshot names is in the backup. The one kind of
//! object that does change, a tenant's audit anchor, is copied only before
//! the snapshot, so it never points past the chain the snapshot holds.

use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Component, Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::backup::{self as sqlite_copy, SqliteCopyError};

pub const BACKUP_FORMAT: &str = "truckroll-backup-1";
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "truckroll.db";
const BLOBS: &str = "blobs";
const BLOB_LIST: &str = "blobs.sha256";
/// Objects that are rewritten in place: copied only before the snapshot.
const MUTABLE_PREFIXES: &[&str] = &["audit-anchors/"];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Database(#[from] SqliteCopyError),
    #[error("{0}")]
    Refused(String),
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error("backup task: {0}")]
    Task(String),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What `manifest.json` says about a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    pub format: String,
    pub created_at: DateTime<Utc>,
    pub database: String,
    pub database_bytes: u64,
    pub database_sha256: String,
    pub blobs: u64,
    pub blob_bytes: u64,
    pub blob_list: String,
}

/// Backs up the database at `database_url` and the blob directory
/// `blob_dir` into the new (or empty) directory `out`.
pub async fn backup(
    database_url: &str,
    blob_dir: &Path,
    out: &Path,
) -> Result<BackupManifest, BackupError> {
    let database = sqlite_copy::sqlite_file(database_url)?;
    let (blob_dir, out) = (blob_dir.to_owned(), out.to_owned());
    blocking(move || backup_blocking(&database, &blob_dir, &out)).await
}

/// Restores the backup in `from` into the database file `database_url`
/// names and the blob directory `blob_dir`; neither may hold anything yet.
pub async fn restore(
    from: &Path,
    database_url: &str,
    blob_dir: &Path,
) -> Result<BackupManifest, BackupError> {
    let database = sqlite_copy::sqlite_file(database_url)?;
    let (from, blob_dir) = (from.to_owned(), blob_dir.to_owned());
    blocking(move || restore_blocking(&from, &database, &blob_dir)).await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Task(e.to_string()))?
}

fn backup_blocking(
    database: &Path,
    blob_dir: &Path,
    out: &Path,
) -> Result<BackupManifest, BackupError> {
    if !database.exists() {
        return Err(BackupError::Refused(format!(
            "no database at {}",
            database.display()
        )));
    }
    if !empty_or_absent(out)? {
        return Err(BackupError::Refused(format!(
            "{} is not empty; back up into a new directory",
            out.display()
        )));
    }
    std::fs::create_dir_all(out.join(BLOBS)).map_err(io_at(out))?;
    let list_path = out.join(BLOB_LIST);
    let mut list = BufWriter::new(File::create(&list_path).map_err(io_at(&list_path))?);
    let mut totals = (0_u64, 0_u64);

    copy_objects(blob_dir, &out.join(BLOBS), &mut list, &mut totals, true)?;
    let copy = out.join(DATABASE);
    sqlite_copy::online_backup(database, &copy)?;
    copy_objects(blob_dir, &out.join(BLOBS), &mut list, &mut totals, false)?;
    list.flush().map_err(io_at(&list_path))?;
    list.get_ref().sync_all().map_err(io_at(&list_path))?;

    sqlite_copy::integrity_check(&copy)?;
    let (database_bytes, database_sha256) = hash_file(&copy)?;
    let manifest = BackupManifest {
        format: BACKUP_FORMAT.to_owned(),
        created_at: Utc::now(),
        database: DATABASE.to_owned(),
        database_bytes,
        database_sha256,
        blobs: totals.0,
        blob_bytes: totals.1,
        blob_list: BLOB_LIST.to_owned(),
    };
    write_atomically(&out.join(MANIFEST), &to_json(&manifest)?)?;
    Ok(manifest)
}

fn to_json(manifest: &BackupManifest) -> Result<Vec<u8>, BackupError> {
    serde_json::to_vec_pretty(manifest).map_err(|e| BackupError::Task(e.to_string()))
}

/// Copies every object under `root` not yet in `target` (with the mutable
/// ones only when `first`), adding a line per object to `list`.
fn copy_objects(
    root: &Path,
    target: &Path,
    list: &mut impl Write,
    totals: &mut (u64, u64),
    first: bool,
) -> Result<(), BackupError> {
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_at(&dir))?;
            let path = entry.path();
            // `.tmp` holds uploads in progress; no key starts with a dot.
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let key = relative.to_string_lossy().replace('\\', "/");
            let kind = entry.file_type().map_err(io_at(&path))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            if !first && MUTABLE_PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            let destination = target.join(relative);
            if destination.exists() {
                continue;
            }
            match copy_hashing(&path, &destination) {
                Ok((bytes, sha256)) => {
                    writeln!(list, "{sha256}  {key}").map_err(io_at(target))?;
                    totals.0 += 1;
                    totals.1 += bytes;
                }
                // Deleted since it was listed (an orphan swept): not needed.
                Err(BackupError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && !path.exists() => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

/// Copies `source` to `destination` (through a temporary name, so a file
/// there is always whole); returns its size and SHA-256.
fn copy_hashing(source: &Path, destination: &Path) -> Result<(u64, String), BackupError> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    let mut input = File::open(source).map_err(io_at(source))?;
    let partial = destination.with_extension("partial-copy");
    let mut output = File::create(&partial).map_err(io_at(&partial))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut bytes = 0_u64;
    loop {
        let read = input.read(&mut buffer).map_err(io_at(source))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        output.write_all(&buffer[..read]).map_err(io_at(&partial))?;
        bytes += read as u64;
    }
    output.sync_all().map_err(io_at(&partial))?;
    std::fs::rename(&partial, destination).map_err(io_at(destination))?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// The size and SHA-256 (hex) of a file, read in 64 KiB steps; the export
/// uses it too.
pub(super) fn sha256_of_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut input = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut bytes = 0_u64;
    loop {
        let read = input.read(&mut buffer)?;
        if read == 0 {
            return Ok((bytes, hex::encode(hasher.finalize())));
        }
        hasher.update(&buffer[..read]);
        bytes += read as u64;
    }
}

fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    sha256_of_file(path).map_err(io_at(path))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let partial = path.with_extension("partial");
    let mut file = File::create(&partial).map_err(io_at(&partial))?;
    file.write_all(bytes).map_err(io_at(&partial))?;
    file.sync_all().map_err(io_at(&partial))?;
    std::fs::rename(&partial, path).map_err(io_at(path))
}

fn empty_or_absent(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_at(dir)(e)),
    }
}

/// A key from the list, as a path that stays inside the directory.
fn key_path(key: &str) -> Option<&Path> {
    let path = Path::new(key);
    let clean = !key.is_empty()
        && !key.split('/').any(|s| s.is_empty() || s.starts_with('.'))
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    clean.then_some(path)
}

fn restore_blocking(
    from: &Path,
    database: &Path,
    blob_dir: &Path,
) -> Result<BackupManifest, BackupError> {
    let manifest_path = from.join(MANIFEST);
    let manifest: BackupManifest = match std::fs::read(&manifest_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| BackupError::Damaged(format!("{MANIFEST}: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::Refused(format!(
                "{} has no {MANIFEST}: not a finished backup",
                from.display()
            )));
        }
        Err(e) => return Err(io_at(&manifest_path)(e)),
    };
    if manifest.format != BACKUP_FORMAT {
        return Err(BackupError::Refused(format!(
            "unknown backup format `{}` (this version reads `{BACKUP_FORMAT}`)",
            manifest.format
        )));
    }
    for taken in [
        database.to_owned(),
        PathBuf::from(format!("{}-wal", database.display())),
    ] {
        if taken.exists() {
            return Err(BackupError::Refused(format!(
                "{} exists; restore into a fresh location (move the old database away first)",
                taken.display()
            )));
        }
    }
    if !blob_dir_is_empty(blob_dir)? {
        return Err(BackupError::Refused(format!(
            "the blob directory {} is not empty",
            blob_dir.display()
        )));
    }

    let copy = from.join(&manifest.database);
    let (bytes, sha256) = hash_file(&copy)?;
    if (bytes, sha256.as_str()) != (manifest.database_bytes, manifest.database_sha256.as_str()) {
        return Err(BackupError::Damaged(format!(
            "{} does not match the manifest's size and SHA-256",
            manifest.database
        )));
    }
    sqlite_copy::integrity_check(&copy)?;

    // Objects first, the database last: an interrupted restore leaves no
    // database a server could start on.
    let list_path = from.join(&manifest.blob_list);
    let list = BufReader::new(File::open(&list_path).map_err(io_at(&list_path))?);
    let mut restored = 0_u64;
    for line in list.lines() {
        let line = line.map_err(io_at(&list_path))?;
        let Some((expected, key)) = line.split_once("  ") else {
            return Err(BackupError::Damaged(format!("bad line in {BLOB_LIST}")));
        };
        let relative =
            key_path(key).ok_or_else(|| BackupError::Damaged(format!("bad object key {key:?}")))?;
        let (_, sha256) = copy_hashing(&from.join(BLOBS).join(relative), &blob_dir.join(relative))?;
        if sha256 != expected {
            return Err(BackupError::Damaged(format!(
                "object {key} does not match its SHA-256"
            )));
        }
        restored += 1;
    }
    if restored != manifest.blobs {
        return Err(BackupError::Damaged(format!(
            "{restored} objects listed, the manifest says {}",
            manifest.blobs
        )));
    }

    if let Some(parent) = database.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    copy_hashing(&copy, database)?;
    sqlite_copy::integrity_check(database)?;
    Ok(manifest)
}

/// Empty, absent, or only the blob store's own empty temporary directory.
fn blob_dir_is_empty(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(io_at(dir))?;
                let hidden_empty_dir = entry.file_name().to_string_lossy().starts_with('.')
                    && empty_or_absent(&entry.path())?;
                if !hidden_empty_dir {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_at(dir)(e)),
    }
}
