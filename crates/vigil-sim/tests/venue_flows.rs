//! The venue's normal flows on revm: lending (supply, borrow, repay, liquidate), swaps, options, the price
//! feed, flash loans, and a governance proposal executed through the timelock.

use alloy::{
    primitives::{keccak256, Address, Bytes, U256},
    sol_types::{SolCall, SolEvent},
};
use vigil_contracts::{
    FlashLender, Guardian, MarginPool, OptionVault, PriceFeed, VenueGovernor, VenuePair, VenueRouter, IERC20,
};
use vigil_sim::{
    actors::ORACLE_THRESHOLD,
    pause::pause_scope,
    venue::{approve, balance_of, feed_answer, in_process_venue, units18, usd, MARKET_WETH_FEED, MARKET_WETH_SPOT},
    Actors, InProcessEvm, Venue,
};

fn setup() -> (InProcessEvm, Actors, Venue) {
    in_process_venue().expect("venue deploys")
}

fn set_eth_price(chain: &mut InProcessEvm, a: &Actors, v: &Venue, dollars: f64) {
    chain.send_call(a.keeper.address(), v.eth_feed, PriceFeed::submitCall { answer: feed_answer(dollars) }).unwrap();
}

#[test]
fn supply_borrow_repay_and_withdraw() {
    let (mut chain, a, v) = setup();
    let b = a.borrower.address();
    let id = U256::from(MARKET_WETH_FEED);
    approve(&mut chain, v.weth, b, v.pool, U256::MAX).unwrap();
    approve(&mut chain, v.usd, b, v.pool, U256::MAX).unwrap();
    chain.send_call(b, v.pool, MarginPool::supplyCollateralCall { id, assets: units18(10), onBehalf: b }).unwrap();

    // 10 WETH at $3,000 with 75 % LTV: $22,500 at most, fee included.
    let too_much = chain.send_call(b, v.pool, MarginPool::borrowCall { id, assets: usd(22_500), receiver: b });
    assert!(too_much.err().and_then(|e| e.decode::<MarginPool::Unhealthy>()).is_some());
    let before = balance_of(&mut chain, v.usd, b).unwrap();
    chain.send_call(b, v.pool, MarginPool::borrowCall { id, assets: usd(20_000), receiver: b }).unwrap();
    assert_eq!(balance_of(&mut chain, v.usd, b).unwrap(), before + usd(20_000));
    let pos = chain.view(v.pool, MarginPool::positionCall { id, user: b }).unwrap();
    assert_eq!(pos.debt, usd(20_020), "10 bps origination fee");
    let hf = chain.view(v.pool, MarginPool::healthFactorCall { id, user: b }).unwrap();
    assert!(hf > U256::from(10u64).pow(U256::from(18)), "healthy");

    // Cannot withdraw collateral that backs the debt; can after repaying.
    let err = chain.send_call(b, v.pool, MarginPool::withdrawCollateralCall { id, assets: units18(10), receiver: b });
    assert!(err.is_err());
    let repaid = chain.send_call(b, v.pool, MarginPool::repayCall { id, assets: U256::MAX, onBehalf: b }).unwrap();
    assert_eq!(repaid, usd(20_020));
    chain.send_call(b, v.pool, MarginPool::withdrawCollateralCall { id, assets: units18(10), receiver: b }).unwrap();

    // The lender earned the fee.
    let lender_balance = chain.view(v.pool, MarginPool::supplyBalanceCall { id, user: a.lender.address() }).unwrap();
    assert_eq!(lender_balance, usd(2_000_000) + usd(20));
    let shares = chain.view(v.pool, MarginPool::positionCall { id, user: a.lender.address() }).unwrap().supplyShares;
    let got = chain
        .send_call(a.lender.address(), v.pool, MarginPool::withdrawCall { id, shares, receiver: a.lender.address() })
        .unwrap();
    assert_eq!(got, usd(2_000_020));
}

#[test]
fn an_unhealthy_position_is_liquidated_with_a_bonus() {
    let (mut chain, a, v) = setup();
    let (b, liq) = (a.borrower.address(), a.buyer.address());
    let id = U256::from(MARKET_WETH_FEED);
    approve(&mut chain, v.weth, b, v.pool, U256::MAX).unwrap();
    chain.send_call(b, v.pool, MarginPool::supplyCollateralCall { id, assets: units18(10), onBehalf: b }).unwrap();
    chain.send_call(b, v.pool, MarginPool::borrowCall { id, assets: usd(22_000), receiver: b }).unwrap();

    // Healthy positions cannot be liquidated.
    approve(&mut chain, v.usd, liq, v.pool, U256::MAX).unwrap();
    let early = chain.send_call(liq, v.pool, MarginPool::liquidateCall { id, borrower: b, repayAssets: usd(1_000) });
    assert!(early.err().and_then(|e| e.decode::<MarginPool::Healthy>()).is_some());

    // ETH falls to $2,500: 10 WETH × 2,500 × 82.5 % = 20,625 < 22,022 debt.
    set_eth_price(&mut chain, &a, &v, 2_500.0);
    let weth_before = balance_of(&mut chain, v.weth, liq).unwrap();
    let usd_before = balance_of(&mut chain, v.usd, liq).unwrap();
    chain.send_call(liq, v.pool, MarginPool::liquidateCall { id, borrower: b, repayAssets: usd(10_000) }).unwrap();
    let seized = balance_of(&mut chain, v.weth, liq).unwrap() - weth_before;
    // 10,000 × 1.05 / 2,500 = 4.2 WETH.
    assert_eq!(seized, units18(42) / U256::from(10));
    assert_eq!(usd_before - balance_of(&mut chain, v.usd, liq).unwrap(), usd(10_000));
    let pos = chain.view(v.pool, MarginPool::positionCall { id, user: b }).unwrap();
    assert_eq!(pos.debt, usd(22_022) - usd(10_000));
    // More than half the debt at once is refused (close factor).
    let big = chain.send_call(liq, v.pool, MarginPool::liquidateCall { id, borrower: b, repayAssets: usd(10_000) });
    assert!(big.err().and_then(|e| e.decode::<MarginPool::RepayTooLarge>()).is_some());
}

#[test]
fn swaps_follow_the_constant_product_and_emit_uniswap_events() {
    let (mut chain, a, v) = setup();
    let t = a.trader.address();
    approve(&mut chain, v.usd, t, v.router, U256::MAX).unwrap();
    let quote =
        chain.view(v.router, VenueRouter::quoteCall { pair: v.pair, tokenIn: v.usd, amountIn: usd(30_000) }).unwrap();
    // 1,000 WETH × 30,000 × 0.997 / (3,000,000 + 30,000 × 0.997)
    let expected = units18(1_000) * usd(29_910) / (usd(3_000_000) + usd(29_910));
    assert_eq!(quote, expected);
    let before = balance_of(&mut chain, v.weth, t).unwrap();
    let out = chain
        .send(
            t,
            v.router,
            VenueRouter::swapExactInCall { pair: v.pair, tokenIn: v.usd, amountIn: usd(30_000), minOut: quote, to: t }
                .abi_encode()
                .into(),
            U256::ZERO,
        )
        .unwrap();
    assert_eq!(balance_of(&mut chain, v.weth, t).unwrap() - before, quote);
    let swap = out.logs.iter().find_map(|l| VenuePair::Swap::decode_log(l).ok()).expect("Swap event");
    let sync = out.logs.iter().find_map(|l| VenuePair::Sync::decode_log(l).ok()).expect("Sync event");
    assert_eq!(swap.to, t);
    let r = chain.view(v.pair, VenuePair::getReservesCall {}).unwrap();
    assert_eq!((U256::from(sync.reserve0), U256::from(sync.reserve1)), (U256::from(r._0), U256::from(r._1)));

    // Slippage bound.
    let err = chain.send_call(
        t,
        v.router,
        VenueRouter::swapExactInCall { pair: v.pair, tokenIn: v.usd, amountIn: usd(1_000), minOut: units18(1), to: t },
    );
    assert!(err.err().and_then(|e| e.decode::<VenueRouter::Slippage>()).is_some());
}

#[test]
fn a_covered_call_is_written_bought_and_settled() {
    let (mut chain, a, v) = setup();
    let (w, b) = (a.writer.address(), a.buyer.address());
    approve(&mut chain, v.weth, w, v.options, U256::MAX).unwrap();
    approve(&mut chain, v.usd, b, v.options, U256::MAX).unwrap();
    let expiry = chain.timestamp() + 7 * 24 * 3600;
    let id = chain
        .send_call(
            w,
            v.options,
            OptionVault::writeCall { amount: units18(10), strike: usd(3_200), premium: usd(5_000), expiry },
        )
        .unwrap();
    let writer_usd = balance_of(&mut chain, v.usd, w).unwrap();
    chain.send_call(b, v.options, OptionVault::buyCall { id }).unwrap();
    assert_eq!(balance_of(&mut chain, v.usd, w).unwrap() - writer_usd, usd(5_000), "premium paid to the writer");

    let early = chain.send_call(b, v.options, OptionVault::settleCall { id });
    assert!(early.err().and_then(|e| e.decode::<OptionVault::NotExpired>()).is_some());

    set_eth_price(&mut chain, &a, &v, 3_500.0);
    chain.mine(7 * 24 * 3600);
    let (bw, ww) = (balance_of(&mut chain, v.weth, b).unwrap(), balance_of(&mut chain, v.weth, w).unwrap());
    chain.send_call(b, v.options, OptionVault::settleCall { id }).unwrap();
    let buyer_gain = balance_of(&mut chain, v.weth, b).unwrap() - bw;
    let writer_back = balance_of(&mut chain, v.weth, w).unwrap() - ww;
    // 10 × (3,500 − 3,200) / 3,500 WETH to the buyer, the rest to the writer.
    assert_eq!(buyer_gain, units18(10) * usd(300) / usd(3_500));
    assert_eq!(buyer_gain + writer_back, units18(10));
}

#[test]
fn the_feed_moves_only_by_its_keeper_and_keeps_rounds() {
    let (mut chain, a, v) = setup();
    let out = chain
        .send(
            a.keeper.address(),
            v.eth_feed,
            PriceFeed::submitCall { answer: feed_answer(3_123.45) }.abi_encode().into(),
            U256::ZERO,
        )
        .unwrap();
    let updated = out.logs.iter().find_map(|l| PriceFeed::AnswerUpdated::decode_log(l).ok()).expect("AnswerUpdated");
    assert_eq!(updated.current, feed_answer(3_123.45));
    let round = chain.view(v.eth_feed, PriceFeed::latestRoundDataCall {}).unwrap();
    assert_eq!(round._0, alloy::primitives::Uint::from(2u64));
    let first =
        chain.view(v.eth_feed, PriceFeed::getRoundDataCall { roundId: alloy::primitives::Uint::from(1u64) }).unwrap();
    assert_eq!(first._1, feed_answer(3_000.0));
    let err = chain.send_call(a.trader.address(), v.eth_feed, PriceFeed::submitCall { answer: feed_answer(1.0) });
    assert!(err.err().and_then(|e| e.decode::<PriceFeed::NotKeeper>()).is_some());
}

#[test]
fn a_flash_loan_must_be_repaid_with_its_fee() {
    let (mut chain, _a, v) = setup();
    let fee = chain.view(v.flash_lender, FlashLender::flashFeeCall { _0: v.usd, amount: usd(1_000_000) }).unwrap();
    assert_eq!(fee, usd(500));
    let max = chain.view(v.flash_lender, FlashLender::maxFlashLoanCall { token: v.usd }).unwrap();
    assert_eq!(max, usd(10_000_000));
}

#[test]
fn a_governance_proposal_unpauses_through_the_timelock() {
    let (mut chain, a, v) = setup();
    pause_scope(&mut chain, v.guardian, &a.oracles, ORACLE_THRESHOLD, v.pool, MARKET_WETH_SPOT).unwrap();
    let paused = Guardian::isPausedCall { target: v.pool, scope: U256::from(MARKET_WETH_SPOT) };
    assert!(chain.view(v.guardian, paused.clone()).unwrap());

    // The deployer cannot unpause any more: governance is the timelock.
    let err = chain.send_call(
        a.deployer.address(),
        v.guardian,
        Guardian::unpauseCall { target: v.pool, scope: U256::from(MARKET_WETH_SPOT) },
    );
    assert!(err.err().and_then(|e| e.decode::<Guardian::NotGovernance>()).is_some());

    let targets: Vec<Address> = vec![v.guardian];
    let values = vec![U256::ZERO];
    let calldatas: Vec<Bytes> =
        vec![Guardian::unpauseCall { target: v.pool, scope: U256::from(MARKET_WETH_SPOT) }.abi_encode().into()];
    let description = "Lift the spot market pause after review".to_string();
    let lp = a.lp.address();
    let id = chain
        .send_call(
            lp,
            v.governor,
            VenueGovernor::proposeCall {
                targets: targets.clone(),
                values: values.clone(),
                calldatas: calldatas.clone(),
                description: description.clone(),
            },
        )
        .unwrap();
    chain.mine_blocks(2, 12);
    chain.send_call(lp, v.governor, VenueGovernor::castVoteCall { proposalId: id, support: 1 }).unwrap();
    chain.mine_blocks(51, 12);
    let description_hash = keccak256(description.as_bytes());
    chain
        .send_call(
            lp,
            v.governor,
            VenueGovernor::queueCall {
                targets: targets.clone(),
                values: values.clone(),
                calldatas: calldatas.clone(),
                descriptionHash: description_hash,
            },
        )
        .unwrap();
    // Not before the timelock delay.
    let early = chain.send_call(
        lp,
        v.governor,
        VenueGovernor::executeCall {
            targets: targets.clone(),
            values: values.clone(),
            calldatas: calldatas.clone(),
            descriptionHash: description_hash,
        },
    );
    assert!(early.is_err(), "execution waits for the timelock");
    chain.mine(2 * 24 * 3600 + 1);
    chain
        .send_call(
            lp,
            v.governor,
            VenueGovernor::executeCall { targets, values, calldatas, descriptionHash: description_hash },
        )
        .unwrap();
    assert!(!chain.view(v.guardian, paused).unwrap(), "governance lifted the pause");
    let balance = chain.view(v.usd, IERC20::balanceOfCall { account: v.pool }).unwrap();
    assert_eq!(balance, usd(5_500_000));
}
