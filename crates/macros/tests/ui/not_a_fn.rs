use reqtrace_macros::trace;

#[trace]
struct Handler {
    id: u64,
}

fn main() {
    let _ = Handler { id: 1 }.id;
}
