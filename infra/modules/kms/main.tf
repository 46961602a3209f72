data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {
  region = var.region
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region

  root_statement = [{
    Sid       = "AccountAdministersKeyThroughIam"
    Effect    = "Allow"
    Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }]

  logs_statement = length(var.log_group_name_prefixes) == 0 ? [] : [{
    Sid       = "CloudWatchLogsEncryptsNamedLogGroups"
    Effect    = "Allow"
    Principal = { Service = "logs.${local.region}.amazonaws.com" }
    Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    Resource  = "*"
    Condition = {
      ArnLike = {
        "kms:EncryptionContext:aws:logs:arn" = [
          for prefix in var.log_group_name_prefixes :
          "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${prefix}*"
        ]
      }
    }
  }]

  alarms_statement = var.allow_cloudwatch_alarms ? [{
    Sid       = "CloudWatchAlarmsPublishToEncryptedTopics"
    Effect    = "Allow"
    Principal = { Service = "cloudwatch.amazonaws.com" }
    Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
    Resource  = "*"
    Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
  }] : []

  cloudfront_statement = var.allow_cloudfront ? [{
    Sid       = "CloudFrontReadsOriginObjects"
    Effect    = "Allow"
    Principal = { Service = "cloudfront.amazonaws.com" }
    Action    = ["kms:Decrypt"]
    Resource  = "*"
    Condition = {
      StringLike = { "aws:SourceArn" = "arn:${local.partition}:cloudfront::${local.account_id}:distribution/*" }
    }
  }] : []

  ebs_statements = length(var.ebs_service_role_arns) == 0 ? [] : [
    {
      Sid       = "ServiceRolesUseKeyForEbs"
      Effect    = "Allow"
      Principal = { AWS = var.ebs_service_role_arns }
      Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
      Resource  = "*"
    },
    {
      Sid       = "ServiceRolesGrantEbsAttachments"
      Effect    = "Allow"
      Principal = { AWS = var.ebs_service_role_arns }
      Action    = "kms:CreateGrant"
      Resource  = "*"
      Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
    },
  ]
}

resource "aws_kms_key" "this" {
  region                  = var.region
  description             = var.description
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days
  # In a key policy "Resource": "*" means this key itself.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      local.root_statement,
      local.logs_statement,
      local.alarms_statement,
      local.cloudfront_statement,
      local.ebs_statements,
    )
  })
}

resource "aws_kms_alias" "this" {
  region        = var.region
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}
