"""Glossary: defined terms highlighted in any text, definitions one click away, and fed into search."""
