output "state_bucket" {
  description = "Remote state bucket."
  value       = module.state_bucket.id
}

output "lock_table" {
  description = "DynamoDB lock table."
  value       = aws_dynamodb_table.lock.name
}

output "state_kms_key_arn" {
  description = "KMS key of the state bucket and lock table."
  value       = module.state_key.key_arn
}

output "artifacts_bucket" {
  description = "Bucket for the Lambda zip and GPU worker package (environment variable artifacts_bucket)."
  value       = module.artifacts_bucket.id
}

output "artifacts_kms_key_arn" {
  description = "KMS key of the artifacts bucket (environment variable artifacts_kms_key_arn)."
  value       = module.artifacts_key.key_arn
}

output "backend_config" {
  description = "backend.hcl contents for each environment."
  value = {
    for env in ["staging", "production"] : env => join("\n", [
      "bucket         = \"${module.state_bucket.id}\"",
      "key            = \"autonoma/${env}/terraform.tfstate\"",
      "region         = \"${data.aws_region.current.region}\"",
      "dynamodb_table = \"${aws_dynamodb_table.lock.name}\"",
      "encrypt        = true",
      "kms_key_id     = \"${module.state_key.key_arn}\"",
    ])
  }
}
