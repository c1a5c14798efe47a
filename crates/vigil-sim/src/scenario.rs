//! Named scenarios: the venue at genesis, seeded traffic on a price path, and (for the attack scenarios) one
//! attack scheduled among the traffic, with its window labelled as ground truth.
//!
//! `repeat-attack` runs its attack twice ([`Repeat`]): the multi-block spot pump, then the Guardian's
//! governance lifting the pause, then the same attacker with fresh capital and a fresh contract once the
//! cooldown that the unpause started is over. Its venue hands the Guardian to a security council key (see
//! [`crate::venue`]) with a 10-minute cooldown: a 2-day timelock could not lift a pause within a run, and a
//! council that can is how Aave's Guardian works. The council's `unpause` is an ordinary transaction of the
//! scenario at a fixed block; where no pause landed (no Vigil) it reverts with `NotPaused`. Each execution has its
//! own window and its own measured gain.
//!
//! [`ScenarioRun`] produces the chain one block at a time ([`ScenarioRun::next_block`]), so a caller can watch
//! blocks as they come and add its own transactions (a Vigil node's pause) to the next block. Before a block is
//! built, its transactions wait in a mempool: [`ScenarioRun::pending`] shows those a node following the public
//! mempool sees (the attacker's too, unless it sends through private order flow,
//! [`RunOptions::private_attack`]), and the block builder orders everything by priority fee
//! ([`crate::chain::order_by_fee`]; equal tips keep the order of arrival: the caller's transactions, the
//! traffic's, the attacker's). The traffic and the attacker tip [`crate::chain::PRIORITY_FEE`], so a block is
//! ordered as before the mempool existed unless someone tips more: a Vigil node's pauses do. Its
//! [`ScenarioReport`] is read from chain state and from the receipts: what the attacker holds, bad debt written
//! off by liquidations, and the lenders' share prices.

use std::collections::BTreeMap;
use std::path::PathBuf;

use alloy::{
    primitives::{Address, U256},
    sol_types::SolEvent,
};
use serde::Serialize;
use vigil_contracts::{Guardian, MarginPool};

use crate::actors::Actors;
use crate::attacks::{Attack, AttackPlan};
use crate::backend::{ExecError, Reader};
use crate::chain::{SimBlock, SimChain, TxRequest};
use crate::evm::InProcessEvm;
use crate::price::{PriceError, PricePath, SyntheticParams};
use crate::state::{Holdings, VenueState};
use crate::traffic::{fund_traffic, Traffic, TrafficActors};
use crate::venue::{deploy_venue, Venue, VenueConfig, MARKET_GOV_FEED, MARKET_WETH_FEED, MARKET_WETH_SPOT};

/// A named scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioSpec {
    /// Name used on the command line.
    pub name: &'static str,
    /// One line on what happens.
    pub about: &'static str,
    /// The attack, if any.
    pub attack: Option<Attack>,
    /// Block offset at which the attack's execute phase starts.
    pub execute_at: u64,
    /// Blocks between the prepare phase (deploying the attack contract) and the execute phase.
    pub prepare_lead: u64,
    /// Default length in blocks.
    pub blocks: u64,
    /// A crash on the synthetic path: (first block, blocks, fraction lost).
    pub crash: Option<(u64, u64, f64)>,
    /// The attack again after governance lifted the first pause.
    pub repeat: Option<Repeat>,
}

/// A second execution of the scenario's attack, after the Guardian's governance (a security council) lifted the
/// pause of the first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Repeat {
    /// Block offset at which the council calls `Guardian.unpause` on the attacked scope.
    pub unpause_at: u64,
    /// Block offset at which the second execute phase starts (its prepare phase `prepare_lead` blocks before).
    pub execute_at: u64,
    /// The mandates' cooldown and the Guardian's minimum cooldown, in seconds.
    pub cooldown_seconds: u64,
    /// Stablecoins the lenders supply to the spot-priced market, in whole dollars: enough that an undefended
    /// second attack still finds cash to borrow (the default $3M is what one attack takes).
    pub spot_market_supply: u64,
}

const fn attack(name: &'static str, about: &'static str, attack: Attack, blocks: u64) -> ScenarioSpec {
    ScenarioSpec {
        name,
        about,
        attack: Some(attack),
        execute_at: 100,
        prepare_lead: 1,
        blocks,
        crash: None,
        repeat: None,
    }
}

/// Every scenario, in the order of the scenario list.
pub const SCENARIOS: [ScenarioSpec; 10] = [
    attack(
        "flash-loan-oracle",
        "one transaction: flash loan, pump the pair, borrow against the spot-priced market",
        Attack::FlashLoanOracle,
        200,
    ),
    attack(
        "spot-pump",
        "the pair's price pumped over several blocks, then a borrow at the inflated price",
        Attack::SpotPump,
        200,
    ),
    attack(
        "legacy-borrow-drain",
        "a logic bug in the legacy market drained by 40 small borrows over 40 blocks",
        Attack::LegacyBorrowDrain,
        200,
    ),
    attack("reentrancy", "reentrancy through the hook token into the legacy vault", Attack::Reentrancy, 200),
    attack(
        "governance-takeover",
        "flash-borrowed votes propose, then emergency-commit a drain of the reserve an hour later",
        Attack::GovernanceTakeover,
        500,
    ),
    attack(
        "admin-key",
        "a stolen operations key grants the upgrader role; the reserve is upgraded and drained",
        Attack::AdminKey,
        200,
    ),
    attack(
        "euler-donation",
        "Euler-style donation and self-liquidation leaving bad debt in the legacy market",
        Attack::EulerDonation,
        200,
    ),
    ScenarioSpec {
        name: "predeployed-flash-loan",
        about: "the flash-loan attack contract deployed 25 blocks before it is used",
        attack: Some(Attack::FlashLoanOracle),
        execute_at: 125,
        prepare_lead: 25,
        blocks: 200,
        crash: None,
        repeat: None,
    },
    ScenarioSpec {
        name: "repeat-attack",
        about: "spot-pump, the security council lifts the pause, the same attacker pumps and borrows again",
        attack: Some(Attack::SpotPump),
        execute_at: 100,
        prepare_lead: 1,
        blocks: REPEAT_BLOCKS,
        crash: None,
        repeat: Some(REPEAT),
    },
    ScenarioSpec {
        name: "benign-crash",
        about: "no attack: ETH falls 40 % in 10 minutes; mass liquidations and withdrawals",
        attack: None,
        execute_at: 0,
        prepare_lead: 0,
        blocks: 300,
        crash: Some((100, 50, 0.4)),
        repeat: None,
    },
];

/// The repeat-attack scenario's second execution: the council lifts the pause 2 minutes after the first attack's
/// last block (offset 102 + 10: the pair is back at the feed price by then), the 10-minute cooldown ends 50 blocks
/// later, and the second execute phase starts 8 blocks after that.
const REPEAT: Repeat =
    Repeat { unpause_at: 112, execute_at: 170, cooldown_seconds: 600, spot_market_supply: 8_000_000 };
/// The repeat-attack scenario's length: 28 blocks after the second attack's last block, as long as the others.
const REPEAT_BLOCKS: u64 = 200;

/// Errors setting up or running a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No scenario has that name.
    #[error("unknown scenario `{name}`{}; the scenarios are: {}", suggestion.map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), known.join(", "))]
    Unknown {
        /// The name given.
        name: String,
        /// The closest name.
        suggestion: Option<&'static str>,
        /// All names.
        known: Vec<&'static str>,
    },
    /// The run is too short for the scenario's attack.
    #[error("scenario `{name}` needs at least {needed} blocks for its attack, {given} were asked for")]
    TooShort {
        /// Scenario.
        name: &'static str,
        /// Blocks needed.
        needed: u64,
        /// Blocks asked for.
        given: u64,
    },
    /// The price history could not be read.
    #[error(transparent)]
    Price(#[from] PriceError),
    /// A transaction or read failed while setting up or measuring.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// Finds a scenario by name.
pub fn find(name: &str) -> Result<ScenarioSpec, ScenarioError> {
    SCENARIOS.iter().find(|s| s.name == name).copied().ok_or_else(|| {
        let suggestion = vigil_core::suggest::closest(name, SCENARIOS.iter().map(|s| s.name));
        ScenarioError::Unknown { name: name.to_string(), suggestion, known: SCENARIOS.iter().map(|s| s.name).collect() }
    })
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Seed of the traffic and the synthetic price path.
    pub seed: u64,
    /// Length in blocks (default: the scenario's).
    pub blocks: Option<u64>,
    /// A real price history (`timestamp,price`) instead of the synthetic path.
    pub price_csv: Option<PathBuf>,
    /// How many times faster than real time the price history plays (1 = one block per 12 s of history).
    pub price_speed: u64,
    /// Produce callTracer traces.
    pub tracing: bool,
    /// Leave the attack out (the same traffic and prices, no attacker).
    pub without_attack: bool,
    /// The attacker sends through private order flow (a private relay to the builder): its transactions are in
    /// the blocks, never in [`ScenarioRun::pending`].
    pub private_attack: bool,
    /// Attestation-gated entry is on ([`crate::venue::VenueConfig::gate`]): risky calls need an attestation of the
    /// oracle set; [`ScenarioRun::gate_requests`] lists the pending transactions that do, and
    /// [`ScenarioRun::attach_attestation`] sends one through `attestedCall`.
    pub gate: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            blocks: None,
            price_csv: None,
            price_speed: 1,
            tracing: true,
            without_attack: false,
            private_attack: false,
            gate: false,
        }
    }
}

/// The transactions waiting for the next block.
struct Mempool {
    /// Those the public mempool shows.
    public: Vec<TxRequest>,
    /// The attacker's, sent through private order flow.
    private: Vec<TxRequest>,
}

/// A transaction waiting for the next block that makes risky calls the SecurityGate screens: what its sender
/// asks a Vigil node to attest (public and private order flow alike: without an attestation it reverts).
#[derive(Debug, Clone)]
pub struct GateRequest {
    /// Its place among the next block's transactions (public ones, then private ones), for
    /// [`ScenarioRun::attach_attestation`].
    pub index: usize,
    /// The transaction.
    pub tx: TxRequest,
    /// The execution hashes of its risky calls, in order, from its simulation in the gate's simulation mode.
    pub execution_hashes: Vec<alloy::primitives::B256>,
    /// The simulated next block up to and including it (the transactions ahead of it in the mempool, then it),
    /// with the probes read after it: what a node judges.
    pub bundle: vigil_core::Bundle,
}

/// Where an execution of the attack is in the chain, as produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AttackWindow {
    /// First block with a malicious transaction.
    pub first: u64,
    /// Last block with a malicious transaction.
    pub last: u64,
}

/// What happened, from chain state and receipts.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Scenario name.
    pub scenario: &'static str,
    /// Seed.
    pub seed: u64,
    /// Blocks produced (after genesis).
    pub blocks: u64,
    /// First block number after genesis.
    pub first_block: u64,
    /// Transactions included.
    pub transactions: u64,
    /// Of which reverted.
    pub reverted: u64,
    /// The attack, if any.
    pub attack: Option<&'static str>,
    /// Blocks with the attacker's transactions: the first to the last, over every execution.
    pub attack_window: Option<AttackWindow>,
    /// The window of each execution of the attack, in order (two for repeat-attack).
    pub attack_windows: Vec<AttackWindow>,
    /// Malicious transactions that reverted (a pause makes the rest of an attack fail).
    pub malicious_reverted: u64,
    /// Dollars the attacker's account gained from the start of the attack to the end (feed prices at the start),
    /// summed over its executions.
    pub attacker_gain_usd: String,
    /// What each execution gained (from the start of its execute phase to the next one's prepare phase, or the
    /// end), in dollars.
    pub attacker_gains_usd: Vec<String>,
    /// hBTC the attacker gained (no feed prices it).
    pub attacker_gain_hbtc: String,
    /// Liquidations in the margin pool.
    pub liquidations: u64,
    /// Debt written off by margin pool liquidations (stablecoin units).
    pub bad_debt: String,
    /// Lenders' share price per market at genesis and at the end (assets per share, ×1e18).
    pub share_prices: Vec<(u64, String, String)>,
    /// ETH price (feed) at genesis and at the end, in dollars.
    pub eth_price: (f64, f64),
    /// Where the prices came from.
    pub price_source: String,
}

struct Baseline {
    attacker: Holdings,
    state: VenueState,
}

/// One execution of the attack in the schedule, and what was measured of it.
struct Execution {
    /// Block offsets of its prepare phase's first block and of its execute phase's first block.
    prepare_at: u64,
    execute_at: u64,
    /// The attacker and the venue when the execute phase starts.
    baseline: Option<Baseline>,
    /// The attacker when the next execution's prepare phase starts (`None`: the end of the run measures it).
    end: Option<Holdings>,
    window: Option<AttackWindow>,
}

/// A scenario being produced, block by block.
pub struct ScenarioRun {
    /// The scenario.
    pub spec: ScenarioSpec,
    /// The chain.
    pub chain: SimChain,
    /// The venue's addresses.
    pub venue: Venue,
    /// The named actors (attacker, keeper, oracles …).
    pub actors: Actors,
    /// The attack as planned, if any (its first execution; a repeat is planned the same way, from the attacker's
    /// nonce after it, so it has fresh capital and a fresh contract).
    pub plan: Option<AttackPlan>,
    opts: RunOptions,
    traffic: Traffic,
    price: PricePath,
    schedule: BTreeMap<u64, Vec<TxRequest>>,
    mempool: Option<Mempool>,
    produced: u64,
    total: u64,
    genesis_number: u64,
    executions: Vec<Execution>,
    genesis_share_prices: Vec<U256>,
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    transactions: u64,
    reverted: u64,
    malicious_reverted: u64,
    liquidations: u64,
    bad_debt: U256,
}

/// Where `tx` is in `block`: the first transaction with its sender and calldata.
fn position_in(block: &SimBlock, tx: &TxRequest) -> Option<usize> {
    use alloy::consensus::Transaction as _;
    block.block.transactions.txns().position(|t| t.inner.signer() == tx.from && t.input() == &tx.data)
}

/// The sum of per-execution gains (dollars, hBTC), as [`ScenarioRun::attack_gains`] returns them.
pub fn total_gain(gains: &[(U256, U256)]) -> (U256, U256) {
    gains.iter().fold((U256::ZERO, U256::ZERO), |(u, h), (du, dh)| (u + du, h + dh))
}

fn share_prices<R: Reader>(chain: &mut R, v: &Venue) -> Result<Vec<U256>, ExecError> {
    let mut out = Vec::new();
    for id in [MARKET_WETH_FEED, MARKET_WETH_SPOT, MARKET_GOV_FEED] {
        let m = chain.read(v.pool, MarginPool::marketCall { id: U256::from(id) })?;
        let one = U256::from(10u64).pow(U256::from(18));
        out.push(if m.totalSupplyShares.is_zero() { one } else { m.totalSupplyAssets * one / m.totalSupplyShares });
    }
    Ok(out)
}

impl ScenarioRun {
    /// Deploys the venue, funds the traffic, plans the attack; no block is produced yet.
    pub fn start(spec: ScenarioSpec, opts: RunOptions) -> Result<Self, ScenarioError> {
        let total = opts.blocks.unwrap_or(spec.blocks);
        let price = match &opts.price_csv {
            Some(path) => PricePath::from_csv(path, total, opts.price_speed)?,
            None => PricePath::synthetic(opts.seed, total, SyntheticParams { crash: spec.crash, ..Default::default() }),
        };
        let attack = spec.attack.filter(|_| !opts.without_attack);
        let actors = Actors::standard();
        let mut evm = InProcessEvm::new();
        // The pair holds the same dollar depth whatever the starting price of the path.
        let defaults = VenueConfig::default();
        let eth_price = price.at(0);
        let pair_weth = defaults.pair_weth * defaults.eth_price / eth_price;
        let mut cfg = VenueConfig { eth_price, pair_weth, gate: opts.gate, ..defaults };
        if let Some(r) = spec.repeat {
            cfg.security_council = Some(actors.council.address());
            cfg.min_cooldown_seconds = Some(r.cooldown_seconds);
            cfg.cooldown_seconds = r.cooldown_seconds;
            cfg.market_weth_spot_supply = r.spot_market_supply;
        }
        let venue = deploy_venue(&mut evm, &actors, &cfg)?;
        let traffic_actors = TrafficActors::standard();
        fund_traffic(&mut evm, &actors, &venue, &traffic_actors, eth_price)?;
        let mut keys = actors.all_keys();
        keys.extend(traffic_actors.all_keys());
        let mut chain = SimChain::from_genesis(evm, keys, opts.tracing, opts.seed);
        let genesis_number = chain.head().number;
        let traffic = Traffic::new(opts.seed, traffic_actors, venue, actors.keeper.address(), cfg.eth_price);

        let mut schedule: BTreeMap<u64, Vec<TxRequest>> = BTreeMap::new();
        let mut plan = None;
        let mut executions = Vec::new();
        if let Some(attack) = attack {
            let attacker = actors.attacker.address();
            let starts = [Some(spec.execute_at), spec.repeat.map(|r| r.execute_at)];
            let mut nonce = chain.nonce(attacker);
            for execute_at in starts.into_iter().flatten() {
                let p = attack.plan(&actors, &venue, nonce);
                nonce += p.prepare.iter().chain(&p.execute).filter(|t| t.req.from == attacker).count() as u64;
                let needed = execute_at + p.execute_blocks();
                if needed > total {
                    return Err(ScenarioError::TooShort { name: spec.name, needed, given: total });
                }
                let prepare_at = execute_at - spec.prepare_lead;
                for t in &p.prepare {
                    schedule.entry(prepare_at + t.block).or_default().push(t.req.clone());
                }
                for t in &p.execute {
                    schedule.entry(execute_at + t.block).or_default().push(t.req.clone());
                }
                executions.push(Execution { prepare_at, execute_at, baseline: None, end: None, window: None });
                if plan.is_none() {
                    plan = Some(p);
                }
            }
            if let Some(r) = spec.repeat {
                // Governance lifts the pause of the attacked scope (reverts with `NotPaused` if none landed).
                let (target, scope) = attack.target(&venue);
                let unpause = Guardian::unpauseCall { target, scope: U256::from(scope) };
                let tx = TxRequest::benign(actors.council.address(), venue.guardian, unpause, "council:unpause");
                schedule.entry(r.unpause_at).or_default().push(tx);
            }
        }
        let genesis_share_prices = share_prices(&mut chain, &venue)?;
        Ok(Self {
            spec,
            chain,
            venue,
            actors,
            plan,
            opts,
            traffic,
            price,
            schedule,
            mempool: None,
            produced: 0,
            total,
            genesis_number,
            executions,
            genesis_share_prices,
            counts: Counts::default(),
        })
    }

    /// Blocks this run produces.
    pub fn total_blocks(&self) -> u64 {
        self.total
    }

    /// Blocks produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Where the prices come from.
    pub fn price_source(&self) -> &str {
        self.price.source()
    }

    /// The options the run was started with.
    pub fn options(&self) -> &RunOptions {
        &self.opts
    }

    /// Block number of block offset `i`.
    pub fn number_of(&self, i: u64) -> u64 {
        self.genesis_number + i
    }

    /// The transactions waiting for the next block that a node following the public mempool sees: the traffic's
    /// and the attacker's (unless it sends privately). Empty after the last block. The next block includes them.
    pub fn pending(&mut self) -> Result<&[TxRequest], ScenarioError> {
        self.fill_mempool()?;
        Ok(self.mempool.as_ref().map_or(&[], |m| m.public.as_slice()))
    }

    /// The next block's transactions (public, then private) that need an attestation of the SecurityGate: each
    /// simulated, in the gate's simulation mode, after those ahead of it, with `probes` read after it. Empty when
    /// the gate is off.
    pub fn gate_requests(
        &mut self,
        probes: &std::collections::BTreeSet<vigil_core::Probe>,
    ) -> Result<Vec<GateRequest>, ScenarioError> {
        self.fill_mempool()?;
        let Some(pool) = self.mempool.as_ref().filter(|_| self.opts.gate) else { return Ok(Vec::new()) };
        let txs: Vec<TxRequest> = pool.public.iter().chain(&pool.private).cloned().collect();
        let gate = self.venue.gate;
        let overrides = [crate::gate::simulation_override(gate)];
        let none = std::collections::BTreeSet::new();
        let (all, _) = self.chain.simulate_with(txs.clone(), &none, &overrides);
        let mut requests = Vec::new();
        for (index, tx) in txs.iter().enumerate() {
            let needs = position_in(&all, tx)
                .is_some_and(|k| !crate::gate::unattested_checkpoints(&all.receipts[k], gate).is_empty());
            if !needs {
                continue;
            }
            let (block, bundle) = self.chain.simulate_with(txs[..=index].to_vec(), probes, &overrides);
            let Some(k) = position_in(&block, tx) else { continue };
            let execution_hashes = crate::gate::unattested_checkpoints(&block.receipts[k], gate);
            if !execution_hashes.is_empty() {
                requests.push(GateRequest { index, tx: tx.clone(), execution_hashes, bundle });
            }
        }
        Ok(requests)
    }

    /// Sends the next block's transaction at `index` ([`GateRequest::index`]) with `attestation` and its
    /// `signatures`, through its callee's `attestedCall`: the protected contract's when it calls one directly, else
    /// its own contract's (an `AttestedCaller`: the attack contracts are). False (nothing changed) for an index out
    /// of range or a contract creation.
    pub fn attach_attestation(
        &mut self,
        index: usize,
        attestation: &vigil_core::Attestation,
        signatures: Vec<alloy::primitives::Bytes>,
    ) -> bool {
        let protected: Vec<Address> = crate::venue::gate_rules(&self.venue).into_iter().map(|(t, _)| t).collect();
        let gate = self.venue.gate;
        let Some(pool) = self.mempool.as_mut() else { return false };
        let public = pool.public.len();
        let slot = if index < public { pool.public.get_mut(index) } else { pool.private.get_mut(index - public) };
        let Some(tx) = slot else { return false };
        let through_protected = tx.to.is_some_and(|to| protected.contains(&to));
        match crate::gate::attested_call(tx, attestation, signatures, gate, through_protected) {
            Some(wrapped) => {
                *tx = wrapped;
                true
            }
            None => false,
        }
    }

    /// Makes the next block's transactions, once: the traffic's for the head's state and the attacker's
    /// scheduled ones; records the attacker's and the venue's state where an execution of the attack starts.
    fn fill_mempool(&mut self) -> Result<(), ScenarioError> {
        if self.mempool.is_some() || self.produced >= self.total {
            return Ok(());
        }
        let i = self.produced + 1;
        let me = self.actors.attacker.address();
        for k in 0..self.executions.len() {
            if i == self.executions[k].execute_at && self.executions[k].baseline.is_none() {
                let attacker = Holdings::read(&mut self.chain, &self.venue, me)?;
                let state = VenueState::read(&mut self.chain, &self.venue)?;
                self.executions[k].baseline = Some(Baseline { attacker, state });
            }
            if k > 0 && i == self.executions[k].prepare_at && self.executions[k - 1].end.is_none() {
                self.executions[k - 1].end = Some(Holdings::read(&mut self.chain, &self.venue, me)?);
            }
        }
        let timestamp = self.chain.head().timestamp + crate::chain::BLOCK_TIME;
        let mut public = self.traffic.block_txs(&mut self.chain, i, self.price.at(i), timestamp)?;
        let attack = self.schedule.remove(&i).unwrap_or_default();
        let private = if self.opts.private_attack {
            attack
        } else {
            public.extend(attack);
            Vec::new()
        };
        self.mempool = Some(Mempool { public, private });
        Ok(())
    }

    /// Produces the next block from `extra` (e.g. a Vigil node's pauses) and the mempool ([`Self::pending`]),
    /// ordered by priority fee as a builder orders them (`extra` first among equal tips). `None` after the last
    /// block.
    pub fn next_block(&mut self, extra: Vec<TxRequest>) -> Result<Option<SimBlock>, ScenarioError> {
        self.fill_mempool()?;
        let Some(pool) = self.mempool.take() else { return Ok(None) };
        let mut txs = extra;
        txs.extend(pool.public);
        txs.extend(pool.private);
        let block = self.chain.build_block(txs);
        self.produced += 1;
        self.account(&block);
        Ok(Some(block))
    }

    fn account(&mut self, block: &SimBlock) {
        let number = block.number();
        for (k, receipt) in block.receipts.iter().enumerate() {
            self.counts.transactions += 1;
            let ok = receipt.status();
            if !ok {
                self.counts.reverted += 1;
            }
            if block.labels[k].malicious {
                // The execution whose scheduled blocks hold this one (executions do not overlap).
                let offset = number - self.genesis_number;
                let started = self.executions.iter().rposition(|e| offset >= e.prepare_at).unwrap_or(0);
                if let Some(e) = self.executions.get_mut(started) {
                    e.window = Some(match e.window {
                        None => AttackWindow { first: number, last: number },
                        Some(w) => AttackWindow { first: w.first, last: number },
                    });
                }
                if !ok {
                    self.counts.malicious_reverted += 1;
                }
            }
            for log in receipt.inner.logs() {
                if log.address() == self.venue.pool {
                    if let Ok(l) = MarginPool::Liquidate::decode_log(&log.inner) {
                        self.counts.liquidations += 1;
                        self.counts.bad_debt += l.badDebt;
                    }
                }
            }
        }
    }

    /// Produces every remaining block, handing each to `sink`.
    pub fn run_to_end(&mut self, mut sink: impl FnMut(&SimBlock)) -> Result<(), ScenarioError> {
        while let Some(block) = self.next_block(vec![])? {
            sink(&block);
        }
        Ok(())
    }

    /// The attack window so far: from the first malicious block to the last, over every execution.
    pub fn attack_window(&self) -> Option<AttackWindow> {
        let mut windows = self.attack_windows().into_iter();
        let first = windows.next()?;
        Some(AttackWindow { first: first.first, last: windows.last().unwrap_or(first).last })
    }

    /// The window of each execution of the attack that has begun, in order.
    pub fn attack_windows(&self) -> Vec<AttackWindow> {
        self.executions.iter().filter_map(|e| e.window).collect()
    }

    /// What happened so far, read from chain state and receipts.
    pub fn report(&mut self) -> Result<ScenarioReport, ScenarioError> {
        let end_state = VenueState::read(&mut self.chain, &self.venue)?;
        let gains = self.attack_gains()?;
        let (gain, hbtc) = total_gain(&gains);
        let end_prices = share_prices(&mut self.chain, &self.venue)?;
        let ids = [MARKET_WETH_FEED, MARKET_WETH_SPOT, MARKET_GOV_FEED];
        Ok(ScenarioReport {
            scenario: self.spec.name,
            seed: self.opts.seed,
            blocks: self.produced,
            first_block: self.genesis_number + 1,
            transactions: self.counts.transactions,
            reverted: self.counts.reverted,
            attack: self.plan.as_ref().map(|p| p.attack.name()),
            attack_window: self.attack_window(),
            attack_windows: self.attack_windows(),
            malicious_reverted: self.counts.malicious_reverted,
            attacker_gain_usd: crate::state::fmt_units(gain, 6),
            attacker_gains_usd: gains.iter().map(|(usd, _)| crate::state::fmt_units(*usd, 6)).collect(),
            attacker_gain_hbtc: crate::state::fmt_units(hbtc, 18),
            liquidations: self.counts.liquidations,
            bad_debt: crate::state::fmt_units(self.counts.bad_debt, 6),
            share_prices: ids
                .iter()
                .zip(self.genesis_share_prices.iter().zip(&end_prices))
                .map(|(id, (a, b))| (*id, a.to_string(), b.to_string()))
                .collect(),
            eth_price: (self.price.at(0), end_state.prices.eth_usd.to::<u128>() as f64 / 1e6),
            price_source: self.price.source().to_string(),
        })
    }

    /// The attacker's gain (dollars, hBTC) since the start of the attack, unformatted: the sum of
    /// [`Self::attack_gains`].
    pub fn attacker_gain(&mut self) -> Result<(U256, U256), ExecError> {
        Ok(total_gain(&self.attack_gains()?))
    }

    /// What each execution of the attack that has started gained the attacker's account (dollars at the feed
    /// prices of its start, and hBTC): from the start of its execute phase to the start of the next execution's
    /// prepare phase (which brings fresh capital), or to now for the last.
    pub fn attack_gains(&mut self) -> Result<Vec<(U256, U256)>, ExecError> {
        if self.executions.first().is_none_or(|e| e.baseline.is_none()) {
            return Ok(Vec::new());
        }
        let now = Holdings::read(&mut self.chain, &self.venue, self.actors.attacker.address())?;
        let mut gains = Vec::new();
        for e in &self.executions {
            let Some(b) = &e.baseline else { break };
            let end = e.end.unwrap_or(now);
            let (prices, before) = (b.state.prices, b.attacker);
            gains.push((
                end.value_usd(&prices).saturating_sub(before.value_usd(&prices)),
                end.hbtc.saturating_sub(before.hbtc),
            ));
        }
        Ok(gains)
    }

    /// Lenders' share prices per market at genesis and now.
    pub fn share_prices(&mut self) -> Result<Vec<(U256, U256)>, ExecError> {
        let now = share_prices(&mut self.chain, &self.venue)?;
        Ok(self.genesis_share_prices.iter().copied().zip(now).collect())
    }

    /// Bad debt written off so far.
    pub fn bad_debt(&self) -> U256 {
        self.counts.bad_debt
    }

    /// Liquidations so far.
    pub fn liquidations(&self) -> u64 {
        self.counts.liquidations
    }

    /// Addresses, for the output's header.
    pub fn addresses(&self) -> BTreeMap<String, Address> {
        self.venue.named().into_iter().map(|(n, a)| (n.to_string(), a)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for s in SCENARIOS {
            assert_eq!(find(s.name).unwrap().name, s.name);
        }
        let mut names: Vec<_> = SCENARIOS.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), SCENARIOS.len());
    }

    #[test]
    fn the_repeat_comes_after_the_first_attack_and_after_the_cooldown_its_unpause_starts() {
        let spec = find("repeat-attack").unwrap();
        let r = spec.repeat.expect("repeat-attack repeats");
        // The spot pump's execute phase spans three blocks.
        let first_end = spec.execute_at + 2;
        assert!(first_end < r.unpause_at && r.unpause_at < r.execute_at - spec.prepare_lead);
        // The node can pause again from the second execution's first block on.
        assert!(r.unpause_at + r.cooldown_seconds.div_ceil(crate::chain::BLOCK_TIME) <= r.execute_at);
        assert!(r.execute_at + 3 <= spec.blocks);
        assert!(SCENARIOS.iter().filter(|s| s.repeat.is_some()).all(|s| s.name == "repeat-attack"));
    }

    #[test]
    fn an_unknown_name_suggests_the_closest() {
        let err = find("spot-pamp").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown scenario `spot-pamp` (did you mean `spot-pump`?); the scenarios are: "),
            "{err}"
        );
        let err = find("xyz").unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");
    }
}
