"""``python -m govlib``."""

from govlib.cli.main import main

main()
