//! The single integration-test binary (each extra binary re-links Burn).

mod adapters;
mod balanced_ema;
mod common;
mod data;
mod dema;
mod embedding;
mod loading;
mod model;
mod pipeline;
mod routing;
mod scorers;
