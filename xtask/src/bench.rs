//! `cargo xtask bench` (being written).

use crate::util::TaskResult;

/// Runs the benches and prints the table.
pub fn bench(_args: &[String]) -> TaskResult {
    Err("not yet implemented".into())
}
