"""Event data, sequence models and scoring."""
