{{/*
Chart name, truncated to a DNS label.
*/}}
{{- define "customer-intelligence.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: "<release>-<chart>", or the release name when it already contains the chart name.
*/}}
{{- define "customer-intelligence.fullname" -}}
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

{{/*
Name of the headless Service (the full name is cut so the suffix always fits in 63 characters).
*/}}
{{- define "customer-intelligence.headlessName" -}}
{{- printf "%s-headless" (include "customer-intelligence.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/*
Name of the metrics Service (cut like the headless one).
*/}}
{{- define "customer-intelligence.metricsName" -}}
{{- printf "%s-metrics" (include "customer-intelligence.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{/*
"chart-version" for the helm.sh/chart label.
*/}}
{{- define "customer-intelligence.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object: the standard ones and commonLabels. Never used in selectors: they carry the chart and
app versions, which change, and whatever commonLabels holds.
*/}}
{{- define "customer-intelligence.labels" -}}
{{ include "customer-intelligence.standardLabels" . }}
{{- with include "customer-intelligence.commonLabels" . }}
{{ . }}
{{- end }}
{{- end }}

{{/*
The chart's own labels of every object (app.kubernetes.io/component aside, which each object adds).
*/}}
{{- define "customer-intelligence.standardLabels" -}}
helm.sh/chart: {{ include "customer-intelligence.chart" . }}
{{ include "customer-intelligence.selectorLabels" . }}
app.kubernetes.io/version: {{ include "customer-intelligence.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: customer-intelligence
{{- end }}

{{/*
commonLabels as YAML (nothing when empty), without the keys the chart sets itself: the schema refuses them
already, and a duplicate key would make the objects invalid YAML.
*/}}
{{- define "customer-intelligence.commonLabels" -}}
{{- with omit (.Values.commonLabels | default dict) "helm.sh/chart" "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/part-of" "app.kubernetes.io/component" }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
Release-wide selector labels (name + instance): stable for the release's lifetime.
*/}}
{{- define "customer-intelligence.selectorLabels" -}}
app.kubernetes.io/name: {{ include "customer-intelligence.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Selector of the server pods: the release labels plus the component, so the migration and test pods of the
same release are never selected by the Deployment, the Services, the PDB or the NetworkPolicy.
*/}}
{{- define "customer-intelligence.serverSelectorLabels" -}}
{{ include "customer-intelligence.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{/*
Labels of an object or pod that carries user labels too: the standard labels and the component win over
`extra` (the kind's own labels, e.g. podLabels), which wins over commonLabels, so a user label can never change
what the chart's selectors match.
Call with (dict "context" $ "component" "<component>" "extra" <map or nil>).
*/}}
{{- define "customer-intelligence.labelsWithExtra" -}}
{{- $labels := include "customer-intelligence.standardLabels" .context | fromYaml }}
{{- $_ := set $labels "app.kubernetes.io/component" .component }}
{{- $common := include "customer-intelligence.commonLabels" .context | fromYaml }}
{{- toYaml (merge $labels (.extra | default dict) $common) }}
{{- end }}

{{/*
Annotations of an object's metadata (never of a pod template: see podAnnotations in _pods.tpl): the chart's own
(`own`, e.g. helm.sh/hook) over the kind's (`extra`, e.g. service.annotations) over commonAnnotations. Renders a
YAML map, or nothing when all are empty.
Call with (dict "context" $ "own" <map or nil> "extra" <map or nil>).
*/}}
{{- define "customer-intelligence.annotations" -}}
{{- with merge (deepCopy (.own | default dict)) (deepCopy (.extra | default dict)) (.context.Values.commonAnnotations | default dict) }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/*
NetworkPolicy peers from a list of {namespaceLabels, podLabels}: both = those pods in those namespaces,
namespaceLabels alone = every pod of those namespaces, podLabels alone = those pods in the release namespace.
*/}}
{{- define "customer-intelligence.networkPolicyPeers" -}}
{{- range . }}
{{- $peer := dict }}
{{- with .namespaceLabels }}
{{- $_ := set $peer "namespaceSelector" (dict "matchLabels" .) }}
{{- end }}
{{- with .podLabels }}
{{- $_ := set $peer "podSelector" (dict "matchLabels" .) }}
{{- end }}
- {{ toYaml $peer | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/*
A value as a ConfigMap string: strings as they are, whole numbers as integers (never 4.194304e+06),
fractions as decimals (0.25).
*/}}
{{- define "customer-intelligence.envValue" -}}
{{- if kindIs "string" . }}
{{- . | quote }}
{{- else if and (kindIs "float64" .) (ne (floor .) (float64 .)) }}
{{- . | toString | quote }}
{{- else }}
{{- . | int64 | quote }}
{{- end }}
{{- end }}

{{/*
Service account of the server pods.
*/}}
{{- define "customer-intelligence.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "customer-intelligence.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The server version actually deployed, for the app.kubernetes.io/version label: the image tag when one is set
(the appVersion otherwise), cut to a valid label value. A digest-pinned image keeps its tag (or the appVersion)
here: the digest is not a version and does not fit a label.
*/}}
{{- define "customer-intelligence.version" -}}
{{- default .Chart.AppVersion .Values.image.tag | trunc 63 | trimAll "-._" }}
{{- end }}

{{/*
An image repository with global.imageRegistry in front when one is set (bitnami's global.imageRegistry: every
image of the release from one registry, e.g. a mirror).
Call with (dict "context" $ "repository" "<repository>").
*/}}
{{- define "customer-intelligence.imageRepository" -}}
{{- with (.context.Values.global | default dict).imageRegistry }}
{{- printf "%s/%s" (trimSuffix "/" .) $.repository }}
{{- else }}
{{- .repository }}
{{- end }}
{{- end }}

{{/*
Image reference of the server (also the migration hook's and the CronJobs'): repository@digest when a digest
is set, else repository:tag (tag defaults to appVersion); the repository behind global.imageRegistry.
*/}}
{{- define "customer-intelligence.image" -}}
{{- $repository := include "customer-intelligence.imageRepository" (dict "context" . "repository" .Values.image.repository) }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Image of the `helm test` pod, likewise behind global.imageRegistry.
*/}}
{{- define "customer-intelligence.testImage" -}}
{{- $image := .Values.tests.image }}
{{- $repository := include "customer-intelligence.imageRepository" (dict "context" . "repository" $image.repository) }}
{{- if $image.digest }}
{{- printf "%s@%s" $repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $repository $image.tag }}
{{- end }}
{{- end }}

{{/*
Pod-level security context shared by the server, migration and test pods.
*/}}
{{- define "customer-intelligence.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Container-level security context shared by every container of the chart.
*/}}
{{- define "customer-intelligence.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The server's DATABASE_URL (and DATABASE_READ_URL) from the existing Secret; nothing when Vault issues the
credentials (the ConfigMap then holds DATABASE_URL_FILE or a URL without credentials).
*/}}
{{- define "customer-intelligence.databaseEnv" -}}
{{- if not (include "customer-intelligence.vaultDatabase" .) }}
{{- include "customer-intelligence.databaseSecretEnv" . }}
{{- end }}
{{- end }}

{{/*
The env entries the chart gives the server container (a YAML list, or nothing): the database URLs from the
Secret and, with the direct provider and a private Vault CA, NODE_EXTRA_CA_CERTS. extraEnv follows them and
may not reuse their names (see serverEnvNames).
*/}}
{{- define "customer-intelligence.serverEnv" -}}
{{- include "customer-intelligence.databaseEnv" . }}
{{- if and (eq .Values.secrets.provider "direct") .Values.secrets.vault.caCert.existingSecret }}
# The CA of Vault's certificate, for the server's Vault client (Node reads it at start).
- name: NODE_EXTRA_CA_CERTS
  value: /etc/customer-intelligence/vault-ca/ca.crt
{{- end }}
{{- end }}

{{/*
Names of every variable the chart sets in the server container, as a YAML list: its ConfigMap's keys (envFrom)
and its env entries (serverEnv).
*/}}
{{- define "customer-intelligence.serverEnvNames" -}}
{{- $names := keys ((include (print .Template.BasePath "/configmap.yaml") . | fromYaml).data | default dict) }}
{{- range include "customer-intelligence.serverEnv" . | fromYamlArray }}
{{- $names = append $names .name }}
{{- end }}
{{- toYaml (sortAlpha $names) }}
{{- end }}

{{/*
DATABASE_URL (and DATABASE_READ_URL when configured) from the existing Secret.
*/}}
{{- define "customer-intelligence.databaseSecretEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret | quote }}
      key: {{ .Values.database.urlKey | quote }}
{{- if .Values.database.readUrlKey }}
- name: DATABASE_READ_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret | quote }}
      key: {{ .Values.database.readUrlKey | quote }}
{{- end }}
{{- end }}

{{/*
Seconds the kubelet waits after starting termination: preStop sleep + the server's drain (SHUTDOWN_GRACE_MS,
rounded up) + a margin for the ordered shutdown. test/chart/manifests.test.ts pins that it covers both.
*/}}
{{- define "customer-intelligence.terminationGracePeriodSeconds" -}}
{{- $drainSeconds := div (add (int .Values.config.shutdownGraceMs) 999) 1000 }}
{{- add (int .Values.lifecycle.preStopSleepSeconds) $drainSeconds (int .Values.lifecycle.terminationGraceExtraSeconds) }}
{{- end }}

{{/*
The PersistentVolumeClaim of the audit spill: auditSpill.persistence.existingClaim, or the one the chart
creates (cut like the headless Service's name).
*/}}
{{- define "customer-intelligence.auditSpillClaimName" -}}
{{- with .Values.auditSpill.persistence.existingClaim }}
{{- . }}
{{- else }}
{{- printf "%s-audit-spill" (include "customer-intelligence.fullname" . | trunc 51 | trimSuffix "-") }}
{{- end }}
{{- end }}
