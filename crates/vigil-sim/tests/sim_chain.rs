//! The block-producing in-process chain: hash-chained headers, receipts for successes and reverts, callTracer
//! traces, JSON-RPC shapes that alloy decodes, and state reads at past blocks.

use alloy::{
    primitives::U256,
    rpc::types::{trace::geth::GethTrace, Block, TransactionReceipt},
    sol_types::SolEvent,
};
use vigil_contracts::{MarginPool, VenuePair, VenueRouter};
use vigil_sim::{
    chain::{SimChain, TxRequest, BLOCK_TIME},
    venue::{in_process_venue, usd, MARKET_WETH_FEED},
    Actors, Venue,
};

fn chain(tracing: bool) -> (SimChain, Actors, Venue) {
    let (evm, actors, venue) = in_process_venue().unwrap();
    let keys = actors.all_keys();
    (SimChain::from_genesis(evm, keys, tracing, 7), actors, venue)
}

fn swap(a: &Actors, v: &Venue, amount: u64) -> Vec<TxRequest> {
    let t = a.trader.address();
    vec![
        TxRequest::call(
            t,
            v.usd,
            vigil_contracts::IERC20::approveCall { spender: v.router, value: U256::MAX },
            "trader:approve",
            false,
        ),
        TxRequest::call(
            t,
            v.router,
            VenueRouter::swapExactInCall {
                pair: v.pair,
                tokenIn: v.usd,
                amountIn: usd(amount),
                minOut: U256::ZERO,
                to: t,
            },
            "trader:swap",
            false,
        ),
    ]
}

#[test]
fn blocks_are_hash_chained_and_carry_receipts_and_traces() {
    let (mut chain, a, v) = chain(true);
    let genesis = chain.head().clone();
    let b1 = chain.build_block(swap(&a, &v, 10_000));
    let b2 = chain.build_block(vec![]);
    assert_eq!(b1.block.header.parent_hash, genesis.hash_slow());
    assert_eq!(b2.block.header.parent_hash, b1.block.header.hash);
    assert_eq!(b1.block.header.hash, b1.block.header.inner.hash_slow());
    assert_eq!(b1.number(), genesis.number + 1);
    assert_eq!(b2.block.header.timestamp, genesis.timestamp + 2 * BLOCK_TIME);

    assert_eq!(b1.receipts.len(), 2);
    assert!(b1.receipts.iter().all(|r| r.status()));
    let swap_logs = b1.receipts[1].inner.logs();
    assert!(swap_logs.iter().any(|l| VenuePair::Swap::decode_log(&l.inner).is_ok()), "Swap event in the receipt");
    assert_eq!(swap_logs[0].transaction_hash, Some(b1.receipts[1].transaction_hash));

    let traces = b1.traces.as_ref().expect("tracing on");
    assert_eq!(traces.len(), 2);
    let alloy::rpc::types::trace::geth::TraceResult::Success { result: GethTrace::CallTracer(frame), tx_hash } =
        &traces[1]
    else {
        panic!("a callTracer frame")
    };
    assert_eq!(*tx_hash, Some(b1.receipts[1].transaction_hash));
    assert_eq!(frame.to, Some(v.router));
    assert!(frame.calls.iter().any(|c| c.to == Some(v.pair)), "the router calls the pair");

    assert!(b2.traces.as_ref().unwrap().is_empty());
}

#[test]
fn a_reverted_transaction_is_included_with_status_zero() {
    let (mut chain, a, v) = chain(false);
    let b = a.borrower.address();
    let nonce = chain.nonce(b);
    let block = chain.build_block(vec![TxRequest::call(
        b,
        v.pool,
        MarginPool::borrowCall { id: U256::from(MARKET_WETH_FEED), assets: usd(1_000), receiver: b },
        "borrower:borrow",
        false,
    )]);
    assert_eq!(block.receipts.len(), 1);
    assert!(!block.receipts[0].status());
    let revert = block.outputs[0].as_ref().expect_err("reverted");
    assert!(alloy::sol_types::SolError::abi_decode(revert).map(|_: MarginPool::Unhealthy| ()).is_ok());
    assert!(block.traces.is_none(), "tracing off");
    assert_eq!(chain.nonce(b), nonce + 1, "the reverted transaction used a nonce");
}

#[test]
fn the_json_rpc_shapes_decode_with_alloy_types() {
    let (mut chain, a, v) = chain(true);
    let block = chain.build_block(swap(&a, &v, 5_000));
    let json = serde_json::to_string(&block.block).unwrap();
    let decoded: Block = serde_json::from_str(&json).unwrap();
    assert_eq!(decoded.header.hash, block.block.header.hash);
    assert_eq!(decoded.transactions.len(), 2);
    let tx = decoded.transactions.txns().next().unwrap();
    assert_eq!(tx.inner.signer(), a.trader.address(), "the signature recovers to the sender");

    let json = serde_json::to_string(&block.receipts).unwrap();
    let receipts: Vec<TransactionReceipt> = serde_json::from_str(&json).unwrap();
    assert_eq!(receipts, block.receipts);

    let json = serde_json::to_string(block.traces.as_ref().unwrap()).unwrap();
    let traces: Vec<alloy::rpc::types::trace::geth::TraceResult> = serde_json::from_str(&json).unwrap();
    assert_eq!(traces.len(), 2);
}

#[test]
fn state_is_readable_at_past_blocks() {
    let (mut chain, a, v) = chain(false);
    let before = chain.head().number;
    let reserves_before = chain.view(v.pair, VenuePair::getReservesCall {}).unwrap();
    chain.build_block(swap(&a, &v, 100_000));
    chain.build_block(swap(&a, &v, 100_000));
    let now = chain.view(v.pair, VenuePair::getReservesCall {}).unwrap();
    assert_ne!(now._0, reserves_before._0);
    let then = chain.view_at(before, v.pair, VenuePair::getReservesCall {}).unwrap();
    assert_eq!((then._0, then._1), (reserves_before._0, reserves_before._1));
    let mid = chain.view_at(before + 1, v.pair, VenuePair::getReservesCall {}).unwrap();
    assert!(mid._0 != then._0 && mid._0 != now._0, "the middle block has its own state");

    let ahead = chain.view_at(before + 5, v.pair, VenuePair::getReservesCall {});
    assert!(ahead.map(|_| ()).expect_err("future").to_string().contains("ahead of the head"));
    for _ in 0..chain.history_depth() + 1 {
        chain.build_block(vec![]);
    }
    let gone = chain.view_at(before, v.pair, VenuePair::getReservesCall {});
    assert!(gone.map(|_| ()).expect_err("too old").to_string().contains("no longer kept"));
}

#[test]
fn the_builder_orders_by_tip_and_keeps_each_senders_nonce_order() {
    let (mut chain, a, v) = chain(false);
    let gwei = 1_000_000_000u128;
    // The trader's two transactions tip little; the keeper's one tips more and arrives last.
    let mut txs = swap(&a, &v, 1_000);
    txs[1] = txs[1].clone().with_priority_fee(50 * gwei);
    let keeper = TxRequest::call(
        a.keeper.address(),
        v.usd,
        vigil_contracts::IERC20::approveCall { spender: v.router, value: U256::from(1) },
        "keeper:approve",
        false,
    )
    .with_priority_fee(7 * gwei);
    txs.push(keeper);
    let order: Vec<String> = vigil_sim::chain::order_by_fee(txs.clone()).iter().map(|t| t.label.what.clone()).collect();
    // The trader's swap tips most but waits for its approve (same sender, lower nonce): the keeper goes first.
    assert_eq!(order, ["keeper:approve", "trader:approve", "trader:swap"]);
    let block = chain.build_block(txs);
    let labels: Vec<&str> = block.labels.iter().map(|l| l.what.as_str()).collect();
    assert_eq!(labels, ["keeper:approve", "trader:approve", "trader:swap"]);
    assert!(block.receipts.iter().all(|r| r.status()), "every transaction succeeds in this order");
    // Each receipt's price is the base fee plus its own tip.
    let base = block.block.header.base_fee_per_gas.unwrap() as u128;
    assert_eq!(block.receipts[0].effective_gas_price, base + 7 * gwei);
    assert_eq!(block.receipts[2].effective_gas_price, base + 50 * gwei);
    // Equal tips keep the order of arrival.
    let same: Vec<String> =
        vigil_sim::chain::order_by_fee(swap(&a, &v, 1)).iter().map(|t| t.label.what.clone()).collect();
    assert_eq!(same, ["trader:approve", "trader:swap"]);
}

#[test]
fn a_simulated_block_is_the_block_those_transactions_make_and_leaves_the_chain_as_it_was() {
    let (mut chain, a, v) = chain(true);
    chain.build_block(vec![]);
    let head = chain.head().clone();
    let reserves = chain.view(v.pair, VenuePair::getReservesCall {}).unwrap();
    let nonce = chain.nonce(a.trader.address());
    let probe = vigil_core::Probe {
        to: v.pair,
        data: alloy::sol_types::SolCall::abi_encode(&VenuePair::getReservesCall {}).into(),
    };
    let probes = std::collections::BTreeSet::from([probe.clone()]);
    let (simulated, bundle) = chain.simulate(swap(&a, &v, 50_000), &probes);

    // Nothing changed: the head, the state, the nonces.
    assert_eq!(chain.head(), &head);
    assert_eq!(chain.view(v.pair, VenuePair::getReservesCall {}).unwrap()._0, reserves._0);
    assert_eq!(chain.nonce(a.trader.address()), nonce);
    // It is the next block: number, parent, timestamp; its probes read the state after it.
    assert_eq!(bundle.block_ref().number, head.number + 1);
    assert_eq!(bundle.parent_hash(), head.hash_slow());
    assert_eq!(bundle.timestamp(), head.timestamp + BLOCK_TIME);
    assert!(simulated.traces.is_some(), "a tracing chain traces simulations");

    // Producing the same transactions gives the same receipts and the same probe values.
    let produced = chain.build_block(swap(&a, &v, 50_000));
    assert_eq!(produced.block.header.hash, simulated.block.header.hash, "same parent, same transactions");
    let logs = |b: &vigil_sim::chain::SimBlock| -> Vec<_> {
        b.receipts.iter().flat_map(|r| r.inner.logs().iter().map(|l| l.inner.clone())).collect()
    };
    assert_eq!(logs(&produced), logs(&simulated));
    let after = chain.bundle(&produced, &probes);
    assert_eq!(after.probe(&probe), bundle.probe(&probe));
    assert_ne!(chain.view(v.pair, VenuePair::getReservesCall {}).unwrap()._0, reserves._0);
}
