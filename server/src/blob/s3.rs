//! S3-compatible object stores (AWS S3, Garage, MinIO, Ceph RGW, …)
//! through `aws-sdk-s3`. Phones upload with presigned PUTs that carry the
//! declared SHA-256 as `x-amz-checksum-sha256`, so the store itself refuses
//! bytes that do not match and vouches for the hash afterwards.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    config::{
        BehaviorVersion, Credentials, Region, RequestChecksumCalculation,
        ResponseChecksumValidation, retry::RetryConfig, timeout::TimeoutConfig,
    },
    error::{ProvideErrorMetadata, SdkError},
    presigning::{PresignedRequest, PresigningConfig},
    primitives::ByteStream,
    types::ChecksumMode,
};
use base64::{Engine, engine::general_purpose::STANDARD};

use super::{
    BlobBackend, BlobError, BlobReader, BlobResult, BlobStore, ObjectHead, PutSpec, S3Config,
    SignedRequest, Validity,
};

#[derive(Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

/// Static keys from the configuration, else the standard AWS variables.
fn credentials(config: &S3Config) -> BlobResult<Credentials> {
    let (key, secret, token) = if config.access_key_id.is_empty() {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        (
            var("AWS_ACCESS_KEY_ID").ok_or_else(|| {
                BlobError::Config(
                    "media.s3.access_key_id is empty and AWS_ACCESS_KEY_ID is not set".into(),
                )
            })?,
            var("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
                BlobError::Config(
                    "media.s3.secret_access_key is empty and AWS_SECRET_ACCESS_KEY is not set"
                        .into(),
                )
            })?,
            var("AWS_SESSION_TOKEN"),
        )
    } else {
        (
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
            Some(config.session_token.clone()).filter(|t| !t.is_empty()),
        )
    };
    Ok(Credentials::new(
        key,
        secret,
        token,
        None,
        "truckroll-config",
    ))
}

impl S3Blobs {
    pub fn new(config: &S3Config) -> BlobResult<Self> {
        use aws_smithy_http_client::{
            Builder,
            tls::{Provider, rustls_provider::CryptoMode},
        };
        let http = Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials(config)?)
            .force_path_style(config.path_style)
            .http_client(http)
            // Only what S3 requires: the SDK's default CRC32 on every PUT
            // would otherwise leak into presigned URLs.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            // One retry: a store that is down should answer 503 promptly.
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if !config.endpoint.is_empty() {
            builder = builder.endpoint_url(config.endpoint.trim_end_matches('/'));
        }
        Ok(Self {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket.clone(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// Classifies an SDK error: transport failures and 5xx mean the store is
/// unavailable (retry later), 404 means no such object.
fn classify<E, R>(error: SdkError<E, R>) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + std::fmt::Debug,
{
    let status = error.raw_response().map(HttpStatus::status);
    match (&error, status) {
        (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _) => BlobError::Unavailable(
            format!("{}", aws_sdk_s3::error::DisplayErrorContext(&error)),
        ),
        (_, Some(404)) => BlobError::NotFound,
        (_, Some(status)) if status >= 500 => BlobError::Unavailable(format!(
            "HTTP {status}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&error)
        )),
        _ => BlobError::Other(format!(
            "{}",
            aws_sdk_s3::error::DisplayErrorContext(&error)
        )),
    }
}

/// The HTTP status of a raw SDK response.
pub trait HttpStatus {
    fn status(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

fn presigning(validity: Validity) -> BlobResult<PresigningConfig> {
    PresigningConfig::builder()
        .start_time(validity.signed_at)
        .expires_in(validity.expires_in)
        .build()
        .map_err(|e| BlobError::Other(format!("presigning: {e}")))
}

fn signed(request: PresignedRequest, validity: Validity) -> SignedRequest {
    SignedRequest {
        method: request.method().to_owned(),
        url: request.uri().to_owned(),
        headers: request
            .headers()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
        expires_at: validity.expires_at(),
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    fn backend(&self) -> BlobBackend {
        BlobBackend::S3
    }

    async fn head(&self, key: &str) -> BlobResult<Option<ObjectHead>> {
        let answer = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match answer {
            Ok(head) => Ok(Some(ObjectHead {
                size: head
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or_default(),
                // Multipart objects carry a checksum of checksums (`…-N`),
                // which does not decode to 32 bytes and is not vouched for.
                verified_sha256: head
                    .checksum_sha256()
                    .and_then(|b64| STANDARD.decode(b64).ok())
                    .filter(|raw| raw.len() == 32)
                    .map(hex::encode),
            })),
            Err(error) => match classify(error) {
                BlobError::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn read(&self, key: &str) -> BlobResult<Vec<u8>> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(format!("reading object body: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn read_stream(&self, key: &str) -> BlobResult<BlobReader> {
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        Ok(Box::pin(object.body.into_async_read()))
    }

    async fn read_prefix(&self, key: &str, len: u64) -> BlobResult<Vec<u8>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", len - 1))
            .send()
            .await
            .map_err(classify)?;
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| BlobError::Unavailable(format!("reading object body: {e}")))?;
        let mut bytes = bytes.into_bytes().to_vec();
        // A store that ignores `Range` sends everything.
        bytes.truncate(usize::try_from(len).unwrap_or(usize::MAX));
        Ok(bytes)
    }

    async fn write(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> BlobResult<()> {
        let checksum = {
            use sha2::Digest;
            STANDARD.encode(sha2::Sha256::digest(&bytes))
        };
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .checksum_sha256(checksum)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> BlobResult<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> BlobResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(classify)?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(next) if page.is_truncated().unwrap_or(false) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn presign_put(
        &self,
        key: &str,
        spec: &PutSpec,
        _origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest> {
        let raw =
            hex::decode(&spec.sha256).map_err(|_| BlobError::Other("sha256 is not hex".into()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(&spec.content_type)
            .content_length(i64::try_from(spec.size).unwrap_or(i64::MAX))
            .checksum_sha256(STANDARD.encode(raw))
            .presigned(presigning(validity)?)
            .await
            .map_err(classify)?;
        Ok(signed(request, validity))
    }

    async fn presign_get(
        &self,
        key: &str,
        _origin: &str,
        validity: Validity,
    ) -> BlobResult<SignedRequest> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(validity)?)
            .await
            .map_err(classify)?;
        Ok(signed(request, validity))
    }
}
