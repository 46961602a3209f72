//! Test harness: a real moto server per test ([`autonoma_testkit::moto`]) and the AWS
//! settings that point the crate's clients at it.

#![allow(dead_code)]

use autonoma_aws::AwsConfig;
pub use autonoma_testkit::moto::Moto;

/// AWS settings pointing at `moto` (us-east-1, static test credentials).
pub fn aws(moto: &Moto) -> AwsConfig {
    AwsConfig::local(moto.endpoint.clone())
}
