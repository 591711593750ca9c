"""`python -m mlscale.cli`: the same as the `mlscale` console script."""

from mlscale.cli.main import main

main()
