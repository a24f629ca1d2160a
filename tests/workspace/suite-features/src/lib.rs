//! No code: this crate only asks for the dependency features the test
//! suite's build asks for (see its `Cargo.toml`).
