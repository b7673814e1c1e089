"""`python -m bridge.cli`: the same as the `bridge` console script."""

import signal
import sys

from bridge.cli.main import main

signal.signal(signal.SIGPIPE, signal.SIG_DFL)
sys.exit(main())
