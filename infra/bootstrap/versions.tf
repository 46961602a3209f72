terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.29"
    }
  }

  # Local state on purpose: this stack creates the remote state bucket. Keep the
  # resulting terraform.tfstate safe, or move it into the bucket afterwards
  # (docs/DEPLOY.md, step 2).
}

provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = merge(var.tags, {
      Project     = "autonoma"
      Environment = "shared"
      ManagedBy   = "terraform"
    })
  }
}
