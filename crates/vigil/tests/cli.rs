//! The `vigil` binary as a user runs it. The proving-ground commands (`venue`, `sim`) need the feature `sim`.

use std::process::Command;

fn vigil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
}

#[test]
#[cfg(feature = "sim")]
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
#[cfg(feature = "sim")]
fn venue_json_names_every_contract() {
    let out = vigil().args(["venue", "--json"]).output().expect("vigil runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let addresses = v["addresses"].as_object().expect("addresses");
    assert_eq!(addresses.len(), 19);
    assert!(addresses.contains_key("security gate"), "{addresses:?}");
    assert_eq!(v["threshold"], "3");
    assert_eq!(v["oracle_signers"].as_array().unwrap().len(), 5);
}

#[test]
#[cfg(feature = "sim")]
fn an_unreachable_node_is_a_clear_error() {
    let out = vigil().args(["venue", "--rpc", "http://127.0.0.1:9"]).output().expect("vigil runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connecting to http://127.0.0.1:9"), "stderr: {err}");
    assert!(err.contains("cannot reach the node"), "stderr: {err}");
}

#[test]
#[cfg(feature = "sim")]
fn sim_lists_the_ten_scenarios_one_per_line() {
    let out = vigil().args(["sim", "--list"]).output().expect("vigil runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&"spot-pump") && names.contains(&"repeat-attack") && names.contains(&"benign-crash"));
}

#[test]
#[cfg(feature = "sim")]
fn sim_runs_a_scenario_writes_json_lines_and_prints_what_happened() {
    let dir = std::env::temp_dir().join(format!("vigil-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("run.jsonl");
    let out = vigil()
        .args(["sim", "--scenario", "euler-donation", "--blocks", "110", "--seed", "3", "--out"])
        .arg(&out_file)
        .output()
        .expect("vigil runs");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("attack        euler-donation: blocks 100 .. 101 (ground truth)"), "{text}");
    assert!(text.contains("taken         $127,150.00 by the attacker"), "{text}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(written.lines().count(), 1 + 110 + 1, "header, blocks, summary");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[cfg(feature = "sim")]
fn sim_errors_name_what_was_wrong() {
    let out = vigil().args(["sim", "--scenario", "spot-pamp", "--out", "/dev/null"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown scenario `spot-pamp` (did you mean `spot-pump`?)"), "{err}");

    let dir = std::env::temp_dir().join(format!("vigil-cli-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("bad.csv");
    std::fs::write(&csv, "timestamp,price\n1,3000\n2,abc\n").unwrap();
    let out = vigil()
        .args(["sim", "--scenario", "spot-pump", "--out", "/dev/null", "--price-csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.csv: line 3: price: `abc` is not a number"), "{err}");

    let out = vigil()
        .args(["sim", "--scenario", "governance-takeover", "--blocks", "150", "--out", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scenario `governance-takeover` needs at least"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_accepts_the_demo_config_and_names_errors_in_a_bad_one() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml");
    let out = vigil().args(["check", demo]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let count = vigil::config::Config::load(std::path::Path::new(demo)).unwrap().detectors.len();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("valid ({count} detectors")));

    let dir = std::env::temp_dir().join(format!("vigil-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    let text = std::fs::read_to_string(demo).unwrap().replace("max_deviation_bps = 1000", "max_deviaton_bps = 1000");
    // The error names the line of the misspelt key, wherever the demo's file has it.
    let line = 1 + text.lines().position(|l| l.starts_with("max_deviaton_bps")).expect("the misspelt key");
    std::fs::write(&bad, text).unwrap();
    let out = vigil().arg("check").arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains(&format!(
            "bad.toml: line {line}: detector \"spot-market-oracle\": max_deviaton_bps: unknown field"
        )),
        "{err}"
    );
    assert!(err.contains("(did you mean `max_deviation_bps`?)"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
#[cfg(feature = "sim")]
fn replay_runs_the_detectors_over_a_sim_file_and_names_what_it_cannot_run() {
    let dir = std::env::temp_dir().join(format!("vigil-cli-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("admin-key.jsonl");
    let out = vigil().args(["sim", "--scenario", "admin-key", "--out"]).arg(&file).output().expect("vigil runs");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let out = vigil().args(["replay", "--json", "--sim"]).arg(&file).output().expect("vigil runs");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["blocks"], 200);
    // The stolen key grants itself a role, then upgrades the reserve: the log-based detector sees both, in the
    // block of the first malicious transaction.
    assert_eq!(report["findings"]["reserve-admin"], 2, "{report}");
    assert_eq!(report["first_malicious_block"], report["first_finding_block"], "{report}");
    // Detectors that read state cannot run on a recording without state reads: named, not silently idle.
    let left_out: Vec<&str> = report["left_out"].as_array().unwrap().iter().map(|d| d[0].as_str().unwrap()).collect();
    assert!(left_out.contains(&"spot-market-oracle") && left_out.contains(&"margin-pool-solvency"), "{left_out:?}");
    assert!(!left_out.contains(&"reserve-admin"));
}

#[test]
fn replay_reads_recorded_mainnet_pairs_and_lists_incomplete_blocks() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../vigil-core/tests/fixtures/mainnet");
    let out = vigil().args(["replay", "--json", "--pairs", fixtures]).output().expect("vigil runs");
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["blocks"], 1);
    assert_eq!(report["transactions"], 94);
    assert_eq!(report["range"], serde_json::json!([18_000_000, 18_000_000]));
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "trace-only blocks are listed: {skipped:?}");
    assert!(skipped.iter().all(|s| s.as_str().unwrap().contains("no block with full transactions")));

    let out = vigil().args(["replay", "--pairs"]).arg("/nonexistent/recording.json").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/recording.json"));
}
