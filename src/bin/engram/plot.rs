//! The benchmark plot: SVG only (plotters' SVG backend). Left, single-query search throughput
//! against the store size; right, queries per second against the batch size at the largest
//! size both backends ran. One line per backend (f32 rows).

use std::path::Path;

use plotters::prelude::*;

use crate::bench::Row;

type Series = Vec<(f64, f64)>;

/// Points of f32 search rows of one backend: x from `x`, y from `y`, filtered by `keep`.
fn series(
    rows: &[Row],
    backend: &str,
    keep: impl Fn(&Row) -> bool,
    x: impl Fn(&Row) -> f64,
    y: impl Fn(&Row) -> f64,
) -> Series {
    let mut v: Series = rows
        .iter()
        .filter(|r| r.op == "search" && r.layout == "f32" && r.backend == backend && keep(r))
        .map(|r| (x(r), y(r)))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

fn range(all: &[&Series]) -> (f64, f64, f64, f64) {
    let pts = all.iter().flat_map(|s| s.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (1.0, 10.0, 1.0, 10.0);
    }
    (x0 / 1.5, x1 * 1.5, y0 / 2.0, y1 * 2.0)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    xdesc: &str,
    ydesc: &str,
    lines: &[(&str, &Series, RGBColor)],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let all: Vec<&Series> = lines.iter().map(|l| l.1).collect();
    let (x0, x1, y0, y1) = range(&all);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    chart
        .configure_mesh()
        .x_desc(xdesc)
        .y_desc(ydesc)
        .draw()
        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    for (name, pts, color) in lines {
        if pts.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    Ok(())
}

/// Writes the two-panel plot to `path`.
pub fn write_svg(path: &Path, rows: &[Row], gpu_software: bool) -> anyhow::Result<()> {
    let gb = |r: &Row| r.throughput;
    let n = |r: &Row| r.n as f64;
    let cpu_n = series(rows, "cpu", |r| r.batch == 1, n, gb);
    let gpu_n = series(rows, "gpu", |r| r.batch == 1, n, gb);
    // The batch panel at the largest N with GPU rows (else the largest N).
    let n_gpu = rows
        .iter()
        .filter(|r| r.backend == "gpu" && r.op == "search")
        .map(|r| r.n)
        .max();
    let n_all = rows.iter().map(|r| r.n).max().unwrap_or(0);
    let nb = n_gpu.unwrap_or(n_all);
    let qps = |r: &Row| r.queries_per_s();
    let b = |r: &Row| r.batch as f64;
    let cpu_b = series(rows, "cpu", |r| r.n == nb, b, qps);
    let gpu_b = series(rows, "gpu", |r| r.n == nb, b, qps);
    let gpu_name = if gpu_software {
        "gpu (software adapter: correctness only)"
    } else {
        "gpu"
    };
    let root = SVGBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)
        .map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    let (left, right) = root.split_horizontally(600);
    let cpu_c = RGBColor(31, 119, 180);
    let gpu_c = RGBColor(214, 39, 40);
    panel(
        &left,
        "top-10 search, 1 query, f32",
        "episodes in the store (N)",
        "rows read, GB/s",
        &[("cpu", &cpu_n, cpu_c), (gpu_name, &gpu_n, gpu_c)],
    )?;
    panel(
        &right,
        &format!("top-10 search, f32, N = {nb}"),
        "queries per call (batch)",
        "queries/s",
        &[("cpu", &cpu_b, cpu_c), (gpu_name, &gpu_b, gpu_c)],
    )?;
    root.present().map_err(|e| anyhow::anyhow!("plot: {e}"))?;
    Ok(())
}
