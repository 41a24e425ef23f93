use reqtrace_macros::trace;

#[trace(name = "ok", level = "info")]
fn handler() {}

fn main() {
    handler();
}
