"""`python -m detector` runs the same CLI as the `minewatch` console script."""

from detector.cli import main

main()
