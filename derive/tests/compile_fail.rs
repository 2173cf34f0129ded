//! Compile-fail tests: each file under tests/ui must fail to compile with
//! exactly the message in its .stderr, pointing at the user's span.

#[test]
fn attribute_and_model_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
