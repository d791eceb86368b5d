//! The methods a comparison can run, by the short key `--methods` takes: LCIA and its
//! ablations, the baselines ([`crate::baselines`]), the multitask upper bound and the
//! zero-shot starting point.

use serde::{Deserialize, Serialize};

use crate::baselines::{
    Baseline, EProjConfig, EwcConfig, LwfConfig, MoeLoraConfig, OLoraConfig, ReplayConfig,
};
use crate::continual::config::{EmaChoice, EmaWhen, MethodSection};

/// One continual method: its key (also its run directory's name), its label in tables and
/// plots, and its `[method]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSpec {
    /// The key `--methods` takes.
    pub key: String,
    /// The name in tables and plots.
    pub label: String,
    /// The run configuration's `[method]`.
    pub section: MethodSection,
}

/// What a comparison runs.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodChoice {
    /// The continual methods, in the order given.
    pub continual: Vec<MethodSpec>,
    /// Train one model on every task at once (the upper bound).
    pub multitask: bool,
    /// Evaluate the starting model.
    pub zero_shot: bool,
}

fn single(ema: EmaChoice, baseline: Option<Baseline>) -> MethodSection {
    MethodSection {
        grouping: false,
        ema,
        ema_when: EmaWhen::Always,
        baseline,
        ..MethodSection::default()
    }
}

/// Every continual method, `(key, label, section)`, in the order the docs list them.
pub fn catalog() -> Vec<(&'static str, &'static str, MethodSection)> {
    let grouping = MethodSection {
        ema: EmaChoice::Off,
        ..MethodSection::default()
    };
    let replay = |share| Some(Baseline::Replay(ReplayConfig { share }));
    vec![
        ("lora", "LoRA (sequential)", single(EmaChoice::Off, None)),
        ("ema", "EMA 0.99", single(EmaChoice::Fixed, None)),
        ("dema", "DEMA only", single(EmaChoice::Official, None)),
        ("grouping", "Grouping only", grouping),
        ("lcia", "LCIA (DEMA + grouping)", MethodSection::default()),
        (
            "ewc",
            "EWC",
            single(EmaChoice::Off, Some(Baseline::Ewc(EwcConfig::default()))),
        ),
        (
            "lwf",
            "LwF",
            single(EmaChoice::Off, Some(Baseline::Lwf(LwfConfig::default()))),
        ),
        (
            "replay-1",
            "Replay 1 %",
            single(EmaChoice::Off, replay(0.01)),
        ),
        (
            "replay-5",
            "Replay 5 %",
            single(EmaChoice::Off, replay(0.05)),
        ),
        (
            "olora",
            "O-LoRA",
            single(
                EmaChoice::Off,
                Some(Baseline::OLora(OLoraConfig::default())),
            ),
        ),
        (
            "moelora",
            "MoELoRA",
            single(
                EmaChoice::Off,
                Some(Baseline::MoeLora(MoeLoraConfig::default())),
            ),
        ),
        (
            "eproj",
            "EProj",
            MethodSection {
                ema: EmaChoice::Off,
                baseline: Some(Baseline::EProj(EProjConfig::default())),
                ..MethodSection::default()
            },
        ),
    ]
}

/// Keys of the methods that are not continual runs.
pub const MULTITASK: &str = "multitask";
/// The zero-shot row.
pub const ZERO_SHOT: &str = "zero-shot";

/// Parses a comma-separated list of keys; an unknown key is an error listing the known ones,
/// a repeated key is an error.
///
/// ```
/// let choice = lcia::experiments::methods::parse_methods("lora,ewc,multitask").unwrap();
/// assert_eq!(choice.continual.len(), 2);
/// assert!(choice.multitask && !choice.zero_shot);
/// assert!(lcia::experiments::methods::parse_methods("lora,sgd").is_err());
/// ```
pub fn parse_methods(list: &str) -> Result<MethodChoice, String> {
    let catalog = catalog();
    let mut choice = MethodChoice {
        continual: Vec::new(),
        multitask: false,
        zero_shot: false,
    };
    let mut seen = Vec::new();
    for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if seen.contains(&key) {
            return Err(format!("method '{key}' is listed twice"));
        }
        seen.push(key);
        match key {
            MULTITASK => choice.multitask = true,
            ZERO_SHOT => choice.zero_shot = true,
            _ => {
                let Some((key, label, section)) = catalog.iter().find(|m| m.0 == key) else {
                    let known: Vec<&str> = catalog.iter().map(|m| m.0).collect();
                    return Err(format!(
                        "unknown method '{key}'; known: {}, {MULTITASK}, {ZERO_SHOT}",
                        known.join(", ")
                    ));
                };
                choice.continual.push(MethodSpec {
                    key: key.to_string(),
                    label: label.to_string(),
                    section: section.clone(),
                });
            }
        }
    }
    if seen.is_empty() {
        return Err("no method given".into());
    }
    Ok(choice)
}
