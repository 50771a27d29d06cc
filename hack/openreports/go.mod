// Pins the OpenReports API module, whose config/crd/ holds the Report CRD that the
// e2e suite installs (openreports.io/v1alpha1). Nothing here is built: crd.sh asks the
// Go module proxy for this exact version and prints where the CRD manifests are.
module github.com/hostns/hostns-operator/hack/openreports

go 1.24

require github.com/openreports/reports-api v0.2.1
