"""The `mneme` console script: the operator's tool (inspect, stats, query, import, calibrate,
migrate, dump, load, bench, vacuum), the same program as the Rust binary, without a Rust
toolchain."""

import sys

import mneme

from . import _install_check


def main() -> None:
    if getattr(mneme, "_DISTRIBUTION", None) != _install_check.DISTRIBUTION:
        # Another distribution's `mneme/__init__.py` replaced ours (mneme-cache installed after us).
        sys.exit(f"mneme: the `mneme` package in {mneme.__path__[0]} is not mneme-rs's. {_install_check.REMEDIATION}")
    from . import _native

    sys.exit(_native.cli_main(["mneme", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
