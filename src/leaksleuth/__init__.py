"""leaksleuth: find, measure and pinpoint memory leaks in Node.js servers."""

from leaksleuth.errors import LeakSleuthError

__all__ = ["LeakSleuthError"]
__version__ = "0.1.0"
