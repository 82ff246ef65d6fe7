"""Split-point analysis (docs/split-analysis.md): where to cut a task network, what the cut
costs in bits, accuracy and latency. `graph` finds the cuts of an ONNX graph and their compute,
`measure` codes each cut's tensors and scores the task, `rd_model` fits rate-accuracy curves,
`planner` picks the split and rate point of least latency or energy, `report` writes the tables
and plots."""
