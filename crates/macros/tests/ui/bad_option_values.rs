use reqtrace_macros::trace;

#[trace(name = custom)]
fn unquoted_name() {}

#[trace(args(a = 1))]
fn assigned_arg(a: u64) -> u64 {
    a
}

#[trace(args(self))]
fn not_a_method() {}

struct S;

impl S {
    #[trace(args(self))]
    fn self_by_value(&self) {}
}

#[trace]
const fn constant() {}

fn main() {
    unquoted_name();
    assigned_arg(1);
    not_a_method();
    S.self_by_value();
    constant();
}
