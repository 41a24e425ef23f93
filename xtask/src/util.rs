//! Running commands from the workspace root.

use std::path::PathBuf;
use std::process::Command;

/// The result type of every task.
pub type TaskResult = Result<(), String>;

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// Runs `program args…` in the workspace root, echoing it; an error if it fails.
pub fn run(program: &str, args: &[&str]) -> TaskResult {
    run_env(program, args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> TaskResult {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}
