variable "aws_region" {
  description = "Region of the state bucket, lock table and artifacts bucket (use the deployment's region)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region code such as us-east-1."
  }
}

variable "allowed_account_ids" {
  description = "Accounts Terraform may touch; null allows any."
  type        = list(string)
  default     = null
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "artifact_version_retention_days" {
  description = "Days a replaced Lambda/GPU package version stays available for rollbacks."
  type        = number
  default     = 180

  validation {
    condition     = var.artifact_version_retention_days >= 7
    error_message = "artifact_version_retention_days must be at least 7."
  }
}
