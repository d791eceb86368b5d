//! A comparison repeated over several training seeds: each seed's runs in their own folder,
//! and one table of the mean and standard deviation of every metric per method.

use super::compare::MethodResult;

/// Mean and sample standard deviation (0 for one value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = match values.len() {
        0 | 1 => 0.0,
        k => values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (k - 1) as f64,
    };
    (mean, var.sqrt())
}

/// The table over seeds: one row per method (in the first seed's order), each metric as
/// `mean ± sd`, and the mean wall time.
///
/// ```
/// use lcia::experiments::seeds::mean_sd;
/// let (m, s) = mean_sd(&[1.0, 2.0, 3.0]);
/// assert_eq!((m, s), (2.0, 1.0));
/// ```
pub fn seeds_markdown(per_seed: &[Vec<MethodResult>]) -> String {
    let mut out = format!(
        "Over {} seeds (mean ± sample standard deviation):\n\n| method | Avg.ACC | Forgetting | New.ACC | BWT | time (s) |\n|---|---:|---:|---:|---:|---:|\n",
        per_seed.len()
    );
    let Some(first) = per_seed.first() else {
        return out;
    };
    for method in first.iter().map(|r| r.method.as_str()) {
        let rows: Vec<&MethodResult> = per_seed
            .iter()
            .filter_map(|seed| seed.iter().find(|r| r.method == method))
            .collect();
        let cell = |pick: fn(&MethodResult) -> f64| {
            let (m, s) = mean_sd(&rows.iter().map(|r| pick(r)).collect::<Vec<_>>());
            format!("{m:.2} ± {s:.2}")
        };
        out.push_str(&format!(
            "| {method} | {} | {} | {} | {} | {:.0} |\n",
            cell(|r| r.metrics.avg_acc),
            cell(|r| r.metrics.forgetting),
            cell(|r| r.metrics.new_acc),
            cell(|r| r.metrics.bwt),
            mean_sd(&rows.iter().map(|r| r.seconds).collect::<Vec<_>>()).0,
        ));
    }
    out
}

/// The trade-off over seeds as a picture: each method at (mean Forgetting, mean Avg.ACC) with
/// one-standard-deviation bars on both axes; the multitask upper bound (forgetting 0 by
/// construction) is the grey horizontal line at its accuracy; zero-shot is left out.
pub fn seeds_chart(path: &std::path::Path, per_seed: &[Vec<MethodResult>]) -> crate::Result<()> {
    let Some(first) = per_seed.first() else {
        return Ok(());
    };
    let mut points = Vec::new();
    let mut reference = Vec::new();
    for method in first.iter().map(|r| r.method.as_str()) {
        let rows: Vec<&MethodResult> = per_seed
            .iter()
            .filter_map(|seed| seed.iter().find(|r| r.method == method))
            .collect();
        let acc = mean_sd(&rows.iter().map(|r| r.metrics.avg_acc).collect::<Vec<_>>());
        let forgetting = mean_sd(
            &rows
                .iter()
                .map(|r| r.metrics.forgetting)
                .collect::<Vec<_>>(),
        );
        if method == "Zero-shot" {
            continue; // nothing learned, nothing forgotten: not a trade-off
        }
        match method.starts_with("Multitask") {
            // a horizontal line at its accuracy, labelled once
            true => reference.extend([
                ("upper bound".to_string(), 0.0, acc.0),
                (String::new(), 100.0, acc.0),
            ]),
            false => points.push((
                method.to_string(),
                (forgetting.0, acc.0),
                (forgetting.1, acc.1),
            )),
        }
    }
    crate::eval::plot::tradeoff_chart(
        path,
        &format!("Accuracy and forgetting over {} seeds", per_seed.len()),
        ("Forgetting (%)", "Avg.ACC (%)"),
        ("Multitask (upper bound)", &reference),
        &points,
    )
}
