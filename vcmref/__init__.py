"""vcmref: reference software and CTC harness for coding for machines."""

__version__ = "0.1.0"
