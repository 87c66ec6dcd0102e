"""LLM backends behind one interface (embedded llama.cpp server or any OpenAI-compatible one)."""
