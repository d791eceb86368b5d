//! Reading a run configuration from its file, and the valid range of every numeric value in
//! it, checked before anything runs: all problems are reported at once, each naming its field
//! and range; nothing is clamped.

use std::path::Path;

use super::config::RunConfig;
use crate::baselines::Baseline;

impl RunConfig {
    /// Reads a TOML file; relative paths in it are taken relative to the file's folder, and
    /// every value is checked ([`validate`]).
    pub fn from_file(path: &Path) -> crate::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::Error::io(path, e))?;
        let mut config: RunConfig = toml::from_str(&text).map_err(|e| crate::Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.make_paths_absolute(base);
        validate(&config, path)?;
        Ok(config)
    }
}

/// The problems found, one line each (`field = value: must be ...`).
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, field: &str, value: impl std::fmt::Display, range: &str) {
        if !ok {
            self.0.push(format!("{field} = {value}: must be {range}"));
        }
    }

    fn at_least_one(&mut self, field: &str, value: usize) {
        self.check(value >= 1, field, value, "at least 1");
    }

    fn some_at_least_one(&mut self, field: &str, value: Option<usize>) {
        if let Some(value) = value {
            self.at_least_one(field, value);
        }
    }

    fn non_negative(&mut self, field: &str, value: f64) {
        self.check(
            value.is_finite() && value >= 0.0,
            field,
            value,
            "a finite number ≥ 0",
        );
    }

    fn positive(&mut self, field: &str, value: f64) {
        self.check(
            value.is_finite() && value > 0.0,
            field,
            value,
            "a finite number > 0",
        );
    }

    /// A value in [0, 1].
    fn fraction(&mut self, field: &str, value: f64) {
        self.check((0.0..=1.0).contains(&value), field, value, "in [0, 1]");
    }
}

/// Checks every numeric value of `config` (read from `path`); the error lists each value out of
/// range with its field.
///
/// ```
/// use lcia::continual::config::RunConfig;
/// use lcia::continual::validate::validate;
/// let mut config: RunConfig = toml::from_str("[model]\ndir = \"m\"").unwrap();
/// assert!(validate(&config, "run.toml".as_ref()).is_ok());
/// config.train.batch_size = 0;
/// config.lora.dropout = 1.5;
/// let err = validate(&config, "run.toml".as_ref()).unwrap_err().to_string();
/// assert!(err.contains("train.batch_size = 0: must be at least 1"), "{err}");
/// assert!(err.contains("lora.dropout = 1.5: must be in [0, 1)"), "{err}");
/// ```
pub fn validate(config: &RunConfig, path: &Path) -> crate::Result<()> {
    let mut p = Problems::default();
    let (lora, train, method, eval) = (&config.lora, &config.train, &config.method, &config.eval);
    p.at_least_one("lora.r", lora.r);
    p.positive("lora.alpha", lora.alpha);
    let dropout = lora.dropout;
    let in_range = (0.0..1.0).contains(&dropout);
    p.check(in_range, "lora.dropout", dropout, "in [0, 1)");
    let targets = !lora.targets.is_empty();
    p.check(targets, "lora.targets", "[]", "at least one projection");
    p.at_least_one("train.epochs", train.epochs);
    p.at_least_one("train.batch_size", train.batch_size);
    p.at_least_one("train.grad_accum", train.grad_accum);
    p.non_negative("train.lr_lora", train.lr_lora);
    p.non_negative("train.lr_projector", train.lr_projector);
    p.non_negative("train.weight_decay", train.weight_decay);
    p.fraction("train.warmup_ratio", train.warmup_ratio);
    if let Some(norm) = train.max_grad_norm {
        p.positive("train.max_grad_norm", norm);
    }
    let max_len = train.max_len;
    p.check(max_len >= 2, "train.max_len", max_len, "at least 2");
    p.fraction("method.tau", method.tau);
    p.fraction("method.fixed_beta", method.fixed_beta);
    p.at_least_one("eval.batch_size", eval.batch_size);
    p.some_at_least_one("eval.max_new_tokens", eval.max_new_tokens);
    p.some_at_least_one("eval.max_samples", eval.max_samples);
    p.some_at_least_one("data.max_train_samples", config.data.max_train_samples);
    p.some_at_least_one("train.max_steps", train.max_steps);
    for (i, task) in config.tasks.iter().enumerate() {
        let field = |name: &str| format!("tasks[{i}].{name}");
        p.some_at_least_one(&field("max_new_tokens"), task.max_new_tokens);
        let t = &task.training;
        p.some_at_least_one(&field("training.batch_size"), t.batch_size);
        p.some_at_least_one(&field("training.grad_accum"), t.grad_accum);
        p.some_at_least_one(&field("training.epochs"), t.epochs);
        p.some_at_least_one(&field("training.max_steps"), t.max_steps);
        for (name, value) in [("lr_lora", t.lr_lora), ("lr_projector", t.lr_projector)] {
            if let Some(value) = value {
                p.non_negative(&field(&format!("training.{name}")), value);
            }
        }
        if let Some(label) = &task.group {
            let on = method.grouping;
            p.check(
                on,
                &field("group"),
                label,
                "unset when method.grouping = false",
            );
        }
    }
    if let Some(baseline) = &method.baseline {
        for (field, what) in baseline.problems() {
            p.0.push(format!("{field}: {what}"));
        }
        let name = baseline.name();
        let eproj = matches!(baseline, Baseline::EProj(_));
        let (wanted, why) = match eproj {
            true => (true, "its projectors are chosen by the instruction router"),
            false => (false, "it trains one parameter set"),
        };
        p.check(
            method.grouping == wanted,
            "method.grouping",
            method.grouping,
            &format!("{wanted} with baseline '{name}' ({why})"),
        );
        match baseline {
            Baseline::OLora(_) => {
                let decay = train.weight_decay;
                let range = "0 with baseline 'olora' (decay would move the frozen LoRAs)";
                p.check(decay == 0.0, "train.weight_decay", decay, range);
            }
            Baseline::MoeLora(moe) => {
                let (r, e) = (lora.r, moe.experts);
                let range = format!("a multiple of method.baseline.experts = {e}");
                p.check(e == 0 || r % e == 0, "lora.r", r, &range);
            }
            _ => {}
        }
    }
    match p.0.is_empty() {
        true => Ok(()),
        false => Err(crate::Error::Config {
            path: path.to_path_buf(),
            message: format!("invalid values:\n  {}", p.0.join("\n  ")),
        }),
    }
}
