"""Evaluation of the assistant tools: gold answers computed independently with pandas."""
