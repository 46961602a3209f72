# AUTONOMA_SECRET_KEY seals provider API keys at rest (XChaCha20-Poly1305): 32 random
# bytes as 64 hex characters. Rotating it would make sealed keys unreadable, so it is
# generated once and kept (the value also lives in the encrypted Terraform state).
resource "random_id" "secret_key" {
  byte_length = 32
}

# Shared secret CloudFront sends to the API origin (X-Origin-Verify) so the function URL
# only serves requests that came through the distribution and its WAF.
resource "random_password" "origin_verify" {
  length  = 48
  special = false
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:AUTONOMA_SECRET_KEY encrypts stored provider keys; automatic rotation would make them undecryptable. Rotate by re-sealing (see docs/DEPLOY.md). The database password is rotated by RDS itself.
  name                    = "${var.name}/app"
  description             = "Autonoma application secrets: each key is an AUTONOMA_* setting"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "app" {
  secret_id = aws_secretsmanager_secret.app.id
  secret_string = jsonencode({
    AUTONOMA_SECRET_KEY    = random_id.secret_key.hex
    AUTONOMA_ORIGIN_VERIFY = random_password.origin_verify.result
  })
}
