//! Inline SVG charts written as strings: a plot area with labelled axes, and helpers to
//! place marks in it. Text is escaped by the caller with [`super::esc`].

use crate::loadrun::nice_step;
use crate::time::Timestamp;
use std::fmt::Write;

/// Drawing width of every chart (the SVG scales to the page).
pub const WIDTH: f64 = 1100.0;

/// A linear axis: the value range, ticks and a title.
pub struct Axis {
    /// Value at the low end.
    pub min: f64,
    /// Value at the high end.
    pub max: f64,
    /// Tick positions and labels.
    pub ticks: Vec<(f64, String)>,
    /// Title with its unit.
    pub title: String,
}

impl Axis {
    /// A value axis from `min` to at least `max`, with about `count` round ticks.
    pub fn linear(min: f64, max: f64, count: usize, title: &str, fmt: fn(f64) -> String) -> Axis {
        let max = if max > min { max } else { min + 1.0 };
        let step = nice_step((max - min) / count.max(1) as f64);
        let top = (max / step).ceil() * step;
        let mut ticks = Vec::new();
        let mut v = (min / step).ceil() * step;
        while v <= top + step * 1e-9 {
            ticks.push((v, fmt(v)));
            v += step;
        }
        Axis {
            min,
            max: top,
            ticks,
            title: title.to_string(),
        }
    }

    /// A time axis from `start` to `end` with ticks at round clock times (UTC).
    pub fn time(start: Timestamp, end: Timestamp, title: &str) -> Axis {
        const STEPS_S: [f64; 20] = [
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
            60.0, 120.0, 300.0, 600.0, 1800.0,
        ];
        let span = (end.0 - start.0).max(1) as f64 / 1e9;
        let step = STEPS_S
            .iter()
            .copied()
            .find(|s| span / s <= 10.0)
            .unwrap_or_else(|| (span / 10.0 / 3600.0).ceil() * 3600.0);
        let step_ns = (step * 1e9) as i64;
        let digits = if step >= 1.0 {
            0
        } else if step >= 0.1 {
            1
        } else if step >= 0.01 {
            2
        } else {
            3
        };
        let mut ticks = Vec::new();
        let mut t = (start.0 + step_ns - 1).div_euclid(step_ns) * step_ns;
        while t <= end.0 {
            let c = (Timestamp(t)).clock();
            let label = if digits == 0 {
                c[..8].to_string()
            } else {
                c[..9 + digits].to_string()
            };
            ticks.push((t as f64, label));
            t += step_ns;
        }
        Axis {
            min: start.0 as f64,
            max: end.0.max(start.0 + 1) as f64,
            ticks,
            title: title.to_string(),
        }
    }
}

/// A plot: the SVG canvas, its margins and two axes.
pub struct Plot {
    /// Canvas height.
    pub height: f64,
    /// Left margin (y labels).
    pub left: f64,
    /// Right margin.
    pub right: f64,
    /// Top margin.
    pub top: f64,
    /// Bottom margin (x labels).
    pub bottom: f64,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// The marks, drawn after the axes.
    pub body: String,
}

impl Plot {
    /// A plot of the standard width.
    pub fn new(height: f64, x: Axis, y: Axis) -> Plot {
        Plot {
            height,
            left: 70.0,
            right: 40.0,
            top: 16.0,
            bottom: 52.0,
            x,
            y,
            body: String::new(),
        }
    }

    /// Pixel column of an x value.
    pub fn px(&self, v: f64) -> f64 {
        let w = WIDTH - self.left - self.right;
        self.left + (v - self.x.min) / (self.x.max - self.x.min) * w
    }

    /// Pixel row of a y value.
    pub fn py(&self, v: f64) -> f64 {
        let h = self.height - self.top - self.bottom;
        self.top + h - (v - self.y.min) / (self.y.max - self.y.min) * h
    }

    /// The bottom of the plot area.
    pub fn floor(&self) -> f64 {
        self.height - self.bottom
    }

    /// The finished `<svg>` element; `label` is its accessible name (escaped).
    pub fn finish(&self, label: &str) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="chart" viewBox="0 0 {WIDTH} {h}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"#,
            h = self.height
        );
        let (x0, x1) = (self.left, WIDTH - self.right);
        let (y0, y1) = (self.top, self.floor());
        for (v, text) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                s,
                r#"<line class="grid" x1="{x0}" x2="{x1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{tx}" y="{ty:.1}" text-anchor="end">{text}</text>"#,
                tx = x0 - 6.0,
                ty = y + 4.0
            );
        }
        for (v, text) in &self.x.ticks {
            let x = self.px(*v);
            let _ = write!(
                s,
                r#"<line class="tickmark" x1="{x:.1}" x2="{x:.1}" y1="{y1}" y2="{y2}"/><text class="tick" x="{x:.1}" y="{ty}" text-anchor="middle">{text}</text>"#,
                y2 = y1 + 5.0,
                ty = y1 + 18.0
            );
        }
        let _ = write!(
            s,
            r#"<line class="axis" x1="{x0}" x2="{x1}" y1="{y1}" y2="{y1}"/><line class="axis" x1="{x0}" x2="{x0}" y1="{y0}" y2="{y1}"/>"#
        );
        let _ = write!(
            s,
            r#"<text class="axis-title" x="{cx:.1}" y="{ty}" text-anchor="middle">{xt}</text><text class="axis-title" transform="translate(16 {cy:.1}) rotate(-90)" text-anchor="middle">{yt}</text>"#,
            cx = (x0 + x1) / 2.0,
            ty = self.height - 8.0,
            xt = self.x.title,
            cy = (y0 + y1) / 2.0,
            yt = self.y.title
        );
        s.push_str(&self.body);
        s.push_str("</svg>");
        s
    }
}

/// Formats a tick value without needless decimals.
pub fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_a_round_tick() {
        let a = Axis::linear(0.0, 64.0, 6, "open", number);
        assert_eq!(a.max, 80.0);
        assert_eq!(a.ticks.first().unwrap().1, "0");
        assert_eq!(a.ticks.last().unwrap().1, "80");
        let t = Axis::time(
            Timestamp(1_000_000_000_500_000_000),
            Timestamp(1_000_000_010_000_000_000),
            "time",
        );
        assert_eq!(t.ticks.len(), 10);
        assert_eq!(number(2.5), "2.5");
    }
}
