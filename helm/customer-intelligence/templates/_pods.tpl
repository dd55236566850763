{{/*
Pod settings every kind of pod the chart makes takes from its own values: the server from the top level
(podAnnotations, podLabels, resources, nodeSelector, tolerations, affinity, priorityClassName), the migration
hook from migration.*, the batch CronJobs from cronJobs.* (resources per job) and the `helm test` pod from
tests.*. A mesh, a ResourceQuota or a dedicated node pool can so be served per kind (test/chart/pod-settings.test.ts).
*/}}

{{/*
Scheduling fields of a pod spec, rendered at column 0 (nindent them): the kind's priorityClassName,
nodeSelector, tolerations and affinity. For the migration, batch and test pods an empty nodeSelector or
tolerations is the server's (the same node pool), and an empty affinity is the server's nodeAffinity only: its
pod (anti-)affinity terms are about server pods. priorityClassName is never inherited, so a batch job cannot
preempt the servers with their class.
Call with (dict "context" $ "pod" <the kind's values; .Values for the server>).
*/}}
{{- define "customer-intelligence.podScheduling" -}}
{{- $server := .context.Values }}
{{- $pod := .pod }}
{{- with $pod.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with $pod.nodeSelector | default $server.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $pod.tolerations | default $server.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $affinity := $pod.affinity | default dict }}
{{- if and (not $affinity) ($server.affinity | default dict).nodeAffinity }}
{{- $affinity = dict "nodeAffinity" $server.affinity.nodeAffinity }}
{{- end }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
Annotations of a pod: the chart's own (`own`, e.g. the Vault Agent's or helm.sh/hook) over the kind's
podAnnotations (`extra`), so a user annotation can never switch the chart's wiring off. Renders a YAML map, or
nothing when both are empty.
Call with (dict "own" <map or nil> "extra" <map or nil>).
*/}}
{{- define "customer-intelligence.podAnnotations" -}}
{{- with merge (deepCopy (.own | default dict)) (.extra | default dict) }}
{{- toYaml . }}
{{- end }}
{{- end }}
