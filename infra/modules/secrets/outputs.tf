output "app_secret_arn" {
  description = "ARN of the application secret (JSON: AUTONOMA_SECRET_KEY, AUTONOMA_ORIGIN_VERIFY)."
  value       = aws_secretsmanager_secret.app.arn
}

output "origin_verify" {
  description = "Value CloudFront puts in the X-Origin-Verify header towards the API origin."
  value       = random_password.origin_verify.result
  sensitive   = true
}
