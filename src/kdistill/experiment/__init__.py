"""The end-to-end experiment behind ``kdistill run``."""

from kdistill.experiment.run import run_experiment
from kdistill.experiment.rundir import new_run_dir, read_config

__all__ = ["new_run_dir", "read_config", "run_experiment"]
