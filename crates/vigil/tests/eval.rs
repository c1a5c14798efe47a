//! `vigil eval` through the binary, as a user runs it: the table, and the JSON whose figures come from chain state.

use std::process::Command;

/// Runs `vigil eval` with `args` and `--json` into a directory of its own named `name`; returns the table and the
/// JSON.
fn eval(name: &str, args: &[&str]) -> (String, serde_json::Value) {
    let dir = std::env::temp_dir().join(format!("vigil-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("eval.json");
    let out =
        Command::new(env!("CARGO_BIN_EXE_vigil")).arg("eval").args(args).arg("--json").arg(&json).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (stdout, serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap())
}

#[test]
fn eval_measures_detection_savings_and_false_alarms() {
    let (stdout, r) = eval("eval", &["--seeds", "2", "--attacks", "spot-pump,reentrancy", "--benign-blocks", "300"]);
    for word in ["spot-pump", "reentrancy", "benign-crash", "total", "false alerts on 600 blocks of benign runs"] {
        assert!(stdout.contains(word), "`{word}` missing from:\n{stdout}");
    }
    let scenario = |name: &str| r["scenarios"].as_array().unwrap().iter().find(|s| s["scenario"] == name).unwrap();
    let pump = scenario("spot-pump");
    assert_eq!(pump["class"], "multi-block");
    assert_eq!((pump["runs"].as_u64(), pump["detected"].as_u64()), (Some(2), Some(2)));
    assert_eq!(pump["paused_before_finish"], 2, "{pump}");
    // The pause stops the borrow: nearly everything at stake is saved, and both figures come from the chain.
    let (saved, at_stake) = (pump["funds_saved_usd"].as_f64().unwrap(), pump["lost_without_usd"].as_f64().unwrap());
    assert!(at_stake > 100_000.0 && saved > 0.9 * at_stake, "saved {saved} of {at_stake}");
    for seed in pump["seeds"].as_array().unwrap() {
        let (first, detected) = (seed["first_malicious_block"].as_u64().unwrap(), seed["detection_block"].as_u64());
        assert!(detected.is_some_and(|d| d >= first && d <= seed["attack_end_block"].as_u64().unwrap()), "{seed}");
    }
    // Each pause covers the attacked scope only: the spot-priced market (margin pool market 2) for the pump, the
    // legacy vault after the re-entry; other markets stay open.
    let scopes = |name: &str| -> Vec<String> {
        let seeds = scenario(name)["seeds"].as_array().unwrap().clone();
        seeds.iter().flat_map(|s| s["pauses"].as_array().unwrap().iter().map(|p| p[1].to_string())).collect()
    };
    assert_eq!(scopes("spot-pump"), vec!["\"0xA51c1fc2f0D1a1b8494Ed1FE312d7C3a78Ed91C0/2\""; 2]);
    assert_eq!(scopes("reentrancy"), vec!["\"0x9A676e781A523b5d0C0e43731313A708CB607508/*\""; 2]);
    assert_eq!(scenario("reentrancy")["class"], "single-tx");
    let benign = scenario("benign-crash");
    assert_eq!((benign["runs"].as_u64(), benign["benign_blocks"].as_u64()), (Some(2), Some(600)));
    assert_eq!(r["total"]["false_pauses"], 0);
    assert_eq!(r["total"]["benign_blocks"], 600);
}

#[test]
fn eval_counts_a_repeated_attack_as_paused_only_when_each_execution_was() {
    let args = ["--seeds", "1", "--first-seed", "2", "--attacks", "repeat-attack", "--benign-blocks", "20"];
    let (stdout, r) = eval("eval-repeat", &args);
    for line in [
        "repeat-attack            attack 1: detected 1/1, delay p50 1, paused before finish 1/1, funds saved 100 %",
        "repeat-attack            attack 2: detected 1/1, delay p50 1, paused before finish 1/1, funds saved 100 %",
    ] {
        assert!(stdout.contains(line), "`{line}` missing from:\n{stdout}");
    }
    let repeat = &r["scenarios"][0];
    assert_eq!((repeat["scenario"].as_str(), repeat["class"].as_str()), (Some("repeat-attack"), Some("multi-block")));
    assert_eq!(repeat["paused_before_finish"], 1, "{repeat}");
    let attacks = repeat["seeds"][0]["attacks"].as_array().unwrap();
    assert_eq!(attacks.len(), 2, "{repeat}");
    for a in attacks {
        let (with, without) = (&a["with_vigil"], &a["without_vigil"]);
        let (first, end) = (with["first_block"].as_u64().unwrap(), without["last_block"].as_u64().unwrap());
        assert!(a["pause_block"].as_u64().is_some_and(|p| first <= p && p <= end), "{a}");
        assert!(without["lost_usd"].as_f64().unwrap() > 100_000.0 && with["lost_usd"] == 0.0, "{a}");
    }
    assert_eq!(repeat["seeds"][0]["pauses"].as_array().unwrap().len(), 2, "{repeat}");
}

#[test]
fn eval_names_an_unknown_scenario() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["eval", "--seeds", "1", "--attacks", "spot-pamp"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown scenario `spot-pamp` (did you mean `spot-pump`?)"), "{stderr}");
}

#[test]
fn eval_with_the_gate_and_private_order_flow_names_the_gate_as_the_defense() {
    let args = ["--seeds", "1", "--attacks", "euler-donation", "--benign-blocks", "60", "--private-attack", "--gate"];
    let (stdout, r) = eval("eval-gate", &args);
    assert!(stdout.contains("attestation-gated entry"), "{stdout}");
    let euler = r["scenarios"].as_array().unwrap().iter().find(|s| s["scenario"] == "euler-donation").unwrap();
    assert_eq!(euler["defenses"], serde_json::json!({ "gate": 1 }), "{euler}");
    assert_eq!(euler["lost_with_usd"], 0.0, "{euler}");
    assert!(euler["lost_without_usd"].as_f64().unwrap() > 100_000.0, "{euler}");
    let gate = &euler["gate"];
    assert_eq!((gate["refused_malicious"].as_u64(), gate["false_refusals"].as_u64()), (Some(1), Some(0)), "{gate}");
    let benign = r["scenarios"].as_array().unwrap().iter().find(|s| s["scenario"] == "benign-crash").unwrap();
    assert_eq!(benign["gate"]["refused_benign"], 0, "{benign}");
    assert!(benign["gate"]["attested_benign"].as_u64().unwrap() > 0, "{benign}");
}
