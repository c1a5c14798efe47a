//! Nodes on 127.0.0.1 exchanging signed messages over HTTP: what arrives, what is dropped and why, and what a
//! sender learns of its peers.

use std::{num::NonZeroU32, time::Duration};

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    signers::local::PrivateKeySigner,
};
use tokio::sync::mpsc;
use vigil_core::PauseReport;
use vigil_net::{
    envelope::{FROM, SENT_MS, SEQ, SIGNATURE},
    inbox::{now_ms, PATH},
    Drop, Inbound, Inbox, InboxConfig, Members, Message, Network, Peer, Peers, Stamp, WireShare,
};

const NETWORK: Network = Network { chain_id: 31337, guardian: Address::repeat_byte(0x66) };

fn key(i: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(i)).unwrap()
}

struct Node {
    key: PrivateKeySigner,
    url: String,
    inbox: Inbox,
    rx: mpsc::Receiver<Inbound>,
}

/// Starts an inbox for `key` accepting `members`, on a free port.
async fn node(key: PrivateKeySigner, members: &[Address], tune: impl FnOnce(&mut InboxConfig)) -> Node {
    let mut config = InboxConfig::new(NETWORK, key.address());
    tune(&mut config);
    let (inbox, rx) = Inbox::new(config, Members::new(members.iter().copied()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(inbox.clone().serve(listener));
    Node { key, url, inbox, rx }
}

fn share() -> Message {
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
    Message::Share(Box::new(WireShare::new(&report, Bytes::from(vec![7u8; 65]))))
}

/// Posts `body` with the given headers, as an attacker would.
async fn post(url: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    let mut request = reqwest::Client::new().post(format!("{url}{PATH}")).body(body);
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request.send().await.unwrap().status().as_u16()
}

fn signed_headers(key: &PrivateKeySigner, stamp: Stamp, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        (FROM, stamp.from.to_string()),
        (SEQ, stamp.seq.to_string()),
        (SENT_MS, stamp.sent_ms.to_string()),
        (SIGNATURE, NETWORK.sign(key, stamp, body).unwrap().to_string()),
    ]
}

#[tokio::test]
async fn a_broadcast_reaches_every_member_and_a_down_peer_is_counted() {
    let members: Vec<Address> = (1..=4).map(|i| key(i).address()).collect();
    let mut a = node(key(2), &members, |_| {}).await;
    let mut b = node(key(3), &members, |_| {}).await;
    // Key 4's node is down: nothing listens at its URL.
    let down = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let peers = vec![
        Peer { address: key(1).address(), url: "http://127.0.0.1:1".into() }, // itself: skipped
        Peer { address: a.key.address(), url: a.url.clone() },
        Peer { address: b.key.address(), url: b.url.clone() },
        Peer { address: key(4).address(), url: format!("http://{down}") },
    ];
    let sender = Peers::new(NETWORK, key(1), peers, Duration::from_secs(2));
    assert_eq!(sender.peers().len(), 3, "its own entry is skipped");
    let outcomes = sender.broadcast(&share()).await;
    let ok: Vec<bool> = outcomes.iter().map(|(_, o)| o.is_ok()).collect();
    assert_eq!(ok, [true, true, false]);
    for n in [&mut a, &mut b] {
        let got = n.rx.try_recv().expect("delivered");
        assert_eq!((got.from, got.message), (key(1).address(), share()));
    }
    sender.broadcast(&Message::Heartbeat { block: 101 }).await;
    assert_eq!(a.rx.try_recv().unwrap().message, Message::Heartbeat { block: 101 });
    let health = sender.health();
    assert_eq!(health[&a.key.address()].delivered, 2);
    let dead = &health[&key(4).address()];
    assert_eq!((dead.delivered, dead.failed, dead.consecutive_failures), (0, 2, 2));
    assert!(dead.last_error.is_some());
    assert_eq!(a.inbox.stats().accepted[&key(1).address()], 2);
}

#[tokio::test]
async fn forged_tampered_foreign_replayed_and_stale_messages_are_dropped_before_the_node_sees_them() {
    let members: Vec<Address> = (1..=3).map(|i| key(i).address()).collect();
    let mut n = node(key(1), &members, |_| {}).await;
    let member = key(2);
    let body = serde_json::to_vec(&share()).unwrap();
    let now = now_ms();
    let stamp = Stamp { from: member.address(), seq: 1, sent_ms: now };

    // Genuine: taken.
    assert_eq!(post(&n.url, &signed_headers(&member, stamp, &body), body.clone()).await, 202);
    // Replayed: the same bytes and headers again.
    assert_eq!(post(&n.url, &signed_headers(&member, stamp, &body), body.clone()).await, 409);
    // Tampered: the body changed after signing.
    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 1;
    let headers = signed_headers(&member, Stamp { seq: 2, ..stamp }, &body);
    assert_eq!(post(&n.url, &headers, tampered).await, 401);
    // Forged: signed by an outsider claiming to be the member.
    let headers = signed_headers(&key(9), Stamp { seq: 3, ..stamp }, &body);
    assert_eq!(post(&n.url, &headers, body.clone()).await, 401);
    // An outsider signing as itself: not a member.
    let outsider = Stamp { from: key(9).address(), seq: 1, sent_ms: now };
    assert_eq!(post(&n.url, &signed_headers(&key(9), outsider, &body), body.clone()).await, 403);
    // The node's own address, replayed back at it.
    let own = Stamp { from: key(1).address(), seq: 1, sent_ms: now };
    assert_eq!(post(&n.url, &signed_headers(&key(1), own, &body), body.clone()).await, 403);
    // Another network: signed for another Guardian.
    let other = Network { guardian: Address::repeat_byte(0x67), ..NETWORK };
    let mut headers = signed_headers(&member, Stamp { seq: 4, ..stamp }, &body);
    headers[3].1 = other.sign(&member, Stamp { seq: 4, ..stamp }, &body).unwrap().to_string();
    assert_eq!(post(&n.url, &headers, body.clone()).await, 401);
    // Stale: sent two minutes ago (properly signed).
    let old = Stamp { seq: 5, sent_ms: now - 120_000, ..stamp };
    assert_eq!(post(&n.url, &signed_headers(&member, old, &body), body.clone()).await, 400);
    // Missing headers; a body that is not a message.
    assert_eq!(post(&n.url, &[], body.clone()).await, 400);
    let junk = b"{\"type\":\"launch\"}".to_vec();
    assert_eq!(post(&n.url, &signed_headers(&member, Stamp { seq: 6, ..stamp }, &junk), junk).await, 400);

    // Only the genuine one reached the node.
    assert_eq!(n.rx.try_recv().unwrap().seq, 1);
    assert!(n.rx.try_recv().is_err());
    let stats = n.inbox.stats();
    let dropped = |d: Drop| stats.dropped.get(&d).copied().unwrap_or(0);
    assert_eq!(
        [Drop::Replayed, Drop::BadSignature, Drop::NotAMember, Drop::Stale, Drop::Malformed].map(dropped),
        [1, 3, 2, 1, 2]
    );
}

#[tokio::test]
async fn a_flooding_member_is_limited_without_touching_the_others_and_a_rotated_out_node_is_dropped() {
    let members: Vec<Address> = (1..=3).map(|i| key(i).address()).collect();
    let mut n = node(key(1), &members, |c| {
        c.rate_per_second = NonZeroU32::new(1).unwrap();
        c.burst = NonZeroU32::new(5).unwrap();
    })
    .await;
    let peers = |k: u8| {
        Peers::new(
            NETWORK,
            key(k),
            vec![Peer { address: key(1).address(), url: n.url.clone() }],
            Duration::from_secs(2),
        )
    };
    let flooder = peers(2);
    let mut taken = 0;
    for block in 0..20 {
        if flooder.broadcast(&Message::Heartbeat { block }).await[0].1.is_ok() {
            taken += 1;
        }
    }
    assert_eq!(taken, 5, "the burst, then the rate (1/s) holds the rest");
    assert_eq!(n.inbox.stats().dropped[&Drop::RateLimited], 15);
    // Another member is not affected.
    let other = peers(3);
    assert!(other.broadcast(&Message::Heartbeat { block: 1 }).await[0].1.is_ok());
    // The oracle set changes: key 3 is rotated out and its next message is dropped.
    let members = Members::new(members.iter().copied());
    let (inbox, mut rx) = Inbox::new(InboxConfig::new(NETWORK, key(1).address()), members.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(inbox.clone().serve(listener));
    let sender = Peers::new(NETWORK, key(3), vec![Peer { address: key(1).address(), url }], Duration::from_secs(2));
    assert!(sender.broadcast(&Message::Heartbeat { block: 2 }).await[0].1.is_ok());
    members.replace([key(1).address(), key(2).address(), key(4).address()]);
    let refused = sender.broadcast(&Message::Heartbeat { block: 3 }).await;
    assert!(matches!(refused[0].1, Err(vigil_net::SendError::Refused { status: 403, .. })), "{refused:?}");
    assert_eq!(rx.try_recv().unwrap().message, Message::Heartbeat { block: 2 });
    assert!(rx.try_recv().is_err());
    while n.rx.try_recv().is_ok() {}
}
