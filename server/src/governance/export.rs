//! `truckroll export --tenant NAME --out DIR` (issue 19): everything one
//! tenant has, as JSON Lines per table plus its objects from the blob
//! store, on either backend.
//!
//! The archive directory:
//!
//! ```text
//! manifest.json        written last: format, tenant, per table its file, rows and SHA-256,
//!                      the tables left out (not tenant data), the object count
//! tables/<table>.jsonl one JSON object per row, in primary-key order
//! media/<key>          the tenant's objects, under their key without `tenants/<id>/`
//! media.sha256         one line per object: `<sha256>  <key>`
//! progress.json        only while unfinished: where a resumed run continues
//! ```
//!
//! Rows are streamed from the database and written as they come, and
//! objects are streamed from the blob store in chunks, so memory stays
//! bounded by one row (and one chunk) whatever the tenant's size.
//! Every `checkpoint_rows` rows the table file is flushed and synced and
//! `progress.json` records its length, row count and last primary key. Run
//! again with the same `--out`, the export cuts the file back to the
//! checkpoint, skips the rows it had and checks that the last one is still
//! the recorded key (if the table changed underneath, that table is written
//! again from its start); finished tables are kept, objects already copied
//! are kept (each is written under a temporary name and renamed).

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    path::{Component, Path, PathBuf},
};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    blob::{BlobError, BlobStore, tenant_prefix},
    store::{
        StoreError,
        export::{ExportSource, ExportTable},
    },
};

pub const EXPORT_FORMAT: &str = "truckroll-export-1";
const MANIFEST: &str = "manifest.json";
const PROGRESS: &str = "progress.json";
const TABLES: &str = "tables";
const MEDIA: &str = "media";
const MEDIA_LIST: &str = "media.sha256";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob store: {0}")]
    Blob(#[from] BlobError),
    #[error("{0}")]
    Refused(String),
    #[error("{file}: {message}")]
    Damaged { file: String, message: String },
    /// `stop_after_rows` reached: the run ended as an interrupted one would.
    #[error("stopped after {0} rows as asked; run the same command again to resume")]
    Stopped(u64),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Rows between two checkpoints.
    pub checkpoint_rows: u64,
    /// Stop (without a last checkpoint, like a crash) after this many rows:
    /// for testing resumption.
    pub stop_after_rows: Option<u64>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            checkpoint_rows: 1000,
            stop_after_rows: None,
        }
    }
}

/// The tenant an export is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedTenant {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedTable {
    pub name: String,
    pub file: String,
    pub rows: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportManifest {
    pub format: String,
    pub tenant: ExportedTenant,
    pub finished_at: DateTime<Utc>,
    pub tables: Vec<ExportedTable>,
    /// Tables without tenant data (the migration ledger, full-text index
    /// internals, which are rebuilt from the rows).
    pub skipped_tables: Vec<String>,
    pub media: u64,
    pub media_bytes: u64,
    pub media_list: String,
}

/// `progress.json`: how far an unfinished export got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    format: String,
    tenant_id: Uuid,
    done: Vec<ExportedTable>,
    current: Option<Checkpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    table: String,
    rows: u64,
    bytes: u64,
    last_key: Option<String>,
}

/// Writes (or continues) the export of `tenant` into `out`.
pub async fn export_tenant(
    source: &ExportSource,
    blobs: &dyn BlobStore,
    tenant: &ExportedTenant,
    out: &Path,
    options: ExportOptions,
) -> Result<ExportManifest, ExportError> {
    let mut progress = start(out, tenant)?;
    let catalogue = source.catalogue().await?;
    std::fs::create_dir_all(out.join(TABLES)).map_err(io_at(out))?;
    let mut budget = options.stop_after_rows;
    for table in &catalogue.tables {
        if progress.done.iter().any(|done| done.name == table.name) {
            continue;
        }
        let exported = export_table(
            source,
            table,
            tenant.id,
            out,
            &mut progress,
            options,
            &mut budget,
        )
        .await?;
        progress.done.push(exported);
        progress.current = None;
        save_progress(out, &progress)?;
    }
    let (media, media_bytes) = export_media(blobs, tenant.id, out).await?;
    let manifest = ExportManifest {
        format: EXPORT_FORMAT.to_owned(),
        tenant: tenant.clone(),
        finished_at: Utc::now(),
        tables: progress.done,
        skipped_tables: catalogue.skipped,
        media,
        media_bytes,
        media_list: MEDIA_LIST.to_owned(),
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Damaged {
        file: MANIFEST.into(),
        message: e.to_string(),
    })?;
    write_atomically(&out.join(MANIFEST), &json)?;
    let progress_path = out.join(PROGRESS);
    std::fs::remove_file(&progress_path).map_err(io_at(&progress_path))?;
    Ok(manifest)
}

/// A fresh export (empty or absent `out`) or the progress of an unfinished
/// one of the same tenant.
fn start(out: &Path, tenant: &ExportedTenant) -> Result<Progress, ExportError> {
    if out.join(MANIFEST).exists() {
        return Err(ExportError::Refused(format!(
            "{} holds a finished export; export into a new directory",
            out.display()
        )));
    }
    let progress_path = out.join(PROGRESS);
    match std::fs::read(&progress_path) {
        Ok(bytes) => {
            let progress: Progress =
                serde_json::from_slice(&bytes).map_err(|e| ExportError::Damaged {
                    file: PROGRESS.into(),
                    message: e.to_string(),
                })?;
            if progress.format != EXPORT_FORMAT || progress.tenant_id != tenant.id {
                return Err(ExportError::Refused(format!(
                    "{} holds an unfinished export of another tenant or format",
                    out.display()
                )));
            }
            Ok(progress)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let empty = match std::fs::read_dir(out) {
                Ok(mut entries) => entries.next().is_none(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(io_at(out)(e)),
            };
            if !empty {
                return Err(ExportError::Refused(format!(
                    "{} is not empty and holds no unfinished export",
                    out.display()
                )));
            }
            std::fs::create_dir_all(out).map_err(io_at(out))?;
            let progress = Progress {
                format: EXPORT_FORMAT.to_owned(),
                tenant_id: tenant.id,
                ..Progress::default()
            };
            save_progress(out, &progress)?;
            Ok(progress)
        }
        Err(e) => Err(io_at(&progress_path)(e)),
    }
}

fn save_progress(out: &Path, progress: &Progress) -> Result<(), ExportError> {
    let json = serde_json::to_vec(progress).map_err(|e| ExportError::Damaged {
        file: PROGRESS.into(),
        message: e.to_string(),
    })?;
    write_atomically(&out.join(PROGRESS), &json)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let partial = path.with_extension("partial");
    let mut file = File::create(&partial).map_err(io_at(&partial))?;
    file.write_all(bytes).map_err(io_at(&partial))?;
    file.sync_all().map_err(io_at(&partial))?;
    std::fs::rename(&partial, path).map_err(io_at(path))
}

/// Where a table's rows start being written: from a checkpoint of this
/// table, or from its beginning.
fn resume_point(progress: &Progress, table: &str) -> Checkpoint {
    progress
        .current
        .as_ref()
        .filter(|checkpoint| checkpoint.table == table)
        .cloned()
        .unwrap_or_else(|| Checkpoint {
            table: table.to_owned(),
            rows: 0,
            bytes: 0,
            last_key: None,
        })
}

async fn export_table(
    source: &ExportSource,
    table: &ExportTable,
    tenant_id: Uuid,
    out: &Path,
    progress: &mut Progress,
    options: ExportOptions,
    budget: &mut Option<u64>,
) -> Result<ExportedTable, ExportError> {
    let file_name = format!("{TABLES}/{}.jsonl", table.name);
    let path = out.join(&file_name);
    let mut checkpoint = resume_point(progress, &table.name);
    let rows = loop {
        match write_rows(
            source,
            table,
            tenant_id,
            &path,
            &checkpoint,
            progress,
            out,
            options,
            budget,
        )
        .await?
        {
            Some(rows) => break rows,
            // The checkpoint's row is gone or moved: the table changed since
            // the interrupted run; write it again from its start.
            None => {
                checkpoint = resume_point(&Progress::default(), &table.name);
            }
        }
    };
    let (_, sha256) = hash_file(&path)?;
    Ok(ExportedTable {
        name: table.name.clone(),
        file: file_name,
        rows,
        sha256,
    })
}

/// Writes the table's rows after `checkpoint`; `None` when the rows before
/// it are no longer what was written.
#[allow(clippy::too_many_arguments)]
async fn write_rows(
    source: &ExportSource,
    table: &ExportTable,
    tenant_id: Uuid,
    path: &Path,
    checkpoint: &Checkpoint,
    progress: &mut Progress,
    out: &Path,
    options: ExportOptions,
    budget: &mut Option<u64>,
) -> Result<Option<u64>, ExportError> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(path)
        .map_err(io_at(path))?;
    // Rows written after the last checkpoint may be torn: cut them off.
    file.set_len(checkpoint.bytes).map_err(io_at(path))?;
    let mut bytes = checkpoint.bytes;
    let mut writer = BufWriter::new(file);
    std::io::Seek::seek(&mut writer, std::io::SeekFrom::Start(bytes)).map_err(io_at(path))?;

    let mut rows = source.rows(table, tenant_id);
    let mut seen = 0_u64;
    let mut last_key = None;
    while seen < checkpoint.rows {
        match rows.next().await.transpose()? {
            Some(row) => {
                seen += 1;
                last_key = Some(row.key);
            }
            None => return Ok(None),
        }
    }
    if last_key != checkpoint.last_key {
        return Ok(None);
    }
    let mut written = seen;
    while let Some(row) = rows.next().await.transpose()? {
        writer
            .write_all(row.json.as_bytes())
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(io_at(path))?;
        bytes += row.json.len() as u64 + 1;
        written += 1;
        if let Some(left) = budget {
            *left = left.saturating_sub(1);
            if *left == 0 {
                writer.flush().map_err(io_at(path))?;
                return Err(ExportError::Stopped(
                    options.stop_after_rows.unwrap_or_default(),
                ));
            }
        }
        if written.is_multiple_of(options.checkpoint_rows.max(1)) {
            writer.flush().map_err(io_at(path))?;
            writer.get_ref().sync_data().map_err(io_at(path))?;
            progress.current = Some(Checkpoint {
                table: table.name.clone(),
                rows: written,
                bytes,
                last_key: Some(row.key),
            });
            save_progress(out, progress)?;
        }
    }
    writer.flush().map_err(io_at(path))?;
    writer.get_ref().sync_data().map_err(io_at(path))?;
    Ok(Some(written))
}

fn hash_file(path: &Path) -> Result<(u64, String), ExportError> {
    super::backup::sha256_of_file(path).map_err(io_at(path))
}

/// Copies the tenant's objects not copied yet and writes the list of all
/// of them; returns their count and total size.
async fn export_media(
    blobs: &dyn BlobStore,
    tenant_id: Uuid,
    out: &Path,
) -> Result<(u64, u64), ExportError> {
    let prefix = tenant_prefix(tenant_id);
    let list_path = out.join(MEDIA_LIST);
    let mut list = BufWriter::new(File::create(&list_path).map_err(io_at(&list_path))?);
    let (mut count, mut total) = (0_u64, 0_u64);
    for key in blobs.list(&prefix).await? {
        let Some(relative) = key.strip_prefix(&prefix).and_then(clean_relative) else {
            return Err(ExportError::Damaged {
                file: key.clone(),
                message: "object key cannot be a file name".into(),
            });
        };
        let target = out.join(MEDIA).join(relative);
        let (bytes, sha256) = if target.exists() {
            hash_file(&target)?
        } else {
            match copy_object(blobs, &key, &target).await? {
                Some(copied) => copied,
                // Deleted since it was listed (an orphan swept, media erased).
                None => continue,
            }
        };
        writeln!(list, "{sha256}  {}", relative.display()).map_err(io_at(&list_path))?;
        count += 1;
        total += bytes;
    }
    list.flush().map_err(io_at(&list_path))?;
    list.get_ref().sync_all().map_err(io_at(&list_path))?;
    Ok((count, total))
}

/// Bytes read from the store at a time while copying an object.
const COPY_CHUNK: usize = 256 * 1024;

/// Streams the object at `key` into `target` (through a temporary name),
/// hashing it on the way; `None` when the object is gone. Memory stays at
/// one chunk whatever the object's size.
async fn copy_object(
    blobs: &dyn BlobStore,
    key: &str,
    target: &Path,
) -> Result<Option<(u64, String)>, ExportError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut reader = match blobs.read_stream(key).await {
        Ok(reader) => reader,
        Err(BlobError::NotFound) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    }
    let partial = target.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(io_at(&partial))?;
    let mut hasher = Sha256::new();
    let mut chunk = vec![0_u8; COPY_CHUNK];
    let mut total = 0_u64;
    loop {
        let read = reader
            .read(&mut chunk)
            .await
            .map_err(|e| BlobError::Unavailable(format!("reading {key}: {e}")))?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
        file.write_all(&chunk[..read])
            .await
            .map_err(io_at(&partial))?;
        total += read as u64;
    }
    file.flush().await.map_err(io_at(&partial))?;
    file.sync_all().await.map_err(io_at(&partial))?;
    drop(file);
    tokio::fs::rename(&partial, target)
        .await
        .map_err(io_at(target))?;
    Ok(Some((total, hex::encode(hasher.finalize()))))
}

fn clean_relative(key: &str) -> Option<&Path> {
    let path = Path::new(key);
    let clean = !key.is_empty()
        && !key.split('/').any(|s| s.is_empty() || s.starts_with('.'))
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    clean.then_some(path)
}
