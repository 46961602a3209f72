data "aws_region" "current" {}

data "aws_partition" "current" {}

data "aws_default_tags" "current" {}

data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0

  name = var.ami_ssm_parameter
}

locals {
  region    = data.aws_region.current.region
  partition = data.aws_partition.current.partition
  hook_name = "drain"
  image_id  = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.ami[0].insecure_value
  tags      = merge(data.aws_default_tags.current.tags, { Name = var.name })
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days): 365 days in production, 30 in staging to keep an idle environment cheap.
  name              = "/autonoma/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# No inbound rules (Session Manager, no SSH): HTTPS out to AWS endpoints, S3 and package
# repositories, PostgreSQL to the database.
resource "aws_security_group" "this" {
  name        = var.name
  description = "Autonoma GPU workers ${var.name}"
  vpc_id      = var.vpc_id

  tags = { Name = var.name }
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS: AWS endpoints, S3, package repositories"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "database" {
  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL to Aurora"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = var.database_security_group_id
}

resource "aws_iam_role" "this" {
  name        = var.name
  description = "Instance role of the ${var.name} GPU workers"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ec2.amazonaws.com" }
    }]
  })
}

data "aws_iam_policy_document" "fleet" {
  statement {
    sid       = "ReadWorkerPackage"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["arn:${local.partition}:s3:::${var.artifacts_bucket}/${var.package_key}"]
  }

  statement {
    sid       = "DecryptWorkerPackage"
    actions   = ["kms:Decrypt"]
    resources = [var.artifacts_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "WriteWorkerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [aws_cloudwatch_log_group.this.arn, "${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "fleet" {
  name   = "fleet"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.fleet.json
}

data "aws_iam_policy_document" "self_drain" {
  statement {
    sid = "DrainAndProtectSelf"
    actions = [
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
      "autoscaling:SetInstanceProtection",
    ]
    resources = [aws_autoscaling_group.this.arn]
  }
}

resource "aws_iam_role_policy" "self_drain" {
  name   = "self-drain"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.self_drain.json
}

resource "aws_iam_role_policy" "app" {
  name   = "app"
  role   = aws_iam_role.this.id
  policy = var.policy_json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  count = var.enable_ssm ? 1 : 0

  role       = aws_iam_role.this.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = var.name
  role = aws_iam_role.this.name
}

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "Autonoma GPU worker"
  image_id               = local.image_id
  instance_type          = var.instance_types[0]
  ebs_optimized          = true
  update_default_version = true
  vpc_security_group_ids = [aws_security_group.this.id]

  user_data = base64encode(templatefile("${path.module}/user-data.sh.tftpl", {
    region                = local.region
    artifacts_bucket      = var.artifacts_bucket
    package_key           = var.package_key
    package_version       = var.package_version == null ? "" : var.package_version
    environment           = var.environment
    drain_timeout_seconds = var.drain_timeout_seconds
    asg_name              = var.name
    hook_name             = local.hook_name
    log_group_name        = aws_cloudwatch_log_group.this.name
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.this.arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "enabled"
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_size           = var.root_volume_gb
      volume_type           = "gp3"
      encrypted             = true
      kms_key_id            = var.kms_key_arn
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = local.tags
  }

  tag_specifications {
    resource_type = "volume"
    tags          = local.tags
  }
}

resource "aws_autoscaling_group" "this" {
  name                      = var.name
  min_size                  = var.min_size
  max_size                  = var.max_size
  vpc_zone_identifier       = var.subnet_ids
  service_linked_role_arn   = var.service_linked_role_arn
  health_check_type         = "EC2"
  health_check_grace_period = 300
  default_instance_warmup   = 300
  capacity_rebalance        = var.on_demand_percentage < 100
  termination_policies      = ["OldestLaunchTemplate", "OldestInstance"]
  metrics_granularity       = "1Minute"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
  ]

  mixed_instances_policy {
    instances_distribution {
      on_demand_base_capacity                  = 0
      on_demand_percentage_above_base_capacity = var.on_demand_percentage
      spot_allocation_strategy                 = "price-capacity-optimized"
    }

    launch_template {
      launch_template_specification {
        launch_template_id = aws_launch_template.this.id
        version            = aws_launch_template.this.latest_version
      }

      dynamic "override" {
        for_each = var.instance_types
        content {
          instance_type = override.value
        }
      }
    }
  }

  # Graceful drain: a terminating instance waits (up to the heartbeat timeout) while the
  # worker finishes its job; the drain watcher completes the action early.
  initial_lifecycle_hook {
    name                 = local.hook_name
    lifecycle_transition = "autoscaling:EC2_INSTANCE_TERMINATING"
    default_result       = "CONTINUE"
    heartbeat_timeout    = var.drain_timeout_seconds
  }

  # A new launch template version (AMI, package, settings) replaces workers gradually.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = local.tags
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  # Workers fetch their package and secrets at boot: their permissions come first.
  depends_on = [aws_iam_role_policy.fleet, aws_iam_role_policy.app]

  lifecycle {
    # Capacity belongs to the scaling policies below.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = var.max_size >= var.min_size
      error_message = "max_size must be at least min_size."
    }
  }
}

# --- Scaling on the gpu queue -------------------------------------------------------
# Out: step policy on ApproximateNumberOfMessagesVisible (missing data = idle queue).
resource "aws_autoscaling_policy" "scale_out" {
  name                      = "${var.name}-backlog"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "StepScaling"
  adjustment_type           = "ChangeInCapacity"
  metric_aggregation_type   = "Maximum"
  estimated_instance_warmup = 300

  step_adjustment {
    metric_interval_lower_bound = 0
    metric_interval_upper_bound = 10
    scaling_adjustment          = 1
  }

  step_adjustment {
    metric_interval_lower_bound = 10
    metric_interval_upper_bound = 50
    scaling_adjustment          = 2
  }

  step_adjustment {
    metric_interval_lower_bound = 50
    scaling_adjustment          = 4
  }
}

resource "aws_cloudwatch_metric_alarm" "backlog" {
  alarm_name          = "${var.name}-backlog"
  alarm_description   = "GPU jobs are waiting: add workers (step policy)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_autoscaling_policy.scale_out.arn]
}

# In: back to min_size after scale_in_idle_minutes with nothing visible and nothing in
# flight. SQS stops publishing metrics for an inactive queue, so missing data is idle.
resource "aws_autoscaling_policy" "scale_in" {
  name                   = "${var.name}-idle"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ExactCapacity"
  scaling_adjustment     = var.min_size
  cooldown               = 300
}

resource "aws_cloudwatch_metric_alarm" "idle" {
  alarm_name          = "${var.name}-idle"
  alarm_description   = "No GPU job visible or in flight: scale the fleet in to its minimum."
  evaluation_periods  = var.scale_in_idle_minutes
  datapoints_to_alarm = var.scale_in_idle_minutes
  threshold           = 0
  comparison_operator = "LessThanOrEqualToThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_autoscaling_policy.scale_in.arn]

  metric_query {
    id          = "jobs"
    expression  = "visible + inflight"
    label       = "GPU jobs visible or in flight"
    return_data = true
  }

  metric_query {
    id = "visible"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = var.queue_name }
      period      = 60
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "inflight"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = var.queue_name }
      period      = 60
      stat        = "Maximum"
    }
  }
}
