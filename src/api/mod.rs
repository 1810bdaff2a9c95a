//! The entry points: starting sessions (with the features asked for at
//! start), and sessions by id — the [`Registry`](registry::Registry) and
//! Python bgterm's free functions, every by-id operation declared once.

pub(crate) mod by_id;
pub(crate) mod registry;
pub(crate) mod start;
