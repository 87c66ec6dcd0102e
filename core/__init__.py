"""Settings and errors every layer shares; imports nothing of ours."""
