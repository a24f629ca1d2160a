//! Pins every compile-time diagnostic of `#[migration]`, and the shapes it accepts.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("../tests/ui/fail/*.rs");
    cases.pass("../tests/ui/pass/*.rs");
}
