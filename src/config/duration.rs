//! Human-friendly durations: `250us`, `10ms`, `1s`, `1.5s`, `2m`, `1h`, or a bare
//! integer meaning seconds.

use std::time::Duration;

const UNITS: [(&str, u128); 4] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
];
const HOUR_NS: u128 = 3_600_000_000_000;

/// Parse a duration string. The error is a complete sentence for the user.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration `{text}`: expected a number with a unit \
             (us, ms, s, m, h), e.g. `10ms`, `1s`, `1.5s`, `2m`, or whole seconds"
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim_start();
    let unit_ns = match unit {
        "" => {
            // Bare number: whole seconds only.
            if num.is_empty() || num.contains('.') {
                return Err(bad());
            }
            1_000_000_000
        }
        "h" => HOUR_NS,
        u => match UNITS.iter().find(|(name, _)| *name == u) {
            Some((_, ns)) => *ns,
            None => return Err(bad()),
        },
    };
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || frac_part.contains('.')
        || (num.contains('.') && (int_part.is_empty() || frac_part.is_empty()))
    {
        return Err(bad());
    }
    let too_long = || format!("duration `{text}` is too long");
    let int: u128 = int_part.parse().map_err(|_| too_long())?;
    let mut nanos = int.checked_mul(unit_ns).ok_or_else(too_long)?;
    if !frac_part.is_empty() {
        let digits = u32::try_from(frac_part.len()).map_err(|_| bad())?;
        if digits > 18 {
            return Err(format!("duration `{text}` has too many decimal places"));
        }
        let frac: u128 = frac_part.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(digits);
        let scaled = frac * unit_ns;
        if !scaled.is_multiple_of(scale) {
            return Err(format!(
                "duration `{text}` is more precise than one nanosecond"
            ));
        }
        nanos = nanos.checked_add(scaled / scale).ok_or_else(too_long)?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    // The remainder is < 1e9 so it always fits.
    let sub = u32::try_from(nanos % 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, sub))
}

/// Render a duration the way a user would write it, in a form [`parse_duration`] reads back:
/// `0s`, `250us`, `10ms`, `1.5s`, `90s`, `2m`, `1h`. Whole hours and minutes use `h` and `m`;
/// otherwise the largest of `s`, `ms`, `us` that keeps an integer part, with the decimals it
/// needs (a lone nanosecond is `0.001us`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns.is_multiple_of(HOUR_NS) {
        return format!("{}h", ns / HOUR_NS);
    }
    let minute = UNITS[3].1;
    if ns.is_multiple_of(minute) {
        return format!("{}m", ns / minute);
    }
    // s, ms, us: the first whose integer part is not zero (us for anything below 1us).
    let (name, unit) = UNITS[..3]
        .iter()
        .rev()
        .find(|(_, u)| ns >= *u)
        .copied()
        .unwrap_or(UNITS[0]);
    let int = ns / unit;
    let frac = ns % unit;
    if frac == 0 {
        return format!("{int}{name}");
    }
    // `unit` is a power of ten: print the remainder with as many digits, trailing zeros cut.
    let digits = unit.ilog10() as usize;
    let frac = format!("{frac:0digits$}");
    format!("{int}.{}{name}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Duration {
        parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn units() {
        assert_eq!(ok("10ms"), Duration::from_millis(10));
        assert_eq!(ok("1s"), Duration::from_secs(1));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.5s"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("40.95s"), Duration::from_millis(40950));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("7"), Duration::from_secs(7));
        assert_eq!(ok(" 3 s "), Duration::from_secs(3));
        assert_eq!(ok("0.001ms"), Duration::from_micros(1));
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "s",
            "1.5",
            "-1s",
            "1x",
            "1sec",
            "1.s",
            ".5s",
            "1..5s",
            "1.5.2s",
            "abc",
            "1 2s",
            "0.0000000001s",
            "99999999999999999999999999999999999999h",
        ] {
            assert!(parse_duration(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn format() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(10)), "10ms");
        // Not Debug's `0ns` / `1µs`: what a user writes, and what parse_duration reads back.
        for (d, s) in [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(1), "1us"),
            (Duration::from_micros(250), "250us"),
            (Duration::from_nanos(1), "0.001us"),
            (Duration::from_nanos(1_500), "1.5us"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(40_950), "40.95s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(120), "2m"),
            (Duration::from_secs(3600), "1h"),
            (Duration::from_secs(5400), "90m"),
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
        ] {
            assert_eq!(format_duration(d), s, "{d:?}");
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
    }
}
