#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs a nightly toolchain (`rustup toolchain list` must show one) and the cargo-fuzz
# command (installed here when missing). Without a nightly toolchain it says so and exits 0:
# fuzzing is skipped, not failed. A crash stops the run with the failing input saved under
# fuzz/artifacts/TARGET/; turn it into a regression test before fixing it (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=($(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^shadowgate-fuzz$'))

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzzing skipped: no nightly toolchain on this machine (cargo-fuzz needs one)"
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  # Seeds: the example configs for the config loader.
  if [ "$t" = config ]; then cp -n ../config/examples/*.toml "corpus/$t/" 2>/dev/null || true; fi
  echo "== fuzz $t for ${SECONDS_EACH}s"
  log="$(mktemp)"
  rc=0
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 >"$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|SUMMARY|==[0-9]+== ERROR|artifact_prefix|Test unit written)' "$log" || true
  if [ "$rc" -ne 0 ]; then tail -40 "$log"; rm -f "$log"; echo "fuzz target $t failed (exit $rc): see fuzz/artifacts/$t/"; exit 1; fi
  rm -f "$log"
done
echo "fuzzing: ${#TARGETS[@]} targets, ${SECONDS_EACH}s each, no crash"
