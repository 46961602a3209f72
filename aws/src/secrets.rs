//! Secrets Manager: the deployment's secrets are read at start by ARN (no secret value is
//! ever in an environment variable of a Lambda function or instance).

use autonoma_core::{Error, Result};
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;

use crate::AwsConfig;

/// Reads secret `arn` (its current version) and parses its `SecretString` as a JSON object.
/// Errors: [`Error::Internal`] when the secret cannot be read, has no string value, or is
/// not a JSON object.
pub async fn secret_json(
    aws: &AwsConfig,
    arn: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let client = Client::new(&aws.load().await);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            Error::internal(format!(
                "secretsmanager GetSecretValue {arn}: {}",
                DisplayErrorContext(e)
            ))
        })?;
    let text = out
        .secret_string()
        .ok_or_else(|| Error::internal(format!("secret {arn} has no SecretString")))?;
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(Error::internal(format!(
            "secret {arn} is not a JSON object"
        ))),
    }
}
