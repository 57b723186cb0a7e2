"""``python -m chaos.faults.server``: the same command as ``gameday proxy serve``."""

import sys

from chaos.faults.server.serve import main

main(sys.argv[1:], "python -m chaos.faults.server")
