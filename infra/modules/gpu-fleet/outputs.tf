output "autoscaling_group_name" {
  description = "Name of the Auto Scaling group."
  value       = aws_autoscaling_group.this.name
}

output "autoscaling_group_arn" {
  description = "ARN of the Auto Scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "role_arn" {
  description = "Instance role ARN."
  value       = aws_iam_role.this.arn
}

output "launch_template_id" {
  description = "Launch template id."
  value       = aws_launch_template.this.id
}

output "security_group_id" {
  description = "Security group of the workers (the database admits it)."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Log group of the workers."
  value       = aws_cloudwatch_log_group.this.name
}
