variable "name" {
  description = "Key name; the alias becomes alias/<name>."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9/_-]{1,200}$", var.name)) && !startswith(var.name, "aws/")
    error_message = "name may hold letters, digits, '/', '_' and '-' and must not start with aws/."
  }
}

variable "description" {
  description = "What the key protects (shown in the KMS console)."
  type        = string
}

variable "region" {
  description = "Region to create the key in; null means the provider's region."
  type        = string
  default     = null
}

variable "log_group_name_prefixes" {
  description = "CloudWatch Logs log group name prefixes (in the key's region) allowed to encrypt with this key."
  type        = list(string)
  default     = []
}

variable "allow_cloudwatch_alarms" {
  description = "Let CloudWatch alarms publish to SNS topics encrypted with this key."
  type        = bool
  default     = false
}

variable "allow_cloudfront" {
  description = "Let CloudFront distributions of this account read S3 objects encrypted with this key (Origin Access Control)."
  type        = bool
  default     = false
}

variable "ebs_service_role_arns" {
  description = "Service-linked roles (e.g. an Auto Scaling one) that launch instances with EBS volumes encrypted by this key."
  type        = list(string)
  default     = []
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion completes."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}
