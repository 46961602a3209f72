//! autonoma-storage (being written)
