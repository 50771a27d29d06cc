{{/*
Names. The fullname is the release name when it already contains the chart name (the
documented `helm install hostns-operator ...` gives the same names as deploy/base).
*/}}
{{- define "hostns-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hostns-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hostns-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object: deploy/base's two (name, part-of) plus Helm's usual ones.
*/}}
{{- define "hostns-operator.labels" -}}
helm.sh/chart: {{ include "hostns-operator.chart" . }}
app.kubernetes.io/name: {{ include "hostns-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hostns-operator
{{- end }}

{{/*
The operator pods, as deploy/base selects them. No instance label: the selector is
immutable, and keeping deploy/base's lets an install move between kustomize and Helm
without deleting the Deployment. The operator is one per cluster anyway (the CRDs and
the findings are shared).
*/}}
{{- define "hostns-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hostns-operator.name" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "hostns-operator.serviceAccountName" -}}
{{- include "hostns-operator.fullname" . }}
{{- end }}

{{- define "hostns-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The Lease the HA replicas share, and its namespace: the operator's defaults
(config.py) unless set.
*/}}
{{- define "hostns-operator.leaseName" -}}
{{- default "hostns-operator" .Values.config.leaderElection.lease }}
{{- end }}

{{- define "hostns-operator.leaseNamespace" -}}
{{- default .Release.Namespace .Values.config.leaderElection.namespace }}
{{- end }}

{{/*
The ClusterRole's rules on namespaced objects. In namespace-restricted mode
(config.namespaces) they go into one Role per namespace instead.
*/}}
{{- define "hostns-operator.namespacedRules" -}}
# Pods are evaluated, never written (SPEC 3 "Read-only on pods"): no annotations, no
# finalizers, no status. list+watch feed kopf's watch and the periodic re-list; get
# serves single reads.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# HostNamespaceViolation Events on pods and verdict Events on findings, in the pod's
# namespace. patch lets a repeated Event be aggregated instead of re-created.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
# Findings are the operator's own objects: created per workload, updated when their
# content changes, deleted after the retention period of a Resolved verdict.
- apiGroups: ["hostns.io"]
  resources: ["hostnamespacefindings"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["hostns.io"]
  resources: ["hostnamespacefindings/status"]
  verbs: ["get", "update", "patch"]
{{- end }}

{{/*
Values the schema cannot judge alone.
*/}}
{{- define "hostns-operator.validate" -}}
{{- if .Values.auditWebhook.enabled }}
{{- if not .Values.auditWebhook.tlsSecret }}
{{- fail "auditWebhook.enabled needs auditWebhook.tlsSecret: a Secret with tls.crt, tls.key (and ca.crt for clientCA)" }}
{{- end }}
{{- if and (not .Values.auditWebhook.clientCA) (not .Values.auditWebhook.tokenSecret) }}
{{- fail "auditWebhook.enabled needs clientCA or tokenSecret: the API server must be authenticated" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The operator's rights on its own OpenReports Reports (deploy/components/openreports/rbac.yaml
says why each verb).
*/}}
{{- define "hostns-operator.openreportsRules" -}}
- apiGroups: ["openreports.io"]
  resources: ["reports"]
  verbs: ["list", "create"]
- apiGroups: ["openreports.io"]
  resources: ["reports"]
  resourceNames: ["hostns-operator"]
  verbs: ["get", "update", "delete"]
{{- end }}
