"""``import pdg``: PDG's Python API over pdgstore's engine (see ``pdgstore.engine.pdgapi.facade``)."""

from pdgstore.engine.pdgapi.facade import *  # noqa: F403
from pdgstore.engine.pdgapi.facade import __all__  # noqa: F401
