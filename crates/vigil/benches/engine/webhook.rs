//! The engine bench's second part: block-to-pause latency of the whole `vigil run` process, with and without a
//! slow webhook.
//!
//! Each run starts anvil (127.0.0.1) with the venue deployed and `vigil run` on it as a child process, holding the
//! 3-of-5 oracle keys, notifying a webhook with no confirmations. A privilege change on the reserve vault makes a
//! notification due at once; right after it the spot-pump attacker pumps the pair. The figure is the wall time
//! from sending the first pump to the Guardian reporting the market paused (polled every 5 ms), once with a
//! webhook that answers at once and once with one that takes 5 s per request. Notifications are delivered off the
//! block loop, so the two must agree; a node that delivered in the loop would pause 5 s later.

use std::time::{Duration, Instant};

use crate::support::*;
use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use vigil_sim::{attacks::Attack, Backend};

const RUNS: usize = 3;

/// One run: the latency from the first pump to the pause, and the blocks in between.
fn run(delay: Duration, i: usize) -> (Duration, u64) {
    let mut chain = start_chain();
    let dir = temp_dir(&format!("bench-response-{}-{i}", delay.as_secs()));
    let attack = Attack::SpotPump;
    let plan = attack.prepare(&mut chain.node, &chain.actors, &chain.venue).expect("the attack is prepared");
    let oracles: Vec<PrivateKeySigner> = chain.actors.oracles.iter().take(3).cloned().collect();
    chain.node.set_balance(oracles[0].address(), U256::from(10u64).pow(U256::from(19))).unwrap();
    let (hook_url, hook) = slow_webhook_receiver(delay);
    let extra = format!(
        "\n[source.confirmations]\nnotify = 0\n\n[responder]\nkeys = [{{ env = \"VIGIL_TEST_KEY_0\" }}, {{ env = \"VIGIL_TEST_KEY_1\" }}, {{ env = \"VIGIL_TEST_KEY_2\" }}]\n\n[[notifier]]\ntype = \"webhook\"\nurl = \"{hook_url}\"\nsecret_env = \"VIGIL_TEST_HOOK_SECRET\"\n"
    );
    let config = write_config(&dir, &chain, &extra);
    let log = dir.join("vigil.log");
    let mut vigil = spawn_vigil_with(&config, &[], &oracles, &log, &[("VIGIL_TEST_HOOK_SECRET", "s")]);
    let start = chain.head();
    wait_until("vigil to reach the head", Duration::from_secs(60), || cursor(&dir) >= Some(start));
    let (target, scope) = attack.target(&chain.venue);

    change_a_privilege(&mut chain, &dir);
    let t0 = Instant::now();
    let first = chain.head() + 1;
    pump(&mut chain, &plan);
    while !chain.is_paused(target, scope) {
        assert!(t0.elapsed() < Duration::from_secs(60), "no pause within 60 s: {}", log_of(&log));
        std::thread::sleep(Duration::from_millis(5));
    }
    let latency = t0.elapsed();
    let blocks = chain.head() + 1 - first;
    if !delay.is_zero() {
        // The slow endpoint still gets its notification.
        hook.recv_timeout(delay * 3).expect("the slow webhook gets the notification");
    }
    vigil.kill().unwrap();
    vigil.wait().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (latency, blocks)
}

/// Prints the median and every run's latency, with an instant and a 5 s webhook.
pub fn print() {
    println!(
        "first pump sent → market paused on anvil, `vigil run` notifying a webhook at the same time ({RUNS} runs each)"
    );
    for delay in [Duration::ZERO, Duration::from_secs(5)] {
        let mut runs: Vec<(Duration, u64)> = (0..RUNS).map(|i| run(delay, i)).collect();
        runs.sort();
        let ms: Vec<String> =
            runs.iter().map(|(d, b)| format!("{:.0} ms / {b} blocks", d.as_secs_f64() * 1e3)).collect();
        println!(
            "  webhook answering after {:>2} s: median {:>6.0} ms; runs: {}",
            delay.as_secs(),
            runs[RUNS / 2].0.as_secs_f64() * 1e3,
            ms.join(", ")
        );
    }
}
