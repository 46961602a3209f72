//! Shared AWS connection settings and the SDK configuration built from them.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// A fixed access key (tests, local emulators). Production leaves
/// [`AwsConfig::credentials`] empty and uses the default provider chain.
#[derive(Clone)]
pub struct StaticCredentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where and as whom to reach AWS.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// Region, e.g. `us-east-1`. `None`: the default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Endpoint override for every service, e.g. `http://127.0.0.1:5000` for moto.
    /// `None`: the real AWS endpoints.
    pub endpoint_url: Option<String>,
    /// Static credentials. `None`: the default chain (environment, profile, web identity,
    /// ECS/EC2 instance roles).
    pub credentials: Option<StaticCredentials>,
}

impl AwsConfig {
    /// Settings for a local emulator at `endpoint_url` (region `us-east-1`, static test
    /// credentials `test`/`test`).
    pub fn local(endpoint_url: impl Into<String>) -> AwsConfig {
        AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint_url.into()),
            credentials: Some(StaticCredentials {
                access_key_id: "test".into(),
                secret_access_key: "test".into(),
            }),
        }
    }

    /// Builds the SDK configuration: the settings above over the SDK's defaults, with an
    /// HTTPS client on rustls + ring. Resolving the region and credentials may read the
    /// environment, profile files or the instance metadata service; it does not fail, a
    /// missing region or credentials surfaces on the first request instead.
    pub async fn load(&self) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(c) = &self.credentials {
            loader = loader.credentials_provider(Credentials::new(
                c.access_key_id.clone(),
                c.secret_access_key.clone(),
                None,
                None,
                "autonoma-static",
            ));
        }
        loader.load().await
    }
}
