//! What one oracle node says to another, and the signature that proves who said it.
//!
//! A message travels as the body of an HTTP POST (JSON, [`Message`]) with four headers: the sender's address
//! (`x-vigil-from`), a sequence number (`x-vigil-seq`, increasing per sender), the send time in unix milliseconds
//! (`x-vigil-sent-ms`) and a 65-byte signature (`x-vigil-signature`). The signature is an EIP-191 personal-message
//! signature, by the sender's oracle key, of
//!
//! ```text
//! keccak256(abi.encode(keccak256("vigil-net/1"), chainId, guardian, from, seq, sentMs, keccak256(body)))
//! ```
//!
//! over the exact bytes sent, so nothing is canonicalised. The chain id and Guardian bind a message to one
//! network; EIP-191's prefix means a message signature can never pass for a Guardian report signature
//! (EIP-712), though both are made with the same key.

use alloy::{
    primitives::{keccak256, Address, Bytes, B256, U256},
    signers::{local::PrivateKeySigner, Signature, SignerSync},
    sol_types::SolValue,
};
use serde::{Deserialize, Serialize};
use vigil_core::PauseReport;

/// Header: the sender's address.
pub const FROM: &str = "x-vigil-from";
/// Header: the sender's sequence number.
pub const SEQ: &str = "x-vigil-seq";
/// Header: the send time (unix milliseconds).
pub const SENT_MS: &str = "x-vigil-sent-ms";
/// Header: the signature.
pub const SIGNATURE: &str = "x-vigil-signature";
/// The domain tag of the signed digest.
pub const DOMAIN: &str = "vigil-net/1";

/// A pause report and one node's EIP-712 signature of it, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireShare {
    /// The protected contract.
    pub target: Address,
    /// Its scope.
    pub scope: U256,
    /// The report's incident id.
    pub incident_id: B256,
    /// The report's evidence hash.
    pub evidence_hash: B256,
    /// The block the findings were observed at.
    pub observed_block: U256,
    /// The report's deadline (unix seconds).
    pub deadline: U256,
    /// The oracle-set version.
    pub config_version: U256,
    /// The scope's nonce.
    pub nonce: U256,
    /// The signer's 65-byte signature of the report's EIP-712 digest.
    pub signature: Bytes,
}

impl WireShare {
    /// The share of `report` signed with `signature`.
    pub fn new(report: &PauseReport, signature: Bytes) -> Self {
        Self {
            target: report.target,
            scope: report.scope,
            incident_id: report.incidentId,
            evidence_hash: report.evidenceHash,
            observed_block: report.observedBlock,
            deadline: report.deadline,
            config_version: report.configVersion,
            nonce: report.nonce,
            signature,
        }
    }

    /// The report it signs.
    pub fn report(&self) -> PauseReport {
        PauseReport {
            target: self.target,
            scope: self.scope,
            incidentId: self.incident_id,
            evidenceHash: self.evidence_hash,
            observedBlock: self.observed_block,
            deadline: self.deadline,
            configVersion: self.config_version,
            nonce: self.nonce,
        }
    }
}

/// What nodes tell each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Message {
    /// A share of a pause report: the sender's own, or one it relays.
    Share(Box<WireShare>),
    /// The sender is alive and at this block.
    Heartbeat {
        /// Its latest block.
        block: u64,
    },
}

/// The network a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// The chain.
    pub chain_id: u64,
    /// The Guardian whose oracle set the nodes form.
    pub guardian: Address,
}

/// The signed header fields of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The sender.
    pub from: Address,
    /// Its sequence number.
    pub seq: u64,
    /// When it was sent (unix milliseconds).
    pub sent_ms: u64,
}

impl Network {
    /// The digest a sender signs for `body` under `stamp`.
    pub fn digest(&self, stamp: Stamp, body: &[u8]) -> B256 {
        keccak256(
            (
                keccak256(DOMAIN),
                U256::from(self.chain_id),
                self.guardian,
                stamp.from,
                U256::from(stamp.seq),
                U256::from(stamp.sent_ms),
                keccak256(body),
            )
                .abi_encode(),
        )
    }

    /// Signs `body` under `stamp` with `key` (whose address must be `stamp.from`).
    pub fn sign(&self, key: &PrivateKeySigner, stamp: Stamp, body: &[u8]) -> Result<Bytes, alloy::signers::Error> {
        let signature = key.sign_message_sync(self.digest(stamp, body).as_slice())?;
        Ok(Bytes::from(signature.as_bytes().to_vec()))
    }

    /// Whether `signature` is `stamp.from`'s over `body`.
    pub fn verify(&self, stamp: Stamp, body: &[u8], signature: &[u8]) -> bool {
        Signature::try_from(signature)
            .ok()
            .and_then(|s| s.recover_address_from_msg(self.digest(stamp, body).as_slice()).ok())
            .is_some_and(|a| a == stamp.from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_binds_sender_sequence_time_body_and_network() {
        let key = PrivateKeySigner::from_bytes(&B256::repeat_byte(1)).unwrap();
        let net = Network { chain_id: 31337, guardian: Address::repeat_byte(9) };
        let stamp = Stamp { from: key.address(), seq: 7, sent_ms: 1_000 };
        let body = br#"{"type":"heartbeat","block":5}"#;
        let sig = net.sign(&key, stamp, body).unwrap();
        assert!(net.verify(stamp, body, &sig));
        assert!(!net.verify(Stamp { seq: 8, ..stamp }, body, &sig));
        assert!(!net.verify(Stamp { sent_ms: 1_001, ..stamp }, body, &sig));
        assert!(!net.verify(Stamp { from: Address::repeat_byte(2), ..stamp }, body, &sig));
        assert!(!net.verify(stamp, br#"{"type":"heartbeat","block":6}"#, &sig));
        assert!(!Network { chain_id: 1, ..net }.verify(stamp, body, &sig));
        assert!(!Network { guardian: Address::repeat_byte(8), ..net }.verify(stamp, body, &sig));
        assert!(!net.verify(stamp, body, &sig[..64]));
    }

    #[test]
    fn a_share_survives_the_wire() {
        let report = PauseReport {
            target: Address::repeat_byte(0xaa),
            scope: U256::from(2),
            incidentId: B256::repeat_byte(1),
            evidenceHash: B256::repeat_byte(2),
            observedBlock: U256::from(100),
            deadline: U256::from(1_300),
            configVersion: U256::from(1),
            nonce: U256::from(4),
        };
        let message = Message::Share(Box::new(WireShare::new(&report, Bytes::from(vec![1u8; 65]))));
        let json = serde_json::to_string(&message).unwrap();
        assert!(json.starts_with(r#"{"type":"share","#), "{json}");
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, message);
        let Message::Share(share) = back else { unreachable!() };
        assert_eq!(share.report(), report);
    }
}
