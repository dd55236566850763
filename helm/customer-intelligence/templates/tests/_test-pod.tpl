{{/*
What every `helm test` pod shares (test-health.yaml, test-score.yaml), so they cannot drift apart: the name
"<fullname>-<suffix>" (63 characters at most), the labels (component "test", which the NetworkPolicy admits)
and tests.podLabels, the hook annotations over tests.podAnnotations, and the pod-level spec up to
`containers:` (no restart, no service-account token, the tests.* scheduling, the pull secrets and the hardened
security context).
Call with (dict "context" $ "suffix" "test-health").
*/}}
{{- define "customer-intelligence.testPod" -}}
{{- $ := .context }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ printf "%s-%s" (include "customer-intelligence.fullname" $ | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
  labels:
    {{- include "customer-intelligence.labelsWithExtra" (dict "context" $ "component" "test" "extra" $.Values.tests.podLabels) | nindent 4 }}
  {{- /* tests.podAnnotations, e.g. sidecar.istio.io/inject "false": a sidecar would keep the test pod running. */}}
  {{- $hook := dict "helm.sh/hook" "test" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" }}
  annotations:
    {{- include "customer-intelligence.annotations" (dict "context" $ "own" $hook "extra" $.Values.tests.podAnnotations) | nindent 4 }}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  {{- with include "customer-intelligence.podScheduling" (dict "context" $ "pod" $.Values.tests) | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- with $.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "customer-intelligence.podSecurityContext" $ | nindent 4 }}
{{- end }}

{{/*
The test pods' TLS files with grpc.tls.mode tls/mtls: a volume "tls" of tests.tls.existingSecret with ca.crt
and, with mtls, tls.crt/tls.key, and nothing else (the Secret may be the server's own, whose key must not
travel), mounted at the directory below. Renders a list item of `volumes:` at column 0 (nindent it).
*/}}
{{- define "customer-intelligence.testTlsDir" -}}
/etc/customer-intelligence/test-tls
{{- end }}
{{- define "customer-intelligence.testTlsVolume" -}}
- name: tls
  secret:
    secretName: {{ .Values.tests.tls.existingSecret | quote }}
    defaultMode: 288 # 0440: readable by fsGroup
    items:
      - key: ca.crt
        path: ca.crt
      {{- if eq .Values.grpc.tls.mode "mtls" }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}

{{/*
The Service address the test pods call: "<fullname>.<namespace>.svc:<service.port>", the name the server
certificate must carry with tls/mtls.
*/}}
{{- define "customer-intelligence.testAddress" -}}
{{- printf "%s.%s.svc:%d" (include "customer-intelligence.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}
