"""``python -m sagacore`` runs the CLI."""

from sagacore.cli import main

raise SystemExit(main())
