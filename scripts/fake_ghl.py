"""Serve the fake HighLevel API v2 for manual runs and benchmarks.

    python scripts/fake_ghl.py --port 8765 --token pit-dev --location-id loc-dev \
        [--rate-limit 100] [--rate-window-seconds 10] [--daily-limit 200000] [--allow-duplicates]

Then start the server with GHL_BASE_URL=http://127.0.0.1:8765, GHL_API_KEY=pit-dev and
GHL_LOCATION_ID=loc-dev. Same as ``python -m tests.fakes.ghl``; Ctrl-C stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.ghl import main

if __name__ == "__main__":
    main()
