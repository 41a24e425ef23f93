//! `cargo xtask fuzz` (being written).

use crate::util::TaskResult;

/// Runs every fuzz target for a while.
pub fn fuzz(_args: &[String]) -> TaskResult {
    Err("not yet implemented".into())
}
