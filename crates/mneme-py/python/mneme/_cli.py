"""The `mneme` console script: the operator's tool (inspect, stats, query, import, calibrate,
migrate, dump, load, bench, vacuum), the same program as the Rust binary, without a Rust
toolchain."""

import sys

from . import _native


def main() -> None:
    sys.exit(_native.cli_main(["mneme", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
