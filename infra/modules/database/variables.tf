variable "name" {
  description = "Cluster identifier (e.g. autonoma-staging)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,50}[a-z0-9]$", var.name))
    error_message = "name must be a valid DB cluster identifier: lowercase letters, digits and '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets in at least two zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Aurora needs subnets in at least two availability zones."
  }
}

variable "client_security_group_ids" {
  description = "Security groups allowed to connect on 5432, by a short name used in the rule description."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights, the master-password secret and the log group."
  type        = string
}

variable "engine_version" {
  description = "Aurora PostgreSQL 15 engine version; 15.7 or newer allows min_capacity 0 (auto-pause)."
  type        = string
  default     = "15.12"

  validation {
    condition     = can(regex("^15\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be an Aurora PostgreSQL 15.x version, e.g. 15.12."
  }
}

variable "database_name" {
  description = "Initial database created in the cluster."
  type        = string
  default     = "autonoma"
}

variable "master_username" {
  description = "Master user; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "autonoma_admin"
}

variable "min_capacity" {
  description = "Minimum ACUs per instance; 0 lets idle instances pause (resume takes about 15 s)."
  type        = number
  default     = 0

  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 256 && floor(var.min_capacity * 2) == var.min_capacity * 2
    error_message = "min_capacity must be between 0 and 256 in steps of 0.5."
  }
}

variable "max_capacity" {
  description = "Maximum ACUs per instance (1 ACU is about 2 GiB of memory)."
  type        = number
  default     = 4

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 256 && floor(var.max_capacity * 2) == var.max_capacity * 2
    error_message = "max_capacity must be between 1 and 256 in steps of 0.5."
  }
}

variable "seconds_until_auto_pause" {
  description = "Idle seconds before a 0-ACU-minimum instance pauses."
  type        = number
  default     = 900

  validation {
    condition     = var.seconds_until_auto_pause >= 300 && var.seconds_until_auto_pause <= 86400
    error_message = "seconds_until_auto_pause must be between 300 and 86400."
  }
}

variable "instance_count" {
  description = "Serverless v2 instances: 1 writer plus readers in other zones (failover targets)."
  type        = number
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 3
    error_message = "instance_count must be 1, 2 or 3."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the cluster (turn off, apply, then destroy)."
  type        = bool
  default     = true
}

variable "idle_session_timeout_ms" {
  description = "Server-side close of idle client sessions, so connections held by frozen Lambda sandboxes do not keep the cluster awake."
  type        = number
  default     = 300000

  validation {
    condition     = var.idle_session_timeout_ms >= 0
    error_message = "idle_session_timeout_ms must be 0 (off) or positive."
  }
}

variable "log_retention_days" {
  description = "Retention of the PostgreSQL log group."
  type        = number
}
