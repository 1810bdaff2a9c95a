//! The session handle and everything about starting and managing one.

pub(crate) mod builder;
pub(crate) mod command;
pub(crate) mod handle;
pub(crate) mod manage;
pub(crate) mod name;
pub(crate) mod stop;
