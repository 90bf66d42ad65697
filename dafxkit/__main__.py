"""`python -m dafxkit` runs the command line."""

from dafxkit.cli import main

main()
