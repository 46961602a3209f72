# --- Identity ------------------------------------------------------------------------
variable "environment" {
  description = "Environment name; resources are named autonoma-<environment>."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "domain_name" {
  description = "Public host name (e.g. app.example.com); null serves on the CloudFront *.cloudfront.net name."
  type        = string
  default     = null

  validation {
    condition     = var.domain_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be null or a lowercase DNS name such as app.example.com."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name (certificate validation and alias records); required with domain_name."
  type        = string
  default     = null

  validation {
    condition     = var.route53_zone_id == null || can(regex("^Z[A-Z0-9]{4,31}$", var.route53_zone_id))
    error_message = "route53_zone_id must be null or a hosted zone id (Z...)."
  }
}

# --- Artifacts (built and uploaded before apply, see docs/DEPLOY.md) ---------------------
variable "artifacts_bucket" {
  description = "Bucket holding the Lambda package and GPU worker package (created by infra/bootstrap)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifacts_bucket))
    error_message = "artifacts_bucket must be an S3 bucket name."
  }
}

variable "artifacts_kms_key_arn" {
  description = "KMS key encrypting the artifacts bucket (bootstrap output)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.artifacts_kms_key_arn))
    error_message = "artifacts_kms_key_arn must be a KMS key ARN."
  }
}

variable "lambda_package_key" {
  description = "S3 key of the Lambda zip: `bootstrap` (aarch64 autonoma Lambda binary) + site/pkg/manifest.json."
  type        = string
  default     = "autonoma/lambda/autonoma-lambda.zip"
}

variable "lambda_package_version" {
  description = "S3 version id of the Lambda zip to deploy; change it to deploy, set an older one to roll back. null takes the object's latest version when a function is created."
  type        = string
  default     = null
}

variable "migrate_package_version" {
  description = "S3 version id of the Lambda zip for the migrate function only; set it to the new version first, invoke migrate, then move lambda_package_version. null follows lambda_package_version."
  type        = string
  default     = null
}

variable "gpu_worker_package_version" {
  description = "S3 version id of the GPU worker tarball; changing it rolls the fleet (instance refresh). null takes the latest object at each boot."
  type        = string
  default     = null
}

variable "gpu_worker_package_key" {
  description = "S3 key of the GPU worker tarball: x86_64 `autonoma` binary + models/."
  type        = string
  default     = "autonoma/gpu-worker/autonoma-gpu-worker-x86_64.tar.gz"
}

# --- Network -----------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block."
  }
}

variable "az_count" {
  description = "Availability zones used (2 or 3)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names to pin (2 or 3); null takes the first az_count available zones by name."
  type        = list(string)
  default     = null
}

variable "nat_gateway_mode" {
  description = "Internet egress for LLM providers and http_fetch: none, single or per_az."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["none", "single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be none, single or per_az."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface endpoints (each costs about 7.30 USD per zone per month)."
  type        = set(string)
  default     = ["sqs", "secretsmanager", "logs"]
}

# --- Database ---------------------------------------------------------------------------
variable "aurora_engine_version" {
  description = "Aurora PostgreSQL 15 version (15.7+ supports a 0 ACU minimum)."
  type        = string
  default     = "15.12"
}

variable "aurora_min_acu" {
  description = "Minimum Aurora capacity units per instance; 0 pauses an idle database."
  type        = number
  default     = 0

  validation {
    condition     = var.aurora_min_acu >= 0 && var.aurora_min_acu <= 256
    error_message = "aurora_min_acu must be between 0 and 256."
  }
}

variable "aurora_max_acu" {
  description = "Maximum Aurora capacity units per instance."
  type        = number
  default     = 4

  validation {
    condition     = var.aurora_max_acu >= 1 && var.aurora_max_acu <= 256
    error_message = "aurora_max_acu must be between 1 and 256."
  }
}

variable "aurora_seconds_until_auto_pause" {
  description = "Idle seconds before the database pauses (with aurora_min_acu = 0)."
  type        = number
  default     = 900
}

variable "aurora_instance_count" {
  description = "Aurora instances (1 writer + readers as failover targets)."
  type        = number
  default     = 1
}

variable "aurora_backup_retention_days" {
  description = "Days of automated backups / point-in-time recovery."
  type        = number
  default     = 7
}

variable "aurora_deletion_protection" {
  description = "Protect the cluster from deletion."
  type        = bool
  default     = true
}

variable "database_auth" {
  description = "How the API, executor and GPU workers log in: iam (IAM auth tokens for database_app_user, a non-owner role the migrate function creates, so row-level security binds it) or secret (the RDS-managed master secret, i.e. the schema owner)."
  type        = string
  default     = "iam"

  validation {
    condition     = contains(["secret", "iam"], var.database_auth)
    error_message = "database_auth must be secret or iam."
  }
}

variable "database_app_user" {
  description = "Login role the application uses with database_auth = iam (created by the migrate function as a member of the autonoma_app group role)."
  type        = string
  default     = "autonoma_app_login"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.database_app_user)) && var.database_app_user != "autonoma_app"
    error_message = "database_app_user must be a lowercase PostgreSQL identifier other than autonoma_app (the group role it joins)."
  }
}

# --- Lambda -----------------------------------------------------------------------------
variable "api_memory_mb" {
  description = "Memory of the api function (MB); CPU scales with it."
  type        = number
  default     = 1024

  validation {
    condition     = var.api_memory_mb >= 128 && var.api_memory_mb <= 10240
    error_message = "api_memory_mb must be between 128 and 10240."
  }
}

variable "api_timeout_seconds" {
  description = "Timeout of the api function; also the longest an SSE stream stays open before the client reconnects with Last-Event-ID."
  type        = number
  default     = 300

  validation {
    condition     = var.api_timeout_seconds >= 10 && var.api_timeout_seconds <= 900
    error_message = "api_timeout_seconds must be between 10 and 900."
  }
}

variable "api_reserved_concurrency" {
  description = "Reserved concurrency of the api function (its maximum parallel requests, SSE streams included)."
  type        = number
  default     = 50

  validation {
    condition     = var.api_reserved_concurrency >= 1
    error_message = "api_reserved_concurrency must be at least 1."
  }
}

variable "executor_memory_mb" {
  description = "Memory of the run-executor function (MB)."
  type        = number
  default     = 1024

  validation {
    condition     = var.executor_memory_mb >= 128 && var.executor_memory_mb <= 10240
    error_message = "executor_memory_mb must be between 128 and 10240."
  }
}

variable "executor_timeout_seconds" {
  description = "Timeout of one run-executor invocation; the runs queue hides a message for 6x this."
  type        = number
  default     = 900

  validation {
    condition     = var.executor_timeout_seconds >= 30 && var.executor_timeout_seconds <= 900
    error_message = "executor_timeout_seconds must be between 30 and 900."
  }
}

variable "executor_max_concurrency" {
  description = "Runs executed at once (SQS event source maximum concurrency, also the function's reserved concurrency)."
  type        = number
  default     = 10

  validation {
    condition     = var.executor_max_concurrency >= 2 && var.executor_max_concurrency <= 1000
    error_message = "executor_max_concurrency must be between 2 and 1000."
  }
}

variable "executor_batch_size" {
  description = "Run jobs per invocation (failed ones are reported individually)."
  type        = number
  default     = 1

  validation {
    condition     = var.executor_batch_size >= 1 && var.executor_batch_size <= 10
    error_message = "executor_batch_size must be between 1 and 10."
  }
}

variable "runs_max_receive_count" {
  description = "Deliveries of a run job before it is dead-lettered."
  type        = number
  default     = 5

  validation {
    condition     = var.runs_max_receive_count >= 1 && var.runs_max_receive_count <= 100
    error_message = "runs_max_receive_count must be between 1 and 100."
  }
}

# --- GPU fleet ----------------------------------------------------------------------------
variable "gpu_instance_types" {
  description = "GPU instance types in order of preference."
  type        = list(string)
  default     = ["g6.xlarge", "g5.xlarge"]
}

variable "gpu_min_instances" {
  description = "Fewest GPU workers; 0 scales the fleet to zero when the gpu queue is idle."
  type        = number
  default     = 0

  validation {
    condition     = var.gpu_min_instances >= 0 && var.gpu_min_instances <= 100
    error_message = "gpu_min_instances must be between 0 and 100."
  }
}

variable "gpu_max_instances" {
  description = "Most GPU workers."
  type        = number
  default     = 2

  validation {
    condition     = var.gpu_max_instances >= 1 && var.gpu_max_instances <= 100
    error_message = "gpu_max_instances must be between 1 and 100."
  }
}

variable "gpu_on_demand_percentage" {
  description = "Share of on-demand GPU capacity (the rest is Spot)."
  type        = number
  default     = 100

  validation {
    condition     = var.gpu_on_demand_percentage >= 0 && var.gpu_on_demand_percentage <= 100
    error_message = "gpu_on_demand_percentage must be between 0 and 100."
  }
}

variable "gpu_ami_id" {
  description = "GPU worker AMI; null uses the latest AWS Deep Learning Base AMI (AL2023, NVIDIA driver)."
  type        = string
  default     = null
}

variable "gpu_root_volume_gb" {
  description = "Root volume of a GPU worker (GB)."
  type        = number
  default     = 100
}

variable "gpu_max_receive_count" {
  description = "Deliveries of a GPU job before it is dead-lettered."
  type        = number
  default     = 5

  validation {
    condition     = var.gpu_max_receive_count >= 1 && var.gpu_max_receive_count <= 100
    error_message = "gpu_max_receive_count must be between 1 and 100."
  }
}

variable "gpu_job_lease_seconds" {
  description = "Visibility timeout of a received GPU job (AUTONOMA_GPU_LEASE_SECS); the worker renews it every third."
  type        = number
  default     = 60

  validation {
    condition     = var.gpu_job_lease_seconds >= 10 && var.gpu_job_lease_seconds <= 43200
    error_message = "gpu_job_lease_seconds must be between 10 and 43200."
  }
}

variable "gpu_scale_in_idle_minutes" {
  description = "Idle minutes (no visible, no in-flight GPU job) before the fleet returns to gpu_min_instances."
  type        = number
  default     = 15
}

variable "gpu_drain_timeout_seconds" {
  description = "Time a scaled-in worker gets to finish its current job."
  type        = number
  default     = 600
}

# --- Edge -------------------------------------------------------------------------------
variable "cloudfront_price_class" {
  description = "CloudFront price class (PriceClass_100: North America and Europe)."
  type        = string
  default     = "PriceClass_100"
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per client IP before WAF blocks it."
  type        = number
  default     = 2000
}

variable "waf_login_rate_limit" {
  description = "Login and sign-up requests per 5 minutes per client IP before WAF blocks it (in front of the application's own login limits, which count across all instances)."
  type        = number
  default     = 100
}

# --- Operations -------------------------------------------------------------------------
variable "log_level" {
  description = "AUTONOMA_LOG tracing filter of every component."
  type        = string
  default     = "info"
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (and of S3/CloudFront access logs)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, ...)."
  }
}

variable "alarm_email" {
  description = "E-mail subscribed to the alarm topic; null for none."
  type        = string
  default     = null
}
