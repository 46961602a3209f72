variable "name" {
  description = "Name prefix of every network resource (e.g. autonoma-staging)."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; private subnets take /20s from its start, public ones from its upper half."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && try(tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20, false)
    error_message = "cidr_block must be a valid IPv4 CIDR between /16 and /20."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets over (Aurora needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count must be 2 or 3."
  }
}

variable "availability_zones" {
  description = "Zone names to use (e.g. [\"us-east-1a\", \"us-east-1b\"]); null takes the first az_count available zones by name."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || try(length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3, false)
    error_message = "availability_zones must be null or list 2 or 3 zone names."
  }
}

variable "nat_gateway_mode" {
  description = "Internet egress for private subnets (LLM providers, http_fetch): none, single (one NAT gateway) or per_az (one per zone)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["none", "single", "per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be none, single or per_az."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints instead of the NAT gateway (S3 always uses a free gateway endpoint)."
  type        = set(string)
  default     = ["sqs", "secretsmanager", "logs"]

  validation {
    condition = alltrue([
      for s in var.interface_endpoints :
      contains(["sqs", "secretsmanager", "logs", "kms", "sts", "ssm", "ssmmessages", "ec2messages", "autoscaling", "monitoring", "lambda"], s)
    ])
    error_message = "interface_endpoints may only name: sqs, secretsmanager, logs, kms, sts, ssm, ssmmessages, ec2messages, autoscaling, monitoring, lambda."
  }
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow-log log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs."
  type        = number
}
