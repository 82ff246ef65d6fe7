"""The CTC harness: configs, jobs (item x codec x rate point), the resumable runner, reports."""
