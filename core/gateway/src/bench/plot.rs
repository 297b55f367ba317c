//! `--plot out.svg`: every target's latency by percentile on one chart (plotters' SVG
//! backend). The percentile axis is logarithmic in the distance to 100% (0%, 90%, 99%, 99.9%
//! equally spaced), as HdrHistogram's plots are, so the tail is as wide as the median; the
//! latency axis is logarithmic too, so a median of microseconds and a tail of milliseconds
//! both show.

use std::path::Path;

use plotters::prelude::*;

use super::report::{Outcome, spectrum};

const SIZE: (u32, u32) = (960, 540);

/// `q` (0..=1) on the chart's x axis: -log10(1 - q), capped at `cap`.
fn x_of(q: f64, cap: f64) -> f64 {
    if q >= 1.0 {
        cap
    } else {
        (-(1.0 - q).log10()).min(cap)
    }
}

/// An x value as a percentile label: 0 -> `0%`, 2 -> `99%`, 3 -> `99.9%`.
fn label(x: &f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = (x.round() as usize).saturating_sub(2).min(6);
    format!("{p:.decimals$}%")
}

pub(crate) fn draw(path: &Path, outcomes: &[Outcome]) -> Result<(), String> {
    // the tail is drawn as far as there are samples to support it: one in `count`
    let cap = outcomes
        .iter()
        .map(|o| (o.tally.responses().max(10) as f64).log10().floor())
        .fold(1.0, f64::max)
        .min(6.0);
    let curves: Vec<(String, Vec<(f64, f64)>)> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let pts = spectrum(&o.tally.hist)
                .into_iter()
                .map(|(p, ns)| (x_of(p / 100.0, cap), ns as f64))
                .collect();
            (format!("[{}] {}", i + 1, o.url), pts)
        })
        .collect();
    let ys = || curves.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y));
    let top = ys().fold(1.0, f64::max);
    let bottom = ys().fold(top, f64::min).max(1.0);
    let (unit, scale) = if top >= 1e7 {
        ("ms", 1e6)
    } else {
        ("µs", 1e3)
    };
    let y_range = (bottom / scale / 1.5)..(top / scale * 1.5);

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption("gw bench: latency by percentile", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..cap, y_range.log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_labels(cap as usize + 1)
        .x_label_formatter(&label)
        .x_desc("percentile")
        .y_desc(format!("latency ({unit}, log scale)"))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (name, pts)) in curves.into_iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let line = pts.into_iter().map(|(x, y)| (x, y / scale));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentile_axis() {
        assert_eq!(x_of(0.0, 5.0), 0.0);
        assert!((x_of(0.99, 5.0) - 2.0).abs() < 1e-9);
        assert_eq!(x_of(1.0, 5.0), 5.0);
        assert_eq!(label(&0.0), "0%");
        assert_eq!(label(&2.0), "99%");
        assert_eq!(label(&3.0), "99.9%");
        assert_eq!(label(&4.0), "99.99%");
    }
}
