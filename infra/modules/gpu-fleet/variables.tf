variable "name" {
  description = "Name of the Auto Scaling group and prefix of its resources (e.g. autonoma-staging-gpu)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets to launch workers in."
  type        = list(string)
}

variable "vpc_id" {
  description = "VPC of the subnets; the workers get their own security group there."
  type        = string
}

variable "database_security_group_id" {
  description = "Security group of the database the workers reach on 5432."
  type        = string
}

variable "instance_types" {
  description = "GPU instance types, in order of preference (the first one is the launch template default)."
  type        = list(string)

  validation {
    condition     = length(var.instance_types) >= 1 && alltrue([for t in var.instance_types : can(regex("^(g4dn|g5|g6|g6e|gr6|p4d|p5)\\.[0-9]*x?large$", t))])
    error_message = "instance_types must list NVIDIA GPU instance types such as g6.xlarge or g5.2xlarge."
  }
}

variable "min_size" {
  description = "Fewest workers; 0 lets the fleet scale to zero when the gpu queue is idle."
  type        = number
  default     = 0

  validation {
    condition     = var.min_size >= 0 && var.min_size <= 100
    error_message = "min_size must be between 0 and 100."
  }
}

variable "max_size" {
  description = "Most workers."
  type        = number
  default     = 2

  validation {
    condition     = var.max_size >= 1 && var.max_size <= 100
    error_message = "max_size must be between 1 and 100."
  }
}

variable "on_demand_percentage" {
  description = "Share of on-demand capacity; the rest is Spot (jobs are leased and redelivered, so Spot interruptions lose no work)."
  type        = number
  default     = 100

  validation {
    condition     = var.on_demand_percentage >= 0 && var.on_demand_percentage <= 100
    error_message = "on_demand_percentage must be between 0 and 100."
  }
}

variable "ami_id" {
  description = "AMI with the NVIDIA driver (and ideally the Vulkan loader) baked in; null takes the latest AWS Deep Learning Base AMI from ami_ssm_parameter."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI id (ami-...)."
  }
}

variable "ami_ssm_parameter" {
  description = "Public SSM parameter naming the default AMI."
  type        = string
  default     = "/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id"
}

variable "root_device_name" {
  description = "Root device of the AMI."
  type        = string
  default     = "/dev/xvda"
}

variable "root_volume_gb" {
  description = "Root volume size; at least the AMI's snapshot size."
  type        = number
  default     = 100

  validation {
    condition     = var.root_volume_gb >= 50 && var.root_volume_gb <= 2000
    error_message = "root_volume_gb must be between 50 and 2000."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the root volume and the log group."
  type        = string
}

variable "service_linked_role_arn" {
  description = "Auto Scaling service-linked role allowed (by the key policy) to attach volumes encrypted with kms_key_arn."
  type        = string
}

variable "queue_name" {
  description = "Name of the gpu queue whose depth drives scaling."
  type        = string
}

variable "scale_in_idle_minutes" {
  description = "Minutes with no visible and no in-flight gpu job before the fleet goes back to min_size."
  type        = number
  default     = 15

  validation {
    condition     = var.scale_in_idle_minutes >= 5 && var.scale_in_idle_minutes <= 60
    error_message = "scale_in_idle_minutes must be between 5 and 60."
  }
}

variable "drain_timeout_seconds" {
  description = "How long a terminating worker may take to finish its current job (lifecycle hook heartbeat timeout and systemd stop timeout)."
  type        = number
  default     = 600

  validation {
    condition     = var.drain_timeout_seconds >= 30 && var.drain_timeout_seconds <= 7200
    error_message = "drain_timeout_seconds must be between 30 and 7200."
  }
}

variable "artifacts_bucket" {
  description = "Bucket holding the worker package."
  type        = string
}

variable "artifacts_kms_key_arn" {
  description = "KMS key of the artifacts bucket."
  type        = string
}

variable "package_key" {
  description = "Key of the worker package: a .tar.gz with the x86_64 `autonoma` binary at its root and models/ (all-MiniLM-L6-v2)."
  type        = string
}

variable "package_version" {
  description = "S3 version id of the package; null takes the latest object at boot. Changing it creates a new launch template version, which rolls the fleet."
  type        = string
  default     = null
}

variable "environment" {
  description = "Non-secret AUTONOMA_* settings of the worker; secrets are read at start from the ARNs given here."
  type        = map(string)
}

variable "policy_json" {
  description = "Least-privilege IAM policy (JSON) for what the worker calls: gpu queue, secrets, database."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the worker log group."
  type        = number
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore so operators reach workers through Session Manager (no SSH, no key pair)."
  type        = bool
  default     = true
}
