//! Nothing is lost under faults: Vigil's client, fetcher and follower, talking to anvil through
//! [`FaultProxy`], yield every block exactly once, in order, equal to what anvil reports directly, while
//! connections drop, answers come late, rate limits and HTTP errors hit, bodies are malformed or truncated,
//! endpoints die or lag. Each fault is counted by endpoint and kind, shows in the endpoint's health, and is
//! logged as `RpcRequestFailed`.
//!
//! Faults are planned per request, so where they land is deterministic: for each block the follower sends
//! the block request (`eth_getBlockByNumber`), then one batch pinned to its hash (receipts, probes); a plan of
//! `[Pass; k] + [fault]` made just before a block lets `k` of them through and faults the next (0: the block
//! request, 1: the batch). Only generous timing bounds are asserted (a `Retry-After: 1` retry waited at least
//! 900 ms).

mod support;

use std::time::{Duration, Instant};

use alloy::primitives::{address, Bytes};
use serde_json::{json, Value};
use support::{client, fault_proxy::Fault as ProxyFault, fault_proxy::FaultProxy, faults_of, policy, Logs, TestChain};
use vigil_chain::{rpc::Fault, Fetcher, Follower, RpcClient};
use vigil_core::{BlockRef, Bundle, ChainEvent, Probe};

/// How the follow loop treats errors.
#[derive(Clone, Copy, PartialEq)]
enum OnError {
    /// An error is a test failure (the client's retries must absorb the faults).
    Fail,
    /// A retryable error is retried, as Vigil's loop does: the cursor stays, nothing is skipped.
    Retry,
}

/// Follows blocks `follower.next_number()..=head`, calling `before(n)` before each attempt at block `n`
/// (to plan faults). Returns each block with the time its `next_event` took, and the errors retried.
async fn follow_to(
    follower: &mut Follower,
    head: u64,
    on_error: OnError,
    mut before: impl FnMut(u64),
) -> (Vec<(Bundle, Duration)>, usize) {
    let mut out = Vec::new();
    let mut retried = 0;
    while follower.next_number() <= head {
        let n = follower.next_number();
        before(n);
        let start = Instant::now();
        match follower.next_event(head).await {
            Ok(Some(ChainEvent::NewBlock(bundle))) => out.push((*bundle, start.elapsed())),
            Ok(Some(ChainEvent::RevertTo { ancestor })) => {
                panic!("no reorg happened, yet the follower reverts to {ancestor:?}")
            }
            Ok(None) => panic!("block #{n} is at or below the head #{head}, yet the follower yields nothing"),
            Err(e) if on_error == OnError::Retry && e.is_retryable() => {
                retried += 1;
                assert!(retried < 100, "block #{n}: still failing after 100 tries: {e}");
                assert_eq!(follower.next_number(), n, "a failed fetch leaves the cursor");
            }
            Err(e) => panic!("block #{n}: {e}"),
        }
    }
    // At the head: nothing more, and no reorg seen where there was none.
    match follower.next_event(head).await {
        Ok(None) => {}
        other => panic!("at the head the follower should yield nothing, got {other:?}"),
    }
    (out, retried)
}

fn follower(client: &RpcClient, probes: Vec<Probe>) -> Follower {
    Follower::new(Fetcher::new(client.clone()), 1, vec![], 64, probes, false)
}

fn bundles(followed: Vec<(Bundle, Duration)>) -> Vec<Bundle> {
    followed.into_iter().map(|(b, _)| b).collect()
}

/// What one single-endpoint fault run gave.
struct Run {
    chain: TestChain,
    proxy: FaultProxy,
    client: RpcClient,
    followed: Vec<(Bundle, Duration)>,
    logs: Logs,
}

/// Follows the whole chain through one proxy, injecting `fault` at each `(block, requests to let through
/// first)` of `at`, and checks what every fault run must give: every block exactly once, in order, as anvil
/// has it; the plan used up; `kind` counted once per injection (at least once per injection if
/// `at_least`) and no other kind counted; the endpoint's last fault of that kind; one `RpcRequestFailed`
/// log per fault counted.
async fn single_endpoint_run(
    fault: ProxyFault,
    kind: Fault,
    timeout: Duration,
    at: &[(u64, usize)],
    at_least: bool,
) -> Run {
    let (logs, guard) = Logs::capture();
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    let client = client(&[&proxy.url], policy(timeout));
    let mut follower = follower(&client, vec![]);
    let (followed, _) = follow_to(&mut follower, chain.head(), OnError::Fail, |n| {
        for &(_, skip) in at.iter().filter(|(b, _)| *b == n) {
            let mut plan = vec![ProxyFault::Pass; skip];
            plan.push(fault.clone());
            proxy.plan(plan);
        }
    })
    .await;
    assert_eq!(proxy.planned(), 0, "every planned fault was used");
    chain.assert_same_blocks(&bundles(followed.clone()));

    let counted = faults_of(&client, &proxy.url);
    let of_kind = counted.iter().find(|(k, _)| *k == kind).map_or(0, |(_, n)| *n);
    let injected = at.len() as u64;
    if at_least {
        assert!(of_kind >= injected, "{fault:?}: {of_kind} {kind:?} faults counted for {injected} injected");
    } else {
        assert_eq!(of_kind, injected, "{fault:?}: one {kind:?} fault counted per injection");
    }
    assert!(counted.iter().all(|(k, _)| *k == kind), "{fault:?}: only {kind:?} faults, got {counted:?}");

    let health = client.health();
    assert_eq!(health.len(), 1);
    let last = health[0].last_fault.clone().unwrap_or_default();
    assert!(last.starts_with(kind.as_str()), "{fault:?}: last fault in health is {last:?}");
    assert_eq!(health[0].failures, of_kind, "every failed attempt is in the health");
    assert_eq!(health[0].consecutive_failures, 0, "the endpoint recovered");
    assert_eq!(proxy.requests() as u64, health[0].requests, "the proxy saw every request the client sent");

    let failures = logs.failures();
    assert_eq!(failures.len() as u64, of_kind, "one RpcRequestFailed per fault:\n{}", logs.text());
    assert!(
        failures.iter().all(|l| l.contains(&format!("fault=\"{}\"", kind.as_str()))),
        "the logs name the fault:\n{failures:#?}"
    );
    drop(guard);
    Run { chain, proxy, client, followed, logs }
}

/// Injection points on every block, alternately the block request and the hash-pinned batch.
fn every_block() -> Vec<(u64, usize)> {
    (1..=support::PLAN.len() as u64).map(|n| (n, (n % 2) as usize)).collect()
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn dropped_connections_lose_no_block() {
    let run = single_endpoint_run(ProxyFault::Drop, Fault::Connect, TIMEOUT, &every_block(), false).await;
    let last = run.client.health()[0].last_fault.clone().unwrap_or_default();
    assert!(last.contains("connect"), "{last}");
}

#[tokio::test]
async fn answers_later_than_the_timeout_are_retried_and_lose_no_block() {
    // 2 s timeout, 3 s delay: the client gives up first.
    let at = [(2, 0), (5, 1)];
    let timeout = Duration::from_secs(2);
    let run = single_endpoint_run(ProxyFault::Delay(Duration::from_secs(3)), Fault::Timeout, timeout, &at, true).await;
    for &(n, _) in &at {
        let took = run.followed[n as usize - 1].1;
        assert!(took >= Duration::from_millis(1_900), "block #{n} waited out the timeout, took {took:?}");
    }
    // A delay within the timeout is no fault.
    let before = faults_of(&run.client, &run.proxy.url);
    run.proxy.plan(vec![ProxyFault::Delay(Duration::from_millis(100)), ProxyFault::Delay(Duration::from_millis(100))]);
    let bundle = Fetcher::new(run.client.clone()).bundle(run.chain.head(), &[], false).await.expect("bundle");
    assert_eq!(bundle.block_ref().hash, run.chain.blocks.last().expect("blocks").hash);
    assert_eq!(run.proxy.planned(), 0);
    assert_eq!(faults_of(&run.client, &run.proxy.url), before, "no new fault");
    assert!(run.logs.text().contains("RpcRequestFailed"));
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_and_loses_no_block() {
    let at = [(2, 0), (5, 1)];
    let run =
        single_endpoint_run(ProxyFault::TooMany { retry_after_secs: 1 }, Fault::RateLimited, TIMEOUT, &at, false).await;
    for &(n, _) in &at {
        let took = run.followed[n as usize - 1].1;
        assert!(took >= Duration::from_millis(900), "block #{n}: the retry waited for Retry-After: 1, took {took:?}");
    }
    let last = run.client.health()[0].last_fault.clone().unwrap_or_default();
    assert!(last.contains("Retry-After Some(1s)"), "{last}");
}

#[tokio::test]
async fn http_500_answers_are_retried_and_lose_no_block() {
    single_endpoint_run(ProxyFault::Status500, Fault::Status, TIMEOUT, &every_block(), false).await;
}

#[tokio::test]
async fn malformed_bodies_are_retried_and_lose_no_block() {
    single_endpoint_run(ProxyFault::Malformed, Fault::Malformed, TIMEOUT, &every_block(), false).await;
}

#[tokio::test]
async fn truncated_bodies_are_retried_and_lose_no_block() {
    let run = single_endpoint_run(ProxyFault::Truncated, Fault::Malformed, TIMEOUT, &every_block(), false).await;
    let last = run.client.health()[0].last_fault.clone().unwrap_or_default();
    assert!(last.contains("malformed or truncated JSON"), "{last}");
}

#[tokio::test]
async fn a_failing_endpoint_fails_over_to_the_healthy_one() {
    let (logs, _guard) = Logs::capture();
    let chain = TestChain::start().await;
    let failing = FaultProxy::start(&chain.url);
    failing.plan(vec![ProxyFault::Drop; 1_000]);
    let healthy = FaultProxy::start(&chain.url);
    // The failing endpoint is listed first: it is tried first.
    let client = client(&[&failing.url, &healthy.url], policy(TIMEOUT));
    let mut follower = follower(&client, vec![]);
    let (followed, _) = follow_to(&mut follower, chain.head(), OnError::Fail, |_| {}).await;
    chain.assert_same_blocks(&bundles(followed));

    let dropped = 1_000 - failing.planned();
    assert!(dropped > 0, "the failing endpoint was tried");
    assert_eq!(failing.requests(), dropped, "it answered nothing");
    let health = client.health();
    assert_eq!(health[0].requests, health[0].failures, "every attempt on the failing endpoint failed");
    assert!(health[0].last_fault.as_deref().unwrap_or_default().starts_with("connect"), "{:?}", health[0]);
    assert_eq!(health[1].failures, 0, "the healthy endpoint never failed");
    assert!(healthy.requests() >= 2 * support::PLAN.len(), "the healthy endpoint served every block");
    assert_eq!(faults_of(&client, &failing.url), vec![(Fault::Connect, dropped as u64)]);
    assert_eq!(faults_of(&client, &healthy.url), vec![]);
    assert_eq!(logs.failures().len(), dropped, "one RpcRequestFailed per failed attempt");
}

#[tokio::test]
async fn an_endpoint_that_refuses_connections_fails_over() {
    let chain = TestChain::start().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("address"))
    };
    let healthy = FaultProxy::start(&chain.url);
    let client = client(&[&dead, &healthy.url], policy(TIMEOUT));
    let mut follower = follower(&client, vec![]);
    let (followed, _) = follow_to(&mut follower, chain.head(), OnError::Fail, |_| {}).await;
    chain.assert_same_blocks(&bundles(followed));
    assert!(matches!(faults_of(&client, &dead)[..], [(Fault::Connect, n)] if n > 0));
    assert_eq!(faults_of(&client, &healthy.url), vec![]);
}

#[tokio::test]
async fn a_lagging_endpoint_does_not_hold_back_the_head_or_lose_blocks() {
    let (logs, _guard) = Logs::capture();
    let chain = TestChain::start().await;
    let lagging = FaultProxy::start(&chain.url);
    lagging.set_lag(5);
    let healthy = FaultProxy::start(&chain.url);
    // The lagging endpoint is listed first.
    let client = client(&[&lagging.url, &healthy.url], policy(TIMEOUT));
    let fetcher = Fetcher::new(client.clone());

    let per_endpoint = client.request_each::<alloy::primitives::U64>("eth_blockNumber", json!([])).await;
    let heads: Vec<u64> = per_endpoint.iter().map(|(_, r, _)| r.as_ref().expect("answers").to::<u64>()).collect();
    assert_eq!(heads, vec![chain.head() - 5, chain.head()], "the lagging endpoint is 5 blocks behind");
    assert_eq!(fetcher.head().await.expect("head"), chain.head(), "head() reports the true head");

    let mut follower = Follower::new(fetcher, 1, vec![], 64, vec![], false);
    let (followed, _) = follow_to(&mut follower, chain.head(), OnError::Fail, |_| {}).await;
    chain.assert_same_blocks(&bundles(followed));

    let counted = faults_of(&client, &lagging.url);
    assert!(matches!(counted[..], [(Fault::Lagging, n)] if n > 0), "the lagging endpoint's nulls: {counted:?}");
    let last = client.health()[0].last_fault.clone().unwrap_or_default();
    assert!(last.starts_with("lagging: does not have block #"), "{last}");
    assert_eq!(faults_of(&client, &healthy.url), vec![]);
    assert!(logs.failures().iter().all(|l| l.contains("fault=\"lagging\"")), "{}", logs.text());
}

#[tokio::test]
async fn every_fault_kind_mixed_over_two_endpoints_loses_no_block() {
    let chain = TestChain::start().await;
    let a = FaultProxy::start(&chain.url);
    let b = FaultProxy::start(&chain.url);
    let kinds = [
        ProxyFault::Drop,
        ProxyFault::Status500,
        ProxyFault::Pass,
        ProxyFault::Malformed,
        ProxyFault::Truncated,
        ProxyFault::Pass,
        ProxyFault::TooMany { retry_after_secs: 1 },
        ProxyFault::Pass,
    ];
    let plan_a: Vec<ProxyFault> = kinds.iter().cycle().take(60).cloned().collect();
    let plan_b: Vec<ProxyFault> = kinds.iter().cycle().skip(3).take(60).cloned().collect();
    a.plan(plan_a);
    b.plan(plan_b);
    let client = client(&[&a.url, &b.url], policy(TIMEOUT));
    let mut follower = follower(&client, vec![]);
    let (followed, _retried) = follow_to(&mut follower, chain.head(), OnError::Retry, |_| {}).await;
    chain.assert_same_blocks(&bundles(followed));
    for p in [&a, &b] {
        let kinds: Vec<Fault> = faults_of(&client, &p.url).into_iter().map(|(k, _)| k).collect();
        assert!(!kinds.is_empty() && kinds.iter().all(|k| *k != Fault::Timeout && *k != Fault::Lagging), "{kinds:?}");
    }
}

#[tokio::test]
async fn probes_pinned_to_the_block_hash_read_through_faults() {
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    let client = client(&[&proxy.url], policy(TIMEOUT));
    // balanceOf(0x…beef) on an address without code, and a call to the emitter (which returns nothing).
    let mut data = vec![0x70, 0xa0, 0x82, 0x31];
    data.extend_from_slice(&[0u8; 30]);
    data.extend_from_slice(&[0xbe, 0xef]);
    let probes = vec![
        Probe { to: address!("0x000000000000000000000000000000000000dEaD"), data: Bytes::from(data) },
        Probe { to: chain.emitter, data: Bytes::new() },
    ];
    let mut follower = follower(&client, probes.clone());
    let (followed, _) = follow_to(&mut follower, chain.head(), OnError::Fail, |n| {
        // The hash-pinned batch, which carries the probes, is truncated once per block.
        proxy.plan(vec![ProxyFault::Pass, if n % 2 == 0 { ProxyFault::Truncated } else { ProxyFault::Status500 }]);
    })
    .await;
    let bundles = bundles(followed);
    chain.assert_same_blocks(&bundles);
    for b in &bundles {
        for p in &probes {
            assert_eq!(b.probes.get(p), Some(&Ok(Bytes::new())), "block #{}: probe {p:?}", b.block_ref().number);
        }
    }
}

#[tokio::test]
async fn the_head_is_read_through_a_fault_on_the_only_endpoint() {
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    let client = client(&[&proxy.url], policy(TIMEOUT));
    let fetcher = Fetcher::new(client.clone());
    let faults = [ProxyFault::Drop, ProxyFault::Status500, ProxyFault::Malformed, ProxyFault::Truncated];
    for fault in &faults {
        proxy.plan(vec![fault.clone()]);
        assert_eq!(fetcher.head().await.expect("head"), chain.head(), "{fault:?}");
        assert_eq!(proxy.planned(), 0);
    }
    // Per fault: the per-endpoint read that failed, then the request with retries that got through.
    assert_eq!(proxy.requests(), 2 * faults.len());
}

/// The proxy itself: pass-through of single calls and batches, and a lag applied inside batches.
#[tokio::test]
async fn the_proxy_lags_inside_batches() {
    let chain = TestChain::start().await;
    let proxy = FaultProxy::start(&chain.url);
    let post = |body: Value| proxy.post(body);
    let head = chain.head();
    let hash = chain.blocks[head as usize - 1].hash;
    let tx = chain.blocks.iter().rev().find(|b| !b.transactions.is_empty()).expect("a block with transactions");
    let batch = json!([
        {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [format!("{head:#x}"), false]},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockByNumber", "params": ["0x1", false]},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockReceipts", "params": [hash]},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_call", "params": [{"to": chain.emitter}, {"blockHash": hash}]},
        {"jsonrpc": "2.0", "id": 5, "method": "eth_getTransactionReceipt", "params": [tx.transactions[0]]},
        {"jsonrpc": "2.0", "id": 6, "method": "eth_getBlockByNumber", "params": ["latest", false]},
    ]);
    let by_id = |answers: Value| -> Vec<Value> {
        let mut v = answers.as_array().expect("a batch answer").clone();
        v.sort_by_key(|a| a["id"].as_u64());
        v
    };

    let straight = by_id(post(batch.clone()).await);
    assert_eq!(straight[0]["result"], json!(format!("{head:#x}")));
    assert_eq!(straight[1]["result"]["hash"], json!(hash));
    assert_eq!(straight[4]["result"], json!("0x"));
    assert_eq!(straight[6]["result"]["number"], json!(format!("{head:#x}")));

    proxy.set_lag(5);
    let lagging = by_id(post(batch.clone()).await);
    let visible = head - 5;
    assert_eq!(lagging.len(), 7);
    assert_eq!(lagging[0]["result"], json!(format!("{visible:#x}")), "eth_blockNumber lags");
    assert_eq!(lagging[1]["result"], Value::Null, "a block above the lagging head is unknown");
    assert_eq!(lagging[2]["result"]["number"], json!("0x1"), "an old block is there");
    assert_eq!(lagging[3]["result"], Value::Null, "receipts of an unknown block hash");
    assert_eq!(lagging[4]["error"]["message"], json!("header for hash not found"), "state at an unknown hash");
    if tx.number > visible {
        assert_eq!(lagging[5]["result"], Value::Null, "a receipt in an unknown block");
    }
    assert_eq!(lagging[6]["result"]["number"], json!(format!("{visible:#x}")), "latest is the lagging head");
    // A single call (not a batch) gets a single answer.
    let one = post(json!({"jsonrpc": "2.0", "id": 9, "method": "eth_blockNumber", "params": []})).await;
    assert_eq!(one, json!({"jsonrpc": "2.0", "id": 9, "result": format!("{visible:#x}")}));
    proxy.set_lag(0);
    let one = post(json!({"jsonrpc": "2.0", "id": 9, "method": "eth_blockNumber", "params": []})).await;
    assert_eq!(one["result"], json!(format!("{head:#x}")));
    assert_eq!(proxy.requests(), 4);
}

/// At the head the follower compares its tip's hash with the endpoints': a lagging endpoint listed first,
/// which answers `null` for the tip, must not make it look orphaned (a false reorg).
#[tokio::test]
async fn a_lagging_endpoint_does_not_fake_a_reorg_at_the_head() {
    let chain = TestChain::start().await;
    let lagging = FaultProxy::start(&chain.url);
    lagging.set_lag(2);
    let healthy = FaultProxy::start(&chain.url);
    let client = client(&[&lagging.url, &healthy.url], policy(TIMEOUT));
    let recent: Vec<BlockRef> = chain.blocks.iter().map(|b| BlockRef { number: b.number, hash: b.hash }).collect();
    let head = chain.head();
    let mut follower = Follower::new(Fetcher::new(client.clone()), head + 1, recent, 64, vec![], false);
    let event = follower.next_event(head).await;
    assert!(matches!(event, Ok(None)), "at the head, with no reorg, nothing happens; got {event:?}");
    assert_eq!(client.metrics().reorgs.get(), 0);
}
