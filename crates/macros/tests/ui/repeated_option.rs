use reqtrace_macros::trace;

#[trace(name = "a", name = "b")]
fn handler() {}

#[trace(args(id), debug_args(id))]
fn listed_twice(id: u64) -> u64 {
    id
}

fn main() {
    handler();
    listed_twice(1);
}
