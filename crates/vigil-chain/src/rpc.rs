//! A JSON-RPC client over several HTTP endpoints of one chain: batches, timeouts, retries with exponential
//! backoff and jitter, `429 Too Many Requests` with `Retry-After`, failover to the next healthy endpoint, and
//! per-endpoint health and metrics.
//!
//! Why not alloy's transport layers: alloy's retry layer retries one endpoint and its fallback layer fans a
//! request out to several; Vigil needs one request at a time to the healthiest endpoint, a caller-supplied check
//! that moves on when an endpoint answers but is behind (a lagging node returns `null` for a block it has not
//! seen), and each fault counted by endpoint and kind. Responses stay raw JSON ([`RawValue`]) so that the caller
//! decodes only what it reads.
//!
//! A JSON-RPC error inside a response (a revert, an unknown method) is an answer, not a fault: it goes back to
//! the caller per call. Faults of the transport (connection dropped, timeout, HTTP error status, malformed or
//! truncated JSON, missing ids) put the endpoint in a cool-down and the request moves to the next endpoint.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rand::Rng;
use serde::Deserialize;
use serde_json::{value::RawValue, Value};

use crate::metrics::SourceMetrics;

/// How requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request across all endpoints before giving up.
    pub max_attempts: u32,
    /// First backoff; doubles with each consecutive failure of an endpoint.
    pub base_backoff: Duration,
    /// Longest backoff (also the cap on a `Retry-After`).
    pub max_backoff: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A JSON-RPC error object returned for one call.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct JsonRpcError {
    /// Error code (`-32601` method not found, `3` or `-32000` execution reverted …).
    pub code: i64,
    /// Message.
    pub message: String,
    /// Extra data (revert data for `eth_call`).
    #[serde(default)]
    pub data: Option<Value>,
}

impl JsonRpcError {
    /// The node does not offer this method (or not with these parameters). Errors about a block or state the
    /// node does not have ("header not found") are not this: they mean "not yet", and are retried.
    pub fn is_unsupported(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        self.code == -32601
            || self.code == -32602
            || (m.contains("method")
                && (m.contains("not found")
                    || m.contains("does not exist")
                    || m.contains("not supported")
                    || m.contains("not available")
                    || m.contains("unsupported")))
    }
}

impl std::fmt::Display for JsonRpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code {}: {}", self.code, self.message)
    }
}

/// One call of a batch.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method.
    pub method: &'static str,
    /// Parameters.
    pub params: Value,
}

impl Call {
    /// A call.
    pub fn new(method: &'static str, params: Value) -> Self {
        Self { method, params }
    }
}

/// The answer to one call.
pub type Answer = Result<Box<RawValue>, JsonRpcError>;

/// Faults of one attempt on one endpoint; bounded, for metrics labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Could not connect, or the connection dropped.
    Connect,
    /// No complete answer within the timeout.
    Timeout,
    /// `429 Too Many Requests`.
    RateLimited,
    /// Another HTTP error status.
    Status,
    /// The body is not the JSON-RPC answer asked for (malformed, truncated, ids missing).
    Malformed,
    /// The endpoint answered but is behind or inconsistent (the caller's check failed).
    Lagging,
}

impl Fault {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Connect => "connect",
            Fault::Timeout => "timeout",
            Fault::RateLimited => "rate_limited",
            Fault::Status => "http_status",
            Fault::Malformed => "malformed",
            Fault::Lagging => "lagging",
        }
    }
}

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Every attempt failed.
    #[error("{method}: no endpoint answered after {attempts} attempts; last: {last}")]
    Exhausted {
        /// First method of the request.
        method: String,
        /// Attempts made.
        attempts: u32,
        /// The last fault.
        last: String,
    },
    /// A call's answer was a JSON-RPC error.
    #[error("{method}: {error}")]
    Call {
        /// Method.
        method: String,
        /// The error.
        error: Box<JsonRpcError>,
    },
    /// A call's answer does not decode into the expected type.
    #[error("{method}: unexpected answer: {reason}")]
    Decode {
        /// Method.
        method: String,
        /// Why.
        reason: String,
    },
    /// The configuration is unusable.
    #[error("rpc: {0}")]
    Config(String),
}

/// Health of one endpoint, as [`RpcClient::health`] reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EndpointHealth {
    /// The endpoint's URL (without credentials).
    pub url: String,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Whether it is cooling down after a failure.
    pub cooling_down: bool,
    /// The last fault seen.
    pub last_fault: Option<String>,
    /// Requests sent.
    pub requests: u64,
    /// Failed attempts.
    pub failures: u64,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    cooldown_until: Option<Instant>,
    last_fault: Option<String>,
    requests: u64,
    failures: u64,
}

struct Endpoint {
    url: String,
    label: String,
    state: Mutex<State>,
}

/// The client.
#[derive(Clone)]
pub struct RpcClient {
    http: reqwest::Client,
    endpoints: Arc<Vec<Endpoint>>,
    policy: RetryPolicy,
    metrics: SourceMetrics,
}

/// What one attempt on one endpoint gave.
enum Attempt {
    Ok(Vec<Answer>),
    Fault(Fault, String, Option<Duration>),
}

impl RpcClient {
    /// A client over `urls` (tried in order of health, then of the list).
    pub fn new(urls: &[String], policy: RetryPolicy, metrics: SourceMetrics) -> Result<Self, RpcError> {
        if urls.is_empty() {
            return Err(RpcError::Config("no endpoint given".into()));
        }
        let http = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| RpcError::Config(e.to_string()))?;
        let endpoints = urls
            .iter()
            .map(|u| Endpoint { url: u.clone(), label: redact(u), state: Mutex::new(State::default()) })
            .collect();
        Ok(Self { http, endpoints: Arc::new(endpoints), policy, metrics })
    }

    /// The metrics this client updates.
    pub fn metrics(&self) -> &SourceMetrics {
        &self.metrics
    }

    /// Health of every endpoint.
    pub fn health(&self) -> Vec<EndpointHealth> {
        let now = Instant::now();
        self.endpoints
            .iter()
            .map(|e| {
                let s = e.state.lock().expect("endpoint state");
                EndpointHealth {
                    url: e.label.clone(),
                    consecutive_failures: s.consecutive_failures,
                    cooling_down: s.cooldown_until.is_some_and(|t| t > now),
                    last_fault: s.last_fault.clone(),
                    requests: s.requests,
                    failures: s.failures,
                }
            })
            .collect()
    }

    /// One call, decoded into `T`. A JSON-RPC error is returned as [`RpcError::Call`].
    pub async fn request<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Result<T, RpcError> {
        let answer = self.batch(&[Call::new(method, params)], |_| Ok(())).await?.remove(0);
        decode(method, answer)
    }

    /// One call to each endpoint separately (no failover): `eth_blockNumber` per endpoint, for `vigil status`.
    pub async fn request_each<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        params: Value,
    ) -> Vec<(String, Result<T, RpcError>, Duration)> {
        self.batch_each(&[Call::new(method, params)])
            .await
            .into_iter()
            .map(|(label, r, t)| (label, r.and_then(|mut a| decode(method, a.remove(0))), t))
            .collect()
    }

    /// The same batch to each endpoint separately (no failover), with each endpoint's answers or fault and its
    /// round-trip time. Faults are counted and logged like those of [`RpcClient::batch`], without a cool-down.
    pub async fn batch_each(&self, calls: &[Call]) -> Vec<(String, Result<Vec<Answer>, RpcError>, Duration)> {
        let method = calls.first().map(|c| c.method).unwrap_or("(empty batch)");
        let mut out = Vec::new();
        for e in self.endpoints.iter() {
            let start = Instant::now();
            let result = match self.attempt(e, calls).await {
                Attempt::Ok(answers) => Ok(answers),
                Attempt::Fault(fault, reason, _) => {
                    self.metrics.fault(&e.label, fault);
                    {
                        let mut s = e.state.lock().expect("endpoint state");
                        s.failures += 1;
                        s.last_fault = Some(format!("{}: {reason}", fault.as_str()));
                    }
                    tracing::warn!(event = "RpcRequestFailed", endpoint = %e.label, method, fault = fault.as_str(), "{reason}");
                    Err(RpcError::Exhausted {
                        method: method.into(),
                        attempts: 1,
                        last: format!("{} {}: {reason}", e.label, fault.as_str()),
                    })
                }
            };
            out.push((e.label.clone(), result, start.elapsed()));
        }
        out
    }

    /// Sends `calls` as one JSON-RPC batch to the healthiest endpoint and returns the answers in order. `check`
    /// looks at the answers: if it returns an error (for example, a block the endpoint does not have yet), the
    /// endpoint is counted as lagging and the batch goes to the next endpoint. Transport faults go to the next
    /// endpoint after a backoff; after [`RetryPolicy::max_attempts`] the request fails.
    pub async fn batch(
        &self,
        calls: &[Call],
        check: impl Fn(&[Answer]) -> Result<(), String>,
    ) -> Result<Vec<Answer>, RpcError> {
        if calls.is_empty() {
            // Nodes reject `[]`; nothing asked, nothing to answer.
            return Ok(Vec::new());
        }
        let method = calls[0].method;
        let mut last = String::new();
        for attempt in 0..self.policy.max_attempts {
            let index = self.pick(attempt).await;
            let endpoint = &self.endpoints[index];
            let (fault, reason, retry_after) = match self.attempt(endpoint, calls).await {
                Attempt::Ok(answers) => match check(&answers) {
                    Ok(()) => {
                        let mut s = endpoint.state.lock().expect("endpoint state");
                        s.consecutive_failures = 0;
                        s.cooldown_until = None;
                        self.metrics.consecutive_failures(&endpoint.label, 0);
                        return Ok(answers);
                    }
                    Err(reason) => (Fault::Lagging, reason, None),
                },
                Attempt::Fault(fault, reason, retry_after) => (fault, reason, retry_after),
            };
            self.metrics.fault(&endpoint.label, fault);
            let backoff = {
                let mut s = endpoint.state.lock().expect("endpoint state");
                s.consecutive_failures += 1;
                s.failures += 1;
                s.last_fault = Some(format!("{}: {reason}", fault.as_str()));
                let backoff =
                    retry_after.unwrap_or_else(|| self.backoff(s.consecutive_failures)).min(self.policy.max_backoff);
                s.cooldown_until = Some(Instant::now() + backoff);
                self.metrics.consecutive_failures(&endpoint.label, s.consecutive_failures);
                backoff
            };
            tracing::warn!(
                event = "RpcRequestFailed",
                endpoint = %endpoint.label,
                method,
                fault = fault.as_str(),
                attempt = attempt + 1,
                backoff_ms = backoff.as_millis() as u64,
                "{reason}"
            );
            last = format!("{} {}: {reason}", endpoint.label, fault.as_str());
        }
        Err(RpcError::Exhausted { method: method.into(), attempts: self.policy.max_attempts, last })
    }

    /// The endpoint to try next: the first one not cooling down, preferring fewer consecutive failures; if all
    /// are cooling down, waits for the first to come back. Successive attempts of one request rotate.
    async fn pick(&self, attempt: u32) -> usize {
        loop {
            let now = Instant::now();
            let n = self.endpoints.len();
            let mut best: Option<(u32, usize)> = None;
            let mut soonest: Option<Instant> = None;
            for k in 0..n {
                let i = (k + attempt as usize) % n;
                let s = self.endpoints[i].state.lock().expect("endpoint state");
                match s.cooldown_until {
                    Some(t) if t > now => soonest = Some(soonest.map_or(t, |x: Instant| x.min(t))),
                    _ => {
                        if best.is_none_or(|(f, _)| s.consecutive_failures < f) {
                            best = Some((s.consecutive_failures, i));
                        }
                    }
                }
            }
            if let Some((_, i)) = best {
                return i;
            }
            let wait = soonest.map(|t| t.saturating_duration_since(now)).unwrap_or(self.policy.base_backoff);
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exp = self.policy.base_backoff.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let capped = exp.min(self.policy.max_backoff);
        // Full jitter between half and all of the backoff, so that nodes restarting together spread out.
        let ms = capped.as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
    }

    async fn attempt(&self, endpoint: &Endpoint, calls: &[Call]) -> Attempt {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, c)| serde_json::json!({"jsonrpc": "2.0", "id": id, "method": c.method, "params": c.params}))
            .collect();
        {
            let mut s = endpoint.state.lock().expect("endpoint state");
            s.requests += 1;
        }
        let method = calls.first().map(|c| c.method).unwrap_or("");
        self.metrics.request(&endpoint.label, method);
        let start = Instant::now();
        let response = self.http.post(&endpoint.url).json(&body).send().await;
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let fault = if e.is_timeout() { Fault::Timeout } else { Fault::Connect };
                return Attempt::Fault(fault, error_chain(&e), None);
            }
        };
        let status = response.status();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Attempt::Fault(Fault::RateLimited, format!("HTTP 429, Retry-After {retry_after:?}"), retry_after);
        }
        if !status.is_success() {
            return Attempt::Fault(Fault::Status, format!("HTTP {status}"), None);
        }
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                let fault = if e.is_timeout() { Fault::Timeout } else { Fault::Connect };
                return Attempt::Fault(fault, format!("reading the body: {}", error_chain(&e)), None);
            }
        };
        self.metrics.latency(&endpoint.label, start.elapsed());
        match parse_batch(&bytes, calls.len()) {
            Ok(answers) => Attempt::Ok(answers),
            Err(reason) => Attempt::Fault(Fault::Malformed, reason, None),
        }
    }
}

/// Decodes one answer.
pub fn decode<T: serde::de::DeserializeOwned>(method: &str, answer: Answer) -> Result<T, RpcError> {
    let raw = answer.map_err(|error| RpcError::Call { method: method.into(), error: Box::new(error) })?;
    serde_json::from_str(raw.get()).map_err(|e| RpcError::Decode { method: method.into(), reason: e.to_string() })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    id: Option<u64>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<JsonRpcError>,
}

/// Splits a batch response into answers by id; any missing or unparsable entry makes the whole response
/// malformed.
fn parse_batch(bytes: &[u8], expected: usize) -> Result<Vec<Answer>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let entries: Vec<Envelope<'_>> = match serde_json::from_str::<Vec<Envelope<'_>>>(text) {
        Ok(v) => v,
        Err(_) => match serde_json::from_str::<Envelope<'_>>(text) {
            // A single error object for the whole batch (some nodes answer a rate limit this way).
            Ok(single) if single.error.is_some() && single.id.is_none() => {
                return Err(format!("error for the whole batch: {}", single.error.expect("checked")))
            }
            _ => {
                let snippet: String = text.chars().take(80).collect();
                return Err(format!("{} bytes of malformed or truncated JSON: {snippet:?}", bytes.len()));
            }
        },
    };
    let mut answers: Vec<Option<Answer>> = (0..expected).map(|_| None).collect();
    for e in entries {
        let Some(id) = e.id.map(|i| i as usize).filter(|&i| i < expected) else {
            return Err(format!("answer with an unknown id {:?}", e.id));
        };
        answers[id] = Some(match (e.result, e.error) {
            (_, Some(err)) => Err(err),
            (Some(r), None) => Ok(r.to_owned()),
            (None, None) => Ok(RawValue::from_string("null".into()).expect("null is JSON")),
        });
    }
    answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| a.ok_or_else(|| format!("no answer for call {i} of {expected}")))
        .collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// The URL without user info or query (API keys live there).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            let mut s = u.to_string();
            if s.ends_with('/') && !url.ends_with('/') {
                s.pop();
            }
            s
        }
        Err(_) => "(unparsable url)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_reordered_by_id_and_errors_stay_per_call() {
        let body = br#"[{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"the method eth_getBlockReceipts does not exist"}},{"jsonrpc":"2.0","id":0,"result":"0x10"}]"#;
        let answers = parse_batch(body, 2).unwrap();
        assert_eq!(answers[0].as_ref().unwrap().get(), "\"0x10\"");
        assert!(answers[1].as_ref().unwrap_err().is_unsupported());
    }

    #[test]
    fn truncated_or_incomplete_batches_are_malformed() {
        let err =
            parse_batch(br#"[{"jsonrpc":"2.0","id":0,"result":"0x1"},{"jsonrpc":"2.0","id":1,"res"#, 2).unwrap_err();
        assert!(err.contains("malformed or truncated"), "{err}");
        let err = parse_batch(br#"[{"jsonrpc":"2.0","id":0,"result":"0x1"}]"#, 2).unwrap_err();
        assert_eq!(err, "no answer for call 1 of 2");
        let err =
            parse_batch(br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"limit"}}"#, 2).unwrap_err();
        assert!(err.contains("whole batch"), "{err}");
    }

    #[test]
    fn credentials_do_not_reach_labels() {
        assert_eq!(redact("https://user:secret@rpc.example/v2?key=abc"), "https://rpc.example/v2");
        assert_eq!(redact("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
    }
}
