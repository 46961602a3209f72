module "monitoring" {
  source = "../monitoring"

  name        = local.name
  kms_key_arn = module.kms.key_arn
  alarm_email = var.alarm_email

  dead_letter_queues = {
    runs = module.runs_queue.dlq_name
    gpu  = module.gpu_queue.dlq_name
  }

  queue_age_alarms = {
    runs = { queue_name = module.runs_queue.name, max_age_seconds = 300 }
    # Includes the time to boot a GPU worker from zero.
    gpu = { queue_name = module.gpu_queue.name, max_age_seconds = 1800 }
  }

  lambda_functions = {
    api            = module.api.name
    "run-executor" = module.run_executor.name
    migrate        = module.migrate.name
  }

  api_function_name     = module.api.name
  db_cluster_identifier = module.database.cluster_identifier
}
