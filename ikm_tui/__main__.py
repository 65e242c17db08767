"""Allow `python -m ikm_tui`."""

from ikm_tui.cli.main import main

raise SystemExit(main())
