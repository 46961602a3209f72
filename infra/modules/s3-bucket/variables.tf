variable "name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}

variable "region" {
  description = "Region of the bucket; null means the provider's region."
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS default encryption (with an S3 bucket key)."
  type        = string
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's server access logs (see the log-bucket module)."
  type        = string
}

variable "access_log_prefix" {
  description = "Key prefix of this bucket's access logs in access_log_bucket."
  type        = string
  default     = "s3-access/"
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted object version is kept before it expires."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "policy_documents" {
  description = "Extra bucket policy documents (JSON) merged with the TLS-only statement."
  type        = list(string)
  default     = []
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket. Keep false for data buckets."
  type        = bool
  default     = false
}
