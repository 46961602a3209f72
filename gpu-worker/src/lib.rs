//! autonoma-gpu-worker (being written)
