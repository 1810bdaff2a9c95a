//! One answer per input: clean text, and REPLs that know their prompt.

pub(crate) mod clean;
pub(crate) mod repl;
