"""Retrieval: embeddings, the vector store, incremental indexing and search."""
