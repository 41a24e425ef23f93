use reqtrace_macros::trace;

// Recorded at the call, before the pattern is bound inside the body's future.
#[trace(args(a))]
async fn destructured((a, _b): (u32, u32)) -> u32 {
    a
}

fn main() {}
