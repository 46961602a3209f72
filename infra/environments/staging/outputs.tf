output "url" {
  description = "Public URL of the deployment."
  value       = module.autonoma.url
}

output "cloudfront_distribution_id" {
  description = "Distribution id (cache invalidations)."
  value       = module.autonoma.cloudfront_distribution_id
}

output "site_bucket" {
  description = "Upload site/pkg to s3://<site_bucket>/pkg/."
  value       = module.autonoma.site_bucket
}

output "documents_bucket" {
  description = "Bucket of uploaded documents."
  value       = module.autonoma.documents_bucket
}

output "log_bucket" {
  description = "Bucket of access logs."
  value       = module.autonoma.log_bucket
}

output "runs_queue_url" {
  description = "URL of the runs queue."
  value       = module.autonoma.runs_queue_url
}

output "gpu_queue_url" {
  description = "URL of the gpu queue."
  value       = module.autonoma.gpu_queue_url
}

output "dead_letter_queue_urls" {
  description = "URLs of the dead-letter queues."
  value       = module.autonoma.dead_letter_queue_urls
}

output "api_function_name" {
  description = "Name of the api function."
  value       = module.autonoma.api_function_name
}

output "run_executor_function_name" {
  description = "Name of the run-executor function."
  value       = module.autonoma.run_executor_function_name
}

output "migrate_function_name" {
  description = "Invoke this function to run `autonoma migrate`."
  value       = module.autonoma.migrate_function_name
}

output "database_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.autonoma.database_endpoint
}

output "database_master_secret_arn" {
  description = "Secret with the master credentials."
  value       = module.autonoma.database_master_secret_arn
}

output "app_secret_arn" {
  description = "Application secret."
  value       = module.autonoma.app_secret_arn
}

output "gpu_autoscaling_group" {
  description = "Auto Scaling group of the GPU workers."
  value       = module.autonoma.gpu_autoscaling_group
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.autonoma.alarm_topic_arn
}

output "kms_key_arn" {
  description = "KMS key of the environment."
  value       = module.autonoma.kms_key_arn
}

output "nat_public_ips" {
  description = "Egress IP addresses."
  value       = module.autonoma.nat_public_ips
}
