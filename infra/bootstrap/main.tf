data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

locals {
  suffix = "${data.aws_caller_identity.current.account_id}-${data.aws_region.current.region}"
}

# Separate keys: GPU workers may decrypt artifacts, nobody but administrators the state
# (it contains generated secrets).
module "state_key" {
  source = "../modules/kms"

  name        = "autonoma-tfstate"
  description = "Autonoma Terraform state and lock table"
}

module "artifacts_key" {
  source = "../modules/kms"

  name        = "autonoma-artifacts"
  description = "Autonoma build artifacts (Lambda zip, GPU worker package)"
}

module "log_bucket" {
  source = "../modules/log-bucket"

  name            = "autonoma-bootstrap-logs-${local.suffix}"
  expiration_days = 365
}

module "state_bucket" {
  source = "../modules/s3-bucket"

  name                               = "autonoma-tfstate-${local.suffix}"
  kms_key_arn                        = module.state_key.key_arn
  access_log_bucket                  = module.log_bucket.id
  noncurrent_version_expiration_days = 90
}

module "artifacts_bucket" {
  source = "../modules/s3-bucket"

  name                               = "autonoma-artifacts-${local.suffix}"
  kms_key_arn                        = module.artifacts_key.key_arn
  access_log_bucket                  = module.log_bucket.id
  noncurrent_version_expiration_days = var.artifact_version_retention_days
}

resource "aws_dynamodb_table" "lock" {
  name                        = "autonoma-tfstate-lock"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "LockID"
  deletion_protection_enabled = true

  attribute {
    name = "LockID"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = module.state_key.key_arn
  }
}
