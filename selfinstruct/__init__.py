"""Self-Instruct Studio: grow an instruction-tuning data set from a few seed tasks."""

__version__ = "0.1.0"
