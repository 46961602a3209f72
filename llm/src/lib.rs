//! autonoma-llm (being written)
