//! One turn at a time: running a command in a shell and getting back exactly
//! its answer.

pub(crate) mod run;
