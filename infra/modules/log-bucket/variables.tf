variable "name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')."
  }
}

variable "expiration_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = var.expiration_days >= 1
    error_message = "expiration_days must be at least 1."
  }
}

variable "allow_cloudfront_logs" {
  description = "Enable ACLs (BucketOwnerPreferred) so CloudFront standard logging can write here."
  type        = bool
  default     = false
}
