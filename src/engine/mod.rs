//! One session's moving parts, knowing no feature.

pub(crate) mod decode;
pub(crate) mod pump;
pub(crate) mod result;
pub(crate) mod ring;
pub(crate) mod state;
pub(crate) mod tap;
