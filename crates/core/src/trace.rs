//! placeholder
#[derive(Clone)]
pub(crate) struct LocalTrace;
