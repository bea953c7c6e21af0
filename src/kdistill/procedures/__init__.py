"""Experiment-level distillation procedures, each in its own file and registered by name in ``PROCEDURES``:

- ``ensemble``: N >= 5 models (one architecture or diverse ones, optionally bagged) -> one student (Hinton et al. 2015);
- ``dml``: Deep Mutual Learning, each network alone vs together (Zhang et al. 2018);
- ``born-again``: Born-Again Networks generations and their ensemble (Furlanello et al. 2018);
- ``byot``: Be Your Own Teacher exits, accuracy and FLOPs of each (Zhang et al. 2019);
- ``specialist``: class-specialised student vs labels only (Wang et al. 2022);
- ``omitted-class``: dark knowledge about a class absent from the transfer set, before/after its bias (Hinton 2015);
- ``limited-data``: 3% of the data, soft vs hard targets (Hinton et al. 2015, Table 5).

    from kdistill.procedures import PROCEDURES, load_splits, run_procedure
    splits = load_splits("mnist", val_size=5000, seed=0)
    result = run_procedure("omitted-class", splits, omitted=[3], teacher_model={"model": "mlp", ...}, ...)
"""

from kdistill.procedures import (  # noqa: F401  (registers the procedures)
    born_again,
    ensemble,
    limited_data,
    mutual,
    omitted_class,
    self_distillation,
    specialist,
)
from kdistill.procedures.common import Splits, load_splits
from kdistill.procedures.registry import PROCEDURES, run_procedure

__all__ = ["PROCEDURES", "Splits", "load_splits", "run_procedure"]
