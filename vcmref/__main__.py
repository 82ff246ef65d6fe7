"""`python -m vcmref` runs the command line."""

from vcmref.cli import main

main()
