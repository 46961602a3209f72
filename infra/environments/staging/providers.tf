provider "aws" {
  region              = var.aws_region
  allowed_account_ids = var.allowed_account_ids

  default_tags {
    tags = merge(var.tags, {
      Project     = "autonoma"
      Environment = "staging"
      ManagedBy   = "terraform"
    })
  }
}
