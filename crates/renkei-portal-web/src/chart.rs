//! The health-checkup chart: server-drawn SVG, two lines over the fiscal
//! years (systolic blood pressure and HbA1c, each on its own scale), with
//! the values in a table beside it for screen readers.

use std::fmt::Write as _;

/// One year's values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) year: u16,
    pub(crate) systolic: Option<f64>,
    pub(crate) hba1c: Option<f64>,
}

const W: f64 = 340.0;
const H: f64 = 200.0;
const PAD_L: f64 = 36.0;
const PAD_R: f64 = 36.0;
const PAD_T: f64 = 16.0;
const PAD_B: f64 = 28.0;

fn scale(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return None;
    }
    let span = (hi - lo).max(1e-6);
    Some((lo - span * 0.15, hi + span * 0.15))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Colour, dash pattern, label and value of one line.
type Series<'a> = (&'a str, &'a str, &'a str, fn(&Point) -> Option<f64>);

/// The chart, or `None` with fewer than two years of data.
pub(crate) fn svg(points: &[Point], systolic_label: &str, hba1c_label: &str) -> Option<String> {
    if points.len() < 2 {
        return None;
    }
    let x = |i: usize| PAD_L + (W - PAD_L - PAD_R) * i as f64 / (points.len() - 1) as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" font-size="11" font-family="sans-serif">"#
    );
    let _ = write!(
        out,
        r##"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" fill="#ffffff" stroke="#767676"/>"##,
        W - PAD_L - PAD_R,
        H - PAD_T - PAD_B
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#1a1a1a">{}</text>"##,
            x(i),
            H - 8.0,
            p.year
        );
    }
    let series: [Series<'_>; 2] = [
        ("#0b4f9c", "", systolic_label, |p: &Point| p.systolic),
        ("#a30000", "6 3", hba1c_label, |p: &Point| p.hba1c),
    ];
    for (k, (color, dash, label, get)) in series.iter().enumerate() {
        let Some((lo, hi)) = scale(points.iter().filter_map(get)) else {
            continue;
        };
        let y = |v: f64| PAD_T + (H - PAD_T - PAD_B) * (1.0 - (v - lo) / (hi - lo));
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| get(p).map(|v| format!("{:.1},{:.1}", x(i), y(v))))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2.5" stroke-dasharray="{dash}" points="{}"/>"#,
            path.join(" ")
        );
        for (i, p) in points.iter().enumerate() {
            if let Some(v) = get(p) {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{color}"><title>{} {}: {v}</title></circle>"#,
                    x(i),
                    y(v),
                    p.year,
                    xml_escape(label)
                );
            }
        }
        // Axis ends, on the series' side.
        let (ax, anchor) = if k == 0 {
            (PAD_L - 4.0, "end")
        } else {
            (W - PAD_R + 4.0, "start")
        };
        for v in [lo, hi] {
            let _ = write!(
                out,
                r#"<text x="{ax}" y="{:.1}" text-anchor="{anchor}" fill="{color}">{:.1}</text>"#,
                y(v) + 4.0,
                v
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="{}" fill="{color}">{}</text>"#,
            if k == 0 { PAD_L } else { W - PAD_R },
            PAD_T - 4.0,
            if k == 0 { "start" } else { "end" },
            xml_escape(label)
        );
    }
    out.push_str("</svg>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_plots_every_year_and_escapes_labels() {
        let pts: Vec<Point> = (2021..=2025)
            .map(|y| Point {
                year: y,
                systolic: Some(120.0 + f64::from(y - 2021) * 2.0),
                hba1c: Some(5.4),
            })
            .collect();
        let s = svg(&pts, "BP <mmHg>", "HbA1c").unwrap();
        assert_eq!(s.matches("<circle").count(), 10);
        assert!(s.contains("2021") && s.contains("2025"));
        assert!(s.contains("BP &lt;mmHg&gt;"));
        assert!(svg(&pts[..1], "a", "b").is_none());
    }
}
