# Two commands: `make run` (set up + serve the sample corpus) and `make test` (set up + full test suite).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,st]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/kb glossary import corpora/glossary.csv
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/wiki-zh --library wiki-zh
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/wiki-en --library wiki-en
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/docs-html --library docs
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/legacy/kb.jsonl --library legacy
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/legacy/kb.csv --library legacy-csv
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb ingest corpora/mediawiki/export.xml --library mediawiki
	KB_AUTH=$${KB_AUTH:-off} $(BIN)/kb serve --host 127.0.0.1 --port 8000

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .kb
