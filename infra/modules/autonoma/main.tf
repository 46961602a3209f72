data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "autonoma-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  bucket_suffix    = "${local.account_id}-${local.region}"
  site_bucket_name = "${local.name}-site-${local.bucket_suffix}"
  public_url       = var.domain_name == null ? null : "https://${var.domain_name}"
  db_secret_mode   = var.database_auth == "secret"
}

# Auto Scaling attaches the GPU workers' encrypted volumes with this role; a dedicated
# (suffixed) service-linked role lets the KMS key policy name it before any ASG exists.
resource "aws_iam_service_linked_role" "autoscaling" {
  aws_service_name = "autoscaling.amazonaws.com"
  custom_suffix    = local.name
  description      = "Auto Scaling role of ${local.name} (GPU fleet)"
}

module "kms" {
  source = "../kms"

  name        = local.name
  description = "Autonoma ${var.environment}: queues, buckets, secrets, database, logs, volumes"
  log_group_name_prefixes = [
    "/aws/lambda/${local.name}-",
    "/aws/rds/cluster/${local.name}/",
    "/autonoma/${local.name}",
  ]
  allow_cloudwatch_alarms = true
  allow_cloudfront        = true
  ebs_service_role_arns   = [aws_iam_service_linked_role.autoscaling.arn]
}

module "network" {
  source = "../network"

  name                = local.name
  cidr_block          = var.vpc_cidr
  az_count            = var.az_count
  availability_zones  = var.availability_zones
  nat_gateway_mode    = var.nat_gateway_mode
  interface_endpoints = var.interface_endpoints
  kms_key_arn         = module.kms.key_arn
  log_retention_days  = var.log_retention_days
}

# --- Buckets -------------------------------------------------------------------------
module "log_bucket" {
  source = "../log-bucket"

  name                  = "${local.name}-logs-${local.bucket_suffix}"
  expiration_days       = var.log_retention_days
  allow_cloudfront_logs = true
}

# Uploaded documents and other blobs (keys start with the organization id).
module "documents_bucket" {
  source = "../s3-bucket"

  name                               = "${local.name}-documents-${local.bucket_suffix}"
  kms_key_arn                        = module.kms.key_arn
  access_log_bucket                  = module.log_bucket.id
  noncurrent_version_expiration_days = 30
}

# Hashed static assets (site/pkg), read only by CloudFront.
module "site_bucket" {
  source = "../s3-bucket"

  name                               = local.site_bucket_name
  kms_key_arn                        = module.kms.key_arn
  access_log_bucket                  = module.log_bucket.id
  noncurrent_version_expiration_days = 30
  policy_documents                   = [data.aws_iam_policy_document.site_cloudfront.json]
}

data "aws_iam_policy_document" "site_cloudfront" {
  statement {
    sid       = "CloudFrontReadsAssets"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::${local.site_bucket_name}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [module.edge.distribution_arn]
    }
  }
}

# --- Queues --------------------------------------------------------------------------
module "runs_queue" {
  source = "../queue"

  name                       = "${local.name}-runs"
  kms_key_arn                = module.kms.key_arn
  visibility_timeout_seconds = 6 * var.executor_timeout_seconds
  max_receive_count          = var.runs_max_receive_count
}

module "gpu_queue" {
  source = "../queue"

  name                       = "${local.name}-gpu"
  kms_key_arn                = module.kms.key_arn
  visibility_timeout_seconds = var.gpu_job_lease_seconds
  max_receive_count          = var.gpu_max_receive_count
}

# --- Secrets and database ------------------------------------------------------------------
module "secrets" {
  source = "../secrets"

  name        = local.name
  kms_key_arn = module.kms.key_arn
}

module "database" {
  source = "../database"

  name           = local.name
  vpc_id         = module.network.vpc_id
  subnet_ids     = module.network.private_subnet_ids
  kms_key_arn    = module.kms.key_arn
  engine_version = var.aurora_engine_version
  client_security_group_ids = {
    api            = module.api.security_group_id
    "run-executor" = module.run_executor.security_group_id
    migrate        = module.migrate.security_group_id
    gpu            = module.gpu_fleet.security_group_id
  }
  min_capacity             = var.aurora_min_acu
  max_capacity             = var.aurora_max_acu
  seconds_until_auto_pause = var.aurora_seconds_until_auto_pause
  instance_count           = var.aurora_instance_count
  backup_retention_days    = var.aurora_backup_retention_days
  deletion_protection      = var.aurora_deletion_protection
  log_retention_days       = var.log_retention_days
}
