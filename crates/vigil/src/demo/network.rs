//! The demo with an oracle network (`vigil demo --nodes N`): N nodes on the in-process chain, each with its own
//! key of the Guardian's oracle set, its own engine and in-memory store, and its own inbox on 127.0.0.1; they
//! exchange shares over the real transport (`vigil-net`, signed HTTP) exactly as `vigil run` nodes do
//! (`crate::run::network::OracleNode`), and each that holds the threshold submits `pauseWithQuorum` into the next
//! block. Every node processes every block; node 0 is the one whose findings and pauses the demo reports.
//!
//! After the nodes have processed a block in which one of them decided a pause, the demo waits for the shares in
//! flight (until no message has arrived for [`QUIET`]); the time from the block's arrival to the first node
//! holding the threshold is the block-to-quorum figure.

use std::time::{Duration, Instant};

use alloy::sol_types::SolCall;
use vigil_contracts::Guardian;
use vigil_core::Bundle;
use vigil_respond::{GuardianResponder, GuardianView, Responder};
use vigil_sim::{chain::TxRequest, evm::CHAIN_ID, scenario::ScenarioRun};

use super::DemoError;
use crate::{
    config::{Config, NetworkConfig},
    engine::{BlockOutcome, Engine},
    run::{metrics::NetworkMetrics, network::OracleNode},
};

/// How long without a message ends the wait for shares in flight after a block.
pub const QUIET: Duration = Duration::from_millis(25);

/// What the network did in one run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct NetworkFigures {
    /// Nodes.
    pub nodes: usize,
    /// Nodes that signed the first report to reach its threshold.
    pub signed: usize,
    /// Milliseconds from the arrival of the block whose findings decided the pause to the first node holding the
    /// threshold (every node processes the block in turn, in this one process).
    pub block_to_quorum_ms: Option<f64>,
    /// `pauseWithQuorum` transactions the nodes sent.
    pub submissions: u64,
    /// Requests posted among the nodes, and their bytes.
    pub requests: u64,
    /// Bytes of those requests.
    pub bytes: u64,
}

/// The other nodes (node 0's engine is the demo's own) and every node's part in the network.
pub struct DemoNetwork {
    runtime: tokio::runtime::Runtime,
    engines: Vec<Engine>,
    oracles: Vec<OracleNode>,
    senders: Vec<alloy::primitives::Address>,
    guardian: alloy::primitives::Address,
    /// The tip of the nodes' submissions.
    priority_fee: u128,
    figures: NetworkFigures,
    first_digest: Option<alloy::primitives::B256>,
}

impl DemoNetwork {
    /// `nodes` nodes for `run`, each with oracle key i; `engine` (node 0's) is built by the caller.
    pub fn start(run: &ScenarioRun, config: &Config, nodes: usize) -> Result<Self, DemoError> {
        let guardian = config.guardian.address;
        let keys: Vec<_> = run.actors.oracles.iter().take(nodes).cloned().collect();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| DemoError::Network(e.to_string()))?;
        let _inside = runtime.enter();
        let listeners: Vec<std::net::TcpListener> = (0..keys.len())
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<_, _>>()
            .map_err(|e| DemoError::Network(e.to_string()))?;
        let addrs: Vec<std::net::SocketAddr> = listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<_, _>>()
            .map_err(|e| DemoError::Network(e.to_string()))?;
        let head = run.chain.head().number;
        let snapshot = run.chain.call_at(head, guardian, Guardian::snapshotCall {}.abi_encode().into())?;
        let view = GuardianView::decode(&snapshot).map_err(|e| DemoError::Network(e.to_string()))?;
        let mut oracles = Vec::new();
        for (i, (key, listener)) in keys.iter().zip(listeners).enumerate() {
            listener.set_nonblocking(true).map_err(|e| DemoError::Network(e.to_string()))?;
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(|e| DemoError::Network(e.to_string()))?;
            let peers = keys
                .iter()
                .zip(&addrs)
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (k, a))| crate::config::PeerConfig { address: k.address(), url: format!("http://{a}") })
                .collect();
            let network = NetworkConfig {
                listen: addrs[i],
                peers,
                join_window_blocks: 3,
                quorum_timeout_blocks: 3,
                peer_timeout_ms: 500,
                rate_per_second: 50,
            };
            oracles.push(OracleNode::start_on(
                listener,
                &network,
                key.clone(),
                CHAIN_ID,
                guardian,
                view.clone(),
                NetworkMetrics::default(),
            ));
        }
        let engines = keys[1..].iter().map(|k| node_engine(config, k.clone())).collect();
        let senders = keys.iter().map(|k| k.address()).collect();
        let figures = NetworkFigures { nodes: keys.len(), ..Default::default() };
        drop(_inside);
        let priority_fee = config.pause_fees().priority_fee;
        Ok(Self { runtime, engines, oracles, senders, guardian, priority_fee, figures, first_digest: None })
    }

    /// Every node processes `bundle` (node 0 with `engine`); the shares of the pauses decided are exchanged;
    /// returns node 0's outcome and the `pauseWithQuorum` transactions the nodes submit for the next block.
    pub fn process(
        &mut self,
        engine: &mut Engine,
        bundle: &Bundle,
    ) -> Result<(BlockOutcome, Vec<TxRequest>), DemoError> {
        let _inside = self.runtime.enter();
        let arrived = Instant::now();
        let number = bundle.block_ref().number;
        let mut submissions = Vec::new();
        let mut first = None;
        let mut decided = false;
        for i in 0..self.oracles.len() {
            let node_engine = if i == 0 { &mut *engine } else { &mut self.engines[i - 1] };
            self.oracles[i].on_block(bundle, node_engine);
            let outcome = node_engine.process(bundle)?;
            outcome.races_lost.iter().for_each(|_| self.oracles[i].race_lost());
            for out in &outcome.outgoing {
                decided = true;
                if let Some(sub) = self.oracles[i].decided(out.action.incident, &out.data, number) {
                    submissions.push((i, sub));
                }
            }
            if i == 0 {
                first = Some(outcome);
            }
        }
        if decided || !submissions.is_empty() {
            let mut quiet = Instant::now();
            while quiet.elapsed() < QUIET {
                let mut got = false;
                for (i, node) in self.oracles.iter_mut().enumerate() {
                    while let Some(m) = node.try_recv() {
                        got = true;
                        if let Some(sub) = node.on_message(m) {
                            submissions.push((i, sub));
                        }
                    }
                }
                if got {
                    quiet = Instant::now();
                }
                if !submissions.is_empty() && self.figures.block_to_quorum_ms.is_none() {
                    self.figures.block_to_quorum_ms = Some(arrived.elapsed().as_secs_f64() * 1e3);
                    self.first_digest = Some(submissions[0].1.digest);
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        if let Some(digest) = self.first_digest {
            let signed = self.oracles.iter().map(|o| o.signers(digest)).max().unwrap_or(0);
            self.figures.signed = self.figures.signed.max(signed);
        }
        let txs = submissions
            .into_iter()
            .map(|(i, sub)| {
                self.oracles[i].submitted();
                self.figures.submissions += 1;
                TxRequest::pause(self.senders[i], self.guardian, sub.data, self.priority_fee)
            })
            .collect();
        Ok((first.unwrap_or_default(), txs))
    }

    /// What the network did so far.
    pub fn figures(&self) -> NetworkFigures {
        let (requests, bytes) =
            self.oracles.iter().map(OracleNode::traffic).fold((0, 0), |(r, b), (r2, b2)| (r + r2, b + b2));
        NetworkFigures { requests, bytes, ..self.figures.clone() }
    }
}

/// A node's engine: the embedded detectors, a sharing responder with its one key, an in-memory store.
pub fn node_engine(config: &Config, key: alloy::signers::local::PrivateKeySigner) -> Engine {
    let responder =
        GuardianResponder::sharing(config.guardian.address, CHAIN_ID, key, config.guardian.report_validity_seconds);
    let store = vigil_store::SqliteStore::in_memory().expect("an in-memory SQLite database opens");
    Engine::resume(
        config.build_detectors(),
        config.policy.clone(),
        Some(Box::new(responder) as Box<dyn Responder>),
        store,
    )
    .expect("an empty store resumes")
    .with_correlator(config.build_correlator())
    .with_fees(config.pause_fees())
}
