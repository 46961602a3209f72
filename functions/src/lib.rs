//! autonoma-functions (being written)
