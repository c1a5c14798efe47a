//! Chain events and block bundles: everything about one block that detectors may read.
//!
//! A bundle holds the JSON-RPC shapes a node returns (full block, receipts, call traces when available), so
//! detectors read recorded mainnet data, live data and the in-process chain the same way, plus the values of the
//! probes detectors declared, read at this block.

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, Bytes, B256},
    rpc::types::{trace::geth::TraceResult, Block, Log, TransactionReceipt},
};

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

/// One block and what detectors need of it.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// `eth_getBlockByNumber(n, true)`.
    pub block: Block,
    /// `eth_getBlockReceipts(n)`.
    pub receipts: Vec<TransactionReceipt>,
    /// callTracer traces, when the source has them.
    pub traces: Option<Vec<TraceResult>>,
    /// Probe results at this block: return data, or the revert data.
    pub probes: BTreeMap<Probe, Result<Bytes, Bytes>>,
}

impl Bundle {
    /// Number and hash.
    pub fn block_ref(&self) -> BlockRef {
        BlockRef { number: self.block.header.number, hash: self.block.header.hash }
    }

    /// Parent hash.
    pub fn parent_hash(&self) -> B256 {
        self.block.header.parent_hash
    }

    /// Timestamp.
    pub fn timestamp(&self) -> u64 {
        self.block.header.timestamp
    }

    /// Logs of successful transactions, in block order.
    pub fn logs(&self) -> impl Iterator<Item = &Log> {
        self.receipts.iter().filter(|r| r.status()).flat_map(|r| r.inner.logs())
    }

    /// A probe's return data, if it was read and did not revert.
    pub fn probe(&self, probe: &Probe) -> Option<&Bytes> {
        self.probes.get(probe).and_then(|r| r.as_ref().ok())
    }
}
