//! Misuse of `#[trace]` is a compile error pointing at the mistake (messages in `tests/ui`).

#[test]
fn misuse_is_a_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
