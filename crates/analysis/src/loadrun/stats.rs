//! Percentiles and round numbers.

/// Percentiles of a sample (linear interpolation between order statistics, as numpy's
/// default and polars' `quantile(.., "linear")`).
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// Values.
    pub n: usize,
    /// Smallest.
    pub min: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (NaN left out); `None` when there are none.
    pub fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| !v.is_nan());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (values.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
        };
        Some(Spread {
            n: values.len(),
            min: values[0],
            p25: q(0.25),
            p50: q(0.5),
            p75: q(0.75),
            p90: q(0.9),
            p99: q(0.99),
            max: values[values.len() - 1],
        })
    }

    /// Interquartile range.
    pub fn iqr(&self) -> f64 {
        self.p75 - self.p25
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `x` (for axis
/// ticks, band and bin widths); 1 for `x` ≤ 0.
pub fn nice_step(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return 1.0;
    }
    let mag = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|v| *v >= x * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = Spread::of(vec![4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.min, s.p50, s.max), (1.0, 2.5, 4.0));
        assert_eq!(s.p25, 1.75);
        assert_eq!(s.iqr(), 1.5);
        assert!(Spread::of(vec![]).is_none());
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(8.375), 10.0);
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(2.0), 2.0);
        assert_eq!(nice_step(21.0), 25.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
