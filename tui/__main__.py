"""`python -m tui` runs the syncdesk command line."""

from tui.cli import main

main()
