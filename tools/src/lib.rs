//! autonoma-tools (being written)
