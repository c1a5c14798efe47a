//! The fetcher's fallbacks, proven against anvil through [`FaultProxy`] playing a node that lacks methods
//! ([`FaultProxy::refuse_methods`], geth's "method does not exist" error per call, also inside batches):
//!
//! - without `eth_getBlockReceipts`, receipts are asked per transaction and equal a direct fetch; the fallback
//!   is learnt on the first block and kept;
//! - anvil serves `debug_traceBlockByHash` with the callTracer, so a plain proxy gives geth traces; without it
//!   the fetcher turns parity `trace_block` traces into call trees with the same calls, inputs, values, types
//!   and nesting (checked on [`TestChain`] and on a block of nested `CALL`, `DELEGATECALL`, `STATICCALL`,
//!   `CREATE` and failing calls through a relay contract); without either, a bundle with traces fails with
//!   [`FetchError::NoTraces`], which is not retried;
//! - refused methods and transport faults together still give every block exactly once through [`Follower`].
//!
//! What differs between the callTracer and the converted parity traces besides the asserted fields (gas
//! figures, outputs, error wording) is printed (`--nocapture`) rather than asserted.
//!
//! Two tests guard bugs found while writing these: an empty block after the receipts fallback (an empty
//! JSON-RPC batch was sent, which nodes reject) and the value of `DELEGATECALL` frames converted from
//! `trace_block` (it was dropped).

mod support;

use std::{collections::BTreeMap, time::Duration};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, B256, U256},
    providers::{ext::AnvilApi, Provider, ProviderBuilder},
    rpc::types::{
        trace::geth::{CallFrame, GethTrace, TraceResult},
        TransactionReceipt, TransactionRequest,
    },
};
use serde_json::{json, Value};
use support::{client, fault_proxy::Fault as ProxyFault, fault_proxy::FaultProxy, faults_of, policy, Logs, TestChain};
use vigil_chain::{rpc::Fault, FetchError, Fetcher, FollowError, Follower, RpcClient};
use vigil_core::{Bundle, ChainEvent, Probe};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A fetcher straight to anvil (no proxy), for reference.
fn direct(chain: &TestChain) -> Fetcher {
    Fetcher::new(client(&[&chain.url], policy(TIMEOUT)))
}

/// A proxy in front of `chain` refusing `methods`, and a client through it.
fn refusing(chain: &TestChain, methods: &[&str]) -> (FaultProxy, RpcClient) {
    let proxy = FaultProxy::start(&chain.url);
    proxy.refuse_methods(methods);
    let client = client(&[&proxy.url], policy(TIMEOUT));
    (proxy, client)
}

/// The callTracer frame of each transaction, with its hash; panics on a failed or non-callTracer trace.
fn frames(bundle: &Bundle) -> Vec<(B256, CallFrame)> {
    let n = bundle.block_ref().number;
    let traces = bundle.traces.as_ref().unwrap_or_else(|| panic!("block #{n}: traces were asked for"));
    traces
        .iter()
        .map(|t| match t {
            TraceResult::Success { result: GethTrace::CallTracer(frame), tx_hash } => {
                (tx_hash.unwrap_or_else(|| panic!("block #{n}: a trace without its transaction")), frame.clone())
            }
            other => panic!("block #{n}: not a callTracer result: {other:?}"),
        })
        .collect()
}

/// Frames in the tree.
fn count(frame: &CallFrame) -> usize {
    1 + frame.calls.iter().map(count).sum::<usize>()
}

/// Asserts that `parity` (converted) has the same call tree as `geth` (callTracer): from, to, input, value,
/// type and children, frame by frame; other differences are added to `diffs`, keyed by field and by whether
/// the frame is a transaction's top frame. `path` names the frame (`tx 0x…/[0, 1]`).
fn same_tree(
    path: &str,
    geth: &CallFrame,
    parity: &CallFrame,
    depth: usize,
    diffs: &mut BTreeMap<String, Vec<String>>,
) {
    assert_eq!(parity.typ, geth.typ, "{path}: type");
    assert_eq!(parity.from, geth.from, "{path}: from");
    assert_eq!(parity.to, geth.to, "{path}: to");
    assert_eq!(parity.input, geth.input, "{path}: input");
    assert_eq!(parity.value, geth.value, "{path}: value");
    assert_eq!(parity.calls.len(), geth.calls.len(), "{path}: children");
    let level = if depth == 0 { "top" } else { "nested" };
    let mut differ = |field: &str, g: String, p: String| {
        if g != p {
            diffs.entry(format!("{field} ({level}, {})", geth.typ)).or_default().push(format!("{path}: {g} vs {p}"));
        }
    };
    differ("gas", geth.gas.to_string(), parity.gas.to_string());
    differ("gasUsed", geth.gas_used.to_string(), parity.gas_used.to_string());
    differ("output", format!("{:?}", geth.output), format!("{:?}", parity.output));
    differ("error", format!("{:?}", geth.error), format!("{:?}", parity.error));
    differ("revertReason", format!("{:?}", geth.revert_reason), format!("{:?}", parity.revert_reason));
    differ("logs", geth.logs.len().to_string(), parity.logs.len().to_string());
    for (i, (g, p)) in geth.calls.iter().zip(&parity.calls).enumerate() {
        same_tree(&format!("{path}/{i}"), g, p, depth + 1, diffs);
    }
}

/// Compares the traces of each block fetched with callTracer (`geth`) and through `trace_block` (`parity`),
/// transaction by transaction; returns the frames compared.
fn same_traces(geth: &[Bundle], parity: &[Bundle], diffs: &mut BTreeMap<String, Vec<String>>) -> usize {
    assert_eq!(geth.len(), parity.len());
    let mut compared = 0;
    for (g, p) in geth.iter().zip(parity) {
        let n = g.block_ref().number;
        assert_eq!(p.block_ref(), g.block_ref(), "block #{n}: the same block");
        let (gf, pf) = (frames(g), frames(p));
        let hashes: Vec<B256> = g.transactions.iter().map(|t| t.hash).collect();
        assert_eq!(gf.iter().map(|(h, _)| *h).collect::<Vec<_>>(), hashes, "block #{n}: callTracer, one per tx");
        assert_eq!(pf.iter().map(|(h, _)| *h).collect::<Vec<_>>(), hashes, "block #{n}: trace_block, one per tx");
        for ((h, gt), (_, pt)) in gf.iter().zip(&pf) {
            assert_eq!(count(pt), count(gt), "block #{n}, tx {h}: frames");
            same_tree(&format!("#{n} tx {h}"), gt, pt, 0, diffs);
            compared += count(gt);
        }
    }
    compared
}

fn print_diffs(what: &str, diffs: &BTreeMap<String, Vec<String>>) {
    println!("{what}: fields that differ between callTracer and converted trace_block frames:");
    for (field, cases) in diffs {
        println!("  {field}: {} frames, e.g. {}", cases.len(), cases[0]);
    }
}

/// Receipts equal field by field, with the fields that matter spelt out for a readable failure.
fn same_receipts(n: u64, got: &[TransactionReceipt], want: &[TransactionReceipt]) {
    assert_eq!(got.len(), want.len(), "block #{n}: receipts");
    for (g, w) in got.iter().zip(want) {
        let h = w.transaction_hash;
        assert_eq!(g.transaction_hash, h, "block #{n}: receipt order");
        assert_eq!(g.block_hash, w.block_hash, "block #{n}, tx {h}: block hash");
        assert_eq!(g.status(), w.status(), "block #{n}, tx {h}: status");
        assert_eq!(g.inner.logs(), w.inner.logs(), "block #{n}, tx {h}: logs");
        assert_eq!(g.gas_used, w.gas_used, "block #{n}, tx {h}: gas used");
        assert_eq!(g.contract_address, w.contract_address, "block #{n}, tx {h}: contract address");
        assert_eq!(g, w, "block #{n}, tx {h}: the whole receipt");
    }
}

#[tokio::test]
async fn without_block_receipts_receipts_come_per_transaction_and_the_fallback_is_learnt_once() {
    let (logs, _guard) = Logs::capture();
    let chain = TestChain::start().await;
    let (proxy, client) = refusing(&chain, &["eth_getBlockReceipts"]);
    let fetcher = Fetcher::new(client.clone());
    let reference = direct(&chain);
    assert!(!chain.blocks[0].transactions.is_empty(), "block 1 holds transactions (the fallback is learnt there)");

    // Traces are asked for too, so that the hash-pinned batch of an empty block is not empty (see
    // `an_empty_block_is_fetched_after_the_receipts_fallback`).
    let mut bundles = Vec::new();
    for n in 1..=chain.head() {
        let bundle = fetcher.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}: {e}"));
        let want = reference.bundle(n, &[], false).await.expect("direct fetch");
        same_receipts(n, bundle.full_receipts().unwrap(), want.full_receipts().unwrap());
        if n == 1 {
            assert_eq!(proxy.calls("eth_getBlockReceipts"), 1, "asked once, refused");
            // Block, hash-pinned batch (refused), then the receipts per transaction.
            assert_eq!(proxy.requests(), 3, "one extra round trip on the block that taught the fallback");
        }
        bundles.push(bundle);
    }
    chain.assert_same_blocks(&bundles);
    // Blocks without transactions need no receipt at all; the others ask per transaction, in the pinned batch.
    assert_eq!(proxy.calls("eth_getBlockReceipts"), 1, "after the first block, never asked again");
    let txs: usize = chain.blocks.iter().map(|b| b.transactions.len()).sum();
    assert_eq!(proxy.calls("eth_getTransactionReceipt"), txs, "one receipt call per transaction");
    assert_eq!(proxy.requests(), 2 * chain.blocks.len() + 1, "two round trips per block, plus one");
    assert_eq!(client.metrics().round_trips.get(), proxy.requests() as u64, "round trips counted");
    assert_eq!(faults_of(&client, &proxy.url), vec![], "a refused method is an answer, not a fault");
    let learnt = logs.text().lines().filter(|l| l.contains("eth_getBlockReceipts is not offered")).count();
    assert_eq!(learnt, 1, "the fallback is logged once:\n{}", logs.text());
    assert!(logs.text().contains("does not exist/is not available"), "the log quotes the node's error");

    // Blocks with transactions also come without traces (the batch then holds only the receipt calls).
    for b in chain.blocks.iter().filter(|b| !b.transactions.is_empty()) {
        let bundle = fetcher.bundle(b.number, &[], false).await.unwrap_or_else(|e| panic!("block #{}: {e}", b.number));
        let want = reference.bundle(b.number, &[], false).await.expect("direct fetch");
        same_receipts(b.number, bundle.full_receipts().unwrap(), want.full_receipts().unwrap());
        assert!(bundle.traces.is_none());
    }
    assert_eq!(proxy.calls("eth_getBlockReceipts"), 1);
}

/// Fixed bug (the hash-pinned batch in `Fetcher::bundle`): once the receipts fallback is learnt, a block
/// without transactions fetched without traces or probes sends an empty JSON-RPC batch `[]`. Nodes reject
/// it with one error for the whole request (anvil: `{"id":null,"error":{"code":-32600,"message":"Invalid
/// request"}}`, geth: `empty batch`), which the client counts as a malformed answer and retries until it
/// gives up: the block can never be fetched, and a follower stalls on it.
#[tokio::test]
async fn an_empty_block_is_fetched_after_the_receipts_fallback() {
    let chain = TestChain::start().await;
    let (proxy, client) = refusing(&chain, &["eth_getBlockReceipts"]);
    let fetcher = Fetcher::new(client.clone());
    fetcher.bundle(1, &[], false).await.expect("block 1 teaches the fallback");
    let empty = chain.blocks.iter().find(|b| b.transactions.is_empty()).expect("an empty block");
    let bundle = fetcher.bundle(empty.number, &[], false).await;
    let faults = faults_of(&client, &proxy.url);
    let bundle = bundle.unwrap_or_else(|e| panic!("empty block #{}: {e}; faults {faults:?}", empty.number));
    assert!(bundle.receipts.is_empty());
}

#[tokio::test]
async fn anvil_serves_call_traces_with_debug_trace_block_by_hash() {
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    let fetcher = Fetcher::new(client(&[&proxy.url], policy(TIMEOUT)));
    for direct in &chain.blocks {
        let n = direct.number;
        let bundle = fetcher.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}: {e}"));
        let frames = frames(&bundle);
        assert_eq!(frames.len(), direct.transactions.len(), "block #{n}: one trace per transaction");
        for ((hash, frame), tx) in frames.iter().zip(&bundle.transactions) {
            assert_eq!(*hash, tx.hash, "block #{n}: traces in transaction order");
            assert_eq!(frame.from, tx.from, "block #{n}, tx {hash}: from");
            assert_eq!(frame.input, tx.input, "block #{n}, tx {hash}: input");
            assert_eq!(frame.value, Some(tx.value), "block #{n}, tx {hash}: value");
            match tx.to {
                Some(to) => {
                    assert_eq!(frame.to, Some(to), "block #{n}, tx {hash}: to");
                    assert_eq!(frame.typ, "CALL", "block #{n}, tx {hash}");
                    let emitter = to == chain.emitter;
                    assert_eq!(frame.logs.len(), 0, "block #{n}, tx {hash}: logs are not asked of the tracer");
                    assert!(frame.calls.is_empty(), "block #{n}, tx {hash}: no nested call (emitter: {emitter})");
                }
                None => {
                    assert_eq!(frame.typ, "CREATE", "block #{n}, tx {hash}");
                    assert_eq!(frame.to, Some(chain.emitter), "block #{n}, tx {hash}: the created contract");
                }
            }
        }
    }
    let blocks = chain.blocks.len();
    assert_eq!(proxy.calls("debug_traceBlockByHash"), blocks, "callTracer once per block");
    assert_eq!(proxy.calls("trace_block"), 0, "no fallback needed: anvil has debug_traceBlockByHash");
    assert_eq!(proxy.requests(), 2 * blocks, "two round trips per block");
}

#[tokio::test]
async fn without_debug_tracing_trace_block_gives_the_same_call_trees() {
    let (logs, _guard) = Logs::capture();
    let chain = TestChain::start().await;
    let plain = FaultProxy::start(&chain.url);
    let geth = Fetcher::new(client(&[&plain.url], policy(TIMEOUT)));
    let (proxy, client) = refusing(&chain, &["debug_traceBlockByHash"]);
    let parity = Fetcher::new(client.clone());

    let (mut by_geth, mut by_parity) = (Vec::new(), Vec::new());
    for n in 1..=chain.head() {
        by_geth.push(geth.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}, callTracer: {e}")));
        by_parity.push(parity.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}, trace_block: {e}")));
    }
    chain.assert_same_blocks(&by_parity);
    let with_emitter: Vec<u64> = by_geth
        .iter()
        .filter(|b| b.transactions.iter().any(|t| t.to == Some(chain.emitter)))
        .map(|b| b.block_ref().number)
        .collect();
    assert_eq!(with_emitter, vec![3, 4, 7, 8], "the blocks with calls to the emitter");
    let mut diffs = BTreeMap::new();
    let frames = same_traces(&by_geth, &by_parity, &mut diffs);
    assert_eq!(frames, chain.blocks.iter().map(|b| b.transactions.len()).sum::<usize>(), "one frame per tx");
    print_diffs("TestChain", &diffs);

    assert_eq!(proxy.calls("debug_traceBlockByHash"), 1, "asked once, refused, never again");
    assert_eq!(proxy.calls("trace_block"), chain.blocks.len(), "trace_block for every block");
    assert_eq!(proxy.requests(), 2 * chain.blocks.len() + 1, "one extra round trip, on the first block");
    assert_eq!(faults_of(&client, &proxy.url), vec![]);
    let learnt = logs.text().lines().filter(|l| l.contains("debug_traceBlockByHash is not offered")).count();
    assert_eq!(learnt, 1, "{}", logs.text());
}

/// Runtime of a relay contract: with calldata `kind (1 byte) ‖ target (20 bytes) ‖ inner`, it makes the same
/// call twice with calldata `inner` (two sibling frames), ignoring failures: kind 0 `CALL` with no value,
/// 1 `DELEGATECALL`, 2 `STATICCALL`, 3 `CALL` with 1 wei, 4 `CREATE` with `inner` as init code (target
/// unused). Empty calldata: `STOP`. Calldata of 1 to 20 bytes runs out of gas (a failing transaction).
fn relay_runtime() -> Vec<u8> {
    let args_size = [0x60, 21, 0x36, 0x03]; // CALLDATASIZE - 21
    let target = [0x60, 1, 0x35, 0x60, 0x60, 0x1c]; // CALLDATALOAD(1) >> 96
    let call = |value: u8| -> Vec<u8> {
        // retSize, retOffset, argsSize, argsOffset, value, address, gas; CALL; POP
        [&[0x60, 0, 0x60, 0][..], &args_size, &[0x60, 0, 0x60, value], &target, &[0x5a, 0xf1, 0x50]].concat()
    };
    let without_value = |op: u8| -> Vec<u8> {
        // retSize, retOffset, argsSize, argsOffset, address, gas; DELEGATECALL or STATICCALL; POP
        [&[0x60, 0, 0x60, 0][..], &args_size, &[0x60, 0], &target, &[0x5a, op, 0x50]].concat()
    };
    // size, offset 0, value 0; CREATE; POP
    let create = [&args_size[..], &[0x60, 0, 0x60, 0, 0xf0, 0x50]].concat();
    let twice = |body: &[u8]| [&[0x5b][..], body, body, &[0x00]].concat(); // JUMPDEST body body STOP
    let kinds: [(u8, Vec<u8>); 4] =
        [(1, twice(&without_value(0xf4))), (2, twice(&without_value(0xfa))), (3, twice(&call(1))), (4, twice(&create))];

    let mut code = vec![
        0x36, 0x60, 0x05, 0x57, 0x00, 0x5b, // if CALLDATASIZE { jump to 5 } else { STOP }; 5: JUMPDEST
        0x60, 21, 0x36, 0x03, 0x60, 21, 0x60, 0, 0x37, // CALLDATACOPY(0, 21, CALLDATASIZE - 21)
        0x60, 0, 0x35, 0x60, 0xf8, 0x1c, // kind = CALLDATALOAD(0) >> 248
    ];
    let dispatch_len = 7 * kinds.len();
    let default = twice(&call(0));
    // The default block starts with a JUMPDEST it does not need; it is simply executed.
    let mut dest = code.len() + dispatch_len + default.len();
    for (kind, block) in &kinds {
        // DUP1 PUSH1 kind EQ PUSH1 dest JUMPI
        code.extend_from_slice(&[0x80, 0x60, *kind, 0x14, 0x60, u8::try_from(dest).expect("short code"), 0x57]);
        dest += block.len();
    }
    code.extend_from_slice(&default);
    for (_, block) in kinds {
        code.extend_from_slice(&block);
    }
    assert!(code.len() < 256, "PUSH1 reaches every jump destination");
    code
}

/// Init code of the relay: copies [`relay_runtime`] to memory and returns it.
fn relay_initcode() -> Bytes {
    let runtime = relay_runtime();
    let len = runtime.len() as u8;
    // PUSH1 len PUSH1 12 PUSH1 0 CODECOPY PUSH1 len PUSH1 0 RETURN
    let mut code = vec![0x60, len, 0x60, 12, 0x60, 0, 0x39, 0x60, len, 0x60, 0, 0xf3];
    code.extend(runtime);
    code.into()
}

/// Calldata for the relay.
fn relay(kind: u8, target: Address, inner: &[u8]) -> Vec<u8> {
    [&[kind][..], target.as_slice(), inner].concat()
}

/// Mines two blocks on top of `chain`: one deploying the relay, one of transactions through it with nested
/// frames of every kind (siblings, three levels, value, delegate and static calls, creations, failed frames,
/// a failed transaction). Returns the two block numbers and the relay's address.
async fn mine_nested_calls(chain: &TestChain) -> (Vec<u64>, Address) {
    let provider = ProviderBuilder::new().connect_http(chain.url.parse().expect("url"));
    let accounts = provider.get_accounts().await.expect("eth_accounts");
    // The last dev account only ever received transfers: it sends here, with nonces from 0.
    let from = accounts[9];
    let mut nonce = provider.get_transaction_count(from).await.expect("nonce");
    let relay_address = from.create(nonce);
    let mut send = async |to: Option<Address>, input: Vec<u8>, value: u64| {
        let tx = TransactionRequest::default()
            .with_from(from)
            .with_nonce(nonce)
            .with_value(U256::from(value))
            .with_gas_limit(2_000_000)
            .with_max_fee_per_gas(100_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000)
            .with_chain_id(support::CHAIN_ID);
        let tx = match to {
            Some(to) => tx.with_to(to).with_input(Bytes::from(input)),
            None => tx.with_deploy_code(Bytes::from(input)),
        };
        nonce += 1;
        *provider.send_transaction(tx).await.expect("anvil accepts the transaction").tx_hash()
    };
    send(None, relay_initcode().to_vec(), 0).await;
    provider.anvil_mine(Some(1), None).await.expect("anvil_mine");
    let code = provider.get_code_at(relay_address).await.expect("eth_getCode");
    assert_eq!(code.to_vec(), relay_runtime(), "the relay is deployed");

    let (emitter, relay_to) = (chain.emitter, Some(relay_address));
    let emitter_init = support::emitter_initcode();
    // Two CALLs to the emitter.
    send(relay_to, relay(0, emitter, &[1]), 0).await;
    // Two CALLs to the relay, each DELEGATECALLing the emitter twice (logs under the relay's address).
    send(relay_to, relay(0, relay_address, &relay(1, emitter, &[2])), 0).await;
    // DELEGATECALLs under a call that carries value (geth reports the value a delegate call inherits).
    send(relay_to, relay(1, emitter, &[3]), 7).await;
    // STATICCALLs to the emitter: its LOG0 fails in a static context (two failed frames).
    send(relay_to, relay(2, emitter, &[]), 0).await;
    // Value to an account without code, 1 wei per call.
    send(relay_to, relay(3, accounts[8], &[]), 10).await;
    // Two CREATEs of an emitter.
    send(relay_to, relay(4, Address::ZERO, &emitter_init), 0).await;
    // Three levels: CALL relay → STATICCALL relay → CALL relay (no calldata: STOP), 15 frames. (A failing
    // frame at the bottom would burn its gas and starve its siblings.)
    send(relay_to, relay(0, relay_address, &relay(2, relay_address, &relay(0, relay_address, &[]))), 0).await;
    // A failing transaction: too short calldata runs out of gas.
    send(relay_to, vec![0, 1], 0).await;
    provider.anvil_mine(Some(1), None).await.expect("anvil_mine");
    let head = provider.get_block_number().await.expect("eth_blockNumber");
    (vec![head - 1, head], relay_address)
}

#[tokio::test]
async fn nested_calls_of_every_kind_convert_from_trace_block_with_the_same_shape() {
    let chain = TestChain::start().await;
    let (blocks, relay_address) = mine_nested_calls(&chain).await;
    let plain = FaultProxy::start(&chain.url);
    let geth = Fetcher::new(client(&[&plain.url], policy(TIMEOUT)));
    let (proxy, client) = refusing(&chain, &["debug_traceBlockByHash"]);
    let parity = Fetcher::new(client);
    let (mut by_geth, mut by_parity) = (Vec::new(), Vec::new());
    for &n in &blocks {
        by_geth.push(geth.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}, callTracer: {e}")));
        by_parity.push(parity.bundle(n, &[], true).await.unwrap_or_else(|e| panic!("block #{n}, trace_block: {e}")));
    }
    assert_eq!(proxy.calls("trace_block"), 2);

    // The shape anvil's callTracer gives, as the relay was written to produce.
    let calls = frames(&by_geth[1]);
    let shapes: Vec<(usize, Vec<&str>)> = calls
        .iter()
        .map(|(_, f)| {
            let mut types: Vec<&str> = f.calls.iter().map(|c| c.typ.as_str()).collect();
            types.dedup();
            (count(f), types)
        })
        .collect();
    let expected = vec![
        (3, vec!["CALL"]),
        (7, vec!["CALL"]),
        (3, vec!["DELEGATECALL"]),
        (3, vec!["STATICCALL"]),
        (3, vec!["CALL"]),
        (3, vec!["CREATE"]),
        (15, vec!["CALL"]),
        (1, vec![]),
    ];
    assert_eq!(shapes, expected, "frames and child types per transaction");
    let (_, deep) = &calls[6];
    assert_eq!(deep.calls[1].calls[0].typ, "STATICCALL", "the middle level");
    assert_eq!(deep.calls[1].calls[0].calls[1].to, Some(relay_address), "the third level");
    assert!(deep.iter().all(|f| f.error.is_none()), "nothing fails at three levels");
    assert!(calls[3].1.calls.iter().all(|f| f.error.is_some()), "a LOG in a static context fails");
    assert!(calls[7].1.error.is_some(), "the failing transaction");
    assert_eq!(calls[2].1.calls[0].to, Some(chain.emitter));
    assert_eq!(calls[2].1.calls[0].from, relay_address);
    assert!(by_geth[1].receipts.iter().filter(|r| !r.status).count() == 1, "one failed transaction");

    let mut diffs = BTreeMap::new();
    let frames = same_traces(&by_geth, &by_parity, &mut diffs);
    assert_eq!(frames, 1 + expected.iter().map(|(n, _)| n).sum::<usize>());
    print_diffs("nested calls", &diffs);
    // anvil's callTracer reports, as a transaction's top-level gasUsed, the block's cumulative gas so far.
    let cumulative = calls
        .iter()
        .zip(by_geth[1].full_receipts().unwrap())
        .filter(|((_, f), r)| f.gas_used == U256::from(r.inner.cumulative_gas_used()))
        .count();
    println!("callTracer top-level gasUsed equals the receipt's cumulativeGasUsed for {cumulative} of {}", calls.len());
}

/// Fixed bug (parity.rs, `frame_of`): a `DELEGATECALL` frame converted from `trace_block` has no value, while
/// geth's callTracer (and anvil's) reports the value the delegate call inherits from its caller, and
/// `trace_block` carries it too (`"value": "0x7"` below a call with 7 wei). Failing input: a transaction
/// sending 7 wei to a contract that DELEGATECALLs another; converted frames say `None`, callTracer `Some(7)`.
#[tokio::test]
async fn delegate_calls_keep_their_inherited_value_through_trace_block() {
    let chain = TestChain::start().await;
    let (blocks, _) = mine_nested_calls(&chain).await;
    let n = blocks[1];
    let geth = direct(&chain).bundle(n, &[], true).await.expect("callTracer");
    let (_proxy, client) = refusing(&chain, &["debug_traceBlockByHash"]);
    let parity = Fetcher::new(client).bundle(n, &[], true).await.expect("trace_block");
    let (geth, parity) = (frames(&geth), frames(&parity));
    // The third transaction: 7 wei to the relay, which DELEGATECALLs the emitter twice.
    let (hash, top) = &geth[2];
    assert_eq!(top.value, Some(U256::from(7)));
    for (i, (g, p)) in top.calls.iter().zip(&parity[2].1.calls).enumerate() {
        assert_eq!(g.typ, "DELEGATECALL");
        assert_eq!(g.value, Some(U256::from(7)), "geth: the inherited value");
        assert_eq!(p.value, g.value, "tx {hash}, frame {i}: value of the DELEGATECALL");
    }
}

#[tokio::test]
async fn without_any_tracer_a_bundle_with_traces_fails_with_no_traces_and_is_not_retried() {
    let chain = TestChain::start().await;
    let (proxy, client) = refusing(&chain, &["debug_traceBlockByHash", "trace_block"]);
    let fetcher = Fetcher::new(client.clone());
    let with_txs = chain.blocks.iter().find(|b| b.transactions.len() >= 3).expect("a busy block").number;
    let empty = chain.blocks.iter().find(|b| b.transactions.is_empty()).expect("an empty block").number;

    // First block: callTracer refused, then trace_block refused.
    // Then, with the callTracer fallback learnt: trace_block in the pinned batch, refused.
    for (n, debug_calls, trace_calls) in [(with_txs, 1, 1), (empty, 1, 2), (with_txs, 1, 3)] {
        let err = fetcher.bundle(n, &[], true).await.expect_err("no tracer: no bundle with traces");
        assert!(matches!(err, FetchError::NoTraces { number, .. } if number == n), "block #{n}: {err:?}");
        assert!(!err.is_retryable(), "a missing capability is not retried");
        let message = err.to_string();
        assert!(message.starts_with(&format!("block #{n}: ")), "the message names the block: {message}");
        assert!(message.contains("neither debug_traceBlockByHash nor trace_block"), "{message}");
        assert!(message.contains("the method trace_block does not exist/is not available"), "{message}");
        assert_eq!(proxy.calls("debug_traceBlockByHash"), debug_calls, "block #{n}");
        assert_eq!(proxy.calls("trace_block"), trace_calls, "block #{n}");
    }
    assert_eq!(faults_of(&client, &proxy.url), vec![], "no transport fault, nothing retried");
    assert_eq!(proxy.requests(), 2 + 1 + 2 + 2, "no request repeated");

    // Without traces the same node serves bundles.
    let bundle = fetcher.bundle(with_txs, &[], false).await.expect("no traces wanted");
    assert_eq!(bundle.receipts.len(), chain.blocks[with_txs as usize - 1].transactions.len());

    // A follower stops on it with an error that is not retryable, and keeps its cursor.
    let mut follower = Follower::new(Fetcher::new(client.clone()), 1, vec![], 64, vec![], true);
    let err = follower.next_event(chain.head()).await.expect_err("no tracer");
    assert!(matches!(err, FollowError::Fetch(FetchError::NoTraces { number: 1, .. })), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(follower.next_number(), 1);
}

#[tokio::test]
async fn refused_block_receipts_and_transport_faults_lose_no_block() {
    let chain = TestChain::start().await;
    let (proxy, client) = refusing(&chain, &["eth_getBlockReceipts"]);
    let reference = direct(&chain);
    // Probes keep the hash-pinned batch of an empty block from being empty (see
    // `an_empty_block_is_fetched_after_the_receipts_fallback`).
    let probes = vec![Probe { to: chain.emitter, data: Bytes::new() }];
    let mut follower = Follower::new(Fetcher::new(client.clone()), 1, vec![], 64, probes.clone(), false);
    // Per block, the requests are: the block, the hash-pinned batch (with eth_getBlockReceipts on block 1,
    // refused; per-transaction receipts afterwards) and, on block 1 only, the per-transaction receipts.
    let plan = |n: u64| -> Vec<ProxyFault> {
        let fault = if n.is_multiple_of(2) { ProxyFault::Drop } else { ProxyFault::Malformed };
        match n {
            // The refused batch dropped, then its retry refused; the receipts batch malformed, then retried.
            1 => vec![ProxyFault::Pass, ProxyFault::Drop, ProxyFault::Pass, ProxyFault::Malformed],
            n if n.is_multiple_of(3) => vec![fault],
            _ => vec![ProxyFault::Pass, fault],
        }
    };
    let mut injected = BTreeMap::<&str, u64>::new();
    let mut bundles = Vec::new();
    let head = chain.head();
    while follower.next_number() <= head {
        let n = follower.next_number();
        let faults = plan(n);
        for f in &faults {
            match f {
                ProxyFault::Drop => *injected.entry("connect").or_default() += 1,
                ProxyFault::Malformed => *injected.entry("malformed").or_default() += 1,
                _ => {}
            }
        }
        proxy.plan(faults);
        match follower.next_event(head).await {
            Ok(Some(ChainEvent::NewBlock(bundle))) => bundles.push(*bundle),
            other => panic!("block #{n}: {other:?}"),
        }
        assert_eq!(proxy.planned(), 0, "block #{n}: every planned fault was used");
    }
    assert!(matches!(follower.next_event(head).await, Ok(None)), "nothing above the head");
    chain.assert_same_blocks(&bundles);
    for b in &bundles {
        let n = b.block_ref().number;
        let want = reference.bundle(n, &[], false).await.expect("direct fetch");
        same_receipts(n, b.full_receipts().unwrap(), want.full_receipts().unwrap());
        assert_eq!(b.probes.get(&probes[0]), Some(&Ok(Bytes::new())), "block #{n}: probe");
    }
    // Dropped once before it was refused: two calls, then never again.
    assert_eq!(proxy.calls("eth_getBlockReceipts"), 2, "learnt once");
    let counted = faults_of(&client, &proxy.url);
    let want = vec![(Fault::Connect, injected["connect"]), (Fault::Malformed, injected["malformed"])];
    assert_eq!(counted, want, "each injected fault counted once, the refusal not at all");
}

/// The proxy itself: refused calls answered in place inside a batch, the rest forwarded as one batch and
/// merged back in order with the original ids; single calls; a lag applies to what is forwarded.
#[tokio::test]
async fn the_proxy_refuses_methods_inside_batches() {
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    proxy.refuse_methods(&["eth_getBlockReceipts"]);
    proxy.refuse_methods(&["debug_traceBlockByHash"]);
    let post = |body: Value| proxy.post(body);
    let head = chain.head();
    let hash = chain.blocks[head as usize - 1].hash;
    let refusal = |id: Value, method: &str| {
        let message = format!("the method {method} does not exist/is not available");
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": message}})
    };
    let batch = json!([
        {"jsonrpc": "2.0", "id": 7, "method": "eth_getBlockReceipts", "params": [hash]},
        {"jsonrpc": "2.0", "id": "b", "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 0, "method": "debug_traceBlockByHash", "params": [hash, {"tracer": "callTracer"}]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [format!("{head:#x}"), false]},
    ]);
    let answers = post(batch.clone()).await;
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 5);
    assert_eq!(answers[0], refusal(json!(7), "eth_getBlockReceipts"));
    assert_eq!(answers[1], json!({"jsonrpc": "2.0", "id": "b", "result": format!("{head:#x}")}));
    assert_eq!(answers[2], refusal(json!(0), "debug_traceBlockByHash"));
    assert_eq!(answers[3], json!({"jsonrpc": "2.0", "id": 3, "result": format!("{:#x}", support::CHAIN_ID)}));
    assert_eq!(answers[4]["id"], json!(1));
    assert_eq!(answers[4]["result"]["hash"], json!(hash));

    // Every call refused: nothing goes upstream, still a batch answer.
    let all = post(json!([{"jsonrpc": "2.0", "id": 4, "method": "eth_getBlockReceipts", "params": [hash]}])).await;
    assert_eq!(all, json!([refusal(json!(4), "eth_getBlockReceipts")]));
    // A single call refused, and one forwarded: single answers.
    let one = post(json!({"jsonrpc": "2.0", "id": 9, "method": "eth_getBlockReceipts", "params": [hash]})).await;
    assert_eq!(one, refusal(json!(9), "eth_getBlockReceipts"));
    let one = post(json!({"jsonrpc": "2.0", "id": 9, "method": "eth_chainId", "params": []})).await;
    assert_eq!(one, json!({"jsonrpc": "2.0", "id": 9, "result": format!("{:#x}", support::CHAIN_ID)}));

    // With a lag, the forwarded calls lag and the refused ones are still refused.
    proxy.set_lag(3);
    let answers = post(batch).await;
    let answers = answers.as_array().expect("a batch answer");
    assert_eq!(answers[0], refusal(json!(7), "eth_getBlockReceipts"));
    assert_eq!(answers[1]["result"], json!(format!("{:#x}", head - 3)), "eth_blockNumber lags");
    assert_eq!(answers[2], refusal(json!(0), "debug_traceBlockByHash"));
    assert_eq!(answers[4], json!({"jsonrpc": "2.0", "id": 1, "result": null}), "a block above the lagging head");

    assert_eq!(proxy.requests(), 5);
    assert_eq!(proxy.calls("eth_getBlockReceipts"), 4);
    assert_eq!(proxy.calls("debug_traceBlockByHash"), 2);
    assert_eq!(proxy.calls("eth_chainId"), 3);
    assert_eq!(proxy.calls("eth_blockNumber"), 2, "the calls sent by the client, not the proxy's own");
    assert_eq!(proxy.calls("trace_block"), 0);
}
