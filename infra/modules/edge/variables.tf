variable "name" {
  description = "Name prefix of the edge resources (e.g. autonoma-staging)."
  type        = string
}

variable "site_bucket_regional_domain_name" {
  description = "Regional domain of the private bucket holding the hashed static assets under pkg/."
  type        = string
}

variable "api_function_url" {
  description = "Function URL of the api Lambda (https://<id>.lambda-url.<region>.on.aws/)."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9]+\\.lambda-url\\.[a-z0-9-]+\\.on\\.aws/?$", var.api_function_url))
    error_message = "api_function_url must be a Lambda function URL."
  }
}

variable "origin_verify" {
  description = "Shared secret sent as X-Origin-Verify to the API origin."
  type        = string
  sensitive   = true
}

variable "log_bucket_domain_name" {
  description = "Domain name (<bucket>.s3.amazonaws.com) of the bucket receiving CloudFront standard logs."
  type        = string
}

variable "domain_name" {
  description = "Custom host name (e.g. app.example.com); null serves on the *.cloudfront.net name."
  type        = string
  default     = null
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name, for certificate validation and the alias records."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "origin_read_timeout" {
  description = "Seconds CloudFront waits for the next bytes from the API; SSE streams must send a keep-alive comment more often than this."
  type        = number
  default     = 60

  validation {
    condition     = var.origin_read_timeout >= 1 && var.origin_read_timeout <= 180
    error_message = "origin_read_timeout must be between 1 and 180 (above 60 needs a CloudFront quota increase)."
  }
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP address before WAF blocks it."
  type        = number
  default     = 2000

  validation {
    condition     = var.waf_rate_limit >= 100
    error_message = "waf_rate_limit must be at least 100."
  }
}

variable "waf_login_rate_limit" {
  description = "Login and sign-up requests (API and UI) per 5 minutes from one IP address before WAF blocks it."
  type        = number
  default     = 100

  validation {
    condition     = var.waf_login_rate_limit >= 10
    error_message = "waf_login_rate_limit must be at least 10 (WAF's minimum)."
  }
}

variable "log_retention_days" {
  description = "Retention of the WAF log group."
  type        = number
}
