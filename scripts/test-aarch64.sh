#!/usr/bin/env bash
# The NEON kernels on aarch64: cross-compiles the engine's kernel tests (the proptests against
# the scalar oracle over every length and tail, and the dispatch test, which asserts NEON is the
# level chosen) and the test that every level makes the same decisions, and runs them under
# qemu-user (about 6 minutes). Installs Debian's cross gcc and qemu-user and the Rust aarch64
# target once.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v qemu-aarch64 > /dev/null || ! command -v aarch64-linux-gnu-gcc > /dev/null; then
    echo "installing qemu-user and the aarch64 cross compiler (once) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-user gcc-aarch64-linux-gnu \
        libc6-dev-arm64-cross > /dev/null
fi
rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    || rustup target add aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo test -p mneme --lib --target aarch64-unknown-linux-gnu -- index::kernels::tests
# The decisions test re-runs itself once per level: through the emulator too.
MNEME_TEST_RUNNER="$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER" \
    cargo test -p mneme --target aarch64-unknown-linux-gnu --test kernel_decisions
