"""Controlled experiments: switch suspects off in scratch copies, measure, attribute the leak."""

from leaksleuth.flows.experiments.config import load_config
from leaksleuth.flows.experiments.design import attribute, next_wave
from leaksleuth.flows.experiments.runner import run_experiment

__all__ = ["attribute", "load_config", "next_wave", "run_experiment"]
