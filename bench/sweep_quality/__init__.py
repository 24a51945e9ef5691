"""Sweep quality: how fast a search finds a good model (issue 18).

Modules, one concept each:

- ``preset``: a shipped ``hparams_search`` preset read generically (search space, sampler,
  pruner, budget) through Hydra's compose API; no TensorFlow.
- ``table``: the replay table (one row per configuration x epoch) on disk.
- ``simulate``: an event queue of asynchronous workers on simulated time.
- ``replay``: any Optuna sampler x pruner x workers replayed on the table.
- ``stats``: interquartile mean and bootstrap intervals of best-so-far curves.
- ``record``: the recorder that trains configurations and appends them to the table (TF).
- ``live``: the live comparison of methods (TF, Keras Tuner).
"""
