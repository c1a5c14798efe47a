//! What the tests and benchmarks that drive `vigil run` against anvil share: the chain with the venue deployed, a
//! configuration on it, the child process, a webhook receiver, `/metrics`, the store's cursor, and the Guardian's
//! governance (the timelock) acting through `anvil_impersonateAccount`.
#![allow(dead_code)]

pub mod network;

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    network::TransactionBuilder,
    node_bindings::AnvilInstance,
    primitives::{Address, U256},
    providers::{ext::AnvilApi, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use vigil_contracts::{Guardian, GuardianProtected, ReserveVault};
use vigil_core::Store as _;
use vigil_sim::{
    attacks::{AttackPlan, PlannedTx},
    deploy_venue,
    evm::CHAIN_ID,
    Actors, Backend, NodeBackend, Reader, Venue, VenueConfig,
};

pub struct Chain {
    pub anvil: AnvilInstance,
    pub node: NodeBackend,
    pub venue: Venue,
    pub actors: Actors,
}

pub fn start_chain() -> Chain {
    start_chain_with(&VenueConfig::default())
}

/// A fresh anvil with the venue deployed as `cfg` says.
pub fn start_chain_with(cfg: &VenueConfig) -> Chain {
    let anvil = vigil_sim::node::anvil().unwrap_or_else(|e| panic!("{e}")).try_spawn().expect("anvil starts");
    let actors = Actors::standard();
    let mut node = NodeBackend::connect(&anvil.endpoint(), &actors.all_keys()).expect("connect");
    let venue = deploy_venue(&mut node, &actors, cfg).expect("the venue deploys");
    Chain { anvil, node, venue, actors }
}

impl Chain {
    pub fn head(&self) -> u64 {
        self.node.block_on(self.node.provider().get_block_number()).unwrap()
    }

    pub fn hash(&self, n: u64) -> alloy::primitives::B256 {
        let b =
            self.node.block_on(async { self.node.provider().get_block_by_number(n.into()).await }).unwrap().unwrap();
        b.header.hash
    }

    pub fn is_paused(&mut self, target: Address, scope: u64) -> bool {
        self.node.read(self.venue.guardian, Guardian::isPausedCall { target, scope: U256::from(scope) }).unwrap()
    }

    /// The latest block's timestamp.
    pub fn now(&self) -> u64 {
        let block = self.node.block_on(async { self.node.provider().get_block(alloy::eips::BlockId::latest()).await });
        block.unwrap().unwrap().header.timestamp
    }
}

/// Sends `call` to the Guardian as its governance (the timelock), impersonated on anvil.
pub fn as_governance<C: SolCall>(chain: &Chain, call: C) {
    let governance = chain.venue.timelock;
    let url = chain.anvil.endpoint();
    chain.node.block_on(async {
        let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
        provider.anvil_impersonate_account(governance).await.unwrap();
        provider.anvil_set_balance(governance, U256::from(10u64).pow(U256::from(19))).await.unwrap();
        let tx = TransactionRequest::default()
            .with_from(governance)
            .with_to(chain.venue.guardian)
            .with_input(call.abi_encode());
        let receipt = provider.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "governance's call to the Guardian reverted");
        provider.anvil_stop_impersonating_account(governance).await.unwrap();
    });
}

/// The demo's detectors, a `[source]` on this anvil, and the store in `dir`.
pub fn write_config(dir: &Path, chain: &Chain, extra: &str) -> PathBuf {
    let demo = include_str!("../../config/demo.toml");
    let detectors = &demo[demo.find("[policy]").expect("the demo has a policy")..];
    let text = format!(
        "[guardian]\naddress = \"{}\"\nchain_id = {CHAIN_ID}\n\n[source]\nrpc = [\"{}\"]\nws = \"{}\"\n\
         poll_interval_ms = 100\n{extra}\n[node]\nstore = \"{}\"\n\n{detectors}",
        chain.venue.guardian,
        chain.anvil.endpoint(),
        chain.anvil.ws_endpoint(),
        dir.join("vigil.sqlite").display(),
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-live-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `vigil run`; its log goes to `dir/<log>`.
pub fn spawn_vigil(config: &Path, args: &[&str], keys: &[PrivateKeySigner], log: &Path) -> Child {
    spawn_vigil_with(config, args, keys, log, &[])
}

/// [`spawn_vigil`] with more environment variables.
pub fn spawn_vigil_with(
    config: &Path,
    args: &[&str],
    keys: &[PrivateKeySigner],
    log: &Path,
    env: &[(&str, &str)],
) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.arg("run").arg("--config").arg(config).args(args).envs(env.iter().copied());
    for (i, k) in keys.iter().enumerate() {
        cmd.env(format!("VIGIL_TEST_KEY_{i}"), alloy::hex::encode(k.to_bytes()));
    }
    cmd.env("VIGIL_LOG", "info,vigil=debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("vigil starts")
}

/// A webhook receiver on 127.0.0.1 (axum, on its own thread): answers 200 to POSTs on `/hook` and hands back each
/// request's headers and body.
pub fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<(axum::http::HeaderMap, Vec<u8>)>) {
    slow_webhook_receiver(Duration::ZERO)
}

/// [`webhook_receiver`] answering each request after `delay`.
pub fn slow_webhook_receiver(delay: Duration) -> (String, std::sync::mpsc::Receiver<(axum::http::HeaderMap, Vec<u8>)>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let hook = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
        tokio::time::sleep(delay).await;
        let _ = tx.send((headers, body.to_vec()));
    };
    let app = axum::Router::new().route("/hook", axum::routing::post(hook));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap()
        })
    });
    (url, rx)
}

pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// POSTs `body` (JSON) to `path`: (status, body).
pub fn http_post(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// The value of a metric line starting with `prefix` (counters end in `_total`).
pub fn metric(body: &str, prefix: &str) -> Option<f64> {
    body.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn cursor(dir: &Path) -> Option<u64> {
    let path = dir.join("vigil.sqlite");
    if !path.exists() {
        return None;
    }
    vigil_store::SqliteStore::open(&path).ok()?.cursor().ok()?.map(|c| c.number)
}

/// A privilege change on the reserve vault (the admin-change detector reports it), one block on top, and Vigil
/// past it; returns the change's block.
pub fn change_a_privilege(chain: &mut Chain, dir: &Path) -> u64 {
    let spender = chain.node.read(chain.venue.reserve, ReserveVault::SPENDER_ROLECall {}).unwrap();
    let ops = chain.actors.ops.address();
    chain
        .node
        .exec(ops, chain.venue.reserve, ReserveVault::grantRoleCall { role: spender, account: Address::repeat_byte(7) })
        .unwrap();
    let finding_block = chain.head();
    chain.node.advance(1, 12).unwrap();
    wait_until("vigil to process the block after the change", Duration::from_secs(60), || {
        cursor(dir) > Some(finding_block)
    });
    finding_block
}

/// Waits (up to 60 s) until the node in `dir` has committed the chain's current head.
pub fn catch_up(chain: &Chain, dir: &Path) {
    let head = chain.head();
    wait_until("vigil to reach the head", Duration::from_secs(60), || cursor(dir) >= Some(head));
}

pub fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The `[responder]` section that loads three oracle keys from `VIGIL_TEST_KEY_0..2` (see [`spawn_vigil`]).
pub const RESPONDER_KEYS: &str =
    "[responder]\nkeys = [{ env = \"VIGIL_TEST_KEY_0\" }, { env = \"VIGIL_TEST_KEY_1\" }, { env = \"VIGIL_TEST_KEY_2\" }]\n";

/// Sends the attack's pumps; returns its borrow, not sent.
pub fn pump(chain: &mut Chain, plan: &AttackPlan) -> PlannedTx {
    pump_with(chain, plan, &mut || {})
}

/// [`pump`], running `after_first` once the first pump has gone through (a fault injected mid-attack).
pub fn pump_with(chain: &mut Chain, plan: &AttackPlan, after_first: &mut dyn FnMut()) -> PlannedTx {
    for (i, t) in plan.execute.iter().enumerate() {
        if t.req.label.what.contains("borrow") {
            return t.clone();
        }
        chain.node.send(t.req.from, t.req.to.unwrap(), t.req.data.clone(), t.req.value).expect("the pump goes through");
        if i == 0 {
            after_first();
        }
    }
    panic!("the plan ends with a borrow")
}

/// Kills the node (SIGKILL) and reads its outbox.
pub fn stop(mut vigil: std::process::Child, dir: &std::path::Path) -> Vec<vigil_core::StoredAction> {
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    vigil_store::SqliteStore::open(&dir.join("vigil.sqlite")).unwrap().actions().unwrap()
}

/// The borrow reverts with `ScopePaused`.
pub fn borrow_fails(chain: &mut Chain, borrow: &PlannedTx) {
    let err = chain
        .node
        .send(borrow.req.from, borrow.req.to.unwrap(), borrow.req.data.clone(), borrow.req.value)
        .expect_err("the borrow must fail");
    assert!(err.decode::<GuardianProtected::ScopePaused>().is_some(), "not ScopePaused: {err}");
}

/// Sends `req` to anvil's mempool without waiting for it to be mined (automine off), tipping `tip` with fee cap
/// `max_fee` (wei per gas); returns its hash.
pub fn send_to_mempool(
    chain: &Chain,
    req: &vigil_sim::chain::TxRequest,
    tip: u128,
    max_fee: u128,
) -> alloy::primitives::B256 {
    use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
    let tx = TransactionRequest::default()
        .with_from(req.from)
        .with_to(req.to.expect("a call"))
        .with_input(req.data.clone())
        .with_value(req.value)
        .with_gas_limit(5_000_000)
        .with_max_priority_fee_per_gas(tip)
        .with_max_fee_per_gas(max_fee);
    let provider = chain.node.provider().clone();
    *chain.node.block_on(provider.send_transaction(tx)).expect("the transaction enters the mempool").tx_hash()
}

/// Transactions pending in anvil's mempool (`txpool_content`).
pub fn pending_count(chain: &Chain) -> usize {
    let provider = chain.node.provider().clone();
    let pool: serde_json::Value = chain.node.block_on(provider.raw_request("txpool_content".into(), ())).unwrap();
    let senders = pool["pending"].as_object().cloned().unwrap_or_default();
    senders.values().map(|by_nonce| by_nonce.as_object().map_or(0, |n| n.len())).sum()
}

/// Turns anvil's automine on or off (off: transactions wait in the mempool until `evm_mine`).
pub fn set_automine(chain: &Chain, on: bool) {
    let provider = chain.node.provider().clone();
    chain.node.block_on(provider.anvil_set_auto_mine(on)).unwrap();
}

/// Mines one block with what the mempool holds (`evm_mine`).
pub fn mine_block(chain: &Chain) {
    let provider = chain.node.provider().clone();
    chain.node.block_on(provider.evm_mine(None)).unwrap();
}

/// A `vigil run` holding the 3-of-5 oracle keys of `chain` (the first funded for its pauses' gas), configured as
/// [`write_config`] does with [`RESPONDER_KEYS`] and `extra`, with `env`, its log in `dir/vigil.log`, serving
/// `/metrics` on a free port: returned with that port once `/health` answers 200.
pub fn spawn_responding_node(chain: &mut Chain, dir: &Path, extra: &str, env: &[(&str, &str)]) -> (Child, u16) {
    let oracles: Vec<PrivateKeySigner> = chain.actors.oracles.iter().take(3).cloned().collect();
    chain.node.set_balance(oracles[0].address(), U256::from(10u64).pow(U256::from(19))).unwrap();
    let config = write_config(dir, chain, &format!("\n{RESPONDER_KEYS}{extra}"));
    let port = free_port();
    let args = ["--metrics".to_string(), format!("127.0.0.1:{port}")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let vigil = spawn_vigil_with(&config, &args, &oracles, &dir.join("vigil.log"), env);
    wait_until("/health to answer 200", Duration::from_secs(60), || {
        http_get(port, "/health").is_some_and(|(s, _)| s == 200)
    });
    (vigil, port)
}
