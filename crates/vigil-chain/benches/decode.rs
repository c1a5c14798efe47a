//! What decoding a real mainnet block costs, from bytes and over HTTP, next to the cost of merely parsing the same
//! bytes.
//!
//! `cargo bench -p vigil-chain --bench decode` takes mainnet block 18,000,000 (94 transactions, 291 logs) as
//! recorded from an archive node (`eth_getBlockByNumber(n, true)` and `eth_getBlockReceipts`; vigil-core's
//! fixtures, re-serialised compact as a node sends them) and prints, per block, CPU time of this thread
//! (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`) and wall time of:
//!
//! 1. the floor: serde_json parsing the bytes into `serde_json::Value`, and into `serde::de::IgnoredAny` (a scan
//!    that builds nothing);
//! 2. [`vigil_chain::decode::bundle`]: the full, checked `Bundle` (alloy's `Block` and receipts), and its parts
//!    (header alone, block with transactions, receipts, checks);
//! 3. over HTTP: [`vigil_chain::Fetcher::bundle`] against a local HTTP/1.1 server on 127.0.0.1 (its own thread
//!    and runtime) that answers `eth_getBlockByNumber` and then the batch `[eth_getBlockReceipts]` with the
//!    recorded bytes; CPU of the client thread (the fetcher runs on a current-thread runtime on this thread), CPU
//!    of the whole process (server included), wall time, and round trips per block;
//! 4. a lazy-decoding prototype (this file only): the same bytes into slim serde structs that keep what the
//!    detectors read (header, and per receipt status, transaction hash, sender, recipient and logs) and leave
//!    transactions and blooms as unparsed `RawValue`s.
//!
//! The target of the issue: ≤ 0.5 ms CPU per block from files, ≤ 0.4 ms over HTTP.

use std::{
    hint::black_box,
    io::Write,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, Bytes, B256, B64, U256, U64},
    rpc::types::{Block, Header},
};
use serde::{de::IgnoredAny, Deserialize};
use serde_json::value::RawValue;
use vigil_chain::{
    decode::{self, Answers},
    Fetcher, RetryPolicy, RpcClient, SourceMetrics,
};

const NUMBER: u64 = 18_000_000;

fn fixture(name: &str) -> String {
    let path = format!("{}/../vigil-core/tests/fixtures/mainnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pairs: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    // Compact, as a node sends it.
    pairs[0]["response"]["result"].to_string()
}

fn cpu(clock: libc::clockid_t) -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for clock_gettime to fill.
    let rc = unsafe { libc::clock_gettime(clock, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn thread_cpu() -> Duration {
    cpu(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu() -> Duration {
    cpu(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// Per-iteration CPU (this thread) and wall time in ms, over at least `min_secs` of repetitions after a warm-up.
fn measure<T>(min_secs: f64, mut f: impl FnMut() -> T) -> (f64, f64) {
    for _ in 0..5 {
        black_box(f());
    }
    let (c0, w0) = (thread_cpu(), Instant::now());
    let mut n = 0u32;
    while n < 20 || w0.elapsed().as_secs_f64() < min_secs {
        black_box(f());
        n += 1;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    (per(thread_cpu() - c0), per(w0.elapsed()))
}

fn line(what: &str, (cpu, wall): (f64, f64), bytes: usize) {
    let mbs = bytes as f64 / 1e6 / (cpu / 1e3);
    println!("  {what:<84} {cpu:>7.3} ms CPU  {wall:>7.3} ms wall  {:>6.0} blocks/s  {mbs:>5.0} MB/s", 1e3 / cpu);
}

// ---------------------------------------------------------------------------------------------------------------
// The lazy prototype: what detectors read, typed; the rest left as raw JSON.

#[allow(dead_code)]
#[derive(Deserialize)]
struct SlimLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlimReceipt<'a> {
    status: U64,
    transaction_hash: B256,
    block_hash: B256,
    from: Address,
    to: Option<Address>,
    logs: Vec<SlimLog>,
    #[serde(borrow)]
    logs_bloom: &'a RawValue,
}

/// A block with every header field typed (the bloom left raw) and transactions as `$tx`.
macro_rules! slim_block {
    ($name:ident, $tx:ty) => {
        #[allow(dead_code)]
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct $name<'a> {
            hash: B256,
            parent_hash: B256,
            sha3_uncles: B256,
            miner: Address,
            state_root: B256,
            transactions_root: B256,
            receipts_root: B256,
            #[serde(borrow)]
            logs_bloom: &'a RawValue,
            difficulty: U256,
            number: U64,
            gas_limit: U64,
            gas_used: U64,
            timestamp: U64,
            extra_data: Bytes,
            mix_hash: B256,
            nonce: B64,
            base_fee_per_gas: Option<U64>,
            withdrawals_root: Option<B256>,
            blob_gas_used: Option<U64>,
            excess_blob_gas: Option<U64>,
            parent_beacon_block_root: Option<B256>,
            #[serde(borrow)]
            transactions: Vec<$tx>,
            #[serde(borrow)]
            withdrawals: Option<&'a RawValue>,
        }
    };
}

slim_block!(SlimBlock, &'a RawValue);
slim_block!(SlimBlockTyped, SlimTx<'a>);

/// What a check or a detector reads of a transaction; the rest stays in the answer's bytes.
#[allow(dead_code)]
#[derive(Deserialize)]
struct SlimTx<'a> {
    hash: B256,
    from: Address,
    to: Option<Address>,
    value: U256,
    #[serde(borrow)]
    input: &'a RawValue,
}

/// One answer of a batch, decoded straight from the HTTP body.
#[allow(dead_code)]
#[derive(Deserialize)]
struct Answer<T> {
    result: T,
}

// ---------------------------------------------------------------------------------------------------------------
// A local JSON-RPC server answering with the recorded bytes (tokio, HTTP/1.1 keep-alive, Content-Length bodies).

async fn serve(listener: tokio::net::TcpListener, block: Arc<String>, receipts: Arc<String>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, block.clone(), receipts.clone()));
    }
}

async fn connection(stream: tokio::net::TcpStream, block: Arc<String>, receipts: Arc<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    #[derive(Deserialize)]
    struct Call {
        id: u64,
        method: String,
    }
    stream.set_nodelay(true).ok();
    let (read, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut out = Vec::with_capacity(1 << 20);
    let mut header = String::new();
    loop {
        let mut length = 0usize;
        loop {
            header.clear();
            match reader.read_line(&mut header).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let h = header.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let calls: Vec<Call> = serde_json::from_slice(&body).expect("a JSON-RPC batch");
        out.clear();
        out.push(b'[');
        for (i, c) in calls.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let result = match c.method.as_str() {
                "eth_getBlockByNumber" => block.as_str(),
                "eth_getBlockReceipts" => receipts.as_str(),
                other => panic!("the bench server does not answer {other}"),
            };
            write!(out, r#"{{"jsonrpc":"2.0","id":{},"result":"#, c.id).expect("write");
            out.extend_from_slice(result.as_bytes());
            out.push(b'}');
        }
        out.push(b']');
        let head =
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", out.len());
        if writer.write_all(head.as_bytes()).await.is_err() || writer.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn main() {
    let block = fixture("block-18000000.json");
    let receipts = fixture("receipts-18000000.json");
    let total = block.len() + receipts.len();
    let answers = Answers::new(&block, &receipts);
    let bundle = decode::bundle(&answers, Some(NUMBER)).expect("block 18,000,000 decodes");
    let logs: usize = bundle.receipts.iter().map(|r| r.logs.len()).sum();
    println!(
        "mainnet block {NUMBER}: {} transactions, {} receipts, {logs} logs; JSON (compact) {} B block + {} B receipts = {total} B",
        bundle.transactions.len(),
        bundle.receipts.len(),
        block.len(),
        receipts.len()
    );
    println!("per block, this thread's CPU time (clock_gettime CLOCK_THREAD_CPUTIME_ID) and wall time; one core");
    let secs = 2.0;

    println!("1. floor: parsing the same bytes (block + receipts)");
    line(
        "serde_json → serde_json::Value",
        measure(secs, || {
            (
                serde_json::from_str::<serde_json::Value>(&block).unwrap(),
                serde_json::from_str::<serde_json::Value>(&receipts).unwrap(),
            )
        }),
        total,
    );
    line(
        "serde_json → serde::de::IgnoredAny",
        measure(secs, || {
            serde_json::from_str::<IgnoredAny>(&block).unwrap();
            serde_json::from_str::<IgnoredAny>(&receipts).unwrap()
        }),
        total,
    );

    println!("2. decode.rs: the checked Bundle (alloy types), and its parts");
    let full = measure(secs, || decode::bundle(&answers, Some(NUMBER)).unwrap());
    line("decode::bundle (block + receipts + checks)", full, total);
    line(
        "  header only (alloy consensus Header; transactions scanned)",
        measure(secs, || serde_json::from_str::<alloy::consensus::Header>(&block).unwrap()),
        block.len(),
    );
    line(
        "  header only (alloy rpc Header: flatten buffers every field)",
        measure(secs, || serde_json::from_str::<Header>(&block).unwrap()),
        block.len(),
    );
    #[derive(Deserialize)]
    struct RawTransactions<'a> {
        #[serde(borrow)]
        transactions: Vec<&'a RawValue>,
    }
    let raw_txs: RawTransactions<'_> = serde_json::from_str(&block).unwrap();
    line(
        "  the 94 transactions alone, each from its own bytes",
        measure(secs, || {
            raw_txs
                .transactions
                .iter()
                .map(|t| serde_json::from_str::<alloy::rpc::types::Transaction>(t.get()).unwrap())
                .collect::<Vec<_>>()
        }),
        raw_txs.transactions.iter().map(|t| t.get().len()).sum(),
    );
    line(
        "  block: header + 94 transaction envelopes (BlockPart)",
        measure(secs, || decode::block("eth_getBlockByNumber", &block, Some(NUMBER)).unwrap()),
        block.len(),
    );
    line(
        "  receipts with their logs (ReceiptsPart)",
        measure(secs, || decode::receipts("eth_getBlockReceipts", &receipts, Some(NUMBER)).unwrap()),
        receipts.len(),
    );
    let (b, r) = (
        decode::block("eth_getBlockByNumber", &block, Some(NUMBER)).unwrap(),
        decode::receipts("eth_getBlockReceipts", &receipts, Some(NUMBER)).unwrap(),
    );
    line("  checks (receipt count, block and tx hash per receipt)", measure(secs, || decode::check(&b, &r, None)), 0);
    let mut bundles: Vec<_> = (0..100).map(|_| decode::bundle(&answers, Some(NUMBER)).unwrap()).collect();
    let (c0, w0) = (thread_cpu(), Instant::now());
    while let Some(b) = bundles.pop() {
        drop(black_box(b));
    }
    let dropped = ((thread_cpu() - c0).as_secs_f64() * 10.0, w0.elapsed().as_secs_f64() * 10.0);
    line("  dropping a Bundle (freeing its allocations)", dropped, 0);

    println!("3. over HTTP from a local server (Fetcher::bundle: eth_getBlockByNumber, then [eth_getBlockReceipts])");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (sb, sr) = (Arc::new(block.clone()), Arc::new(receipts.clone()));
    // The server: its own thread and current-thread runtime, so the client thread's CPU time is the client's.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            serve(listener, sb, sr).await
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let fetcher_url = url.clone();
    let client = RpcClient::new(&[url], RetryPolicy::default(), SourceMetrics::default()).expect("client");
    let fetcher = Fetcher::new(client);
    rt.block_on(async {
        for _ in 0..5 {
            fetcher.bundle(NUMBER, &[], false).await.expect("bundle over HTTP");
        }
    });
    let (trips0, blocks0) =
        (fetcher.client().metrics().round_trips.get(), fetcher.client().metrics().blocks_fetched.get());
    let (c0, p0, w0) = (thread_cpu(), process_cpu(), Instant::now());
    let mut n = 0u32;
    rt.block_on(async {
        while n < 20 || w0.elapsed().as_secs_f64() < secs {
            black_box(fetcher.bundle(NUMBER, &[], false).await.expect("bundle over HTTP"));
            n += 1;
        }
    });
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    let (client_cpu, process, wall) = (per(thread_cpu() - c0), per(process_cpu() - p0), per(w0.elapsed()));
    let trips = (fetcher.client().metrics().round_trips.get() - trips0) as f64
        / (fetcher.client().metrics().blocks_fetched.get() - blocks0) as f64;
    println!(
        "  Fetcher::bundle: client thread {client_cpu:.3} ms CPU/block ({:.0} blocks/s), whole process (server too) {process:.3} ms CPU/block, wall {wall:.3} ms/block, {trips:.1} round trips/block",
        1e3 / client_cpu
    );
    // Where the client's time goes: the HTTP exchange alone (reqwest, the same two requests), and splitting the
    // batch bodies into raw answers as the client does (serde_json into borrowed RawValues, then owned copies).
    let http = reqwest::Client::new();
    let url = fetcher_url;
    let first = serde_json::json!([{"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockByNumber", "params": [format!("{NUMBER:#x}"), true]}]);
    let second = serde_json::json!([{"jsonrpc": "2.0", "id": 0, "method": "eth_getBlockReceipts", "params": [bundle.header.hash]}]);
    let exchange = || async {
        let a = http.post(&url).json(&first).send().await.unwrap().bytes().await.unwrap();
        let b = http.post(&url).json(&second).send().await.unwrap().bytes().await.unwrap();
        (a, b)
    };
    let (c0, w0) = (thread_cpu(), Instant::now());
    let mut n = 0u32;
    let mut bodies = None;
    rt.block_on(async {
        while n < 20 || w0.elapsed().as_secs_f64() < secs {
            bodies = Some(black_box(exchange().await));
            n += 1;
        }
    });
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    line(
        "  of which the HTTP exchange alone (reqwest, 2 POSTs, bodies read)",
        (per(thread_cpu() - c0), per(w0.elapsed())),
        total,
    );
    let (a, b) = bodies.expect("bodies");
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        result: &'a RawValue,
    }
    line(
        "  of which splitting the batch bodies into owned raw answers",
        measure(secs, || {
            let x: Vec<Envelope<'_>> = serde_json::from_slice(&a).unwrap();
            let y: Vec<Envelope<'_>> = serde_json::from_slice(&b).unwrap();
            (x[0].result.to_owned(), y[0].result.to_owned())
        }),
        total,
    );
    println!("  and decode::bundle as in 2.");

    println!(
        "4. prototype: lazy decoding (typed header and receipts with logs; raw blooms and transactions or inputs)"
    );
    let lazy = measure(secs, || {
        let b: SlimBlock<'_> = serde_json::from_str(&block).unwrap();
        let r: Vec<SlimReceipt<'_>> = serde_json::from_str(&receipts).unwrap();
        (b, r)
    });
    line("serde_json → slim block + slim receipts", lazy, total);
    line(
        "serde_json → slim block with hash/from/to/value/raw input per tx + slim receipts",
        measure(secs, || {
            let b: SlimBlockTyped<'_> = serde_json::from_str(&block).unwrap();
            let r: Vec<SlimReceipt<'_>> = serde_json::from_str(&receipts).unwrap();
            (b, r)
        }),
        total,
    );
    line(
        "the same straight from the two HTTP batch bodies (no split pass)",
        measure(secs, || {
            let x: Vec<Answer<SlimBlockTyped<'_>>> = serde_json::from_slice(&a).unwrap();
            let y: Vec<Answer<Vec<SlimReceipt<'_>>>> = serde_json::from_slice(&b).unwrap();
            (x, y)
        }),
        total,
    );
    // Without transaction bodies (a block asked with `false`: hashes only, when no detector reads transactions).
    let mut hashes_only: serde_json::Value = serde_json::from_str(&block).unwrap();
    let tx_hashes: Vec<serde_json::Value> =
        hashes_only["transactions"].as_array().unwrap().iter().map(|t| t["hash"].clone()).collect();
    hashes_only["transactions"] = serde_json::Value::Array(tx_hashes);
    let hashes_only = hashes_only.to_string();
    line(
        &format!("alloy Block with tx hashes only ({} B, as (n, false) answers) + slim receipts", hashes_only.len()),
        measure(secs, || {
            let b: Block = serde_json::from_str(&hashes_only).unwrap();
            let r: Vec<SlimReceipt<'_>> = serde_json::from_str(&receipts).unwrap();
            (b, r)
        }),
        hashes_only.len() + receipts.len(),
    );
    println!(
        "target: ≤ 0.500 ms CPU/block from files, ≤ 0.400 ms over HTTP; decode::bundle is {:.1}× the IgnoredAny floor",
        full.0
            / measure(1.0, || {
                serde_json::from_str::<IgnoredAny>(&block).unwrap();
                serde_json::from_str::<IgnoredAny>(&receipts).unwrap()
            })
            .0
    );
}
