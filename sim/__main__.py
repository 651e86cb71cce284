"""``python -m sim`` is ``access-sim``."""

from sim.cli import main

raise SystemExit(main())
