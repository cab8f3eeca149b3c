#!/usr/bin/env python3
"""Write the sample tenant (or a larger synthetic one) into a landing folder.

    scripts/generate_sample_data.py --out data/raw [--seed 7] [--calls 2000000 --users 20000 --months 6]

The same as `pstn generate`; kept here so the scripts/ folder lists every entry point.
"""

import sys

from pstn.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["generate", *sys.argv[1:]]))
