//! The single integration-test binary (each extra binary re-links Burn).

mod common;
mod balanced_ema;
mod dema;
