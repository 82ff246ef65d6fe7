"""Evaluation tools of the CTC harness: BD metrics (bd), quality metrics (quality), task
metrics (task_metrics), bit counts (bits) and datasets (datasets). Import from the modules."""
