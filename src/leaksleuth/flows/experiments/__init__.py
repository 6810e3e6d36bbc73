"""Controlled experiments: switch suspects off in scratch copies, measure, attribute the leak."""

from leaksleuth.flows.experiments.config import ExperimentConfig, Toggle, load_config
from leaksleuth.flows.experiments.design import Attribution, Outcome, attribute, next_wave
from leaksleuth.flows.experiments.runner import ExperimentResult, RunRecord, run_experiment

__all__ = [
    "Attribution",
    "ExperimentConfig",
    "ExperimentResult",
    "Outcome",
    "RunRecord",
    "Toggle",
    "attribute",
    "load_config",
    "next_wave",
    "run_experiment",
]
