//! Bodies in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, …) through `object_store`: for
//! installations whose mail outgrows what the database should hold. A `PUT` answered 200 is durable.

use crate::{BodyKey, MessageStore, Result};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Deserialize;

/// `[spool.s3]`
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// `endpoint = "https://s3.eu-west-1.amazonaws.com"`, or a MinIO/Ceph address (`http://` is accepted for
    /// a store on the same host or network).
    pub endpoint: String,
    pub bucket: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// `prefix = "moat/"`: where in the bucket Moat's objects go.
    #[serde(default)]
    pub prefix: String,
    /// Credentials: here, or from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

fn default_region() -> String {
    "us-east-1".into()
}

#[derive(Debug)]
pub struct S3 {
    client: AmazonS3,
    prefix: String,
}

impl S3 {
    pub fn open(settings: &S3Settings) -> Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_endpoint(&settings.endpoint)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_allow_http(settings.endpoint.starts_with("http://"))
            // Path-style URLs work with every S3-compatible server; virtual hosts need DNS per bucket.
            .with_virtual_hosted_style_request(false);
        if let Some(id) = &settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let prefix = settings.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { "bodies".to_owned() } else { format!("{prefix}/bodies") };
        Ok(Self { client: builder.build()?, prefix })
    }

    fn path(&self, key: &BodyKey) -> Path {
        Path::from(format!("{}/{}/{}", self.prefix, &key.as_str()[..2], key.as_str()))
    }
}

#[async_trait::async_trait]
impl MessageStore for S3 {
    async fn write(&self, key: &BodyKey, parts: &[&[u8]]) -> Result<()> {
        let payload: PutPayload = parts.iter().map(|p| bytes::Bytes::copy_from_slice(p)).collect();
        self.client.put(&self.path(key), payload).await?;
        Ok(())
    }

    async fn get(&self, key: &BodyKey) -> Result<Option<Vec<u8>>> {
        match self.client.get(&self.path(key)).await {
            Ok(found) => Ok(Some(found.bytes().await?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete(&self, key: &BodyKey) -> Result<()> {
        match self.client.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn stored_before(&self, cutoff: i64) -> Result<Vec<BodyKey>> {
        let prefix = Path::from(self.prefix.as_str());
        let objects: Vec<_> = self.client.list(Some(&prefix)).try_collect().await?;
        Ok(objects
            .into_iter()
            .filter(|o| o.last_modified.timestamp() < cutoff)
            .filter_map(|o| o.location.filename().and_then(BodyKey::parse))
            .collect())
    }

    fn kind(&self) -> &'static str {
        "s3"
    }
}
