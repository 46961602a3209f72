module "autonoma" {
  source = "../../modules/autonoma"

  environment     = "staging"
  domain_name     = var.domain_name
  route53_zone_id = var.route53_zone_id
  alarm_email     = var.alarm_email

  artifacts_bucket           = var.artifacts_bucket
  artifacts_kms_key_arn      = var.artifacts_kms_key_arn
  lambda_package_key         = var.lambda_package_key
  lambda_package_version     = var.lambda_package_version
  migrate_package_version    = var.migrate_package_version
  gpu_worker_package_key     = var.gpu_worker_package_key
  gpu_worker_package_version = var.gpu_worker_package_version

  vpc_cidr            = var.vpc_cidr
  availability_zones  = var.availability_zones
  nat_gateway_mode    = var.nat_gateway_mode
  interface_endpoints = var.interface_endpoints

  aurora_min_acu               = var.aurora_min_acu
  aurora_max_acu               = var.aurora_max_acu
  aurora_instance_count        = var.aurora_instance_count
  aurora_backup_retention_days = var.aurora_backup_retention_days
  database_auth                = var.database_auth
  aurora_deletion_protection   = true

  api_memory_mb            = var.api_memory_mb
  api_timeout_seconds      = var.api_timeout_seconds
  api_reserved_concurrency = var.api_reserved_concurrency
  executor_memory_mb       = var.executor_memory_mb
  executor_timeout_seconds = var.executor_timeout_seconds
  executor_max_concurrency = var.executor_max_concurrency

  gpu_instance_types        = var.gpu_instance_types
  gpu_min_instances         = var.gpu_min_instances
  gpu_max_instances         = var.gpu_max_instances
  gpu_on_demand_percentage  = var.gpu_on_demand_percentage
  gpu_ami_id                = var.gpu_ami_id
  gpu_scale_in_idle_minutes = var.gpu_scale_in_idle_minutes
  gpu_drain_timeout_seconds = var.gpu_drain_timeout_seconds

  waf_rate_limit         = var.waf_rate_limit
  cloudfront_price_class = var.cloudfront_price_class
  log_level              = var.log_level
  log_retention_days     = var.log_retention_days
}
