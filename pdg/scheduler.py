"""``import pdg.scheduler``: PDG's scheduler base classes (see ``pdgstore.engine.pdgapi.pdgscheduler``)."""

from pdgstore.engine.pdgapi.pdgscheduler import *  # noqa: F403
from pdgstore.engine.pdgapi.pdgscheduler import __all__  # noqa: F401
