module "edge" {
  source = "../edge"

  name                             = local.name
  site_bucket_regional_domain_name = module.site_bucket.regional_domain_name
  api_function_url                 = aws_lambda_function_url.api.function_url
  origin_verify                    = module.secrets.origin_verify
  log_bucket_domain_name           = module.log_bucket.domain_name
  domain_name                      = var.domain_name
  route53_zone_id                  = var.route53_zone_id
  price_class                      = var.cloudfront_price_class
  waf_rate_limit                   = var.waf_rate_limit
  waf_login_rate_limit             = var.waf_login_rate_limit
  log_retention_days               = var.log_retention_days
}
