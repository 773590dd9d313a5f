"""`python -m scalebox` runs the root command."""

from scalebox.cli import main

raise SystemExit(main())
