variable "name" {
  description = "Function name (e.g. autonoma-staging-api)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,64}$", var.name))
    error_message = "name must be 1-64 letters, digits, '_' or '-'."
  }
}

variable "description" {
  description = "What the function does."
  type        = string
}

variable "handler" {
  description = "Handler name; the provided.al2023 runtime passes it to the bootstrap binary as _HANDLER (api, run-executor, migrate)."
  type        = string
}

variable "s3_bucket" {
  description = "Bucket holding the deployment package."
  type        = string
}

variable "s3_key" {
  description = "Key of the zip whose root holds the `bootstrap` executable (aarch64 Linux)."
  type        = string
}

variable "s3_object_version" {
  description = "S3 version id of the package; changing it deploys new code, setting an older one rolls back. null takes the latest object at create time."
  type        = string
  default     = null
}

variable "memory_mb" {
  description = "Memory (CPU scales with it)."
  type        = number

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Invocation timeout."
  type        = number

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "reserved_concurrency" {
  description = "Reserved (and maximum) concurrent executions of this function."
  type        = number

  validation {
    condition     = var.reserved_concurrency >= 1
    error_message = "reserved_concurrency must be at least 1 (an account starts with a quota of 10 unreserved: request more first, see docs/DEPLOY.md)."
  }
}

variable "environment" {
  description = "Environment variables (no secret values: pass secret ARNs)."
  type        = map(string)
}

variable "subnet_ids" {
  description = "Private subnets for the function's ENIs."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the subnets; the function gets its own security group there."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database the function may reach on 5432."
  type        = string
}

variable "allow_http_egress" {
  description = "Also allow plain HTTP (port 80) out, for http_fetch targets; HTTPS out is always allowed (AWS endpoints, LLM providers)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "KMS key for environment variables and the log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
}

variable "policy_json" {
  description = "Least-privilege IAM policy (JSON) for what the code itself calls: queues, buckets, secrets."
  type        = string
}
