//! Pins every compile-time diagnostic of `#[migration]` and `#[testing::test]`, and the shapes `#[migration]` accepts.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("../tests/ui/fail/*.rs");
    cases.pass("../tests/ui/pass/*.rs");
}
