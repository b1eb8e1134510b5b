//! Small SVG charts: points with confidence bars, lines, and a legend. No
//! dependencies; the output opens in any browser.

use std::fmt::Write;

use crate::markup::escape;

const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// A dot at (x, y) with an optional vertical bar (low, high).
pub type Point = (f64, f64, Option<(f64, f64)>);

/// What one series draws.
#[derive(Debug, Clone)]
pub enum Mark {
    /// Dots, each with an optional vertical bar (low, high).
    Points(Vec<Point>),
    /// A polyline, dashed or not.
    Line(Vec<(f64, f64)>, bool),
}

/// A named, coloured series.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub mark: Mark,
}

/// A chart with linear axes.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub series: Vec<Series>,
}

impl Chart {
    /// The chart as an SVG document: its frame (title, grid, ticks, axis
    /// labels), each series, and the legend.
    pub fn svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
        );
        self.frame(&mut s);
        for series in &self.series {
            match &series.mark {
                Mark::Line(points, dashed) => self.line(&mut s, points, *dashed, series.color),
                Mark::Points(points) => self.points(&mut s, points, series.color),
            }
        }
        self.legend(&mut s);
        s.push_str("</svg>\n");
        s
    }

    /// The horizontal place of `x`.
    fn sx(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0) * (W - LEFT - RIGHT)
    }

    /// The vertical place of `y`, kept inside the plot.
    fn sy(&self, y: f64) -> f64 {
        let y = y.clamp(self.y.0, self.y.1);
        H - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0) * (H - TOP - BOTTOM)
    }

    /// The background, the title, the grid with its ticks, the plot's box
    /// and the axes' labels.
    fn frame(&self, s: &mut String) {
        let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
            W / 2.0,
            escape(&self.title)
        );
        for i in 0..=5 {
            let fx = self.x.0 + (self.x.1 - self.x.0) * f64::from(i) / 5.0;
            let fy = self.y.0 + (self.y.1 - self.y.0) * f64::from(i) / 5.0;
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#e4e4e4"/>"##,
                self.sx(fx),
                TOP,
                H - BOTTOM
            );
            let _ = writeln!(
                s,
                r##"<line x1="{1}" y1="{0:.1}" x2="{2}" y2="{0:.1}" stroke="#e4e4e4"/>"##,
                self.sy(fy),
                LEFT,
                W - RIGHT
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                self.sx(fx),
                H - BOTTOM + 18.0,
                tick(fx)
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                self.sy(fy) + 4.0,
                tick(fy)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            W - LEFT - RIGHT,
            H - TOP - BOTTOM
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            H - 18.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">{1}</text>"#,
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
    }

    /// A polyline through `points`, dashed or not.
    fn line(&self, s: &mut String, points: &[(f64, f64)], dashed: bool, color: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.sx(x), self.sy(y)))
            .collect();
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            path.join(" "),
        );
    }

    /// A dot per point, each with its bar and the bar's caps.
    fn points(&self, s: &mut String, points: &[Point], color: &str) {
        for &(x, y, bar) in points {
            if let Some((lo, hi)) = bar {
                let _ = writeln!(
                    s,
                    r#"<line x1="{0:.1}" y1="{1:.1}" x2="{0:.1}" y2="{2:.1}" stroke="{color}" stroke-width="1.5"/>"#,
                    self.sx(x),
                    self.sy(lo),
                    self.sy(hi),
                );
                for v in [lo, hi] {
                    let _ = writeln!(
                        s,
                        r#"<line x1="{0:.1}" y1="{1:.1}" x2="{2:.1}" y2="{1:.1}" stroke="{color}" stroke-width="1.5"/>"#,
                        self.sx(x) - 5.0,
                        self.sy(v),
                        self.sx(x) + 5.0,
                    );
                }
            }
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"/>"#,
                self.sx(x),
                self.sy(y),
            );
        }
    }

    /// A swatch and the name of each series, top left.
    fn legend(&self, s: &mut String) {
        for (i, series) in self.series.iter().enumerate() {
            let y = TOP + 16.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{}" width="14" height="4" fill="{}"/>"#,
                LEFT + 12.0,
                y - 6.0,
                series.color
            );
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{y}">{}</text>"#,
                LEFT + 32.0,
                escape(&series.name)
            );
        }
    }
}

/// A round number at or above `v` (1, 2 or 5 times a power of ten), for
/// an axis' top.
pub fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * magnitude)
}

fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_numbers() {
        assert_eq!(nice_ceiling(23.989), 50.0);
        assert_eq!(nice_ceiling(4.4), 5.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }

    #[test]
    fn chart_is_well_formed_svg_with_every_series() {
        let chart = Chart {
            title: "loss <observed>".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            series: vec![
                Series {
                    name: "points".into(),
                    color: "red",
                    mark: Mark::Points(vec![(0.5, 0.5, Some((0.4, 0.6)))]),
                },
                Series {
                    name: "line".into(),
                    color: "blue",
                    mark: Mark::Line(vec![(0.0, 0.0), (1.0, 2.0)], true),
                },
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("loss &lt;observed&gt;"));
        assert!(
            svg.contains("<circle")
                && svg.contains("<polyline")
                && svg.contains("stroke-dasharray")
        );
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    }
}
