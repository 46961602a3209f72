//! autonoma-testkit (being written)
