# Two commands on a fresh machine: `make quickstart` and `make test`. Both install what they need first.
VENV ?= .venv
FLAVOR := $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.foundry-installed-$(FLAVOR)

.PHONY: install quickstart test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) scripts/setup.sh $(FLAVOR)
	touch $@

quickstart: install
	rm -rf out/quickstart
	$(VENV)/bin/foundry run configs/quickstart.yaml

test: install
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests

bench: install
	$(VENV)/bin/python benchmarks/p1_throughput.py

clean:
	rm -rf out .pytest_cache
