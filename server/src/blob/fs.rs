//! The embedded backend: objects are files under one directory, written
//! atomically (temp file, fsync, rename, fsync of the directory). Upload and
//! download URLs point at the server's own `/v1/blobs/{key}` routes and
//! carry an HMAC of what they allow, so phones use them exactly like
//! presigned S3 URLs.

use std::{
    io::{Read, Write},
    path::{Component, Path, PathBuf},
};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{
    BlobBackend, BlobError, BlobReader, BlobResult, BlobStore, ObjectHead, PutSpec, SignedRequest,
    Validity, key_sha256, signing::Grant,
};

/// Where temporary files live, inside the blob directory (same filesystem,
/// so the final rename is atomic).
const TMP_DIR: &str = ".tmp";

#[derive(Clone)]
pub struct FsBlobs {
    root: PathBuf,
    secret: Vec<u8>,
}

impl std::fmt::Debug for FsBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FsBlobs")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn io(error: std::io::Error) -> BlobError {
    BlobError::Other(error.to_string())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> BlobResult<T> + Send + 'static,
) -> BlobResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Other(format!("blob task: {e}")))?
}

/// A file being written; removed on drop unless [`TempFile::persist`] ran.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    hasher: Sha256,
    written: u64,
}

impl TempFile {
    pub fn write_chunk(&mut self, bytes: &[u8]) -> BlobResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| BlobError::Other("temp file closed".into()))?;
        file.write_all(bytes).map_err(io)?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Lowercase hex SHA-256 of everything written so far.
    pub fn sha256(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }

    /// Makes the file durable and moves it to `target`.
    fn persist(mut self, target: &Path) -> BlobResult<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| BlobError::Other("temp file closed".into()))?;
        file.sync_all().map_err(io)?;
        drop(file);
        let dir = target
            .parent()
            .ok_or_else(|| BlobError::Other("object path without a directory".into()))?;
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::rename(&self.path, target).map_err(io)?;
        // The rename is durable only once the directory entry is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.is_some() || self.path.exists() {
            self.file = None;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl FsBlobs {
    pub fn open(root: PathBuf, secret: Vec<u8>) -> BlobResult<Self> {
        std::fs::create_dir_all(root.join(TMP_DIR)).map_err(|e| {
            BlobError::Config(format!(
                "cannot create blob directory {}: {e}",
                root.display()
            ))
        })?;
        Ok(Self { root, secret })
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The file of `key`; keys with `..`, absolute parts or empty segments
    /// are refused so no key reaches outside the directory.
    fn path(&self, key: &str) -> BlobResult<PathBuf> {
        let relative = Path::new(key);
        let clean = !key.is_empty()
            && !key.split('/').any(|s| s.is_empty() || s.starts_with('.'))
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !clean {
            return Err(BlobError::Other(format!("invalid object key {key:?}")));
        }
        Ok(self.root.join(relative))
    }

    /// A fresh temporary file for an incoming object.
    pub fn temp_file(&self) -> BlobResult<TempFile> {
        let path = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().simple().to_string());
        let file = std::fs::File::create(&path).map_err(io)?;
        Ok(TempFile {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// Moves a finished upload into place. A content-addressed key only
    /// takes bytes that hash to its name, which is why `head` can vouch.
    pub fn commit(&self, key: &str, temp: TempFile) -> BlobResult<()> {
        let target = self.path(key)?;
        if let Some(expected) = key_sha256(key)
            && temp.sha256() != expected
        {
            return Err(BlobError::Other(
                "content does not match the key's SHA-256".into(),
            ));
        }
        temp.persist(&target)
    }

    fn url(&self, origin: &str, grant: &Grant<'_>) -> String {
        let mut url = format!(
            "{}/v1/blobs/{}?expires={}",
            origin.trim_end_matches('/'),
            grant.key,
            grant.expires
        );
        if let Some((_, size, sha256)) = grant.content {
            url.push_str(&format!("&size={size}&sha256={sha256}"));
        }
        url.push_str(&format!("&sig={}", grant.sign(&self.secret)));
        url
    }
}

fn unix(validity: &Validity) -> i64 {
    validity.expires_at().timestamp()
}

#[async_trait]
impl BlobStore for FsBlobs {
    fn backend(&self) -> BlobBackend {
        BlobBackend::Fs
    }

    fn as_fs(&self) -> Option<&FsBlobs> {
        Some(self)
    }

    async fn head(&self, key: &str) -> BlobResult<Option<ObjectHead>> {
        let path = self.path(key)?;
        let verified = key_sha256(key).map(str::to_owned);
        blocking(move || match std::fs::metadata(&path) {
            Ok(meta) => Ok(Some(ObjectHead {
                size: meta.len(),
                verified_sha256: verified,
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn read(&self, key: &str) -> BlobResult<Vec<u8>> {
        let path = self.path(key)?;
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn read_stream(&self, key: &str) -> BlobResult<BlobReader> {
        let path = self.path(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Box::pin(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(BlobError::NotFound),
            Err(e) => Err(io(e)),
        }
    }

    async fn read_prefix(&self, key: &str, len: u64) -> BlobResult<Vec<u8>> {
        let path = self.path(key)?;
        blocking(move || {
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(BlobError::NotFound);
                }
                Err(e) => return Err(io(e)),
            };
            let mut bytes = Vec::new();
            file.take(len).read_to_end(&mut bytes).map_err(io)?;
            Ok(bytes)
        })
        .await
    }

    async fn write(&self, key: &str, bytes: Vec<u8>, _content_type: &str) -> BlobResult<()> {
        let this = self.clone();
        let key = key.to_owned();
        blocking(move || {
            let mut temp = this.temp_file()?;
            temp.write_chunk(&bytes)?;
            this.commit(&key, temp)
        })
        .await
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        let path = self.path(key)?;
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn list(&self, prefix: &str) -> BlobResult<Vec<String>> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut keys = Vec::new();
            let mut pending = vec![root.clone()];
            while let Some(dir) = pending.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(e)),
                };
                for entry in entries {
                    let entry = entry.map_err(io)?;
                    let path = entry.path();
                    let Ok(relative) = path.strip_prefix(&root) else {
                        continue;
                    };
                    let key = relative.to_string_lossy().replace('\\', "/");
                    if key.starts_with(TMP_DIR) {
                        continue;
                    }
                    if entry.file_type().map_err(io)?.is_dir() {
                        pending.push(path);
                    } else if key.starts_with(&prefix) {
                        keys.push(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }

    async fn presign_put(
        &self,
        key: &str,
        spec: &PutSpec,
        origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest> {
        self.path(key)?;
        let grant = Grant {
            method: "PUT",
            key,
            expires: unix(&validity),
            content: Some((&spec.content_type, spec.size, &spec.sha256)),
        };
        Ok(SignedRequest {
            method: "PUT".into(),
            url: self.url(origin, &grant),
            headers: vec![("content-type".into(), spec.content_type.clone())],
            expires_at: validity.expires_at(),
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest> {
        self.path(key)?;
        let grant = Grant {
            method: "GET",
            key,
            expires: unix(&validity),
            content: None,
        };
        Ok(SignedRequest {
            method: "GET".into(),
            url: self.url(origin, &grant),
            headers: Vec::new(),
            expires_at: validity.expires_at(),
        })
    }
}
