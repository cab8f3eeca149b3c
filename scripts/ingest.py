#!/usr/bin/env python3
"""Load new files from $PSTN_RAW_DIR into the Parquet archive (the same as `pstn load`)."""

import sys

from pstn.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["load", *sys.argv[1:]]))
