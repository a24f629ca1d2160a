//! The durations of the waits a run is given (how long a statement waits for
//! a lock, how long it may run), written the same way wherever they are set:
//! a command-line flag, migrations.toml, a migration's attribute or a SQL
//! file's header.

use std::time::Duration;

/// Parses a wait such as `300ms`, `5s` or `2m` (a bare number is
/// milliseconds). Zero is refused: a wait of nothing would fail every
/// statement that meets any lock.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration: give a whole number with a unit, such as `300ms`, `5s` or `2m`")
    })?;
    let wait = match unit.trim() {
        "" | "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" | "min" => Duration::from_secs(number.saturating_mul(60)),
        other => {
            return Err(format!(
                "`{text}` has an unknown unit `{other}`: use `ms`, `s` or `m`, such as `300ms` or `5s`"
            ));
        }
    };
    if wait.is_zero() {
        return Err(format!("`{text}` is zero: a wait must be at least 1 ms"));
    }
    Ok(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_numbers_with_units_and_never_zero() {
        assert_eq!(parse_wait("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_wait(" 5s "), Ok(Duration::from_secs(5)));
        assert_eq!(parse_wait("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_wait("250"), Ok(Duration::from_millis(250)));
        assert!(parse_wait("0s").unwrap_err().contains("zero"));
        assert!(parse_wait("5h").unwrap_err().contains("unknown unit"));
        assert!(parse_wait("soon").unwrap_err().contains("not a duration"));
        assert!(parse_wait("-1s").is_err());
    }
}
