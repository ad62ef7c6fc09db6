"""`callbridge serve` on PostgreSQL with each process counting its own rate-limit windows (the
SQLite engine's FixedWindowLimiter) instead of the shared window's upsert per request: a
reference run that shows what the shared limit costs. Not a configuration to deploy: with
several instances each would allow the full limit.

    CALLBRIDGE_DATABASE=postgresql://... python bench/local_limit_serve.py
"""

import sys

from callbridge.variants import EngineVariants
from callbridge.web.ratelimit import FixedWindowLimiter


def main() -> None:
    EngineVariants.limiter = lambda self, limit, window: FixedWindowLimiter(limit, window)
    from callbridge.cli import main as cli
    sys.argv = ["callbridge", "serve"]
    cli()


if __name__ == "__main__":
    main()
