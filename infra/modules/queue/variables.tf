variable "name" {
  description = "Queue name (e.g. autonoma-staging-runs); the dead-letter queue gets a -dlq suffix."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,76}$", var.name))
    error_message = "name may hold letters, digits, '_' and '-' (at most 76 characters, leaving room for -dlq)."
  }
}

variable "kms_key_arn" {
  description = "KMS key for server-side encryption of both queues."
  type        = string
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays hidden. For a Lambda event source use at least 6x the function timeout."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message moves to the dead-letter queue."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  description = "Retention of the main queue."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600 (14 days)."
  }
}
