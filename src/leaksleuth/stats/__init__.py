"""Pure statistics: robust fits, the verdict, summaries of readings, trends."""

from leaksleuth.stats.fit import robust_fit, verdict

__all__ = ["robust_fit", "verdict"]
