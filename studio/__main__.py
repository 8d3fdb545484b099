"""`python -m studio ...`: the command-line interface."""

from studio.cli import main

raise SystemExit(main())
