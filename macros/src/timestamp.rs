//! Checks that a version literal is a real UTC timestamp `YYYYMMDDHHMMSS`.

/// Why a version literal is not a usable timestamp; the message says what to write instead.
pub(crate) fn check(digits: &str) -> Result<u64, String> {
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "version must be a 14-digit UTC timestamp YYYYMMDDHHMMSS, found {} digit(s); \
             write it like `2024_01_15_093000`",
            digits.len()
        ));
    }
    let field = |range: std::ops::Range<usize>| -> u32 { digits[range].parse().expect("ASCII digits checked above") };
    let (year, month, day) = (field(0..4), field(4..6), field(6..8));
    let (hour, minute, second) = (field(8..10), field(10..12), field(12..14));
    if year < 1970 {
        return Err(format!("version year {year} is before 1970; use the UTC time the migration was written"));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("version month {month:02} does not exist; months run from 01 to 12"));
    }
    let last_day = days_in_month(year, month);
    if day == 0 || day > last_day {
        return Err(format!("version day {day:02} does not exist in {year:04}-{month:02}, which has {last_day} days"));
    }
    if hour > 23 {
        return Err(format!("version hour {hour:02} does not exist; hours run from 00 to 23"));
    }
    if minute > 59 {
        return Err(format!("version minute {minute:02} does not exist; minutes run from 00 to 59"));
    }
    if second > 59 {
        return Err(format!("version second {second:02} does not exist; seconds run from 00 to 59"));
    }
    Ok(digits.parse().expect("14 ASCII digits fit in u64"))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_real_timestamps() {
        assert_eq!(check("20240115093000"), Ok(20240115093000));
        assert_eq!(check("20240229235959"), Ok(20240229235959));
        assert_eq!(check("20000229000000"), Ok(20000229000000));
    }

    #[test]
    fn refuses_impossible_timestamps() {
        for bad in [
            "20241315000000",  // month 13
            "20240230000000",  // 30 February
            "20230229000000",  // 29 February outside a leap year
            "19000229000000",  // 1900 is no leap year, and before 1970
            "20240115240000",  // hour 24
            "20240115006000",  // minute 60
            "20240115000060",  // second 60
            "20240100000000",  // day 0
            "2024011509300",   // 13 digits
            "202401150930000", // 15 digits
        ] {
            assert!(check(bad).is_err(), "{bad} should be refused");
        }
    }
}
