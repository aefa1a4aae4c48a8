#!/usr/bin/env bash
# Fuzzes the checkpoint archive reader with libFuzzer (cargo-fuzz). Usage: scripts/fuzz.sh [SECONDS]
# Seeds the corpus with a real archive. cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP enables
# them on the stable toolchain this machine has.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
SECONDS_TO_RUN="${1:-60}"
mkdir -p fuzz/corpus/archive_reader
cargo run -q --release --example seed_archive -- fuzz/corpus/archive_reader/seed.tar.gz
# The same archive as a raw tar behind the "odd first byte" flag (see the target).
python3 - <<'PY'
import gzip
raw = gzip.open("fuzz/corpus/archive_reader/seed.tar.gz").read()
open("fuzz/corpus/archive_reader/seed-raw.bin", "wb").write(b"\x01" + raw)
PY
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run archive_reader -- -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048
