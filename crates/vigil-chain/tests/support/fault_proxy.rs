//! [`FaultProxy`]: an HTTP/1.1 JSON-RPC proxy between Vigil and a node that injects faults on demand.
//!
//! It listens on `127.0.0.1` (a port the system picks), reads each request (request line, headers,
//! `Content-Length` body; one request per connection), forwards the POST body to the upstream node with reqwest
//! and answers with the upstream's body, `Content-Length` and `Connection: close`. Faults planned with
//! [`FaultProxy::plan`] replace that, one per request, in the order the requests arrive; [`FaultProxy::set_lag`]
//! makes it play a node that is some blocks behind, and [`FaultProxy::refuse_methods`] one that lacks some
//! methods (answered with geth's "method not found" error per call, also inside batches). Every call received
//! is counted by method ([`FaultProxy::calls`]).
//!
//! The proxy runs its own tokio runtime on a background thread, so it serves sync and async tests alike (even
//! a current-thread test runtime that blocks), and it stops when dropped.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::Duration,
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
};

/// What the proxy does with one request instead of passing it through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: forward as usual (lets a plan reach a later request).
    Pass,
    /// Accept, read the request, close the connection without answering.
    Drop,
    /// Wait this long, then forward.
    Delay(Duration),
    /// `429 Too Many Requests` with `Retry-After: retry_after_secs`.
    TooMany {
        /// The `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// `500 Internal Server Error` with a plain-text body.
    Status500,
    /// `200 OK` with a body that is not JSON.
    Malformed,
    /// `200 OK` with the first half of the upstream's real body (and a `Content-Length` that fits it).
    Truncated,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    faults: Mutex<VecDeque<Fault>>,
    lag: AtomicU64,
    requests: AtomicUsize,
    refused: Mutex<HashSet<String>>,
    calls: Mutex<HashMap<String, usize>>,
}

/// The proxy; see the module docs.
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (an `http://` URL).
    pub fn start(upstream: &str) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            http: reqwest::Client::builder().no_proxy().build().expect("reqwest client"),
            faults: Mutex::new(VecDeque::new()),
            lag: AtomicU64::new(0),
            requests: AtomicUsize::new(0),
            refused: Mutex::new(HashSet::new()),
            calls: Mutex::new(HashMap::new()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy {url}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::pin!(stopped);
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => {
                                    tokio::spawn(serve(serving.clone(), stream));
                                }
                                Err(e) => eprintln!("fault proxy: accept: {e}"),
                            },
                        }
                    }
                });
                // Dropping the runtime cancels the connections still open (a delayed answer, for example).
            })
            .expect("proxy thread");
        Self { url, shared, stop: Some(stop), thread: Some(thread) }
    }

    /// Faults for the next requests, one per request in arrival order (appended to those still planned); once
    /// they are used up, requests pass through.
    pub fn plan(&self, faults: Vec<Fault>) {
        self.shared.faults.lock().expect("fault plan").extend(faults);
    }

    /// Faults planned but not used yet.
    pub fn planned(&self) -> usize {
        self.shared.faults.lock().expect("fault plan").len()
    }

    /// Plays a node `blocks` behind the upstream (0: not lagging). `eth_blockNumber` answers the upstream's head
    /// minus `blocks`; `latest` means that block; a block above it is unknown: `null` for blocks, receipts and
    /// transactions looked up by number, hash or transaction hash, and geth's errors (`header not found`,
    /// `block … not found`) for state reads and traces at it. Works for single requests and inside batches.
    pub fn set_lag(&self, blocks: u64) {
        self.shared.lag.store(blocks, Ordering::SeqCst);
    }

    /// Posts a JSON-RPC body through the proxy and returns the JSON answer (tests of the proxy itself).
    pub async fn post(&self, body: Value) -> Value {
        let request = reqwest::Client::new().post(&self.url).json(&body);
        request.send().await.expect("proxy answers").json::<Value>().await.expect("JSON")
    }

    /// Requests received so far (faulted or not).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Plays a node without `methods` (added to those refused already): each call to one of them, alone or
    /// inside a batch, is answered with geth's `{"code": -32601, "message": "the method X does not
    /// exist/is not available"}` instead of being forwarded. The other calls of a batch go upstream as one
    /// batch, and their answers are merged back in the original order with the original ids (ids must be
    /// unique within a batch). Planned faults still replace whole requests, and a lag applies to the calls
    /// forwarded.
    pub fn refuse_methods(&self, methods: &[&str]) {
        self.shared.refused.lock().expect("refused methods").extend(methods.iter().map(|m| m.to_string()));
    }

    /// Calls of `method` received so far, alone or inside batches, whatever happened to them (faulted,
    /// refused or forwarded).
    pub fn calls(&self, method: &str) -> usize {
        self.shared.calls.lock().expect("call counts").get(method).copied().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An HTTP request as far as the proxy cares.
struct Request {
    method: String,
    body: Vec<u8>,
}

/// An HTTP response.
struct Response {
    status: u16,
    reason: &'static str,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16, reason: &'static str, content_type: &'static str, body: Vec<u8>) -> Self {
        Self { status, reason, content_type, headers: Vec::new(), body }
    }

    fn json(body: Vec<u8>) -> Self {
        Self::new(200, "OK", "application/json", body)
    }

    fn text(status: u16, reason: &'static str, body: &str) -> Self {
        Self::new(status, reason, "text/plain", body.as_bytes().to_vec())
    }
}

async fn serve(shared: Arc<Shared>, mut stream: TcpStream) {
    let request = match read_request(&mut stream).await {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(response) => {
            let _ = write_response(&mut stream, response).await;
            return;
        }
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if request.method != "POST" {
        let _ = write_response(&mut stream, Response::text(405, "Method Not Allowed", "JSON-RPC wants POST")).await;
        return;
    }
    count_calls(&shared, &request.body);
    let fault = shared.faults.lock().expect("fault plan").pop_front().unwrap_or(Fault::Pass);
    let response = match fault {
        Fault::Drop => {
            let _ = stream.shutdown().await;
            return;
        }
        Fault::TooMany { retry_after_secs } => {
            let mut r = Response::text(429, "Too Many Requests", "rate limited");
            r.headers.push(("Retry-After", retry_after_secs.to_string()));
            r
        }
        Fault::Status500 => Response::text(500, "Internal Server Error", "the node fell over"),
        Fault::Malformed => {
            Response::new(200, "OK", "text/html", b"<html><body>502 Bad Gateway</body></html>".to_vec())
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            forward(&shared, &request.body).await
        }
        Fault::Truncated => {
            let mut r = forward(&shared, &request.body).await;
            let half = r.body.len() / 2;
            r.body.truncate(half);
            r
        }
        Fault::Pass => forward(&shared, &request.body).await,
    };
    // The client may have given up already (a delay beyond its timeout): nothing to do about a failed write.
    let _ = write_response(&mut stream, response).await;
}

/// Reads one request; `Ok(None)` if the client closed without sending one, `Err` with the answer to a request
/// the proxy cannot read.
async fn read_request(stream: &mut TcpStream) -> Result<Option<Request>, Response> {
    const MAX_HEAD: usize = 64 * 1024;
    const MAX_BODY: usize = 64 * 1024 * 1024;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(Response::text(431, "Request Header Fields Too Large", "header too large"));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) | Err(_) => return Err(Response::text(400, "Bad Request", "incomplete request head")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let method = lines.next().and_then(|l| l.split_whitespace().next()).unwrap_or_default().to_string();
    let mut content_length = 0usize;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| Response::text(400, "Bad Request", "bad Content-Length"))?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Response::text(411, "Length Required", "only Content-Length bodies are supported"));
        }
    }
    if content_length > MAX_BODY {
        return Err(Response::text(413, "Payload Too Large", "body too large"));
    }
    let mut body = buf.split_off(head_end + 4);
    while body.len() < content_length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(Response::text(400, "Bad Request", "body shorter than Content-Length")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(content_length);
    Ok(Some(Request { method, body }))
}

async fn write_response(stream: &mut TcpStream, r: Response) -> std::io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.reason,
        r.content_type,
        r.body.len()
    );
    for (name, value) in &r.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&r.body);
    stream.write_all(&bytes).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// Counts the calls of a request body by method (a body that is not JSON-RPC counts nothing).
fn count_calls(shared: &Shared, body: &[u8]) {
    let Ok(request) = serde_json::from_slice::<Value>(body) else { return };
    let calls = match &request {
        Value::Array(calls) => calls.iter().collect(),
        call => vec![call],
    };
    let mut counts = shared.calls.lock().expect("call counts");
    for call in calls {
        let method = call.get("method").and_then(Value::as_str).unwrap_or_default();
        *counts.entry(method.to_string()).or_default() += 1;
    }
}

/// The answer to `body` as the node the proxy plays would give it: refused methods answered by the proxy, the
/// rest by the upstream (as a lagging node would if a lag is set); a `502` if the upstream cannot be reached
/// or its answer cannot be merged with the refusals.
async fn forward(shared: &Shared, body: &[u8]) -> Response {
    let result = match split_refused(shared, body) {
        None => forward_upstream(shared, body).await,
        Some(split) => forward_split(shared, split).await,
    };
    match result {
        Ok(body) => Response::json(body),
        Err(e) => Response::text(502, "Bad Gateway", &format!("upstream: {e}")),
    }
}

/// The upstream's answer to `body`, lagging if a lag is set.
async fn forward_upstream(shared: &Shared, body: &[u8]) -> Result<Vec<u8>, String> {
    let lag = shared.lag.load(Ordering::SeqCst);
    if lag == 0 {
        post_raw(shared, body.to_vec()).await
    } else {
        forward_lagging(shared, body, lag).await
    }
}

/// A request with at least one call to a refused method.
struct Split {
    /// The request was a batch (else a single call).
    batch: bool,
    /// Each call with the proxy's answer if it is refused, in request order.
    calls: Vec<(Value, Option<Value>)>,
}

/// The request split into refused calls (answered here) and calls to forward; `None` if no call is refused
/// (or the body is not JSON), so that the body goes upstream untouched.
fn split_refused(shared: &Shared, body: &[u8]) -> Option<Split> {
    let refused = shared.refused.lock().expect("refused methods");
    if refused.is_empty() {
        return None;
    }
    let request = serde_json::from_slice::<Value>(body).ok()?;
    let batch = request.is_array();
    let calls = match request {
        Value::Array(calls) => calls,
        call => vec![call],
    };
    let calls: Vec<(Value, Option<Value>)> = calls
        .into_iter()
        .map(|call| {
            let method = call.get("method").and_then(Value::as_str).unwrap_or_default();
            let refusal = refused.contains(method).then(|| {
                let id = call.get("id").cloned().unwrap_or(Value::Null);
                let message = format!("the method {method} does not exist/is not available");
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": message}})
            });
            (call, refusal)
        })
        .collect();
    calls.iter().any(|(_, refusal)| refusal.is_some()).then_some(Split { batch, calls })
}

/// Answers the refused calls of `split` and forwards the others upstream as one batch, then puts the answers
/// back in request order.
async fn forward_split(shared: &Shared, split: Split) -> Result<Vec<u8>, String> {
    let rest: Vec<Value> = split.calls.iter().filter(|(_, r)| r.is_none()).map(|(c, _)| c.clone()).collect();
    let mut by_id: HashMap<String, Value> = HashMap::new();
    if !rest.is_empty() {
        let body = serde_json::to_vec(&Value::Array(rest)).expect("serialisable");
        let raw = forward_upstream(shared, &body).await?;
        match serde_json::from_slice::<Value>(&raw).map_err(|e| format!("upstream answer: {e}"))? {
            Value::Array(answers) => {
                for answer in answers {
                    let id = answer.get("id").cloned().unwrap_or(Value::Null);
                    if by_id.insert(id.to_string(), answer).is_some() {
                        return Err(format!("upstream answered id {id} twice"));
                    }
                }
            }
            // One error for the whole batch (a rate limit, say) is the node's answer to the whole request.
            _ => return Ok(raw),
        }
    }
    let mut answers = Vec::with_capacity(split.calls.len());
    for (call, refusal) in split.calls {
        let answer = match refusal {
            Some(refusal) => refusal,
            None => {
                let id = call.get("id").cloned().unwrap_or(Value::Null);
                by_id.remove(&id.to_string()).ok_or_else(|| format!("no upstream answer for id {id}"))?
            }
        };
        answers.push(answer);
    }
    let out = if split.batch { Value::Array(answers) } else { answers.pop().expect("one call") };
    Ok(serde_json::to_vec(&out).expect("serialisable"))
}

async fn post_raw(shared: &Shared, body: Vec<u8>) -> Result<Vec<u8>, String> {
    let response = shared
        .http
        .post(&shared.upstream)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    Ok(bytes.to_vec())
}

/// One call to the upstream, for the proxy's own bookkeeping.
async fn upstream_call(shared: &Shared, method: &str, params: Value) -> Result<Value, String> {
    let body = serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .expect("serialisable");
    let answer: Value = serde_json::from_slice(&post_raw(shared, body).await?).map_err(|e| e.to_string())?;
    match answer.get("error") {
        Some(e) => Err(format!("{method}: {e}")),
        None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
    }
}

fn parse_quantity(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => u64::from_str_radix(s.strip_prefix("0x")?, 16).ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn quantity(n: u64) -> Value {
    Value::String(format!("{n:#x}"))
}

/// A block parameter: a number, a tag that means the head, a hash, or something left alone.
enum BlockArg {
    Number(u64),
    Head,
    Hash(String),
    Other,
}

fn block_arg(v: &Value) -> BlockArg {
    match v {
        Value::String(s) if matches!(s.as_str(), "latest" | "pending" | "safe" | "finalized") => BlockArg::Head,
        Value::String(s) if s.len() == 66 && s.starts_with("0x") => BlockArg::Hash(s.clone()),
        Value::Object(o) => match (o.get("blockHash"), o.get("blockNumber")) {
            (Some(Value::String(h)), _) => BlockArg::Hash(h.clone()),
            (_, Some(n)) => block_arg(n),
            _ => BlockArg::Other,
        },
        other => parse_quantity(other).map_or(BlockArg::Other, BlockArg::Number),
    }
}

/// What a lagging node (geth's answers) does with a call about a block it lacks.
#[derive(Clone, Copy)]
enum Unknown {
    /// Answers `null` (blocks, receipts).
    Null,
    /// Fails like a state read at an unknown block: `header not found`, `header for hash not found`.
    State,
    /// Fails like a trace of an unknown block: `block … not found`.
    Trace,
}

impl Unknown {
    /// The answer to call `id` about `block` (a number or a hash) that the node lacks.
    fn answer(self, id: Value, block: &Value, by_hash: bool) -> Value {
        let message = match (self, by_hash) {
            (Unknown::Null, _) => return json!({"jsonrpc": "2.0", "id": id, "result": null}),
            (Unknown::State, false) => "header not found".to_string(),
            (Unknown::State, true) => "header for hash not found".to_string(),
            (Unknown::Trace, _) => format!("block {} not found", block.as_str().unwrap_or_default()),
        };
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}})
    }
}

/// For a call, the index of its block parameter and what the node answers when it lacks that block.
fn block_param(method: &str, params: &[Value]) -> Option<(usize, Unknown)> {
    let last = params.len().checked_sub(1)?;
    Some(match method {
        "eth_getBlockByNumber"
        | "eth_getBlockByHash"
        | "eth_getBlockReceipts"
        | "eth_getBlockTransactionCountByNumber"
        | "eth_getBlockTransactionCountByHash"
        | "eth_getUncleCountByBlockNumber"
        | "eth_getUncleCountByBlockHash"
        | "eth_getTransactionByBlockNumberAndIndex"
        | "eth_getTransactionByBlockHashAndIndex" => (0, Unknown::Null),
        "debug_traceBlockByHash" | "debug_traceBlockByNumber" | "trace_block" | "trace_replayBlockTransactions" => {
            (0, Unknown::Trace)
        }
        "eth_call" | "eth_estimateGas" | "eth_createAccessList" if last >= 1 => (1, Unknown::State),
        "eth_getBalance" | "eth_getCode" | "eth_getTransactionCount" | "eth_getStorageAt" | "eth_getProof" => {
            (last, Unknown::State)
        }
        _ => return None,
    })
}

/// Methods whose answer names the block it comes from (`blockNumber`): `null` when that block is above the lag.
fn is_lookup_by_transaction(method: &str) -> bool {
    matches!(method, "eth_getTransactionReceipt" | "eth_getTransactionByHash")
}

/// Answers `body` as a node `lag` blocks behind the upstream would.
async fn forward_lagging(shared: &Shared, body: &[u8], lag: u64) -> Result<Vec<u8>, String> {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return post_raw(shared, body.to_vec()).await;
    };
    let single = !request.is_array();
    let calls: Vec<Value> = match request {
        Value::Array(calls) => calls,
        call => vec![call],
    };
    let head = upstream_call(shared, "eth_blockNumber", json!([])).await?;
    let visible = parse_quantity(&head).ok_or("eth_blockNumber: not a quantity")?.saturating_sub(lag);

    let mut answers: Vec<Value> = Vec::new();
    let mut forwarded: Vec<Value> = Vec::new();
    for mut call in calls {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        let method = call.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
        if method == "eth_blockNumber" {
            answers.push(json!({"jsonrpc": "2.0", "id": id, "result": quantity(visible)}));
            continue;
        }
        let params = call.get("params").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some((index, unknown)) = block_param(&method, &params) {
            let (number, by_hash) = match block_arg(&params[index]) {
                BlockArg::Number(n) => (Some(n), false),
                BlockArg::Head => {
                    // `latest` is the lagging node's head.
                    call["params"][index] = quantity(visible);
                    (None, false)
                }
                BlockArg::Hash(hash) => {
                    let header = upstream_call(shared, "eth_getBlockByHash", json!([hash, false])).await?;
                    (header.get("number").and_then(parse_quantity), true)
                }
                BlockArg::Other => (None, false),
            };
            if number.is_some_and(|n| n > visible) {
                answers.push(unknown.answer(id, &params[index], by_hash));
                continue;
            }
        }
        forwarded.push(call);
    }

    if !forwarded.is_empty() {
        let methods: Vec<(Value, String)> = forwarded
            .iter()
            .map(|c| {
                let method = c.get("method").and_then(Value::as_str).unwrap_or_default();
                (c.get("id").cloned().unwrap_or(Value::Null), method.to_string())
            })
            .collect();
        let out = if single { forwarded.pop().expect("one call") } else { Value::Array(forwarded) };
        let raw = post_raw(shared, serde_json::to_vec(&out).expect("serialisable")).await?;
        let upstream: Value = serde_json::from_slice(&raw).map_err(|e| format!("upstream answer: {e}"))?;
        let upstream = match upstream {
            Value::Array(v) => v,
            one => vec![one],
        };
        for mut answer in upstream {
            let id = answer.get("id").cloned().unwrap_or(Value::Null);
            let by_transaction = methods.iter().any(|(i, m)| *i == id && is_lookup_by_transaction(m));
            let above = answer
                .get("result")
                .and_then(|r| r.get("blockNumber"))
                .and_then(parse_quantity)
                .is_some_and(|n| n > visible);
            if by_transaction && above {
                answer["result"] = Value::Null;
            }
            answers.push(answer);
        }
    }
    let out = if single && answers.len() == 1 { answers.pop().expect("one answer") } else { Value::Array(answers) };
    Ok(serde_json::to_vec(&out).expect("serialisable"))
}
