//! The webhook notifier: an incident's notification as a JSON POST, signed with HMAC-SHA256.
//!
//! The body is the JSON of [`Notification`]; the header `X-Vigil-Signature: sha256=<hex>` carries
//! HMAC-SHA256(secret, body), the way GitHub signs its webhooks, so a receiver verifies the exact bytes it got.
//! A non-2xx answer or a timeout is an error that names the endpoint and the status; the secret never appears.

use std::time::Duration;

use alloy::primitives::B256;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use vigil_core::{Finding, IncidentState, Refusal, Scope, Severity};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Vigil-Signature";
/// The header carrying the delivery id: the same for every attempt at one notification (also after a restart),
/// so that a receiver drops a second copy.
pub const DELIVERY_HEADER: &str = "X-Vigil-Delivery";

/// What is sent.
#[derive(Debug, Clone, Serialize)]
pub struct Notification<'a> {
    /// Delivery id: keccak of the incident id and the action (`notify`, or `escalate` and the severity).
    pub delivery: B256,
    /// The incident.
    pub incident: B256,
    /// Protocol.
    pub protocol: &'a str,
    /// Scope.
    pub scope: Scope,
    /// Highest severity so far.
    pub severity: Severity,
    /// `opened` for an incident's first notification, `escalated` when a finding raised its severity,
    /// `pause-refused` when the incident wants a pause the Guardian would not admit now (see `refusal`).
    pub reason: &'static str,
    /// Why the pause is not possible now (with `pause-refused`); the node tries again at every block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// Where the incident stands.
    pub state: IncidentState,
    /// Its recent findings (repeats left out, counted in `repeats`).
    pub findings: &'a [Finding],
    /// Findings left out as repeats of one already listed, and earlier findings not listed.
    pub repeats: u64,
}

/// A notification that did not reach its endpoint.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Transport failure or timeout.
    #[error("webhook {url}: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The endpoint answered with an error status.
    #[error("webhook {url}: answered {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status.
        status: u16,
    },
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", alloy::hex::encode(mac.finalize().into_bytes()))
}

/// Sends notifications to one endpoint.
#[derive(Clone)]
pub struct WebhookNotifier {
    url: String,
    secret: Vec<u8>,
    client: reqwest::Client,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier").field("url", &self.url).finish_non_exhaustive()
    }
}

impl WebhookNotifier {
    /// A notifier for `url`, signing with `secret`, with a 10-second timeout.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a client with a timeout builds");
        Self { url: url.into(), secret: secret.into(), client }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Posts `notification`; returns the body sent.
    pub async fn send(&self, notification: &Notification<'_>) -> Result<Vec<u8>, NotifyError> {
        let body = serde_json::to_vec(notification).expect("notifications serialize");
        self.send_body(notification.delivery, &body).await?;
        Ok(body)
    }

    /// Posts a serialized notification with its delivery id.
    pub async fn send_body(&self, delivery: B256, body: &[u8]) -> Result<(), NotifyError> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, body))
            .header(DELIVERY_HEADER, delivery.to_string())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| NotifyError::Transport { url: self.url.clone(), reason: e.to_string() })?;
        let status = response.status();
        if !status.is_success() {
            return Err(NotifyError::Status { url: self.url.clone(), status: status.as_u16() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;
    use axum::http::{HeaderMap, StatusCode};

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    /// An HTTP server on 127.0.0.1 (axum) that answers `status` to POSTs on `/hook` and hands back the first
    /// request's headers and body.
    async fn serve_once(status: u16) -> (String, tokio::sync::mpsc::Receiver<(HeaderMap, Vec<u8>)>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let status = StatusCode::from_u16(status).unwrap();
        let hook = move |headers: HeaderMap, body: axum::body::Bytes| async move {
            let _ = tx.send((headers, body.to_vec())).await;
            status
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(hook));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, rx)
    }

    fn note() -> Notification<'static> {
        Notification {
            delivery: B256::repeat_byte(8),
            incident: B256::repeat_byte(7),
            protocol: "venue",
            scope: Scope::segment(Address::repeat_byte(1), 2),
            severity: Severity::Critical,
            reason: "opened",
            refusal: None,
            state: vigil_core::IncidentState::Open,
            findings: &[],
            repeats: 0,
        }
    }

    #[tokio::test]
    async fn a_notification_is_posted_as_json_with_a_verifiable_signature() {
        let (url, mut server) = serve_once(200).await;
        let notifier = WebhookNotifier::new(url, b"s3cret".to_vec());
        let sent = notifier.send(&note()).await.unwrap();
        let (head, body) = server.recv().await.unwrap();
        assert_eq!(body, sent);
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["protocol"], "venue");
        assert_eq!(json["severity"], "critical");
        let header = head["x-vigil-signature"].to_str().unwrap();
        assert_eq!(header, signature(b"s3cret", &body), "the receiver can verify the body");
        assert_ne!(header, signature(b"other", &body));
        assert_eq!(head["x-vigil-delivery"].to_str().unwrap(), B256::repeat_byte(8).to_string());
        assert!(!format!("{notifier:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn an_error_status_is_an_error_naming_the_endpoint() {
        let (url, mut server) = serve_once(503).await;
        let notifier = WebhookNotifier::new(url.clone(), b"k".to_vec());
        let err = notifier.send(&note()).await.unwrap_err().to_string();
        server.recv().await.unwrap();
        assert_eq!(err, format!("webhook {url}: answered 503"));
    }
}
