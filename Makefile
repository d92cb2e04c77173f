# The two commands: `make run` (the whole system on this machine) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Compiled modules are kept (in __pycache__, ignored by git) even where the environment asks Python not to write
# them: without them every test process compiled the project and rewrote the tests' asserts again (about 7 s of
# CPU each), and `make run` compiled the project at every start.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint typecheck imports bench clean chromium config-push faq-eval faq-import package

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip>=24,<26.3"  # chalice 1.34 needs pip < 26.3
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	PORT=$(PORT) $(BIN)/python -m local

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy's cache is per user, as the local stack's text vectors are: a fresh clone type-checks in a second, not 22 s
# (mypy checks each cached module against its source's hash, so a cache from another clone is never taken as is).
typecheck: $(STAMP)
	MYPY_CACHE_DIR=$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cs-platform/mypy $(BIN)/mypy

# The dependency contracts in .importlinter (layers, no import cycle).
imports: $(STAMP)
	PYTHONPATH=. $(BIN)/lint-imports

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool), with a Chinese font so the
# zh-CN pages render their glyphs (WenQuanYi Micro Hei: 1.6 MB, against 56 MB for Noto CJK).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
chromium:
	@test -x /usr/bin/chromium -a -f $(CJK_FONT) || { $(SUDO) apt-get update -qq \
		&& $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; }

# The tests on TEST_WORKERS processes (pytest-xdist; pyproject.toml sets how tests are shared out): one per core
# of the 2-core machine; more oversubscribe it (each end-to-end worker drives a stack process and a browser) and
# stretch the 1-second ACK waits of the e2e stacks. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2
test: $(STAMP) lint typecheck imports chromium
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=15

bench: $(STAMP)
	$(BIN)/python -m bench

# Measure the shipped FAQ matcher on any knowledge base (formats in docs/faq-matching.md):
#   make faq-eval KB=faqs.jsonl QUERIES=queries.jsonl [SIMILAR=labelled.jsonl] [OUT=result.json]
faq-eval: $(STAMP)
	@test -n "$(QUERIES)" -a -n "$(KB)$(SIMILAR)" || { echo "usage: make faq-eval KB=<faqs.jsonl> QUERIES=<queries.jsonl> [SIMILAR=<labelled.jsonl>] [OUT=<result.json>]" >&2; exit 2; }
	$(BIN)/python -m chalicelib.faq.evaluate --queries $(QUERIES) $(if $(KB),--kb $(KB)) $(if $(SIMILAR),--similar $(SIMILAR)) $(if $(OUT),--out $(OUT))

# Import FAQ files into the knowledge base of STAGE (every row checked first; then DynamoDB, then the index);
# SIMILAR adds labelled queries as similar questions (formats in docs/knowledge-base.md):
#   make faq-import FILE=../shared/data/faq/bitext_faqs.jsonl SIMILAR=../shared/data/faq/bitext_queries_dev.jsonl STAGE=prod
faq-import: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make faq-import FILE=<faqs.jsonl|.csv> [SIMILAR=<labelled.jsonl>] [STAGE=prod]" >&2; exit 2; }
	$(if $(STAGE),STAGE=$(STAGE) TABLE_PREFIX=cs-$(STAGE)) $(BIN)/python -m chalicelib.faq import $(FILE) $(if $(SIMILAR),--similar $(SIMILAR))

# Validate FILE (one or more of config/{hours,groups,routing}.json) with the documents in SSM, then write it:
#   make config-push FILE=config/groups.json STAGE=prod
config-push: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make config-push FILE=config/groups.json [STAGE=prod]" >&2; exit 2; }
	$(BIN)/python -m chalicelib.config push $(FILE) $(if $(STAGE),--path /cs-$(STAGE)/config)

# The deployable stack for STAGE (dev or prod) in build/$(STAGE)/: sam.json (chalice package merged with
# infra/template.json, every function on python3.12) and deployment.zip (the app and its dependencies built for
# that runtime, trimmed, checked by importing the app and embedding a sentence); prints the sizes. See docs/deploy.md.
#   make package STAGE=prod
package: $(STAMP)
	$(BIN)/python -m infra.package --stage $(or $(STAGE),dev) --check

clean:
	rm -rf $(VENV) .local .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -not -path "./.venv/*" -prune -exec rm -rf {} +
