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

    if sys.argv[1:2] == ["serve"]:
        # The engine's log records reach Python's logging here: the server's own (request
        # lines are JSON) from info up, on stderr, as the Rust binary prints them.
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
        logging.getLogger("mneme.serve").setLevel(logging.INFO)
    sys.exit(_native.cli_main(["mneme", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
