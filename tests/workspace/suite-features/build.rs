//! Does nothing: the crate's build dependencies only ask for features.

fn main() {}
