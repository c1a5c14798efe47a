//! Several `vigil run` nodes of one oracle network on anvil (tests/network.rs and the network bench): each with
//! one oracle key, its own store, inbox and metrics address, all five members listed as peers.

use std::{path::PathBuf, process::Child, time::Duration};

use alloy::primitives::U256;
use vigil_sim::Backend;

use super::*;

/// One node of the network under test.
pub struct Node {
    pub dir: PathBuf,
    pub metrics: u16,
    pub child: Option<Child>,
}

impl Node {
    pub fn log(&self) -> String {
        log_of(&self.dir.join("vigil.log"))
    }

    pub fn metrics(&self) -> String {
        http_get(self.metrics, "/metrics").map(|(_, m)| m).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts a node for each of `running` (indices into the oracle set), all five members listed as peers (a member
/// not running has an inbox port nobody listens on); returns the nodes and every member's inbox URL.
pub fn start_network(chain: &mut Chain, name: &str, running: &[usize], extra: &str) -> (Vec<Node>, Vec<String>) {
    start_network_with(chain, name, running, extra, &|_, _, direct| direct.to_string(), &|_| None)
}

/// [`start_network`] where node `from` reaches member `to`'s inbox at `route(from, to, direct_url)`, and node
/// `i` reads the chain from `rpc(i)` when given (without WebSocket heads) instead of anvil.
pub fn start_network_with(
    chain: &mut Chain,
    name: &str,
    running: &[usize],
    extra: &str,
    route: &dyn Fn(usize, usize, &str) -> String,
    rpc: &dyn Fn(usize) -> Option<String>,
) -> (Vec<Node>, Vec<String>) {
    let oracles = chain.actors.oracles.clone();
    let ports: Vec<u16> = oracles.iter().map(|_| free_port()).collect();
    let urls: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect();
    let mut nodes = Vec::new();
    for &i in running {
        chain.node.set_balance(oracles[i].address(), U256::from(10u64).pow(U256::from(19))).unwrap();
        let dir = temp_dir(&format!("{name}-node{i}"));
        let peers: String = oracles
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(j, k)| {
                format!("\n[[network.peer]]\naddress = \"{}\"\nurl = \"{}\"\n", k.address(), route(i, j, &urls[j]))
            })
            .collect();
        let section = format!(
            "\n[responder]\nkeys = [{{ env = \"VIGIL_TEST_KEY_0\" }}]\n{extra}\n[network]\nlisten = \"127.0.0.1:{}\"\n\
             quorum_timeout_blocks = 3\n{peers}",
            ports[i]
        );
        let config = write_config(&dir, chain, &section);
        // `vigil status` finds the node's /network through [node] metrics.
        let metrics = free_port();
        let mut text = std::fs::read_to_string(&config).unwrap();
        text = text.replacen("[node]\n", &format!("[node]\nmetrics = \"127.0.0.1:{metrics}\"\n"), 1);
        if let Some(url) = rpc(i) {
            text = text
                .replacen(&format!("rpc = [\"{}\"]", chain.anvil.endpoint()), &format!("rpc = [\"{url}\"]"), 1)
                .replacen(&format!("ws = \"{}\"\n", chain.anvil.ws_endpoint()), "", 1);
        }
        std::fs::write(&config, text).unwrap();
        let env = [("VIGIL_TEST_HOOK_SECRET", "hook-secret")];
        let child = spawn_vigil_with(&config, &[], &oracles[i..=i], &dir.join("vigil.log"), &env);
        nodes.push(Node { dir, metrics, child: Some(child) });
    }
    for n in &nodes {
        wait_until("every node to answer /health", Duration::from_secs(60), || {
            http_get(n.metrics, "/health").is_some_and(|(s, _)| s == 200)
        });
    }
    (nodes, urls)
}
