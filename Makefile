# hostns-operator developer targets. `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test unit lint e2e bench run clean lock controlplane cluster demo helm promtool chart-crds

$(STAMP): requirements-dev.lock pyproject.toml $(wildcard requirements-tools.txt) $(wildcard requirements-checkov.txt)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.lock
	if [ -f requirements-tools.txt ]; then $(PY) -m pip install -q -r requirements-tools.txt; fi
	# checkov pins packaging<24, which conflicts with our lock: it gets a venv of its own.
	if [ -f requirements-checkov.txt ]; then \
	  test -x $(VENV)/checkov/bin/python || $(PYTHON) -m venv $(VENV)/checkov; \
	  $(VENV)/checkov/bin/pip install -q -r requirements-checkov.txt; \
	fi
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP) ## create .venv with pinned dependencies and the package

test: $(STAMP) ## every test layer: unit, kmock operator, CLI, e2e on a real kube-apiserver
	bash hack/test.sh

unit: $(STAMP) ## fast tests only (no control plane)
	$(PY) -m pytest tests --ignore=tests/e2e

lint: $(STAMP) ## ruff + mypy --strict
	$(VENV)/bin/ruff check operator tests bench hack
	$(VENV)/bin/mypy

e2e: $(STAMP) controlplane ## end-to-end suite (builds the local control plane if needed)
	$(PY) -m pytest tests/e2e

controlplane: ## build kube-apiserver, kube-controller-manager + etcd from Go modules (cached outside the tree)
	bash hack/controlplane/build.sh

helm: ## build helm from its pinned Go module (cached outside the tree); prints its path
	bash hack/tools/build.sh helm

promtool: ## build promtool from its pinned Go module (cached outside the tree); prints its path
	bash hack/tools/build.sh promtool

chart-crds: ## copy crds/ (and the prevention policy and alert rules) into the Helm chart (a unit test fails when the copy is stale)
	rm -f charts/hostns-operator/files/crds/*.yaml
	cp $(filter-out crds/kustomization.yaml,$(wildcard crds/*.yaml)) charts/hostns-operator/files/crds/
	mkdir -p charts/hostns-operator/files/prevention
	cp deploy/components/prevention/policy.yaml charts/hostns-operator/files/prevention/
	mkdir -p charts/hostns-operator/files/prometheusrule
	cp deploy/components/prometheusrule/prometheusrule.yaml charts/hostns-operator/files/prometheusrule/

cluster: $(STAMP) controlplane ## start a local control plane for kubectl and `hostns run` (Ctrl-C stops it); CLUSTER_ARGS=--controllers adds kube-controller-manager
	$(PY) hack/controlplane/launcher.py $(CLUSTER_ARGS)

demo: $(STAMP) ## local control plane + CRDs + operator + sample pods; DEMO_KUBECONFIG=path uses that cluster instead
	HOSTNS_DEMO_KUBECONFIG=$(DEMO_KUBECONFIG) $(PY) hack/demo.py

bench: $(STAMP) ## engine benchmark (pods evaluated per second)
	$(PY) -m pytest bench -s --benchmark-columns=mean,ops,rounds

.PHONY: bench-audit
bench-audit: $(STAMP) ## hostns audit on a generated 1 GB audit log: MB/s and peak RSS
	$(PY) bench/audit_throughput.py --size-mb 1024 --gzip

run: $(STAMP) ## run the operator against the current kubeconfig context
	$(VENV)/bin/hostns run

lock: ## re-pin dependencies after editing pyproject.toml
	$(VENV)/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile -q --strip-extras --extra dev --no-emit-index-url --no-emit-find-links -o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
