variable "aws_region" {
  description = "Region of the deployment (CloudFront certificate and WAF always live in us-east-1)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as us-east-1."
  }
}

variable "allowed_account_ids" {
  description = "Accounts Terraform may touch (guards against applying with the wrong credentials); null allows any."
  type        = list(string)
  default     = null

  validation {
    condition     = var.allowed_account_ids == null || alltrue([for id in coalesce(var.allowed_account_ids, []) : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must be null or a list of 12-digit account ids."
  }
}

variable "tags" {
  description = "Extra tags on every resource (e.g. Owner, CostCenter), added to Project/Environment/ManagedBy."
  type        = map(string)
  default     = {}
}

variable "domain_name" {
  description = "Public host name; null serves on the *.cloudfront.net name."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Hosted zone of domain_name (required with it)."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "E-mail subscribed to alarms; null for none."
  type        = string
  default     = null
}

variable "artifacts_bucket" {
  description = "Artifacts bucket from infra/bootstrap (output artifacts_bucket)."
  type        = string
}

variable "artifacts_kms_key_arn" {
  description = "KMS key of the artifacts bucket (bootstrap output artifacts_kms_key_arn)."
  type        = string
}

variable "lambda_package_key" {
  description = "S3 key of the Lambda zip."
  type        = string
  default     = "autonoma/lambda/autonoma-lambda.zip"
}

variable "lambda_package_version" {
  description = "S3 version id of the Lambda zip to run (deploy/rollback); null for the latest at creation."
  type        = string
  default     = null
}

variable "migrate_package_version" {
  description = "S3 version id of the Lambda zip for the migrate function only (deploy it first, invoke, then move lambda_package_version); null follows lambda_package_version."
  type        = string
  default     = null
}

variable "gpu_worker_package_version" {
  description = "S3 version id of the GPU worker tarball; changing it rolls the fleet. null takes the latest object at each boot."
  type        = string
  default     = null
}

variable "gpu_worker_package_key" {
  description = "S3 key of the GPU worker tarball."
  type        = string
  default     = "autonoma/gpu-worker/autonoma-gpu-worker-x86_64.tar.gz"
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.50.0.0/16"
}

variable "availability_zones" {
  description = "Zone names to pin (2 or 3); null takes the first two available zones."
  type        = list(string)
  default     = null
}

variable "nat_gateway_mode" {
  description = "Internet egress for LLM providers and http_fetch: none, single or per_az."
  type        = string
  default     = "per_az"
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints (about 14.60 USD/month each over two zones)."
  type        = set(string)
  default     = ["sqs", "secretsmanager", "logs"]
}

variable "aurora_min_acu" {
  description = "Minimum Aurora ACUs per instance (0 pauses when idle)."
  type        = number
  default     = 0.5
}

variable "aurora_max_acu" {
  description = "Maximum Aurora ACUs per instance."
  type        = number
  default     = 8
}

variable "aurora_instance_count" {
  description = "Aurora instances (writer + failover readers)."
  type        = number
  default     = 2
}

variable "aurora_backup_retention_days" {
  description = "Days of point-in-time recovery."
  type        = number
  default     = 14
}

variable "database_auth" {
  description = "How the app logs in to Aurora: iam (IAM auth tokens for a non-owner login role, so row-level security binds it) or secret (the RDS-managed master secret: the schema owner)."
  type        = string
  default     = "iam"
}

variable "api_memory_mb" {
  description = "Memory of the api function (MB)."
  type        = number
  default     = 1769
}

variable "api_timeout_seconds" {
  description = "Timeout of the api function (longest SSE stream)."
  type        = number
  default     = 300
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the api function."
  type        = number
  default     = 100
}

variable "executor_memory_mb" {
  description = "Memory of the run-executor function (MB)."
  type        = number
  default     = 1769
}

variable "executor_timeout_seconds" {
  description = "Timeout of one run-executor invocation."
  type        = number
  default     = 900
}

variable "executor_max_concurrency" {
  description = "Runs executed at once."
  type        = number
  default     = 50
}

variable "gpu_instance_types" {
  description = "GPU instance types in order of preference."
  type        = list(string)
  default     = ["g6.xlarge", "g5.xlarge"]
}

variable "gpu_min_instances" {
  description = "Fewest GPU workers (0: scale to zero)."
  type        = number
  default     = 0
}

variable "gpu_max_instances" {
  description = "Most GPU workers."
  type        = number
  default     = 4
}

variable "gpu_on_demand_percentage" {
  description = "Share of on-demand GPU capacity (the rest is Spot)."
  type        = number
  default     = 100
}

variable "gpu_ami_id" {
  description = "GPU worker AMI; null uses the latest AWS Deep Learning Base AMI (AL2023)."
  type        = string
  default     = null
}

variable "gpu_scale_in_idle_minutes" {
  description = "Idle minutes before the GPU fleet scales in to its minimum."
  type        = number
  default     = 15
}

variable "gpu_drain_timeout_seconds" {
  description = "Time a scaled-in GPU worker gets to finish its job."
  type        = number
  default     = 900
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per client IP before WAF blocks it."
  type        = number
  default     = 2000
}

variable "cloudfront_price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
}

variable "log_level" {
  description = "AUTONOMA_LOG tracing filter."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of log groups and access logs (days)."
  type        = number
  default     = 365
}
