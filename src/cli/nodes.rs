//! Runs over several processes or machines: the node options of `lcia run` and
//! `lcia orchestrator`, which starts burn-collective's global orchestrator.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use lcia::train::NodePlacement;

/// Where this process stands in a run over several processes (`lcia run`). Every process
/// trains the same configuration on its own share of each batch, evaluates and writes its own
/// run directory (`--out`).
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Processes (nodes) taking part; all the options below are then required.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// This process's rank, 0 to nodes − 1.
    #[arg(long)]
    pub node_rank: Option<usize>,
    /// The orchestrator's address, as `lcia orchestrator` prints it (`ws://HOST:PORT`).
    #[arg(long)]
    pub orchestrator: Option<String>,
    /// This process's address as the other processes reach it (`ws://HOST:PORT`); it serves
    /// its tensors on that port.
    #[arg(long)]
    pub node_address: Option<String>,
    /// Seconds a step may wait for the other processes before the run stops with an error
    /// (a peer that stopped never answers; the last finished task stays valid).
    #[arg(long, default_value_t = 600.0)]
    pub peer_timeout: f64,
}

impl NodeArgs {
    /// The placement, `None` without `--nodes`; an incomplete or inconsistent set is an error.
    pub fn placement(&self) -> anyhow::Result<Option<NodePlacement>> {
        let given = [
            self.nodes.is_some(),
            self.node_rank.is_some(),
            self.orchestrator.is_some(),
            self.node_address.is_some(),
        ];
        if given.iter().all(|g| !g) {
            return Ok(None);
        }
        let (Some(nodes), Some(rank), Some(orchestrator), Some(address)) = (
            self.nodes,
            self.node_rank,
            &self.orchestrator,
            &self.node_address,
        ) else {
            bail!(
                "a run over several processes needs --nodes, --node-rank, --orchestrator and --node-address together"
            );
        };
        if nodes == 0 || rank >= nodes {
            bail!("--node-rank {rank} must be below --nodes {nodes}");
        }
        if !(self.peer_timeout > 0.0 && self.peer_timeout.is_finite()) {
            bail!(
                "--peer-timeout {} must be a positive number of seconds",
                self.peer_timeout
            );
        }
        let data_port = websocket_port(address).context("--node-address")?;
        websocket_port(orchestrator).context("--orchestrator")?;
        Ok(Some(NodePlacement {
            rank,
            nodes,
            orchestrator: orchestrator.clone(),
            address: address.clone(),
            data_port,
            timeout: Duration::from_secs_f64(self.peer_timeout),
        }))
    }
}

/// The port of a `ws://HOST:PORT` address.
fn websocket_port(address: &str) -> anyhow::Result<u16> {
    let rest = address
        .strip_prefix("ws://")
        .with_context(|| format!("'{address}' must look like ws://HOST:PORT"))?;
    let (_, port) = rest
        .rsplit_once(':')
        .with_context(|| format!("'{address}' names no port (ws://HOST:PORT)"))?;
    port.trim_end_matches('/')
        .parse()
        .with_context(|| format!("'{address}': the port is not a number"))
}

/// `lcia orchestrator`.
#[derive(Debug, Args)]
pub struct OrchestratorArgs {
    /// The port to listen on (all interfaces).
    #[arg(long)]
    pub port: u16,
}

impl OrchestratorArgs {
    /// Serves until interrupted.
    pub fn run(self) -> anyhow::Result<String> {
        let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
        eprintln!(
            "orchestrator listening on port {} (pass --orchestrator ws://THIS_HOST:{} to each lcia run; Ctrl-C stops it)",
            self.port, self.port
        );
        runtime.block_on(burn_collective::start_global_orchestrator(self.port));
        Ok(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_options_come_together_and_name_their_ports() {
        let mut args = NodeArgs {
            nodes: Some(2),
            node_rank: Some(1),
            orchestrator: Some("ws://10.0.0.1:3000".into()),
            node_address: Some("ws://10.0.0.2:3001".into()),
            peer_timeout: 30.0,
        };
        let placement = args.placement().unwrap().unwrap();
        assert_eq!((placement.rank, placement.data_port), (1, 3001));
        args.node_rank = Some(2);
        let err = args.placement().unwrap_err().to_string();
        assert!(
            err.contains("--node-rank 2 must be below --nodes 2"),
            "{err}"
        );
        args.node_rank = None;
        let err = args.placement().unwrap_err().to_string();
        assert!(err.contains("together"), "{err}");
        args.node_rank = Some(0);
        args.node_address = Some("10.0.0.2:3001".into());
        let err = format!("{:#}", args.placement().unwrap_err());
        assert!(
            err.contains("--node-address") && err.contains("ws://HOST:PORT"),
            "{err}"
        );
    }
}
