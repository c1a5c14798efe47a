//! Replay of recorded payloads: [`Recorded`] yields [`ChainEvent::NewBlock`] bundles in block order, decoded by
//! [`crate::decode`] exactly as live answers are.
//!
//! Two kinds of recording:
//!
//! 1. **`vigil sim` JSON Lines** ([`Recorded::sim_file`]; the format is in `docs/sim-format.md`): a header line
//!    (`"kind": "scenario"`), one line per block (`"kind": "block"` with the `eth_getBlockByNumber(n, true)`,
//!    `eth_getBlockReceipts` and callTracer results and the ground-truth labels), and a summary line. Lines are
//!    read one at a time, so a long run is never held in memory. Every block must follow the one before (number
//!    plus one, parent hash; the first follows the header's genesis), carry traces exactly when the header says
//!    the run traced, and have one label per transaction. The files hold no state reads: bundles have no probe
//!    values.
//! 2. **Recorded JSON-RPC request/response pairs** ([`Recorded::rpc_pairs`]), as in erigon's rpc-tests: files
//!    (or directories of files, searched recursively for `*.json`), each a JSON list of `{"request": …,
//!    "response": …}` (a request may be a batch, answered by a list matched by id). Used are: blocks with full
//!    transactions (`eth_getBlockByNumber` / `eth_getBlockByHash` with `true`), receipts (`eth_getBlockReceipts`,
//!    `erigon_getBlockReceiptsByBlockHash`, or `eth_getTransactionReceipt` for every transaction of the block),
//!    callTracer traces (`debug_traceBlockByNumber` / `debug_traceBlockByHash`; without `onlyTopCall`), parity
//!    `trace_block`, and `eth_call` at a block (keyed by block, `to` and `data`: the probe values; a revert is
//!    kept as revert data; calls with state or block overrides are not reads of the chain and are left out).
//!    Every block that has a full block and its receipts becomes a bundle; a block with only some of its parts
//!    is listed in [`Recorded::skipped`] with what it has and lacks, never dropped silently. When a part was
//!    recorded twice, the block methods are preferred in the order above (callTracer before parity traces), and
//!    the first file in path order among equals.
//!
//! Errors name the file and the line (JSON Lines) or the pair (pairs), and what is wrong. A JSON Lines replay
//! stops at its first error (what follows cannot be checked against it); a pairs replay goes on with the next
//! block.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    io::BufRead,
    path::{Path, PathBuf},
};

use alloy::primitives::{Address, Bytes, B256, U64};
use serde::Deserialize;
use serde_json::{value::RawValue, Value};
use vigil_core::{BlockRef, Bundle, ChainEvent, Probe};

use crate::decode::{self, Answers, ReceiptAnswers, TraceAnswers};
use crate::rpc::JsonRpcError;

/// Errors of a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A file or directory could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The path.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSON Lines file is wrong.
    #[error("{file}: line {line}: {reason}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A recorded pair (or the file holding it) is wrong.
    #[error("{file}: {at}: {reason}")]
    Pair {
        /// The file.
        file: String,
        /// `pair 3`, `pair 3, call 1` for a batch, or `whole file`.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// A block's recorded parts decode but do not fit together.
    #[error("{sources}: {source}")]
    Block {
        /// Where each part comes from (`file: pair k` …).
        sources: String,
        /// What is wrong.
        #[source]
        source: decode::DecodeError,
    },
}

/// The header of a `vigil sim` file (the fields a replay uses; see `docs/sim-format.md`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SimHeader {
    /// Scenario name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// Block lines that follow.
    pub blocks: u64,
    /// Chain id.
    pub chain_id: u64,
    /// Number and hash of the first block's parent.
    pub genesis: (u64, B256),
    /// Whether block lines carry traces.
    pub tracing: bool,
    /// The attack, if any.
    #[serde(default)]
    pub attack: Option<String>,
    /// Venue addresses by name.
    #[serde(default)]
    pub addresses: BTreeMap<String, Address>,
}

/// A transaction's ground truth in a `vigil sim` file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    /// Index in the block.
    pub index: u64,
    /// Transaction hash.
    pub tx: B256,
    /// Who and why (`trader:buy-weth`, `attack:spot-pump:pump`).
    pub what: String,
    /// The attacker's.
    pub malicious: bool,
}

/// One replayed block.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The bundle.
    pub bundle: Bundle,
    /// Ground truth per transaction (`vigil sim` files; empty for recorded pairs).
    pub labels: Vec<Label>,
    /// Where it was read (`file: line 3`, or the pairs of its parts).
    pub origin: String,
}

/// A block of a pairs recording that could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its number, when a part names it.
    pub number: Option<u64>,
    /// Its hash, when a part names it.
    pub hash: Option<B256>,
    /// What it has and lacks, with the sources of what it has.
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.number, self.hash) {
            (Some(n), Some(h)) => write!(f, "block #{n} ({h}): {}", self.reason),
            (Some(n), None) => write!(f, "block #{n}: {}", self.reason),
            (None, Some(h)) => write!(f, "block {h}: {}", self.reason),
            (None, None) => write!(f, "block ?: {}", self.reason),
        }
    }
}

/// A source of recorded blocks; an iterator of [`ChainEvent::NewBlock`] (see the module docs).
pub struct Recorded {
    inner: Inner,
}

enum Inner {
    Sim(Box<SimLines>),
    Pairs(PairBlocks),
}

impl Recorded {
    /// A `vigil sim` JSON Lines file; reads and checks its header line.
    pub fn sim_file(path: &Path) -> Result<Self, ReplayError> {
        let file = std::fs::File::open(path).map_err(|source| io(path, source))?;
        Self::sim_reader(&path.display().to_string(), std::io::BufReader::new(file))
    }

    /// JSON Lines from `reader`, named `name` in errors; reads and checks the header line.
    pub fn sim_reader(name: &str, reader: impl BufRead + Send + 'static) -> Result<Self, ReplayError> {
        let lines = SimLines::start(name.to_string(), Box::new(reader))?;
        Ok(Self { inner: Inner::Sim(Box::new(lines)) })
    }

    /// Recorded request/response pairs from `paths` (files, or directories searched recursively for `*.json`).
    /// Reads every file and sorts the parts by block; decoding happens block by block as the replay goes.
    pub fn rpc_pairs<P: AsRef<Path>>(paths: &[P]) -> Result<Self, ReplayError> {
        let mut files = Vec::new();
        for p in paths {
            collect_files(p.as_ref(), &mut files)?;
        }
        let mut collector = Collector::default();
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(|source| io(f, source))?;
            collector.add_file(&f.display().to_string(), &text)?;
        }
        Ok(Self { inner: Inner::Pairs(collector.finish()) })
    }

    /// The header of a `vigil sim` file.
    pub fn sim_header(&self) -> Option<&SimHeader> {
        match &self.inner {
            Inner::Sim(s) => Some(&s.header),
            Inner::Pairs(_) => None,
        }
    }

    /// Blocks of a pairs recording that lack a full block or receipts, in block order (numbered first).
    pub fn skipped(&self) -> &[Skipped] {
        match &self.inner {
            Inner::Sim(_) => &[],
            Inner::Pairs(p) => &p.skipped,
        }
    }

    /// Pairs of a recording that were not used, by method (with why, for methods Vigil reads).
    pub fn unused(&self) -> &BTreeMap<String, usize> {
        static EMPTY: BTreeMap<String, usize> = BTreeMap::new();
        match &self.inner {
            Inner::Sim(_) => &EMPTY,
            Inner::Pairs(p) => &p.unused,
        }
    }

    /// Blocks still to come from a pairs recording (`None` for JSON Lines, read as they come).
    pub fn remaining(&self) -> Option<usize> {
        match &self.inner {
            Inner::Sim(_) => None,
            Inner::Pairs(p) => Some(p.blocks.len() - p.next),
        }
    }

    /// The next block with its labels and origin.
    pub fn next_block(&mut self) -> Option<Result<Replayed, ReplayError>> {
        match &mut self.inner {
            Inner::Sim(s) => s.next_block(),
            Inner::Pairs(p) => p.next_block(),
        }
    }
}

impl Iterator for Recorded {
    type Item = Result<ChainEvent, ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_block().map(|r| r.map(|b| ChainEvent::NewBlock(Box::new(b.bundle))))
    }
}

fn io(path: &Path, source: std::io::Error) -> ReplayError {
    ReplayError::Io { file: path.display().to_string(), source }
}

// ---------------------------------------------------------------------------------------------------------------
// vigil sim JSON Lines

struct SimLines {
    file: String,
    reader: Box<dyn BufRead + Send>,
    header: SimHeader,
    /// Lines read so far.
    line: usize,
    buf: String,
    last: BlockRef,
    blocks: u64,
    summary: bool,
    done: bool,
}

/// Any line: `kind` says which fields matter.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    block: Option<&'a RawValue>,
    #[serde(borrow, default)]
    receipts: Option<&'a RawValue>,
    #[serde(borrow, default)]
    traces: Option<&'a RawValue>,
    #[serde(default)]
    labels: Option<Vec<Label>>,
}

impl SimLines {
    fn start(file: String, mut reader: Box<dyn BufRead + Send>) -> Result<Self, ReplayError> {
        let mut buf = String::new();
        let err = |reason: String| ReplayError::Line { file: file.clone(), line: 1, reason };
        let n = reader.read_line(&mut buf).map_err(|e| err(format!("cannot read: {e}")))?;
        if n == 0 {
            return Err(err("empty file: expected a header line (\"kind\": \"scenario\")".into()));
        }
        let kind: Line<'_> = serde_json::from_str(&buf).map_err(|e| err(format!("not JSON: {e}")))?;
        if kind.kind != "scenario" {
            return Err(err(format!(
                "expected the header line (\"kind\": \"scenario\"), found \"kind\": {:?}",
                kind.kind
            )));
        }
        let header: SimHeader = serde_json::from_str(&buf).map_err(|e| err(format!("header: {e}")))?;
        let last = BlockRef { number: header.genesis.0, hash: header.genesis.1 };
        Ok(Self { file, reader, header, line: 1, buf, last, blocks: 0, summary: false, done: false })
    }

    fn err(&self, reason: impl Into<String>) -> ReplayError {
        ReplayError::Line { file: self.file.clone(), line: self.line, reason: reason.into() }
    }

    fn next_block(&mut self) -> Option<Result<Replayed, ReplayError>> {
        if self.done {
            return None;
        }
        let r = self.read_block();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
        }
        r
    }

    fn read_block(&mut self) -> Option<Result<Replayed, ReplayError>> {
        loop {
            self.buf.clear();
            self.line += 1;
            match self.reader.read_line(&mut self.buf) {
                Ok(0) if self.summary => return None,
                Ok(0) => {
                    return Some(Err(self.err(format!(
                        "the file ends after {} of {} blocks, without a summary line (truncated?)",
                        self.blocks, self.header.blocks
                    ))))
                }
                Ok(_) => {}
                Err(e) => return Some(Err(self.err(format!("cannot read: {e}")))),
            }
            if self.summary {
                return Some(Err(self.err("a line after the summary line")));
            }
            let buf = std::mem::take(&mut self.buf);
            let result = self.line_of(&buf);
            self.buf = buf;
            match result {
                Ok(Some(block)) => return Some(Ok(block)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// A block line's block, or `None` for the summary line.
    fn line_of(&mut self, text: &str) -> Result<Option<Replayed>, ReplayError> {
        if text.trim().is_empty() {
            return Err(self.err("empty line"));
        }
        let line: Line<'_> = serde_json::from_str(text).map_err(|e| self.err(format!("not JSON: {e}")))?;
        match &*line.kind {
            "block" => {}
            "summary" => {
                if self.blocks != self.header.blocks {
                    return Err(self.err(format!(
                        "summary after {} blocks, but the header announces {}",
                        self.blocks, self.header.blocks
                    )));
                }
                self.summary = true;
                return Ok(None);
            }
            "scenario" => return Err(self.err("a second header line")),
            other => return Err(self.err(format!("unknown \"kind\": {other:?} (expected \"block\" or \"summary\")"))),
        }
        let block = line.block.ok_or_else(|| self.err("block line without \"block\""))?;
        let receipts = line.receipts.ok_or_else(|| self.err("block line without \"receipts\""))?;
        match (self.header.tracing, line.traces.is_some()) {
            (true, false) => return Err(self.err("the header says the run was traced, but this block has no traces")),
            (false, true) => return Err(self.err("the header says the run was not traced, but this block has traces")),
            _ => {}
        }
        let answers = Answers {
            block: ("eth_getBlockByNumber", block.get()),
            receipts: ReceiptAnswers::Block("eth_getBlockReceipts", receipts.get()),
            traces: line.traces.map(|t| TraceAnswers::CallTracer("debug_traceBlockByNumber", t.get())),
            probes: Vec::new(),
        };
        let bundle = decode::bundle(&answers, None).map_err(|e| self.err(e.to_string()))?;
        let here = bundle.block_ref();
        if here.number != self.last.number + 1 {
            return Err(self.err(format!("block #{} follows block #{}", here.number, self.last.number)));
        }
        if bundle.parent_hash() != self.last.hash {
            return Err(self.err(format!(
                "block #{}'s parent {} is not block #{} ({})",
                here.number,
                bundle.parent_hash(),
                self.last.number,
                self.last.hash
            )));
        }
        let labels = line.labels.unwrap_or_default();
        if labels.len() != bundle.receipts.len() {
            return Err(self.err(format!(
                "block #{}: {} labels for {} transactions",
                here.number,
                labels.len(),
                bundle.receipts.len()
            )));
        }
        for (i, (l, r)) in labels.iter().zip(&bundle.receipts).enumerate() {
            if l.index != i as u64 || l.tx != r.transaction_hash {
                return Err(self.err(format!(
                    "block #{}: label {i} is of transaction {} (index {}), not {}",
                    here.number, l.tx, l.index, r.transaction_hash
                )));
            }
        }
        self.last = here;
        self.blocks += 1;
        Ok(Some(Replayed { bundle, labels, origin: format!("{}: line {}", self.file, self.line) }))
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Recorded request/response pairs

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReplayError> {
    let meta = std::fs::metadata(path).map_err(|source| io(path, source))?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut found = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|source| io(&dir, source))? {
            let entry = entry.map_err(|source| io(&dir, source))?;
            let p = entry.path();
            let ty = entry.file_type().map_err(|source| io(&p, source))?;
            if ty.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                found.push(p);
            }
        }
    }
    found.sort();
    out.extend(found);
    Ok(())
}

/// Where a part was recorded.
#[derive(Debug, Clone)]
struct Source {
    file: String,
    at: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.at)
    }
}

/// What a part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    BlockReceipts,
    TxReceipt,
    Traces,
    Call,
}

/// One recorded answer that belongs to a block.
struct Part {
    kind: Kind,
    /// Preference among answers of the same kind (lower first).
    rank: u8,
    method: &'static str,
    number: Option<u64>,
    hash: Option<B256>,
    /// The transaction (receipts), or the probe (calls).
    tx: Option<B256>,
    probe: Option<Probe>,
    /// The result, or the revert data of a call.
    answer: Result<Box<RawValue>, Bytes>,
    source: Source,
}

#[derive(Default)]
struct Collector {
    parts: Vec<Part>,
    unused: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct FilePair<'a> {
    #[serde(borrow)]
    request: &'a RawValue,
    #[serde(borrow)]
    response: &'a RawValue,
}

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Value,
    #[serde(default)]
    id: Value,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(default)]
    id: Value,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<JsonRpcError>,
}

/// Number and hash named by a block, a receipt or a parity trace.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Names {
    #[serde(default, alias = "blockNumber")]
    number: Option<U64>,
    #[serde(default, alias = "blockHash")]
    hash: Option<B256>,
    #[serde(default)]
    transaction_hash: Option<B256>,
}

impl Collector {
    fn add_file(&mut self, file: &str, text: &str) -> Result<(), ReplayError> {
        let pair_err = |at: String, reason: String| ReplayError::Pair { file: file.to_string(), at, reason };
        let pairs: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| pair_err("whole file".into(), format!("not a JSON list of request/response pairs: {e}")))?;
        for (i, raw) in pairs.into_iter().enumerate() {
            let pair: FilePair<'_> = serde_json::from_str(raw.get()).map_err(|e| {
                pair_err(format!("pair {i}"), format!("not a {{\"request\", \"response\"}} object: {e}"))
            })?;
            let request = pair.request.get().trim_start();
            if request.starts_with('[') {
                let requests: Vec<Request> = serde_json::from_str(pair.request.get())
                    .map_err(|e| pair_err(format!("pair {i}"), format!("batch request: {e}")))?;
                // A list of answers, or one object for the whole batch (an error such as a batch limit).
                let whole = !pair.response.get().trim_start().starts_with('[');
                let responses: Vec<Response<'_>> = if whole {
                    serde_json::from_str(pair.response.get()).map(|r| vec![r])
                } else {
                    serde_json::from_str(pair.response.get())
                }
                .map_err(|e| pair_err(format!("pair {i}"), format!("batch response: {e}")))?;
                for (k, req) in requests.iter().enumerate() {
                    let at = format!("pair {i}, call {k}");
                    // By position when the ids agree (some recordings reuse one id for every call), else by id.
                    let resp = if whole {
                        responses.first()
                    } else {
                        responses
                            .get(k)
                            .filter(|r| r.id == req.id)
                            .or_else(|| responses.iter().find(|r| r.id == req.id))
                    };
                    self.add_call(Source { file: file.to_string(), at }, req, resp)?;
                }
            } else {
                let at = format!("pair {i}");
                let req: Request = serde_json::from_str(pair.request.get())
                    .map_err(|e| pair_err(at.clone(), format!("request: {e}")))?;
                let resp: Response<'_> = serde_json::from_str(pair.response.get())
                    .map_err(|e| pair_err(at.clone(), format!("response: {e}")))?;
                self.add_call(Source { file: file.to_string(), at }, &req, Some(&resp))?;
            }
        }
        Ok(())
    }

    fn unused(&mut self, method: &str, why: &str) {
        let key = if why.is_empty() { method.to_string() } else { format!("{method} ({why})") };
        *self.unused.entry(key).or_default() += 1;
    }

    fn add_call(&mut self, source: Source, req: &Request, resp: Option<&Response<'_>>) -> Result<(), ReplayError> {
        let err = |reason: String| ReplayError::Pair { file: source.file.clone(), at: source.at.clone(), reason };
        let Some(method) = req.method.as_deref() else {
            self.unused("(no method)", "");
            return Ok(());
        };
        let param = |i: usize| req.params.get(i).unwrap_or(&Value::Null);
        let (kind, rank, method): (Kind, u8, &'static str) = match method {
            "eth_getBlockByNumber" => (Kind::Block, 0, "eth_getBlockByNumber"),
            "eth_getBlockByHash" => (Kind::Block, 1, "eth_getBlockByHash"),
            "eth_getBlockReceipts" => (Kind::BlockReceipts, 0, "eth_getBlockReceipts"),
            "erigon_getBlockReceiptsByBlockHash" => (Kind::BlockReceipts, 1, "erigon_getBlockReceiptsByBlockHash"),
            "eth_getTransactionReceipt" => (Kind::TxReceipt, 0, "eth_getTransactionReceipt"),
            "debug_traceBlockByNumber" => (Kind::Traces, 0, "debug_traceBlockByNumber"),
            "debug_traceBlockByHash" => (Kind::Traces, 0, "debug_traceBlockByHash"),
            "trace_block" => (Kind::Traces, 1, "trace_block"),
            "eth_call" => (Kind::Call, 0, "eth_call"),
            _ => {
                self.unused(method, "");
                return Ok(());
            }
        };
        // What the request is about, and whether it is one Vigil reads.
        let (mut number, mut hash) = (None, None);
        let mut probe = None;
        match kind {
            Kind::Block => {
                if param(1) != &Value::Bool(true) {
                    self.unused(method, "transaction hashes only");
                    return Ok(());
                }
            }
            Kind::Traces if rank == 0 => {
                let options = param(1);
                if options.get("tracer").and_then(Value::as_str) != Some("callTracer") {
                    self.unused(method, "not callTracer");
                    return Ok(());
                }
                if options.pointer("/tracerConfig/onlyTopCall").and_then(Value::as_bool) == Some(true) {
                    self.unused(method, "callTracer with onlyTopCall");
                    return Ok(());
                }
                (number, hash) = block_param(param(0));
            }
            Kind::Call => {
                if !param(2).is_null() || !param(3).is_null() {
                    self.unused(method, "state or block overrides");
                    return Ok(());
                }
                let call = param(0);
                let to = call.get("to").and_then(Value::as_str).and_then(|s| s.parse::<Address>().ok());
                let data = call.get("data").or_else(|| call.get("input")).and_then(Value::as_str).unwrap_or("0x");
                let (Some(to), Ok(data)) = (to, data.parse::<Bytes>()) else {
                    return Err(err("eth_call without a readable \"to\" and \"data\"".into()));
                };
                probe = Some(Probe { to, data });
                (number, hash) = block_param(param(1));
                if number.is_none() && hash.is_none() {
                    self.unused(method, "at a block tag, not a block");
                    return Ok(());
                }
            }
            _ => (number, hash) = block_param(param(0)),
        }
        // The answer.
        let Some(resp) = resp else { return Err(err(format!("no response with id {}", req.id))) };
        let answer = match (resp.result, &resp.error) {
            (_, Some(e)) if kind == Kind::Call => match crate::fetch::probe_revert(e) {
                Some(data) => Err(data),
                None => {
                    self.unused(method, "error answer");
                    return Ok(());
                }
            },
            (_, Some(_)) | (None, None) => {
                self.unused(method, "no result");
                return Ok(());
            }
            (Some(raw), None) if raw.get() == "null" => {
                self.unused(method, "null result");
                return Ok(());
            }
            (Some(raw), None) => Ok(raw.to_owned()),
        };
        // Names the answer gives (more reliable than tags in the request).
        let mut tx = None;
        if let Ok(raw) = &answer {
            match kind {
                Kind::Block | Kind::TxReceipt => {
                    let names: Names = serde_json::from_str(raw.get())
                        .map_err(|e| err(format!("{method}: the result names no block: {e}")))?;
                    number = names.number.map(|n| n.to());
                    hash = names.hash;
                    tx = names.transaction_hash;
                    if kind == Kind::TxReceipt && tx.is_none() {
                        return Err(err("eth_getTransactionReceipt: the result has no transactionHash".into()));
                    }
                }
                // Receipts and parity traces name their block; callTracer results do not.
                Kind::BlockReceipts | Kind::Traces
                    if method != "debug_traceBlockByNumber" && method != "debug_traceBlockByHash" =>
                {
                    let names: Vec<Names> =
                        serde_json::from_str(raw.get()).map_err(|e| err(format!("{method}: a list expected: {e}")))?;
                    if let Some(first) = names.iter().find(|n| n.number.is_some() || n.hash.is_some()) {
                        number = first.number.map(|n| n.to()).or(number);
                        hash = first.hash.or(hash);
                    }
                }
                _ => {}
            }
        }
        if number.is_none() && hash.is_none() {
            self.unused(method, "block not named");
            return Ok(());
        }
        self.parts.push(Part { kind, rank, method, number, hash, tx, probe, answer, source });
        Ok(())
    }

    fn finish(self) -> PairBlocks {
        let Collector { parts, unused } = self;
        let mut numbers: HashMap<B256, u64> = HashMap::new();
        for p in &parts {
            if let (Some(n), Some(h)) = (p.number, p.hash) {
                numbers.insert(h, n);
            }
        }
        // Group by number, or by hash where no part names the number.
        let mut by_number: BTreeMap<u64, Vec<Part>> = BTreeMap::new();
        let mut by_hash: BTreeMap<B256, Vec<Part>> = BTreeMap::new();
        for mut p in parts {
            if p.number.is_none() {
                p.number = p.hash.and_then(|h| numbers.get(&h).copied());
            }
            match (p.number, p.hash) {
                (Some(n), _) => by_number.entry(n).or_default().push(p),
                (None, Some(h)) => by_hash.entry(h).or_default().push(p),
                // Never stored: `add_call` keeps only parts that name their block.
                (None, None) => {}
            }
        }
        let mut blocks = Vec::new();
        let mut skipped = Vec::new();
        for (n, parts) in by_number {
            match PendingBlock::new(Some(n), parts) {
                Ok(b) => blocks.push(b),
                Err(s) => skipped.push(s),
            }
        }
        for (_, parts) in by_hash {
            match PendingBlock::new(None, parts) {
                Ok(b) => blocks.push(b),
                Err(s) => skipped.push(s),
            }
        }
        blocks.sort_by_key(|b| b.number);
        PairBlocks { blocks, next: 0, skipped, unused }
    }
}

/// The number or hash a block parameter names (`"0x10"`, a hash, `{"blockHash": …}`, `{"blockNumber": …}`);
/// tags (`latest` …) name none.
fn block_param(v: &Value) -> (Option<u64>, Option<B256>) {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Object(o) => {
            let s = o.get("blockHash").or_else(|| o.get("blockNumber")).and_then(Value::as_str).unwrap_or("");
            return block_param(&Value::String(s.to_string()));
        }
        _ => return (None, None),
    };
    let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) else { return (None, None) };
    if hex.len() == 64 {
        return (None, s.parse().ok());
    }
    (u64::from_str_radix(hex, 16).ok(), None)
}

/// A block with a full block and receipts, waiting to be decoded.
struct PendingBlock {
    number: u64,
    block: Part,
    receipts: Vec<Part>,
    per_tx: bool,
    traces: Option<Part>,
    calls: Vec<Part>,
}

impl PendingBlock {
    /// The block's parts sorted out, or why it is skipped.
    fn new(number: Option<u64>, parts: Vec<Part>) -> Result<Self, Skipped> {
        let hash = parts.iter().find_map(|p| if p.kind == Kind::Block { p.hash } else { None });
        let hash = hash.or_else(|| parts.iter().find_map(|p| p.hash));
        let mut block: Option<Part> = None;
        let mut block_receipts: Option<Part> = None;
        let mut traces: Option<Part> = None;
        let mut tx_receipts: Vec<Part> = Vec::new();
        let mut calls: Vec<Part> = Vec::new();
        let mut has: Vec<String> = Vec::new();
        let better = |slot: &Option<Part>, p: &Part| slot.as_ref().is_none_or(|s| p.rank < s.rank);
        for p in parts {
            match p.kind {
                Kind::Block if better(&block, &p) => block = Some(p),
                Kind::BlockReceipts if better(&block_receipts, &p) => block_receipts = Some(p),
                Kind::Traces if better(&traces, &p) => traces = Some(p),
                Kind::TxReceipt => tx_receipts.push(p),
                Kind::Call => calls.push(p),
                _ => {}
            }
        }
        let skip = |reason: String| Skipped { number, hash, reason };
        let describe = |has: &mut Vec<String>, what: &str, p: &Option<Part>| {
            if let Some(p) = p {
                has.push(format!("{what} ({})", p.source));
            }
        };
        describe(&mut has, "block", &block);
        describe(&mut has, "receipts", &block_receipts);
        describe(&mut has, "traces", &traces);
        if !tx_receipts.is_empty() {
            has.push(format!("{} transaction receipts (first: {})", tx_receipts.len(), tx_receipts[0].source));
        }
        if !calls.is_empty() {
            has.push(format!("{} eth_call values (first: {})", calls.len(), calls[0].source));
        }
        let has = has.join(", ");
        let Some(block) = block else {
            return Err(skip(format!("has {has} but no block with full transactions")));
        };
        let Some(number) = number else {
            return Err(skip(format!("has {has} but no part names its number")));
        };
        let (receipts, per_tx) = match block_receipts {
            Some(r) => (vec![r], false),
            None if tx_receipts.is_empty() => {
                return Err(skip(format!("has {has} but no receipts")));
            }
            None => {
                // Receipts per transaction: one for each of the block's transactions, in block order.
                #[derive(Deserialize)]
                struct TxHash {
                    hash: B256,
                }
                #[derive(Deserialize)]
                struct TxHashes {
                    transactions: Vec<TxHash>,
                }
                let hashes: TxHashes = serde_json::from_str(raw(&block))
                    .map_err(|e| skip(format!("has {has}, but its block's transactions cannot be read: {e}")))?;
                let mut ordered = Vec::new();
                let mut missing = 0;
                for t in &hashes.transactions {
                    match tx_receipts.iter().position(|r| r.tx == Some(t.hash)) {
                        Some(i) => ordered.push(tx_receipts.swap_remove(i)),
                        None => missing += 1,
                    }
                }
                if missing > 0 {
                    return Err(skip(format!(
                        "has {has} but receipts of only {} of {} transactions",
                        ordered.len(),
                        hashes.transactions.len()
                    )));
                }
                (ordered, true)
            }
        };
        Ok(Self { number, block, receipts, per_tx, traces, calls })
    }

    fn sources(&self) -> String {
        let mut s: Vec<String> = vec![self.block.source.to_string()];
        s.extend(self.receipts.iter().take(1).map(|r| r.source.to_string()));
        if self.receipts.len() > 1 {
            s.push(format!("{} more receipts", self.receipts.len() - 1));
        }
        s.extend(self.traces.iter().map(|t| t.source.to_string()));
        s.join(" + ")
    }

    fn decode(&self) -> Result<Replayed, ReplayError> {
        let per_tx: Vec<&str> = if self.per_tx { self.receipts.iter().map(raw).collect() } else { Vec::new() };
        let receipts = if self.per_tx {
            ReceiptAnswers::PerTransaction(&per_tx)
        } else {
            ReceiptAnswers::Block(self.receipts[0].method, raw(&self.receipts[0]))
        };
        let traces = self.traces.as_ref().map(|t| match t.kind {
            Kind::Traces if t.rank == 0 => TraceAnswers::CallTracer(t.method, raw(t)),
            _ => TraceAnswers::Parity(raw(t)),
        });
        let probes = self
            .calls
            .iter()
            .filter_map(|c| {
                let probe = c.probe.clone()?;
                Some((probe, c.answer.as_ref().map(|r| r.get()).map_err(Clone::clone)))
            })
            .collect();
        let answers = Answers { block: (self.block.method, raw(&self.block)), receipts, traces, probes };
        let bundle = decode::bundle(&answers, Some(self.number))
            .map_err(|source| ReplayError::Block { sources: self.sources(), source })?;
        Ok(Replayed { bundle, labels: Vec::new(), origin: self.sources() })
    }
}

/// A part's raw result (`null` for the revert of a call, which is not decoded).
fn raw(p: &Part) -> &str {
    p.answer.as_ref().map(|r| r.get()).unwrap_or("null")
}

struct PairBlocks {
    blocks: Vec<PendingBlock>,
    next: usize,
    skipped: Vec<Skipped>,
    unused: BTreeMap<String, usize>,
}

impl PairBlocks {
    fn next_block(&mut self) -> Option<Result<Replayed, ReplayError>> {
        let b = self.blocks.get(self.next)?;
        self.next += 1;
        Some(b.decode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_parameters_name_numbers_and_hashes_but_not_tags() {
        assert_eq!(block_param(&Value::String("0x112A880".into())), (Some(18_000_000), None));
        assert_eq!(block_param(&Value::String("latest".into())), (None, None));
        let h = B256::repeat_byte(0xab);
        assert_eq!(block_param(&Value::String(h.to_string())), (None, Some(h)));
        assert_eq!(block_param(&serde_json::json!({"blockHash": h})), (None, Some(h)));
        assert_eq!(block_param(&Value::Null), (None, None));
    }
}
