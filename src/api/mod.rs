//! The id-based surfaces: `Registry` and the free functions.

pub(crate) mod global;
pub(crate) mod registry;
