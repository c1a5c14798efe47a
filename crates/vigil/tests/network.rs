//! The oracle network on anvil: several `vigil run` processes, each with one key of the Guardian's 3-of-5 oracle
//! set, its own store and its own inbox on 127.0.0.1, signing shares of the pauses they decide and sending them
//! to each other (`[network]`, docs/oracle-network.md). A Byzantine member is played by this test with that
//! member's real key and the real transport (`vigil_net::Peers`): it is arbitrary software, not a `vigil run`.
//!
//! - four honest nodes and a lying member: the liar's pause of a scope under no attack never reaches the
//!   threshold (each honest node counts it and tells it once); forged, duplicated, expired, wrong-version and
//!   replayed messages are refused before they are counted; the real attack is paused with exactly one
//!   `pauseWithQuorum` landing and at most one sent per node; `vigil status` shows the peers;
//! - five nodes, two killed with SIGKILL between the attack's two pumps: the other three still pause it;
//! - five nodes, three killed: no pause, and the survivors alert "quorum unreachable";
//! - one node silent (SIGSTOP) and one partitioned by proxies that cut its traffic both ways: the other three
//!   pause within two blocks of the pump, as a single node does (the block after the pump) plus one;
//! - one node reading an RPC that reports the head 4 blocks behind: the others pause as fast, and the lagging node
//!   sends nothing when it reaches the attack;
//! - governance replaces a member: the share it had in flight is voided, its messages are refused (403), and the
//!   others pause under the new version.
//!
//! Time budget: about 60 s for the binary on two cores (three anvils, thirteen nodes).

use std::time::Duration;

use alloy::{
    primitives::{Address, Bytes, B256, U256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use vigil_contracts::Guardian;
use vigil_core::{guardian_domain, sign_report, PauseReport};
use vigil_net::{Message, Network, Peer, Peers, WireShare};
use vigil_sim::{attacks::Attack, evm::CHAIN_ID, Backend, Reader};

mod support;

use support::{network::*, *};

/// A TCP proxy on 127.0.0.1 in front of `upstream` that can be shut: then every connection through it, open or
/// new, is cut (a network partition of what goes through it).
struct Gate {
    url: String,
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    fn new(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (open, watch) = tokio::sync::watch::channel(true);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let mut watch = watch.clone();
                    if !*watch.borrow() {
                        continue;
                    }
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = watch.wait_for(|open| !open) => {}
                        }
                    });
                }
            })
        });
        Self { url, open }
    }

    fn shut(&self) {
        self.open.send_replace(false);
    }
}

/// A JSON-RPC endpoint on 127.0.0.1 in front of anvil that reports the head `lag` blocks behind (`eth_blockNumber`;
/// single and batched calls) and passes everything else through: a node reading it sees each block `lag` blocks
/// late.
fn lagging_rpc(anvil: &str, lag: u64) -> String {
    use axum::{body::Bytes as Body, routing::post, Router};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let anvil = anvil.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let http = reqwest::Client::new();
            let app = Router::new().route(
                "/",
                post(move |body: Body| {
                    let (http, anvil) = (http.clone(), anvil.clone());
                    async move {
                        let answer = http
                            .post(&anvil)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap();
                        let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let mut answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                        let lagged = |req: &serde_json::Value, ans: &mut serde_json::Value| {
                            if req["method"] == "eth_blockNumber" {
                                let head =
                                    u64::from_str_radix(ans["result"].as_str().unwrap().trim_start_matches("0x"), 16)
                                        .unwrap();
                                ans["result"] = format!("{:#x}", head.saturating_sub(lag)).into();
                            }
                        };
                        match (&request, &mut answer) {
                            (serde_json::Value::Array(reqs), serde_json::Value::Array(answers)) => {
                                for a in answers.iter_mut() {
                                    if let Some(r) = reqs.iter().find(|r| r["id"] == a["id"]) {
                                        lagged(r, a);
                                    }
                                }
                            }
                            (r, a) => lagged(r, a),
                        }
                        ([("content-type", "application/json")], answer.to_string())
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap()
        })
    });
    url
}

/// The spot-pump attack's pumps, then waits for the pause: its borrow must fail, exactly one `Paused` must
/// have landed, within two blocks of the last pump (a single node's lands in the block after it, tests/live.rs).
fn attack_is_paused_once(chain: &mut Chain, what: &str) {
    attack_is_paused_once_with(chain, what, &mut || {})
}

/// [`attack_is_paused_once`] with `mid` run after the first of the attack's two pumps (before Vigil can decide:
/// its price detector fires on the second).
fn attack_is_paused_once_with(chain: &mut Chain, what: &str, mid: &mut dyn FnMut()) {
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (target, scope) = attack.target(&chain.venue);
    let borrow = pump_with(chain, &plan, mid);
    let pumped = chain.head();
    wait_until(what, Duration::from_secs(60), || chain.is_paused(target, scope));
    borrow_fails(chain, &borrow);
    let events = paused_events(chain);
    assert_eq!(events.len(), 1, "exactly one pause lands: {events:?}");
    assert!(events[0] <= pumped + 2, "the pause landed at #{}, the pump at #{pumped}", events[0]);
}

/// The blocks of the `Paused` events the Guardian emitted.
fn paused_events(chain: &Chain) -> Vec<u64> {
    let filter =
        Filter::new().from_block(0).address(chain.venue.guardian).event_signature(Guardian::Paused::SIGNATURE_HASH);
    let logs = chain.node.block_on(chain.node.provider().get_logs(&filter)).unwrap();
    logs.iter().map(|l| l.block_number.unwrap()).collect()
}

/// A report on `scope` of `target` at the Guardian's current version and nonce.
fn report_now(chain: &mut Chain, target: Address, scope: u64, deadline: u64) -> PauseReport {
    let s = chain.node.read(chain.venue.guardian, Guardian::snapshotCall {}).unwrap();
    let nonce = s.scopes.iter().find(|v| v.target == target && v.scope == U256::from(scope)).map(|v| v.nonce);
    PauseReport {
        target,
        scope: U256::from(scope),
        incidentId: B256::repeat_byte(0x11),
        evidenceHash: B256::repeat_byte(0x22),
        observedBlock: U256::from(chain.head()),
        deadline: U256::from(deadline),
        configVersion: s.configVersion,
        nonce: nonce.unwrap_or_default(),
    }
}

fn sign(chain: &Chain, report: &PauseReport, key: &PrivateKeySigner) -> Bytes {
    sign_report(report, &guardian_domain(CHAIN_ID, chain.venue.guardian), &[key]).unwrap().remove(0)
}

fn share(report: &PauseReport, signature: Bytes) -> Message {
    Message::Share(Box::new(WireShare::new(report, signature)))
}

/// Counts of `event` in each node's log.
fn counts(nodes: &[Node], event: &str) -> Vec<usize> {
    nodes.iter().map(|n| n.log().matches(&format!("event=\"{event}\"")).count()).collect()
}

fn wait_for_metric(node: &Node, line: &str, at_least: f64) {
    wait_until(&format!("{line} ≥ {at_least}"), Duration::from_secs(30), || {
        metric(&node.metrics(), line).unwrap_or(0.0) >= at_least
    });
}

#[test]
fn four_honest_nodes_pause_the_attack_once_and_a_lying_member_never_reaches_the_threshold() {
    let mut chain = start_chain();
    let (nodes, urls) = start_network(&mut chain, "liar", &[0, 1, 2, 3], "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let liar = chain.actors.oracles[4].clone();
    let network = Network { chain_id: CHAIN_ID, guardian: chain.venue.guardian };
    let honest: Vec<Peer> =
        (0..4).map(|i| Peer { address: chain.actors.oracles[i].address(), url: urls[i].clone() }).collect();
    let to_all = Peers::new(network, liar.clone(), honest.clone(), Duration::from_secs(2));

    // The lie: a pause of the legacy market, which nobody attacks.
    let deadline = chain.now() + 300;
    let legacy = chain.venue.legacy_market;
    let lie = report_now(&mut chain, legacy, 0, deadline);
    for (_, outcome) in runtime.block_on(to_all.broadcast(&share(&lie, sign(&chain, &lie, &liar)))) {
        outcome.expect("every honest inbox takes a member's message");
    }
    // Told once the join window (3 blocks) has passed without the node's own detectors flagging the scope.
    wait_for_metric(&nodes[0], "vigil_network_shares_total{result=\"counted\"}", 1.0);
    assert_eq!(metric(&nodes[0].metrics(), "vigil_network_reports_unconfirmed_total"), Some(0.0));
    chain.node.advance(4, 12).unwrap();
    for n in &nodes {
        wait_for_metric(n, "vigil_network_reports_unconfirmed_total", 1.0);
    }

    // Shares that must not count, each sent to node 0 by the liar (a member: the envelope is valid).
    let to_zero = Peers::new(network, liar.clone(), honest[..1].to_vec(), Duration::from_secs(2));
    let send = |m: &Message| runtime.block_on(to_zero.broadcast(m)).remove(0).1;
    let outsider = PrivateKeySigner::random();
    send(&share(&lie, sign(&chain, &lie, &outsider))).unwrap();
    send(&share(&lie, sign(&chain, &lie, &liar))).unwrap();
    let expired = PauseReport { deadline: U256::from(chain.now() - 1), ..lie.clone() };
    send(&share(&expired, sign(&chain, &expired, &liar))).unwrap();
    let other_version = PauseReport { configVersion: lie.configVersion + U256::from(1), ..lie.clone() };
    send(&share(&other_version, sign(&chain, &other_version, &liar))).unwrap();
    let zero = &nodes[0];
    for (result, n) in [("not-a-signer", 1.0), ("duplicate", 1.0), ("expired", 1.0), ("wrong-version", 1.0)] {
        wait_for_metric(zero, &format!("vigil_network_shares_total{{result=\"{result}\"}}"), n);
    }
    // A message captured and sent again, and one signed by a key outside the set.
    let body = serde_json::to_vec(&Message::Heartbeat { block: 1 }).unwrap();
    let stamp = vigil_net::Stamp { from: liar.address(), seq: u64::MAX / 2, sent_ms: vigil_net::inbox::now_ms() };
    let post = |stamp: vigil_net::Stamp, key: &PrivateKeySigner| {
        let signature = network.sign(key, stamp, &body).unwrap();
        runtime.block_on(async {
            reqwest::Client::new()
                .post(format!("{}{}", urls[0], vigil_net::inbox::PATH))
                .header(vigil_net::envelope::FROM, stamp.from.to_string())
                .header(vigil_net::envelope::SEQ, stamp.seq.to_string())
                .header(vigil_net::envelope::SENT_MS, stamp.sent_ms.to_string())
                .header(vigil_net::envelope::SIGNATURE, signature.to_string())
                .body(body.clone())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(post(stamp, &liar), 202);
    assert_eq!(post(stamp, &liar), 409, "the same message again is a replay");
    assert_eq!(post(vigil_net::Stamp { from: outsider.address(), ..stamp }, &outsider), 403);
    let m = zero.metrics();
    assert_eq!(metric(&m, "vigil_network_messages_dropped{result=\"replayed\"}"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "vigil_network_messages_dropped{result=\"not-a-member\"}"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "vigil_network_reports_signed_total"), Some(0.0), "{m}");

    // The real attack.
    attack_is_paused_once(&mut chain, "the quorum to pause the spot market");
    assert!(!chain.is_paused(chain.venue.legacy_market, 0), "the lie never paused anything");
    chain.node.advance(2, 12).unwrap();
    for n in &nodes {
        catch_up(&chain, &n.dir);
    }
    let submitted = counts(&nodes, "QuorumSubmitted");
    assert!(submitted.iter().all(|&c| c <= 1), "at most one submission per node: {submitted:?}");
    assert!(submitted.iter().sum::<usize>() >= 1, "{submitted:?}");
    for n in &nodes {
        let m = n.metrics();
        // Its own report, and the report observed a block earlier by a node whose detectors fired first, when
        // there is one (it joins that one: ReportJoined).
        let signed = metric(&m, "vigil_network_reports_signed_total").unwrap_or(0.0);
        assert!((1.0..=2.0).contains(&signed), "{m}");
        let sent = metric(&m, "vigil_network_submissions_total").unwrap_or(0.0);
        let lost = metric(&m, "vigil_network_races_lost_total").unwrap_or(0.0);
        assert!(sent <= 1.0, "at most one pauseWithQuorum sent per node: {m}");
        // A lost race is told once: refused before sending, or sent and reverted on chain.
        assert!(lost <= 1.0, "{m}");
    }
    // Every honest node signed the one report that landed.
    let digests: Vec<std::collections::BTreeSet<String>> = nodes
        .iter()
        .map(|n| {
            n.log()
                .lines()
                .filter(|l| l.contains("event=\"ShareSigned\""))
                .filter_map(|l| l.split("digest=").nth(1).map(|d| d[..66].to_string()))
                .collect()
        })
        .collect();
    let common: Vec<&String> = digests[0].iter().filter(|d| digests.iter().all(|s| s.contains(*d))).collect();
    assert_eq!(common.len(), 1, "{digests:?}");
    // The lie is told once per node; the attack, which every node flagged, never.
    assert_eq!(counts(&nodes, "PeerReportUnconfirmed"), vec![1; 4]);

    // `vigil status` shows the peers: three up, the silent liar down.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["status", "--config"])
        .arg(nodes[0].dir.join("vigil.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("peer ") && l.contains("  up")).count(), 3, "{text}");
    assert!(text.contains(&format!("{}  DOWN", urls[4])), "{text}");
    assert!(text.contains("replayed 1"), "{text}");
}

#[test]
fn with_two_of_five_nodes_killed_mid_attack_the_other_three_pause_it() {
    let mut chain = start_chain();
    let (mut nodes, _) = start_network(&mut chain, "kill2", &[0, 1, 2, 3, 4], "");
    // SIGKILL between the attack's two pumps.
    attack_is_paused_once_with(&mut chain, "three nodes to pause the spot market", &mut || {
        nodes[3].kill();
        nodes[4].kill();
    });
    assert!(nodes[3].child.is_none() && nodes[4].child.is_none());
}

#[test]
fn with_three_of_five_nodes_down_nothing_pauses_and_the_survivors_alert_quorum_unreachable() {
    let mut chain = start_chain();
    let (hook_url, hook) = webhook_receiver();
    let notifier =
        format!("\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n");
    let (nodes, _) = start_network(&mut chain, "kill3", &[0, 1], &notifier);
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let (target, scope) = attack.target(&chain.venue);
    pump(&mut chain, &plan);
    for n in &nodes {
        wait_for_metric(n, "vigil_network_reports_signed_total", 1.0);
    }
    // Blocks go by; two signatures of the three needed never become three.
    for _ in 0..8 {
        chain.node.advance(1, 12).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    for n in &nodes {
        catch_up(&chain, &n.dir);
        wait_for_metric(n, "vigil_network_quorum_unreachable_total", 1.0);
    }
    assert!(!chain.is_paused(target, scope));
    assert!(paused_events(&chain).is_empty());
    // Each survivor's webhook gets the incident's notification and then "quorum unreachable".
    let mut unreachable = 0;
    while let Ok((_, body)) = hook.recv_timeout(Duration::from_secs(15)) {
        let note: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if note["refusal"]["reason"] == "quorum-unreachable" {
            assert_eq!(note["reason"], "pause-refused", "{note}");
            assert_eq!(note["refusal"]["threshold"], 3, "{note}");
            unreachable += 1;
        }
        if unreachable == 2 {
            break;
        }
    }
    assert_eq!(unreachable, 2, "both survivors alert once each");
}

#[test]
fn with_one_node_silent_and_one_partitioned_the_other_three_pause_within_a_block_of_a_single_node() {
    let mut chain = start_chain();
    // Every link to and from node 4 goes through a gate; node 3 is stopped (SIGSTOP): it takes connections and
    // never answers.
    let gates = std::sync::Mutex::new(Vec::new());
    let route = |from: usize, to: usize, direct: &str| {
        if from == 4 || to == 4 {
            let gate = Gate::new(direct);
            let url = gate.url.clone();
            gates.lock().unwrap().push(gate);
            url
        } else {
            direct.to_string()
        }
    };
    let (nodes, _) = start_network_with(&mut chain, "partition", &[0, 1, 2, 3, 4], "", &route, &|_| None);
    let stopped = nodes[3].child.as_ref().unwrap().id();
    assert!(std::process::Command::new("kill").args(["-STOP", &stopped.to_string()]).status().unwrap().success());
    gates.lock().unwrap().iter().for_each(Gate::shut);

    attack_is_paused_once(&mut chain, "three nodes to pause the spot market");
    // The partitioned node saw the attack too and signed, alone: its share reached no one.
    wait_for_metric(&nodes[4], "vigil_network_reports_signed_total", 1.0);
    let m = nodes[4].metrics();
    assert_eq!(metric(&m, "vigil_network_submissions_total"), Some(0.0), "{m}");
    // Each of the three sees the silent and the partitioned peer down, the two others up (a silent peer is
    // counted down once its requests time out, after 500 ms).
    for n in &nodes[..3] {
        let peers_up = |m: &str, up: &str| {
            m.lines().filter(|l| l.starts_with("vigil_network_peer_up{") && l.ends_with(up)).count()
        };
        wait_until("the peers' health", Duration::from_secs(10), || {
            let m = n.metrics();
            peers_up(&m, " 0") == 2 && peers_up(&m, " 1") == 2
        });
    }
    assert!(std::process::Command::new("kill").args(["-CONT", &stopped.to_string()]).status().unwrap().success());
}

#[test]
fn a_node_reading_a_lagging_rpc_does_not_delay_the_pause_and_sends_none_of_its_own() {
    let mut chain = start_chain();
    let lagging = lagging_rpc(&chain.anvil.endpoint(), 4);
    let rpc = |i: usize| (i == 4).then(|| lagging.clone());
    let (nodes, _) = start_network_with(&mut chain, "lag", &[0, 1, 2, 3, 4], "", &|_, _, d| d.to_string(), &rpc);
    attack_is_paused_once(&mut chain, "the four nodes reading anvil to pause");
    // The lagging node reaches the attack's block four blocks later; it finds the pause in force by then.
    chain.node.advance(6, 12).unwrap();
    let head = chain.head();
    wait_until("the lagging node to pass the pause", Duration::from_secs(60), || {
        cursor(&nodes[4].dir).is_some_and(|c| c + 4 >= head)
    });
    let m = nodes[4].metrics();
    assert_eq!(metric(&m, "vigil_network_submissions_total"), Some(0.0), "{m}");
    assert_eq!(paused_events(&chain).len(), 1, "one pause lands");
}

#[test]
fn a_new_oracle_set_voids_shares_in_flight_and_drops_the_member_rotated_out() {
    let mut chain = start_chain();
    let (nodes, urls) = start_network(&mut chain, "rotate", &[0, 1, 2, 3], "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let member = chain.actors.oracles[4].clone();
    let network = Network { chain_id: CHAIN_ID, guardian: chain.venue.guardian };
    let to_zero = Peers::new(
        network,
        member.clone(),
        vec![Peer { address: chain.actors.oracles[0].address(), url: urls[0].clone() }],
        Duration::from_secs(2),
    );
    let legacy = chain.venue.legacy_market;
    let deadline = chain.now() + 300;
    let report = report_now(&mut chain, legacy, 0, deadline);
    runtime.block_on(to_zero.broadcast(&share(&report, sign(&chain, &report, &member)))).remove(0).1.unwrap();
    wait_for_metric(&nodes[0], "vigil_network_shares_total{result=\"counted\"}", 1.0);
    let pending = |n: &Node| {
        let (_, body) = http_get(n.metrics, "/network").unwrap();
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["pending"].as_array().unwrap().len()
    };
    assert_eq!(pending(&nodes[0]), 1);

    // Governance replaces member 4 with a new key: a new config version.
    let newcomer = PrivateKeySigner::random();
    let mut set: Vec<Address> = chain.actors.oracles[..4].iter().map(|k| k.address()).collect();
    set.push(newcomer.address());
    set.sort();
    as_governance(&chain, Guardian::setOracleSetCall { signers_: set, threshold_: U256::from(3) });
    catch_up(&chain, &nodes[0].dir);
    wait_until("the share in flight to be voided", Duration::from_secs(30), || pending(&nodes[0]) == 0);
    assert!(nodes[0].log().contains("OracleSetFollowed"));
    // The member rotated out is dropped at the door from now on.
    let outcome = runtime.block_on(to_zero.broadcast(&Message::Heartbeat { block: 1 })).remove(0).1;
    assert!(matches!(outcome, Err(vigil_net::SendError::Refused { status: 403, .. })), "{outcome:?}");
    // The honest nodes pause under the new version.
    attack_is_paused_once(&mut chain, "the pause under the new oracle set");
}
