//! Chain events and block bundles: everything about one block that detectors may read.
//!
//! A bundle holds what detectors read, decoded fully and checked: the header fields, each transaction's
//! envelope (hash, sender, callee, value, input, nonce, gas), each receipt (status, sender, callee, created
//! contract, gas used, logs), call traces when available, and the probe values declared by detectors, read at
//! this block. What no detector reads (signatures, access lists, blooms, the rest of the header) stays in the
//! node's JSON, kept beside the bundle: [`Bundle::full_block`] and [`Bundle::full_receipts`] decode alloy's
//! complete types on first use. Decoding everything up front costs about four times as much on a mainnet block
//! (docs/decisions.md has the figures). The in-process chain hands over alloy's types directly.

use std::{collections::BTreeMap, sync::OnceLock};

use alloy::{
    consensus::Transaction as _,
    network::TransactionResponse as _,
    primitives::{Address, Bytes, LogData, B256, U256},
    rpc::types::{trace::geth::TraceResult, Block, Log, TransactionReceipt},
};
use serde::Deserialize;

use crate::finding::BlockRef;

/// What a source yields.
#[derive(Debug, Clone)]
pub enum ChainEvent {
    /// A new canonical block.
    NewBlock(Box<Bundle>),
    /// The chain reorganised: everything after `ancestor` is no longer canonical.
    RevertTo {
        /// The last block both chains share.
        ancestor: BlockRef,
    },
}

/// A state read a detector declares once; the engine reads all of a block's probes together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Probe {
    /// The contract called.
    pub to: Address,
    /// Calldata.
    pub data: Bytes,
}

/// The header fields detectors read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHeader {
    /// Number.
    #[serde(with = "alloy::serde::quantity")]
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// Timestamp (seconds).
    #[serde(with = "alloy::serde::quantity")]
    pub timestamp: u64,
    /// Fee recipient.
    pub miner: Address,
    /// Gas limit.
    #[serde(with = "alloy::serde::quantity")]
    pub gas_limit: u64,
    /// Gas used.
    #[serde(with = "alloy::serde::quantity")]
    pub gas_used: u64,
    /// Base fee (London and later).
    #[serde(default, with = "alloy::serde::quantity::opt")]
    pub base_fee_per_gas: Option<u64>,
}

impl BlockHeader {
    /// Number and hash.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef { number: self.number, hash: self.hash }
    }
}

/// A transaction's envelope: what rules on transactions read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tx {
    /// Hash.
    pub hash: B256,
    /// Sender (recovered by the node).
    pub from: Address,
    /// Callee; `None` creates a contract.
    #[serde(default)]
    pub to: Option<Address>,
    /// Ether sent.
    pub value: U256,
    /// Calldata or initcode.
    pub input: Bytes,
    /// Sender's nonce.
    #[serde(with = "alloy::serde::quantity")]
    pub nonce: u64,
    /// Gas limit.
    #[serde(with = "alloy::serde::quantity")]
    pub gas: u64,
}

/// A receipt: outcome, created contract and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction.
    pub transaction_hash: B256,
    /// The block the node says it is in.
    pub block_hash: Option<B256>,
    /// Sender.
    pub from: Address,
    /// Callee.
    pub to: Option<Address>,
    /// Whether it succeeded (receipts before Byzantium carry no status and count as succeeded, as in alloy).
    pub status: bool,
    /// The contract it created.
    pub contract_address: Option<Address>,
    /// Gas it used.
    pub gas_used: u64,
    /// Its logs.
    pub logs: Vec<Log>,
}

/// A block and its receipts in alloy's complete types.
type FullParts = (Block, Vec<TransactionReceipt>);

/// The complete alloy types of a bundle's block, given or decoded on demand from the node's JSON.
#[derive(Debug, Clone)]
enum Full {
    Typed(Box<FullParts>),
    Json { block: Box<str>, receipts: Box<str>, decoded: OnceLock<Result<Box<FullParts>, String>> },
}

/// One block and what detectors need of it.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Header fields.
    pub header: BlockHeader,
    /// Transactions, in block order.
    pub transactions: Vec<Tx>,
    /// Receipts, one per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// callTracer traces, when the source has them.
    pub traces: Option<Vec<TraceResult>>,
    /// Probe results at this block: return data, or the revert data.
    pub probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
    full: Full,
}

/// The JSON of a block with full transactions, as much as a bundle reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockJson {
    number: alloy::primitives::U64,
    hash: B256,
    parent_hash: B256,
    timestamp: alloy::primitives::U64,
    miner: Address,
    gas_limit: alloy::primitives::U64,
    gas_used: alloy::primitives::U64,
    #[serde(default)]
    base_fee_per_gas: Option<alloy::primitives::U64>,
    transactions: Vec<Tx>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReceiptJson {
    transaction_hash: B256,
    #[serde(default)]
    block_hash: Option<B256>,
    from: Address,
    #[serde(default)]
    to: Option<Address>,
    #[serde(default)]
    status: Option<alloy::primitives::U64>,
    #[serde(default)]
    contract_address: Option<Address>,
    gas_used: alloy::primitives::U64,
    logs: Vec<LogJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogJson {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    #[serde(default)]
    block_hash: Option<B256>,
    #[serde(default)]
    block_number: Option<alloy::primitives::U64>,
    #[serde(default)]
    block_timestamp: Option<alloy::primitives::U64>,
    #[serde(default)]
    transaction_hash: Option<B256>,
    #[serde(default)]
    transaction_index: Option<alloy::primitives::U64>,
    #[serde(default)]
    log_index: Option<alloy::primitives::U64>,
    #[serde(default)]
    removed: bool,
}

impl From<ReceiptJson> for Receipt {
    fn from(r: ReceiptJson) -> Self {
        Self {
            transaction_hash: r.transaction_hash,
            block_hash: r.block_hash,
            from: r.from,
            to: r.to,
            status: r.status.is_none_or(|s| s == alloy::primitives::U64::from(1)),
            contract_address: r.contract_address,
            gas_used: r.gas_used.to(),
            logs: r
                .logs
                .into_iter()
                .map(|l| Log {
                    inner: alloy::primitives::Log {
                        address: l.address,
                        data: LogData::new_unchecked(l.topics, l.data),
                    },
                    block_hash: l.block_hash,
                    block_number: l.block_number.map(|n| n.to()),
                    block_timestamp: l.block_timestamp.map(|n| n.to()),
                    transaction_hash: l.transaction_hash,
                    transaction_index: l.transaction_index.map(|n| n.to()),
                    log_index: l.log_index.map(|n| n.to()),
                    removed: l.removed,
                })
                .collect(),
        }
    }
}

/// A block decoded from a node's JSON (`eth_getBlockByNumber(n, true)`), as much as a bundle holds, with the
/// text kept for [`Bundle::full_block`].
#[derive(Debug, Clone)]
pub struct BlockPart {
    /// Header fields.
    pub header: BlockHeader,
    /// Transactions.
    pub transactions: Vec<Tx>,
    json: Box<str>,
}

impl BlockPart {
    /// Decodes `json`; a block that lists transaction hashes only is an error.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let b: BlockJson = serde_json::from_str(json)?;
        let header = BlockHeader {
            number: b.number.to(),
            hash: b.hash,
            parent_hash: b.parent_hash,
            timestamp: b.timestamp.to(),
            miner: b.miner,
            gas_limit: b.gas_limit.to(),
            gas_used: b.gas_used.to(),
            base_fee_per_gas: b.base_fee_per_gas.map(|f| f.to()),
        };
        Ok(Self { header, transactions: b.transactions, json: json.into() })
    }
}

/// A block's receipts decoded from a node's JSON, with the text kept for [`Bundle::full_receipts`].
#[derive(Debug, Clone)]
pub struct ReceiptsPart {
    /// The receipts.
    pub receipts: Vec<Receipt>,
    json: Box<str>,
}

impl ReceiptsPart {
    /// Decodes a list of receipts (`eth_getBlockReceipts`).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let r: Vec<ReceiptJson> = serde_json::from_str(json)?;
        Ok(Self { receipts: r.into_iter().map(Receipt::from).collect(), json: json.into() })
    }

    /// Decodes one receipt per transaction (`eth_getTransactionReceipt`); an error names the index.
    pub fn from_each(jsons: &[&str]) -> Result<Self, (usize, serde_json::Error)> {
        let mut receipts = Vec::with_capacity(jsons.len());
        for (i, j) in jsons.iter().enumerate() {
            receipts.push(Receipt::from(serde_json::from_str::<ReceiptJson>(j).map_err(|e| (i, e))?));
        }
        Ok(Self { receipts, json: format!("[{}]", jsons.join(",")).into() })
    }
}

impl Bundle {
    /// A bundle from alloy's types (the in-process chain); the block must carry full transactions.
    pub fn from_alloy(
        block: Block,
        receipts: Vec<TransactionReceipt>,
        traces: Option<Vec<TraceResult>>,
        probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
    ) -> Self {
        let h = &block.header;
        let header = BlockHeader {
            number: h.number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            timestamp: h.timestamp,
            miner: h.beneficiary,
            gas_limit: h.gas_limit,
            gas_used: h.gas_used,
            base_fee_per_gas: h.base_fee_per_gas,
        };
        let transactions = block
            .transactions
            .txns()
            .map(|t| Tx {
                hash: t.tx_hash(),
                from: t.from(),
                to: t.to(),
                value: t.value(),
                input: t.input().clone(),
                nonce: t.nonce(),
                gas: t.gas_limit(),
            })
            .collect();
        let slim = receipts
            .iter()
            .map(|r| Receipt {
                transaction_hash: r.transaction_hash,
                block_hash: r.block_hash,
                from: r.from,
                to: r.to,
                status: r.status(),
                contract_address: r.contract_address,
                gas_used: r.gas_used,
                logs: r.inner.logs().to_vec(),
            })
            .collect();
        let full = Full::Typed(Box::new((block, receipts)));
        Self { header, transactions, receipts: slim, traces, probes, full }
    }

    /// A bundle of hand-made parts (tests, benchmarks): the header, transactions and receipts as given; alloy's
    /// complete types of it (for the few detectors that read them) are those of an empty block with that header.
    pub fn from_slim(
        header: BlockHeader,
        transactions: Vec<Tx>,
        receipts: Vec<Receipt>,
        probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
    ) -> Self {
        let hex = |n: u64| format!("{n:#x}");
        let block = serde_json::json!({
            "number": hex(header.number), "hash": header.hash, "parentHash": header.parent_hash,
            "timestamp": hex(header.timestamp), "miner": header.miner, "gasLimit": hex(header.gas_limit),
            "gasUsed": hex(header.gas_used), "baseFeePerGas": header.base_fee_per_gas.map(hex), "transactions": [],
        });
        let full = Full::Json { block: block.to_string().into(), receipts: "[]".into(), decoded: OnceLock::new() };
        Self { header, transactions, receipts, traces: None, probes, full }
    }

    /// A bundle from parts decoded from a node's JSON (see [`BlockPart`], [`ReceiptsPart`]); the caller checks
    /// that they belong together.
    pub fn from_parts(
        block: BlockPart,
        receipts: ReceiptsPart,
        traces: Option<Vec<TraceResult>>,
        probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
    ) -> Self {
        Self {
            header: block.header,
            transactions: block.transactions,
            receipts: receipts.receipts,
            traces,
            probes,
            full: Full::Json { block: block.json, receipts: receipts.json, decoded: OnceLock::new() },
        }
    }

    fn full(&self) -> Result<&(Block, Vec<TransactionReceipt>), String> {
        match &self.full {
            Full::Typed(t) => Ok(t),
            Full::Json { block, receipts, decoded } => decoded
                .get_or_init(|| {
                    let b: Block =
                        serde_json::from_str(block).map_err(|e| format!("block #{}: {e}", self.header.number))?;
                    let r: Vec<TransactionReceipt> = serde_json::from_str(receipts)
                        .map_err(|e| format!("receipts of #{}: {e}", self.header.number))?;
                    Ok(Box::new((b, r)))
                })
                .as_deref()
                .map_err(Clone::clone),
        }
    }

    /// The whole block in alloy's type (signatures, access lists, the full header), decoded on first use.
    pub fn full_block(&self) -> Result<&Block, String> {
        self.full().map(|f| &f.0)
    }

    /// The receipts in alloy's type (blooms, cumulative gas, fees), decoded on first use.
    pub fn full_receipts(&self) -> Result<&[TransactionReceipt], String> {
        self.full().map(|f| f.1.as_slice())
    }

    /// Number and hash.
    pub fn block_ref(&self) -> BlockRef {
        self.header.block_ref()
    }

    /// Parent hash.
    pub fn parent_hash(&self) -> B256 {
        self.header.parent_hash
    }

    /// Timestamp.
    pub fn timestamp(&self) -> u64 {
        self.header.timestamp
    }

    /// Logs of successful transactions, in block order.
    pub fn logs(&self) -> impl Iterator<Item = &Log> {
        self.receipts.iter().filter(|r| r.status).flat_map(|r| r.logs.iter())
    }

    /// A probe's return data, if it was read and did not revert.
    pub fn probe(&self, probe: &Probe) -> Option<&Bytes> {
        self.probes.get(probe).and_then(|r| r.as_ref().ok())
    }

    /// The answer to `probe` decoded as call `C`'s return value; `what` names the value in errors. A probe the
    /// source did not read is [`DetectorCause::MissingInput`] (fetching again can help); one that reverted or
    /// does not decode is [`DetectorCause::Data`].
    pub fn decode_probe<C: alloy::sol_types::SolCall>(
        &self,
        probe: &Probe,
        what: &str,
    ) -> Result<C::Return, crate::detector::DetectorCause> {
        use crate::detector::DetectorCause;
        match self.probes.get(probe) {
            None => Err(DetectorCause::MissingInput(format!("no {what} at this block (the source did not read it)"))),
            Some(Err(revert)) => Err(DetectorCause::Data(format!("{what}: the read reverted with {revert}"))),
            Some(Ok(data)) => C::abi_decode_returns(data)
                .map_err(|e| DetectorCause::Data(format!("{what}: the answer does not decode: {e}"))),
        }
    }
}
