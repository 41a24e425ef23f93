//! reqtrace-export-json (in progress)
