"""Ingestion: source connectors, chunking and the pipeline that feeds the store and indexes."""
