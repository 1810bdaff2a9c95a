//! One turn at a time: the answer to what was just sent — clean text,
//! REPLs that know their prompt, and shell commands run to completion.

pub(crate) mod clean;
pub(crate) mod repl;
pub(crate) mod run;
