#!/usr/bin/env bash
# Installs what the tests need and runs every check, the same way on a fresh machine and in CI.
#
#   - npm packages pinned in contracts/package-lock.json: solc-js (compiler), OpenZeppelin Contracts, anvil
#   - the committed contract artifacts must equal a fresh compile
#   - cargo fmt, cargo clippy (warnings are errors), the node without the simulator, cargo test for the whole
#     workspace
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing pinned npm packages (solc-js, OpenZeppelin Contracts, anvil)"
npm ci --prefix contracts --no-audit --no-fund --loglevel=error

step "recompiling contracts and comparing with the committed artifacts"
node contracts/compile.js --check

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The production node builds without the simulator and its attack scenarios (feature `sim` off).
step "cargo check -p vigil --no-default-features"
cargo check -p vigil --no-default-features --locked

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
