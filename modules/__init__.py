"""HiggsML-LUMIN: the shared package behind the notebooks reproducing Strong (2020), arXiv:2002.01427.

Importing it applies the LUMIN 0.9.1 compatibility mends once (see `modules.compat`), so notebooks and commands
can import LUMIN right after, and hides the few library warnings nobody here can act on (`modules.quiet`).
"""

from modules import compat, quiet

compat.apply()
quiet.silence_known_warnings()

__version__ = "0.1.0"
