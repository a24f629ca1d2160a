//! Fuzzes the command line's argument parsing and the HTTP API's query
//! parsing: neither may panic, and the command line may never show the
//! password of a database URL placed anywhere among its arguments.

#![no_main]

use libfuzzer_sys::fuzz_target;

const SECRET: &str = "Fuzz-Secret-7";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Arguments are separated by NUL; the first byte says where the URL with a password goes.
    let mut args: Vec<String> = text.split('\0').map(str::to_owned).collect();
    let at = usize::from(data.first().copied().unwrap_or(0)) % (args.len() + 1);
    args.insert(at, format!("postgres://fuzz:{SECRET}@127.0.0.1:1/db"));
    args.insert(0, "migrate".to_owned());
    let (_, shown) = migrations_rs::cli::check_arguments(&args);
    if !text.contains(SECRET) {
        assert!(!shown.contains(SECRET), "the password is shown for {args:?}: {shown}");
    }
    if let Err((status, body)) = migrations_rs::http::check_history_query(text) {
        assert_eq!(status, 400, "{text:?}: {body}");
    }
});
