//! Capture timestamps.

use std::fmt;

/// A capture timestamp: nanoseconds since the Unix epoch, as the capture file recorded it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Builds a timestamp from whole seconds and a fraction counted in `units_per_sec`.
    pub fn from_parts(secs: i64, frac: u64, units_per_sec: u64) -> Timestamp {
        // The two common resolutions avoid a 128-bit division per packet.
        let frac_ns = match units_per_sec {
            0 => 0,
            1_000_000 => (frac as i64).saturating_mul(1000),
            1_000_000_000 => frac as i64,
            _ => ((frac as u128 * 1_000_000_000u128) / units_per_sec as u128) as i64,
        };
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(frac_ns))
    }

    /// Seconds since the epoch as a float (for arithmetic on durations, not for display).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The duration from `earlier` to `self` in milliseconds.
    #[inline]
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        match self.0.checked_sub(earlier.0) {
            Some(d) => d as f64 / 1e6,
            // In i128 when they are further apart than i64 holds (timestamps read from a
            // capture can be); the same value, but a slow conversion, so not always.
            None => (self.0 as i128 - earlier.0 as i128) as f64 / 1e6,
        }
    }
}

impl Timestamp {
    /// `HH:MM:SS.ffffff` in UTC, for people (the date is left out).
    pub fn clock(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let micros = self.0.rem_euclid(1_000_000_000) / 1000;
        let day = secs.rem_euclid(86_400);
        format!(
            "{:02}:{:02}:{:02}.{micros:06}",
            day / 3600,
            day / 60 % 60,
            day % 60
        )
    }
}

impl Timestamp {
    /// The UTC calendar date, `YYYY-MM-DD` (proleptic Gregorian; days from the epoch to a
    /// civil date as in Howard Hinnant's `civil_from_days`).
    pub fn date(self) -> String {
        let days = self.0.div_euclid(1_000_000_000).div_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// True when both fall on the same UTC day.
    pub fn same_day(self, other: Timestamp) -> bool {
        let day = |t: Timestamp| t.0.div_euclid(1_000_000_000).div_euclid(86_400);
        day(self) == day(other)
    }
}

/// Epoch seconds with nanoseconds, e.g. `1764331200.123456789`: exact, and the same text
/// whatever the capture's timestamp resolution was.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(
            Timestamp(1_764_331_200_123_456_789).clock(),
            "12:00:00.123456"
        );
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(Timestamp(0).date(), "1970-01-01");
        assert_eq!(Timestamp(1_764_331_200_000_000_000).date(), "2025-11-28");
        assert_eq!(Timestamp(951_782_400 * 1_000_000_000).date(), "2000-02-29");
        assert_eq!(Timestamp(-1).date(), "1969-12-31");
        let t = Timestamp(1_764_331_200_000_000_000);
        assert!(t.same_day(Timestamp(t.0 + 11 * 3_600_000_000_000)));
        assert!(!t.same_day(Timestamp(t.0 + 12 * 3_600_000_000_000)));
    }

    #[test]
    fn display_keeps_nanoseconds_and_pads() {
        assert_eq!(
            Timestamp::from_parts(12, 5, 1_000_000).to_string(),
            "12.000005000"
        );
        assert_eq!(
            Timestamp::from_parts(12, 5, 1_000_000_000).to_string(),
            "12.000000005"
        );
        assert_eq!(Timestamp(-1).to_string(), "-1.999999999");
    }

    #[test]
    fn binary_fractions_are_converted() {
        // pcapng if_tsresol 2^-10
        assert_eq!(Timestamp::from_parts(1, 512, 1024).0, 1_500_000_000);
    }

    #[test]
    fn millis_since_at_the_ends_of_the_range() {
        let t = |ns| Timestamp(ns);
        assert_eq!(t(2_500_000).millis_since(t(1_000_000)), 1.5);
        assert_eq!(t(-1).millis_since(t(0)), -1e-6);
        // Further apart than i64 holds: the exact difference, rounded once.
        let wide = (i64::MAX as f64 - i64::MIN as f64) / 1e6;
        assert_eq!(t(i64::MAX).millis_since(t(i64::MIN)), wide);
        assert_eq!(t(i64::MIN).millis_since(t(i64::MAX)), -wide);
    }
}
