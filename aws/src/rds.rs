//! IAM database authentication for Amazon RDS / Aurora PostgreSQL: short-lived auth tokens
//! used as the database password, so no database password exists anywhere.
//!
//! A token is a SigV4 presigned `GET https://<host>:<port>/?Action=connect&DBUser=<user>`
//! for the service `rds-db`, without the `https://` prefix, valid for 15 minutes (the
//! maximum RDS accepts). Only opening a connection needs a valid token; an open connection
//! stays usable after the token expires. Signing is done by the `aws-sigv4` crate, exactly
//! as `aws_sdk_rds::auth_token::AuthTokenGenerator` does it (that SDK crate is not a
//! dependency: it would compile the whole RDS API for one function); the known-answer test
//! below is that generator's own test vector. Reference:
//! <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html>.
//!
//! The role logging in must be granted `rds_iam` in the database, and the caller's IAM
//! policy must allow `rds-db:connect` on `arn:aws:rds-db:<region>:<account>:dbuser:<resource id>/<user>`.

use std::time::{Duration, SystemTime};

use autonoma_core::{Error, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    self, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::AwsConfig;

/// Lifetime of a token: 900 s, the most RDS accepts.
pub const AUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Where and as whom to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLogin {
    /// The database endpoint's host name, e.g. `db.cluster-abc.eu-west-1.rds.amazonaws.com`.
    pub host: String,
    /// Its port, e.g. 5432.
    pub port: u16,
    /// The database role to log in as (granted `rds_iam`).
    pub user: String,
}

/// Signs an auth token for `login` with `credentials` in `region` at `time` (pure; no I/O).
/// Errors: [`Error::Validation`] (field `user`) for a user outside `[A-Za-z0-9_.-]` (the
/// token carries it unescaped, as AWS's SDKs do); [`Error::Internal`] when signing fails
/// (e.g. a host that makes no URL).
pub fn sign_auth_token(
    credentials: &Credentials,
    region: &str,
    login: &DbLogin,
    time: SystemTime,
) -> Result<String> {
    if login.user.is_empty()
        || !login
            .user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(Error::validation("user", format!("database user {:?}: only letters, digits, '_', '.' and '-' are supported with IAM authentication", login.user)));
    }
    let identity: Identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(AUTH_TOKEN_LIFETIME);
    settings.signature_location = SignatureLocation::QueryParams;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| Error::internal(format!("RDS auth token: {e}")))?;
    let mut url = url::Url::parse(&format!(
        "https://{}:{}/?Action=connect&DBUser={}",
        login.host, login.port, login.user
    ))
    .map_err(|e| Error::internal(format!("RDS auth token: host {:?}: {e}", login.host)))?;
    let signable = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::empty(),
        SignableBody::empty(),
    )
    .map_err(|e| Error::internal(format!("RDS auth token: {e}")))?;
    let (instructions, _signature) = http_request::sign(signable, &params.into())
        .map_err(|e| Error::internal(format!("RDS auth token: {e}")))?
        .into_parts();
    for (name, value) in instructions.params() {
        url.query_pairs_mut().append_pair(name, value);
    }
    Ok(url.as_str()["https://".len()..].to_string())
}

/// Makes auth tokens with the credentials and region of an [`AwsConfig`] (in Lambda: the
/// function role's, from the environment; on EC2: the instance profile's).
#[derive(Debug, Clone)]
pub struct AuthTokenGenerator {
    sdk: aws_config::SdkConfig,
    login: DbLogin,
}

impl AuthTokenGenerator {
    /// Resolves the SDK configuration (no request is made).
    pub async fn new(aws: &AwsConfig, login: DbLogin) -> Self {
        AuthTokenGenerator {
            sdk: aws.load().await,
            login,
        }
    }

    /// The login tokens are made for.
    pub fn login(&self) -> &DbLogin {
        &self.login
    }

    /// A fresh token, valid for [`AUTH_TOKEN_LIFETIME`] from now.
    /// Errors: [`Error::Internal`] when no region or credentials can be resolved.
    pub async fn token(&self) -> Result<String> {
        let region = self.sdk.region().ok_or_else(|| {
            Error::internal("RDS auth token: no AWS region configured (AWS_REGION)")
        })?;
        let provider = self
            .sdk
            .credentials_provider()
            .ok_or_else(|| Error::internal("RDS auth token: no AWS credentials provider"))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| Error::internal(format!("RDS auth token: credentials: {e}")))?;
        sign_auth_token(
            &credentials,
            region.as_ref(),
            &self.login,
            SystemTime::now(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// The test vector of `aws_sdk_rds::auth_token` (aws-sdk-rust, `signing_works`).
    #[test]
    fn matches_the_aws_sdk_test_vector() {
        let credentials = Credentials::new("akid", "secret", None, None, "test");
        let login = DbLogin {
            host: "prod-instance.us-east-1.rds.amazonaws.com".into(),
            port: 3306,
            user: "peccy".into(),
        };
        let token = sign_auth_token(
            &credentials,
            "us-east-1",
            &login,
            UNIX_EPOCH + Duration::from_secs(1724709600),
        )
        .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20240826T220000Z&X-Amz-Expires=900\
             &X-Amz-SignedHeaders=host&X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    #[test]
    fn session_credentials_sign_the_security_token_and_odd_users_are_refused() {
        let credentials = Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("session/token+=".into()),
            None,
            "test",
        );
        let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut login = DbLogin {
            host: "db.example.com".into(),
            port: 5432,
            user: "app user@x".into(),
        };
        assert!(matches!(
            sign_auth_token(&credentials, "eu-west-1", &login, time),
            Err(Error::Validation { .. })
        ));
        login.user = "autonoma_app.login-1".into();
        let token = sign_auth_token(&credentials, "eu-west-1", &login, time).unwrap();
        assert!(
            token.starts_with("db.example.com:5432/?Action=connect&DBUser=autonoma_app.login-1&"),
            "{token}"
        );
        assert!(
            token.contains("X-Amz-Security-Token=session%2Ftoken%2B%3D"),
            "{token}"
        );
        assert!(
            token.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
            "{token}"
        );
    }

    #[tokio::test]
    async fn a_generator_uses_the_configured_region_and_credentials() {
        let aws = AwsConfig {
            region: Some("eu-central-1".into()),
            endpoint_url: None,
            credentials: Some(crate::StaticCredentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "s".into(),
            }),
        };
        let generator = AuthTokenGenerator::new(
            &aws,
            DbLogin {
                host: "h.example".into(),
                port: 5432,
                user: "autonoma_app_login".into(),
            },
        )
        .await;
        let token = generator.token().await.unwrap();
        assert!(token.starts_with("h.example:5432/?Action=connect&DBUser=autonoma_app_login&X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{token}");
        assert!(
            token.contains("X-Amz-Credential=AKIDEXAMPLE%2F")
                && token.contains("%2Feu-central-1%2Frds-db%2F"),
            "{token}"
        );
        assert!(token.contains("X-Amz-Expires=900"), "{token}");
    }
}
