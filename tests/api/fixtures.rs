//! Test data kept as files under `tests/fixtures/`: blueprints, JSON bodies, configuration.
//!
//! `fixture!("blueprints/hello.yaml")` is the file's text, read at compile time (a missing file
//! does not compile). Where a test puts values into a fixture (the test image, an id), the file
//! says `{{name}}` and [`render`] fills it in.

/// The text of `tests/fixtures/<path>`, included at compile time.
#[macro_export]
macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $path))
    };
}

/// `template` with each `{{name}}` replaced by its value; every value must be used, and no
/// placeholder may be left.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let placeholder = format!("{{{{{name}}}}}");
        assert!(out.contains(&placeholder), "the fixture has no {placeholder}");
        out = out.replace(&placeholder, value);
    }
    assert!(!out.contains("{{"), "a placeholder was left unfilled: {out}");
    out
}

/// A blueprint fixture that runs the test image: `{{image}}` and the other `values` filled in.
pub fn blueprint(template: &str, values: &[(&str, &str)]) -> String {
    let image = crate::helpers::test_image();
    let mut all = vec![("image", image.as_str())];
    all.extend_from_slice(values);
    render(template, &all)
}
