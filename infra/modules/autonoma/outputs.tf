output "url" {
  description = "Public URL of the deployment."
  value       = module.edge.url
}

output "cloudfront_distribution_id" {
  description = "Distribution id (aws cloudfront create-invalidation)."
  value       = module.edge.distribution_id
}

output "site_bucket" {
  description = "Bucket for the static assets: upload site/pkg to s3://<this>/pkg/."
  value       = module.site_bucket.id
}

output "documents_bucket" {
  description = "Bucket of uploaded documents and blobs."
  value       = module.documents_bucket.id
}

output "log_bucket" {
  description = "Bucket of S3 and CloudFront access logs."
  value       = module.log_bucket.id
}

output "runs_queue_url" {
  description = "URL of the runs queue."
  value       = module.runs_queue.url
}

output "gpu_queue_url" {
  description = "URL of the gpu queue."
  value       = module.gpu_queue.url
}

output "dead_letter_queue_urls" {
  description = "URLs of the dead-letter queues."
  value = {
    runs = module.runs_queue.dlq_url
    gpu  = module.gpu_queue.dlq_url
  }
}

output "api_function_name" {
  description = "Name of the api function."
  value       = module.api.name
}

output "run_executor_function_name" {
  description = "Name of the run-executor function."
  value       = module.run_executor.name
}

output "migrate_function_name" {
  description = "Function to invoke for `autonoma migrate`."
  value       = module.migrate.name
}

output "database_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.database.endpoint
}

output "database_master_secret_arn" {
  description = "Secret with the master credentials (rotated by RDS)."
  value       = module.database.master_user_secret_arn
}

output "app_secret_arn" {
  description = "Application secret (AUTONOMA_SECRET_KEY, AUTONOMA_ORIGIN_VERIFY)."
  value       = module.secrets.app_secret_arn
}

output "gpu_autoscaling_group" {
  description = "Auto Scaling group of the GPU workers."
  value       = module.gpu_fleet.autoscaling_group_name
}

output "alarm_topic_arn" {
  description = "SNS topic receiving every alarm."
  value       = module.monitoring.topic_arn
}

output "kms_key_arn" {
  description = "KMS key of the environment."
  value       = module.kms.key_arn
}

output "nat_public_ips" {
  description = "Egress IP addresses (for provider allowlists)."
  value       = module.network.nat_public_ips
}
