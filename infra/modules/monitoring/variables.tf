variable "name" {
  description = "Name prefix of the topic and alarms (e.g. autonoma-staging)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the alarm topic (its policy must allow CloudWatch alarms)."
  type        = string
}

variable "alarm_email" {
  description = "Address subscribed to the alarm topic (confirm the e-mail AWS sends); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or an e-mail address."
  }
}

variable "dead_letter_queues" {
  description = "Dead-letter queue names to alarm on as soon as one message lands, by short name (runs, gpu)."
  type        = map(string)
}

variable "queue_age_alarms" {
  description = "Work queues whose oldest message must not wait longer than max_age_seconds, by short name."
  type = map(object({
    queue_name      = string
    max_age_seconds = number
  }))
}

variable "lambda_functions" {
  description = "Lambda function names to alarm on errors and throttles, by short name."
  type        = map(string)
}

variable "api_function_name" {
  description = "Function behind the function URL whose 5xx responses are alarmed on."
  type        = string
}

variable "api_5xx_threshold" {
  description = "5xx responses of the API in 5 minutes that raise the alarm."
  type        = number
  default     = 5

  validation {
    condition     = var.api_5xx_threshold >= 1
    error_message = "api_5xx_threshold must be at least 1."
  }
}

variable "lambda_error_threshold" {
  description = "Function errors in 5 minutes that raise the alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.lambda_error_threshold >= 1
    error_message = "lambda_error_threshold must be at least 1."
  }
}

variable "db_cluster_identifier" {
  description = "Aurora cluster to alarm on (CPU, ACU utilisation)."
  type        = string
}

variable "db_cpu_threshold_percent" {
  description = "Aurora CPU utilisation that raises the alarm."
  type        = number
  default     = 80
}

variable "db_acu_threshold_percent" {
  description = "Aurora ACU utilisation (share of max ACUs) that raises the alarm: time to raise max_capacity."
  type        = number
  default     = 90
}
