"""Refuses to run from a `mneme/` directory that another distribution also installed into.

mneme-cache 1.0 (and the unrelated `mneme` project on PyPI) install the same import package,
`mneme`. pip lets the second install overwrite the first one's files and, on uninstall, deletes
files the other still needs, so a mixed install would import a patchwork. This check runs first
in `mneme/__init__.py` and turns that into an ImportError that says how to repair it.
"""

import os
import re

DISTRIBUTION = "mneme-rs"

# Metadata folders of distributions whose files land in `mneme/`: mneme-cache and PyPI's `mneme`.
_RIVALS = re.compile(r"^(mneme_cache|mneme-cache|mneme)-\d[^/]*\.(dist-info|egg-info)$", re.IGNORECASE)

REMEDIATION = (
    "Remediation: keep one of them and reinstall it: "
    "`pip uninstall -y mneme-cache mneme-rs && pip install mneme-rs` "
    "(or, to keep mneme-cache: `pip uninstall -y mneme-rs mneme-cache && pip install mneme-cache`)."
)


def rivals(site_dir: str) -> list[str]:
    """The metadata folders in `site_dir` of distributions that also install `mneme/`."""
    try:
        names = os.listdir(site_dir)
    except OSError:
        return []
    return sorted(name for name in names if _RIVALS.match(name))


def check() -> None:
    site_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = rivals(site_dir)
    if found:
        raise ImportError(
            f"{DISTRIBUTION} and another distribution ({', '.join(found)}) are installed in "
            f"{site_dir}: both install the import package `mneme`, so each overwrote or will "
            f"delete the other's files and neither works reliably. {REMEDIATION}"
        )
