#!/usr/bin/env bash
# The one test command (make test): lint, then every test layer.
# With CI=true an e2e suite that cannot get its control plane fails instead of skipping,
# and so does the differential test of image references against the Go parser.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ -x hack/controlplane/build.sh ] && command -v go >/dev/null 2>&1; then
  bash hack/controlplane/build.sh
  bash hack/refprobe/build.sh
elif [ "${CI:-}" = "true" ]; then
  echo "error: Go is needed to build the local control plane for the e2e tests" \
       "and the reference probe for the differential test" >&2
  exit 1
else
  echo "note: no Go toolchain; e2e tests and the differential test against the Go reference parser will be skipped. Build the control plane (make controlplane)" \
       "or point HOSTNS_E2E_KUBECONFIG at a cluster (kind) to run them." >&2
fi
# helm for the chart tests (tests/unit/test_chart.py, tests/e2e/test_helm_e2e.py), built
# from its pinned Go module; the tests find it with the same script.
if command -v go >/dev/null 2>&1; then
  bash hack/tools/build.sh helm >/dev/null
  bash hack/tools/build.sh actionlint >/dev/null  # lints docs/github-actions/ (test_sarif.py)
  bash hack/tools/build.sh promtool >/dev/null  # tests the alert rules (test_alerts.py)
elif [ "${CI:-}" = "true" ]; then
  echo "error: Go is needed to build helm, actionlint and promtool for the chart, workflow and alert tests" >&2
  exit 1
else
  echo "note: no Go toolchain; the Helm chart, workflow and alert tests will be skipped (make helm builds helm)." >&2
fi
.venv/bin/ruff check operator tests bench hack
.venv/bin/mypy
set +e
$PY -m pytest tests "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
