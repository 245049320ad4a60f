"""The SQLite workspace store: the only package that speaks SQL."""

from .core import InstanceRow, InstructionRow, RunInfo, RunLockedError, Store, StoreError, sum_usage

__all__ = ["InstanceRow", "InstructionRow", "RunInfo", "RunLockedError", "Store", "StoreError", "sum_usage"]
