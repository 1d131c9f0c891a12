"""Allow ``python -m tap_reviewrover``."""

from tap_reviewrover.tap import main

main()
