# Least-privilege policies of what the application code calls. Every statement names the
# exact queue, bucket, secret, key or database user; KMS use is limited to the services
# that decrypt on the caller's behalf.

locals {
  db_user_arn = "arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${module.database.cluster_resource_id}/${var.database_app_user}"
  app_secrets = local.db_secret_mode ? [module.secrets.app_secret_arn, module.database.master_user_secret_arn] : [module.secrets.app_secret_arn]
}

data "aws_iam_policy_document" "api" {
  statement {
    sid       = "EnqueueJobs"
    actions   = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [module.runs_queue.arn, module.gpu_queue.arn]
  }

  statement {
    sid       = "DocumentObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.documents_bucket.arn}/*"]
  }

  statement {
    sid       = "ListDocuments"
    actions   = ["s3:ListBucket"]
    resources = [module.documents_bucket.arn]
  }

  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secrets
  }

  statement {
    sid       = "UseKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${local.region}.amazonaws.com",
        "s3.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }

  dynamic "statement" {
    for_each = local.db_secret_mode ? [] : [local.db_user_arn]
    content {
      sid       = "ConnectAsAppUser"
      actions   = ["rds-db:connect"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "executor" {
  statement {
    sid = "ConsumeRuns"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
    ]
    resources = [module.runs_queue.arn]
  }

  statement {
    sid       = "EnqueueJobs"
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl"]
    resources = [module.runs_queue.arn, module.gpu_queue.arn]
  }

  statement {
    sid       = "DocumentObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${module.documents_bucket.arn}/*"]
  }

  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secrets
  }

  statement {
    sid       = "UseKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${local.region}.amazonaws.com",
        "s3.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }

  dynamic "statement" {
    for_each = local.db_secret_mode ? [] : [local.db_user_arn]
    content {
      sid       = "ConnectAsAppUser"
      actions   = ["rds-db:connect"]
      resources = [statement.value]
    }
  }
}

# Migrations own the schema: they log in as the master user.
data "aws_iam_policy_document" "migrate" {
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [module.secrets.app_secret_arn, module.database.master_user_secret_arn]
  }

  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [module.kms.key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "gpu_worker" {
  statement {
    sid = "ConsumeGpuJobs"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]
    resources = [module.gpu_queue.arn]
  }

  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.app_secrets
  }

  statement {
    sid       = "UseKeyThroughServices"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [module.kms.key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "sqs.${local.region}.amazonaws.com",
        "secretsmanager.${local.region}.amazonaws.com",
      ]
    }
  }

  dynamic "statement" {
    for_each = local.db_secret_mode ? [] : [local.db_user_arn]
    content {
      sid       = "ConnectAsAppUser"
      actions   = ["rds-db:connect"]
      resources = [statement.value]
    }
  }
}
