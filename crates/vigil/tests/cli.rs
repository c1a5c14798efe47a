//! The `vigil` binary as a user runs it.

use std::process::Command;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

#[test]
fn venue_deploys_in_process_and_prints_addresses_and_state() {
    let out = vigil().arg("venue").output().expect("vigil runs");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["guardian", "margin pool", "WETH/vUSD pair", "3-of-5 oracle signers", "total value"] {
        assert!(text.contains(needle), "output lacks {needle:?}:\n{text}");
    }
    assert!(text.contains("$41,500,000.00"), "the seeded venue holds $41.5M:\n{text}");
}

#[test]
fn venue_json_names_every_contract() {
    let out = vigil().args(["venue", "--json"]).output().expect("vigil runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let addresses = v["addresses"].as_object().expect("addresses");
    assert_eq!(addresses.len(), 18);
    assert_eq!(v["threshold"], "3");
    assert_eq!(v["oracle_signers"].as_array().unwrap().len(), 5);
}

#[test]
fn an_unreachable_node_is_a_clear_error() {
    let out = vigil().args(["venue", "--rpc", "http://127.0.0.1:9"]).output().expect("vigil runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connecting to http://127.0.0.1:9"), "stderr: {err}");
    assert!(err.contains("cannot reach the node"), "stderr: {err}");
}
