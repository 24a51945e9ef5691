"""The optimizer family: ``conf/optim/*.yaml`` name Keras' optimizer classes, which take any
number, so the rules of their arguments are registered here on their base class; an
optimizer added as a YAML file is checked with no edit here.

>>> from fmnist.rules import rules_for
>>> rules_for(keras.optimizers.Adam)["beta_1"].text
'a number in [0, 1)'
"""

from __future__ import annotations

import keras

from fmnist.rules import Rule, register

__all__: list[str] = []

_FRACTION = Rule("number", lambda v: 0 <= v < 1, "a number in [0, 1)")

register(keras.optimizers.Optimizer,
         learning_rate=Rule("number", lambda v: v > 0, "a number > 0"),
         beta_1=_FRACTION, beta_2=_FRACTION, rho=_FRACTION,
         momentum=Rule("number", lambda v: 0 <= v <= 1, "a number in [0, 1]"))
