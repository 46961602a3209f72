output "id" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "domain_name" {
  description = "Global endpoint host name (CloudFront standard log destination)."
  value       = aws_s3_bucket.this.bucket_domain_name
}
