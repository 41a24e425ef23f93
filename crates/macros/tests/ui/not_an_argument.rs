use reqtrace_macros::trace;

#[trace(args(id, user))]
fn handler(id: u64) -> u64 {
    id
}

fn main() {
    handler(1);
}
