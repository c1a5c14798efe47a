//! A JSON-RPC server on 127.0.0.1 that serves a long chain made of one real mainnet block, renumbered: for the
//! benches that measure a whole `vigil run` process over more blocks than anvil can mine (anvil 1.7's
//! `anvil_mine` slows as its history grows: 2,000 empty blocks took 3.8 s, the next 2,000 15.8 s, the next 26.2 s).
//!
//! The block is mainnet block 18,000,000 as recorded from an archive node (vigil-core's fixtures:
//! `eth_getBlockByNumber(n, true)` and `eth_getBlockReceipts`), cut down to the transactions that emit a USDC
//! `Transfer` (5 of its 94, with their 69 logs and receipts as recorded), so that a block costs the node what a small
//! real block costs. Block `first + i` is that block with number `first + i`, timestamp 12·i s after the recorded one, hash `0x5eed…` followed by the number
//! in its last eight bytes, and the previous block's hash as parent; every transaction, receipt and log carries the
//! same number, hash (and logs the timestamp). All `count` blocks exist from the start (a backfill).
//!
//! Methods: `eth_chainId` (1), `eth_blockNumber`, `eth_getBlockByNumber` (a number or `latest`, full or hashes),
//! `eth_getBlockByHash`, `eth_getBlockReceipts` (by number or hash), single or batched. Anything else is a
//! JSON-RPC error `-32601`, so a node that needs more fails loudly. Every request is counted.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use axum::{body::Bytes, extract::State, http::header, response::IntoResponse, routing::post, Router};
use serde_json::{json, Value};

const NUMBER: &str = "__VIGIL_NUMBER__";
const HASH: &str = "__VIGIL_HASH__";
const PARENT: &str = "__VIGIL_PARENT__";
const TIMESTAMP: &str = "__VIGIL_TIMESTAMP__";
/// `Transfer(address,address,uint256)`.
const TRANSFER: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// USDC on mainnet.
pub const USDC: &str = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";

struct Templates {
    full: String,
    hashes: String,
    receipts: String,
    first: u64,
    last: u64,
    /// The recorded block's timestamp, given to block `first`; each later block is 12 s later.
    timestamp: u64,
    requests: AtomicU64,
}

/// The running server.
pub struct RenumberedChain {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The first and last block served.
    pub first: u64,
    pub last: u64,
    state: Arc<Templates>,
}

impl RenumberedChain {
    /// JSON-RPC calls answered so far (a batch counts each call).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../vigil-core/tests/fixtures/mainnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    pairs[0]["response"]["result"].clone()
}

/// Puts the placeholders where the block's number and hash are.
fn stamp(v: &mut Value) {
    for (key, placeholder) in [("blockNumber", NUMBER), ("blockHash", HASH), ("blockTimestamp", TIMESTAMP)] {
        if let Some(field) = v.get_mut(key) {
            *field = json!(placeholder);
        }
    }
}

fn templates(first: u64, count: u64) -> Templates {
    let mut block = fixture("block-18000000.json");
    let mut receipts = fixture("receipts-18000000.json");
    let moves_usdc = |r: &Value| {
        r["logs"].as_array().unwrap().iter().any(|l| {
            l["address"].as_str().unwrap().eq_ignore_ascii_case(USDC) && l["topics"][0].as_str() == Some(TRANSFER)
        })
    };
    let receipts = receipts.as_array_mut().unwrap();
    receipts.retain(moves_usdc);
    let kept: Vec<String> = receipts.iter().map(|r| r["transactionHash"].as_str().unwrap().to_string()).collect();
    for r in receipts.iter_mut() {
        stamp(r);
        for l in r["logs"].as_array_mut().unwrap() {
            stamp(l);
        }
    }
    block["transactions"].as_array_mut().unwrap().retain(|t| kept.iter().any(|h| t["hash"] == h.as_str()));
    for t in block["transactions"].as_array_mut().unwrap() {
        stamp(t);
    }
    block["number"] = json!(NUMBER);
    block["hash"] = json!(HASH);
    block["parentHash"] = json!(PARENT);
    let timestamp = block["timestamp"].as_str().and_then(|t| u64::from_str_radix(t.trim_start_matches("0x"), 16).ok());
    block["timestamp"] = json!(TIMESTAMP);
    let full = block.to_string();
    block["transactions"] = json!(kept);
    Templates {
        full,
        hashes: block.to_string(),
        receipts: Value::Array(receipts.clone()).to_string(),
        first,
        last: first + count - 1,
        timestamp: timestamp.expect("the block has a timestamp"),
        requests: AtomicU64::new(0),
    }
}

fn hash_of(n: u64) -> String {
    format!("0x5eed{}{n:016x}", "0".repeat(44))
}

fn number_of_hash(hash: &str) -> Option<u64> {
    let hex = hash.strip_prefix("0x5eed")?;
    (hex.len() == 60).then(|| u64::from_str_radix(&hex[44..], 16).ok()).flatten()
}

impl Templates {
    fn render(&self, template: &str, n: u64) -> Value {
        let text = template
            .replace(NUMBER, &format!("{n:#x}"))
            .replace(PARENT, &hash_of(n - 1))
            .replace(HASH, &hash_of(n))
            .replace(TIMESTAMP, &format!("{:#x}", self.timestamp + (n - self.first) * 12));
        serde_json::from_str(&text).expect("a rendered template is JSON")
    }

    /// The block a parameter names: a number, `latest`, or one of our hashes.
    fn block(&self, param: &Value) -> Option<u64> {
        let s = param.as_str()?;
        let n = match s {
            "latest" | "safe" | "finalized" | "pending" => self.last,
            s if s.len() == 66 => number_of_hash(s)?,
            s => u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()?,
        };
        (self.first..=self.last).contains(&n).then_some(n)
    }

    fn answer(&self, call: &Value) -> Value {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let params = &call["params"];
        let result = match call["method"].as_str().unwrap_or_default() {
            "eth_chainId" => json!("0x1"),
            "eth_blockNumber" => json!(format!("{:#x}", self.last)),
            "eth_getBlockByNumber" | "eth_getBlockByHash" => match self.block(&params[0]) {
                Some(n) if params[1] == json!(true) => self.render(&self.full, n),
                Some(n) => self.render(&self.hashes, n),
                None => Value::Null,
            },
            "eth_getBlockReceipts" => match self.block(&params[0]) {
                Some(n) => self.render(&self.receipts, n),
                None => Value::Null,
            },
            other => {
                return json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601,
                    "message": format!("the method {other} does not exist/is not available")}})
            }
        };
        json!({"jsonrpc": "2.0", "id": call["id"], "result": result})
    }
}

async fn rpc(State(state): State<Arc<Templates>>, body: Bytes) -> impl IntoResponse {
    let answer = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(calls)) => Value::Array(calls.iter().map(|c| state.answer(c)).collect()),
        Ok(call) => state.answer(&call),
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}})
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], answer.to_string())
}

/// Starts the server on its own thread and runtime, serving blocks `first ..= first + count - 1`.
pub fn start(first: u64, count: u64) -> RenumberedChain {
    assert!(first > 0 && count > 0, "a chain of at least one block after genesis");
    let state = Arc::new(templates(first, count));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/", post(rpc)).with_state(state.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        })
    });
    RenumberedChain { url, first, last: state.last, state }
}
