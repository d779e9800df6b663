"""``python -m leadcast``: the same as the ``leadcast`` command."""

from leadcast.cli import main

raise SystemExit(main())
