//! Pins every compile-time diagnostic of `#[migration]` and `#[testing::test]`, and the shapes `#[migration]` accepts.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("fail/*.rs");
    cases.pass("pass/*.rs");
}
