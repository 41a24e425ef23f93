//! reqtrace-propagation (in progress)
