"""kb: the core library (models, settings, errors, analysis, embeddings, storage, indexes, search)."""
