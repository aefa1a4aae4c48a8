#!/usr/bin/env bash
# Fuzzes with libFuzzer (cargo-fuzz): the checkpoint archive reader, then the metadata JSON
# parser, each for SECONDS. Usage: scripts/fuzz.sh [SECONDS]
# Seeds the corpora with a real archive and real metadata. cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP enables
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
mkdir -p fuzz/corpus/metadata_json
printf '%s' '{"model": "gpt-x", "n": [1, 2.5, -0.0, 1e300, NaN, Infinity], "s": "\u00e9\ud83d\ude00", "big": 1180591620717411303424, "o": {"a": null, "b": true}}' \
    > fuzz/corpus/metadata_json/seed.json
cd fuzz
for target in archive_reader metadata_json; do
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048
done
