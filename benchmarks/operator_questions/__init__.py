"""The operator question set: questions.jsonl, its pandas gold (gold.py) and helpers."""
