"""``python -m govlib``."""

from govlib.cli import main

main()
