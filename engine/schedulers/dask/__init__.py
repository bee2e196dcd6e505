"""The ``dask`` scheduler type: work on a Dask distributed cluster (``pip install 'pdgstore[dask]'``).

``scheduler`` is the contract's side (in the cook), ``accept`` which items go to the workers,
``work`` what it hands the workers per item, ``remote`` what runs on the workers (``infolder``: a
Python item in its project's folder there), ``cluster`` how the cook reaches a cluster and ships the
graph's code, ``outcome`` how a job's end is judged.
Importing this package does not import ``distributed``: that happens when a cook starts on it.
"""

from pdgstore.engine.schedulers.dask.scheduler import DaskScheduler

__all__ = ["DaskScheduler"]
