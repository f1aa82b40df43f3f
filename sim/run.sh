#!/usr/bin/env bash
# Builds odradek-sim inside the madsim simulator and runs it; arguments go
# to the simulator (see `sim/run.sh --help`). Uses its own target dir so a
# madsim build never evicts the normal one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export RUSTFLAGS="--cfg madsim ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-madsim}"
cd "$root"
exec cargo run --quiet --release -p odradek-sim -- "$@"
