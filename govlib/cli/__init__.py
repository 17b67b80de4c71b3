"""The ``govlib`` command line: a thin click shell over the library, plus ``serve`` (the Voilà
apps), ``status`` and the generated settings docs. Imports every layer; imported by nothing.
"""

from govlib.cli.main import main

__all__ = ["main"]
