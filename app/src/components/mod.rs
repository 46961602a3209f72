//! Widgets and display helpers shared by the pages, one module per family. They may call
//! [`crate::api`] but never import [`crate::pages`] or [`crate::app`].

pub mod feedback;
pub mod form;
pub mod format;
pub mod header;
pub mod transcript;
