//! PNG plots: the accuracy-matrix heatmap and line charts (loss, α), drawn with plotters and
//! the bundled DejaVu Sans font (`assets/fonts`).

use std::path::Path;
use std::sync::Once;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::matrix::AccuracyMatrix;

static FONT: Once = Once::new();

fn register_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font("sans-serif", style, bytes).is_err() {
                log::warn!("the bundled font could not be registered; plots have no text");
            }
        }
    });
}

/// Draws a PNG at `path` through [`crate::io::replace_atomic`] (`draw` gets the temporary
/// path, which keeps the `.png` extension the encoder reads).
fn draw_png(path: &Path, draw: impl FnOnce(&Path) -> Result<(), String>) -> crate::Result<()> {
    register_font();
    crate::io::replace_atomic(path, |tmp| draw(tmp).map_err(std::io::Error::other))
        .map_err(|e| crate::Error::run(path, format!("cannot draw the plot: {e}")))
}

/// From dark blue (0) to yellow (1), roughly viridis.
fn shade_colour(t: f64) -> RGBColor {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let x = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (x.floor() as usize).min(stops.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    let (a, b) = (stops[i], stops[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The accuracy matrix as a heatmap: row = after training task j, column = task i, the
/// accuracy written in each measured cell.
pub fn heatmap(path: &Path, matrix: &AccuracyMatrix) -> crate::Result<()> {
    draw_png(path, |tmp| draw_heatmap(tmp, matrix))
}

fn draw_heatmap(tmp: &Path, matrix: &AccuracyMatrix) -> Result<(), String> {
    let n = matrix.tasks.len().max(1);
    let side = (90 * n + 200) as u32;
    {
        let root = BitMapBackend::new(tmp, (side, side)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Accuracy A[j][i] (%)", ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(130)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(|e| e.to_string())?;
        let name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => matrix.tasks.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n + 1)
            .y_labels(n + 1)
            .x_label_formatter(&|v| name(v))
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) if *y < n => {
                    format!("after {}", name(&SegmentValue::CenterOf(n - 1 - y)))
                }
                _ => String::new(),
            })
            .x_desc("evaluated task i")
            .draw()
            .map_err(|e| e.to_string())?;
        for (j, row) in matrix.rows.iter().enumerate() {
            for (i, &acc) in row.iter().enumerate() {
                let y = n - 1 - j;
                let shade = (acc / 100.0).clamp(0.0, 1.0);
                let cell = [
                    (SegmentValue::Exact(i), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(i + 1), SegmentValue::Exact(y + 1)),
                ];
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        cell,
                        shade_colour(shade).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                let text_colour = if shade > 0.6 { BLACK } else { WHITE };
                let style = ("sans-serif", 18)
                    .into_font()
                    .color(&text_colour)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{acc:.1}"),
                        (SegmentValue::CenterOf(i), SegmentValue::CenterOf(y)),
                        style,
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The chart every line plot shares: a white canvas, the title, and a mesh with labelled axes
/// over the given x and y ranges.
fn axes<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String>
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// One line per named series of `(x, y)` points.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> crate::Result<()> {
    draw_png(path, |tmp| draw_lines(tmp, title, x_label, y_label, series))
}

fn draw_lines(
    tmp: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), String> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points.filter(|(_, y)| y.is_finite()) {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.05).max(1e-6);
    {
        let root = BitMapBackend::new(tmp, (900, 500)).into_drawing_area();
        let ranges = (0.0..x_max, (y_min - pad)..(y_max + pad));
        let mut chart = axes(&root, title, (x_label, y_label), ranges)?;
        for (k, (name, data)) in series.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    data.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A point with its spread: name, (x, y) mean and (x, y) standard deviation.
pub type SpreadPoint = (String, (f64, f64), (f64, f64));

/// A trade-off chart: one reference line (drawn through its points in order, each labelled)
/// and named points with error bars of one standard deviation on both axes; both axes 0-100.
pub fn tradeoff_chart(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    line: (&str, &[(String, f64, f64)]),
    points: &[SpreadPoint],
) -> crate::Result<()> {
    draw_png(path, |tmp| {
        let root = BitMapBackend::new(tmp, (900, 700)).into_drawing_area();
        let mut chart = axes(&root, title, (x_label, y_label), (-2.0..102.0, -2.0..102.0))?;
        let grey = RGBColor(90, 90, 90);
        let (name, data) = line;
        chart
            .draw_series(LineSeries::new(
                data.iter().map(|(_, x, y)| (*x, *y)),
                grey.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
        for (label, x, y) in data {
            chart
                .draw_series(std::iter::once(Text::new(
                    label.clone(),
                    (*x + 0.8, *y + 1.5),
                    ("sans-serif", 13).into_font().color(&grey),
                )))
                .map_err(|e| e.to_string())?;
        }
        for (k, (name, (x, y), (sx, sy))) in points.iter().enumerate() {
            let colour = SERIES_COLOURS[k % SERIES_COLOURS.len()];
            let style = colour.stroke_width(2);
            chart
                .draw_series([ErrorBar::new_vertical(*x, *y - sy, *y, *y + sy, style, 8)])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series([ErrorBar::new_horizontal(*y, *x - sx, *x, *x + sx, style, 8)])
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(std::iter::once(Circle::new((*x, *y), 6, colour.filled())))
                .map_err(|e| e.to_string())?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x + 9, y), 5, colour.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })
}

/// Distinct colours for up to sixteen series (matplotlib's tab10, then six darker ones).
const SERIES_COLOURS: [RGBColor; 16] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
    RGBColor(0, 0, 128),
    RGBColor(128, 0, 0),
    RGBColor(0, 110, 110),
    RGBColor(110, 110, 0),
    RGBColor(90, 0, 120),
];

/// A method comparison over a task sequence: one marked line per method (mean accuracy on the
/// tasks seen so far, at task positions `1..=n` named by `tasks` on the x axis) and, when
/// given, a reference (the multitask upper bound) as a dashed horizontal line; the legend
/// stands beside the chart, so no line is hidden under it.
pub fn task_chart(
    path: &Path,
    title: &str,
    tasks: &[String],
    series: &[(String, Vec<(f64, f64)>)],
    reference: Option<(&str, f64)>,
) -> crate::Result<()> {
    draw_png(path, |tmp| {
        let n = tasks.len().max(1);
        let values = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
        let values: Vec<f64> = values
            .chain(reference.map(|r| r.1))
            .filter(|y| y.is_finite())
            .collect();
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.08).max(1.0);
        let root = BitMapBackend::new(tmp, (1060, 540)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(800);
        let mut chart = ChartBuilder::on(&left)
            .caption(title, ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5..n as f64 + 0.5, (lo - pad)..(hi + pad))
            .map_err(|e| e.to_string())?;
        let name_of = |x: &f64| {
            let i = x.round();
            match (x - i).abs() < 1e-6 && i >= 1.0 {
                true => tasks.get(i as usize - 1).cloned().unwrap_or_default(),
                false => String::new(),
            }
        };
        chart
            .configure_mesh()
            .x_labels(n)
            .x_label_formatter(&name_of)
            .x_desc("after training on task")
            .y_desc("mean accuracy on the tasks seen so far (%)")
            .draw()
            .map_err(|e| e.to_string())?;
        let grey = RGBColor(90, 90, 90);
        let mut legend: Vec<(String, RGBColor, bool)> = Vec::new();
        if let Some((name, y)) = reference {
            let dashes = (0..2 * n).map(|k| {
                let x0 = 0.5 + k as f64 * 0.5;
                PathElement::new(vec![(x0, y), (x0 + 0.3, y)], grey.stroke_width(2))
            });
            chart.draw_series(dashes).map_err(|e| e.to_string())?;
            legend.push((name.to_string(), grey, true));
        }
        for (k, (name, data)) in series.iter().enumerate() {
            let colour = SERIES_COLOURS[k % SERIES_COLOURS.len()];
            let line = LineSeries::new(data.iter().copied(), colour.stroke_width(2));
            chart
                .draw_series(line.point_size(4))
                .map_err(|e| e.to_string())?;
            legend.push((name.clone(), colour, false));
        }
        for (k, (name, colour, dashed)) in legend.into_iter().enumerate() {
            let y = 50 + 24 * k as i32;
            let segment = match dashed {
                true => vec![(8, y), (20, y)],
                false => vec![(8, y), (36, y)],
            };
            right
                .draw(&PathElement::new(segment, colour.stroke_width(2)))
                .map_err(|e| e.to_string())?;
            if !dashed {
                right
                    .draw(&Circle::new((22, y), 4, colour.filled()))
                    .map_err(|e| e.to_string())?;
            }
            right
                .draw(&Text::new(name, (44, y - 8), ("sans-serif", 15)))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })
}
