{{/*
Checks of values that render but that the API server, Prometheus or the server itself would refuse, and that
the schema cannot express (they relate two values, or need parsing). validateSecurity (_security.tpl) checks
the security choices.
*/}}

{{/*
A Prometheus duration (1y2w3d4h5m6s7ms; the schema checks the format) in milliseconds; a year is 365 days.
*/}}
{{- define "customer-intelligence.durationMs" -}}
{{- $unitMs := dict "y" 31536000000 "w" 604800000 "d" 86400000 "h" 3600000 "m" 60000 "s" 1000 "ms" 1 }}
{{- $total := 0 }}
{{- /* "ms" before "m": Go's regexp takes the first alternative that matches. */}}
{{- range regexFindAll "[0-9]+(ms|[ywdhms])" (toString .) -1 }}
{{- $count := regexFind "^[0-9]+" . }}
{{- $total = add $total (mul (int64 $count) (get $unitMs (trimPrefix $count .))) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
A config value, or the server's default when it is unset (server/src/config/config.ts).
Call with (dict "value" <value or nil> "default" <number>).
*/}}
{{- define "customer-intelligence.configMs" -}}
{{- if kindIs "invalid" .value }}{{ .default }}{{ else }}{{ int64 .value }}{{ end }}
{{- end }}

{{/*
Collects every problem and fails once, listing them all, each naming the value to change, so one run of
`helm template`, `install` or `lint --strict` reports each (test/chart/value-checks.test.ts). Included by
deployment.yaml, which every release renders.
*/}}
{{- define "customer-intelligence.validateValues" -}}
{{- $v := .Values }}
{{- $problems := list }}
{{- if eq (int $v.metrics.port) (int $v.containerPort) }}
{{- $problems = append $problems "metrics.port must differ from containerPort: /metrics and gRPC listen on separate ports" }}
{{- end }}
{{- /* config.ts refuses FEATURE_QUERY_TIMEOUT_MS >= REQUEST_TIMEOUT_MS at start: every pod would crash-loop. */}}
{{- $featureMs := include "customer-intelligence.configMs" (dict "value" $v.config.featureQueryTimeoutMs "default" 500) | int64 }}
{{- $requestMs := include "customer-intelligence.configMs" (dict "value" $v.config.requestTimeoutMs "default" 5000) | int64 }}
{{- if ge $featureMs $requestMs }}
{{- $problems = append $problems (printf "config.featureQueryTimeoutMs (%d) must be below config.requestTimeoutMs (%d): the server refuses to start otherwise, so every pod would crash-loop" $featureMs $requestMs) }}
{{- end }}
{{- /* Past the probe's window the kubelet restarts the container before the server can log why it gives up. */}}
{{- $waitMs := include "customer-intelligence.configMs" (dict "value" $v.config.startupDatabaseTimeoutMs "default" 30000) | int64 }}
{{- $windowMs := mul $v.probes.startup.periodSeconds $v.probes.startup.failureThreshold 1000 }}
{{- if ge $waitMs $windowMs }}
{{- $problems = append $problems (printf "config.startupDatabaseTimeoutMs (%d) must be below the startup probe's window, probes.startup.periodSeconds x probes.startup.failureThreshold (%d ms): otherwise the kubelet restarts the server while it still waits for the database" $waitMs $windowMs) }}
{{- end }}
{{- with $v.autoscaling }}
{{- if and .enabled (not (dig "requests" "cpu" "" ($v.resources | default dict))) }}
{{- $problems = append $problems "autoscaling.enabled needs resources.requests.cpu: the HPA's CPU target is a percentage of it" }}
{{- end }}
{{- if and .enabled (gt (int64 .minReplicas) (int64 .maxReplicas)) }}
{{- $problems = append $problems (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d): the API server refuses the HorizontalPodAutoscaler" (int64 .minReplicas) (int64 .maxReplicas)) }}
{{- end }}
{{- end }}
{{- range $index, $constraint := $v.topologySpread }}
{{- if and (not (kindIs "invalid" $constraint.minDomains)) (ne $constraint.whenUnsatisfiable "DoNotSchedule") }}
{{- $problems = append $problems (printf "topologySpread[%d].minDomains needs whenUnsatisfiable DoNotSchedule (it is %s): the API server refuses minDomains otherwise" $index $constraint.whenUnsatisfiable) }}
{{- end }}
{{- end }}
{{- range $monitor := list "serviceMonitor" "podMonitor" }}
{{- with index $v.metrics $monitor }}
{{- if and .enabled .interval .scrapeTimeout }}
{{- if gt (include "customer-intelligence.durationMs" .scrapeTimeout | int64) (include "customer-intelligence.durationMs" .interval | int64) }}
{{- $problems = append $problems (printf "metrics.%s.scrapeTimeout (%s) must not exceed metrics.%s.interval (%s): Prometheus refuses the scrape configuration" $monitor .scrapeTimeout $monitor .interval) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled }}
{{- $problems = append $problems "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled: choose one, or Prometheus scrapes every pod twice (and every series is doubled)" }}
{{- end }}
{{- with $v.grpcRoute }}
{{- if and .enabled (not .parentRefs) }}
{{- $problems = append $problems "grpcRoute.enabled needs grpcRoute.parentRefs: a GRPCRoute attached to no Gateway routes nothing" }}
{{- end }}
{{- end }}
{{- /*
The server keeps one spill directory per process (server/src/audit/audit-spill.ts): on a claim two pods would
share, each would delete the other's unfinished segments and replay the same ones.
*/}}
{{- with $v.auditSpill.persistence }}
{{- if .enabled }}
{{- if not $v.auditSpill.enabled }}
{{- $problems = append $problems "auditSpill.persistence.enabled needs auditSpill.enabled: there is no spill directory to put on the claim" }}
{{- end }}
{{- if $v.autoscaling.enabled }}
{{- $problems = append $problems "auditSpill.persistence.enabled needs one server pod, but autoscaling.enabled may run several: the server keeps one spill directory per process, and pods sharing the claim would delete and replay each other's segments" }}
{{- else if gt (int64 $v.replicaCount) 1 }}
{{- $problems = append $problems (printf "auditSpill.persistence.enabled needs replicaCount 1 (it is %d): the server keeps one spill directory per process, and pods sharing the claim would delete and replay each other's segments" (int64 $v.replicaCount)) }}
{{- end }}
{{- end }}
{{- end }}
{{- /*
The URLs land in the ConfigMap in plain text (or in the Vault Agent's template), so they must carry no
credential: the schema forbids userinfo; here the query parameters pg-connection-string would use. Any name
containing "password" (sslpassword too), "user" (it would replace the user Vault issues) and any
percent-encoded name (pass%77ord decodes to password), in any case. The message never repeats the URL.
*/}}
{{- range $key := list "url" "readUrl" }}
{{- if regexMatch "(?i)[?&]([^=&#]*(password|%)[^=&#]*|user)(=|&|#|$)" (toString (index $v.database $key | default "")) }}
{{- $problems = append $problems (printf "database.%s must not carry credentials: remove its password or user query parameter (or percent-encoded parameter name); Vault supplies them, and this URL is stored in plain text" $key) }}
{{- end }}
{{- end }}
{{- /* Type NodePort and LoadBalancer are "externally facing": the API server refuses these fields on others. */}}
{{- with $v.service }}
{{- $external := has .type (list "NodePort" "LoadBalancer") }}
{{- if and (gt (int64 (.nodePort | default 0)) 0) (not $external) }}
{{- $problems = append $problems (printf "service.nodePort (%d) needs service.type NodePort or LoadBalancer (it is %s): the API server refuses a node port on any other type" (int64 .nodePort) .type) }}
{{- end }}
{{- if and .externalTrafficPolicy (not $external) }}
{{- $problems = append $problems (printf "service.externalTrafficPolicy (%s) needs service.type NodePort or LoadBalancer (it is %s): the API server refuses it on any other type" .externalTrafficPolicy .type) }}
{{- end }}
{{- if and .loadBalancerSourceRanges (ne .type "LoadBalancer") }}
{{- $problems = append $problems (printf "service.loadBalancerSourceRanges needs service.type LoadBalancer (it is %s): the API server refuses them on any other type" .type) }}
{{- end }}
{{- end }}
{{- /*
The server pod's extension points may add to what the chart renders, never replace it: an extraEnv entry
later in env would silently win over the chart's variable (a ConfigMap key or an env entry), and a volume name
or a mount path used twice is refused by the API server only when the upgrade is applied.
*/}}
{{- $chartEnv := include "customer-intelligence.serverEnvNames" . | fromYamlArray }}
{{- range $index, $variable := $v.extraEnv }}
{{- if has $variable.name $chartEnv }}
{{- $problems = append $problems (printf "extraEnv[%d] sets %s, which the chart sets itself: change it through the chart's own value (README, Deploy with Helm) rather than overriding it" $index $variable.name) }}
{{- end }}
{{- end }}
{{- /* The Deployment's own volumes and mounts: tmp and audit-spill there, the rest from secretPlan. */}}
{{- $plan := include "customer-intelligence.secretPlan" . | fromYaml }}
{{- $volumes := list "tmp" }}
{{- $mountPaths := list "/tmp" }}
{{- if $v.auditSpill.enabled }}
{{- $volumes = append $volumes "audit-spill" }}
{{- $mountPaths = append $mountPaths "/var/lib/customer-intelligence/audit-spill" }}
{{- end }}
{{- range $plan.volumes }}
{{- $volumes = append $volumes .name }}
{{- end }}
{{- range $plan.mounts }}
{{- $mountPaths = append $mountPaths .mountPath }}
{{- end }}
{{- range $index, $volume := $v.extraVolumes }}
{{- if has $volume.name $volumes }}
{{- $problems = append $problems (printf "extraVolumes[%d] is named %s, a volume of the chart's (%s): give it another name" $index $volume.name (join ", " $volumes)) }}
{{- end }}
{{- end }}
{{- range $index, $mount := $v.extraVolumeMounts }}
{{- if has (trimSuffix "/" $mount.mountPath) $mountPaths }}
{{- $problems = append $problems (printf "extraVolumeMounts[%d] mounts at %s, where the chart mounts a volume of its own: choose another mountPath" $index $mount.mountPath) }}
{{- end }}
{{- end }}
{{- with $problems }}
{{- fail (printf "invalid values:\n- %s" (join "\n- " .)) }}
{{- /*
Only reached under `helm lint`, where fail merely logs (helm/helm#8973, #11957) and lint would pass: an object
`helm lint --strict` refuses (its name is not a DNS name), so lint fails too, after logging the message above.
*/}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: "INVALID VALUES: see the [INFO] Fail message helm lint printed"
---
{{- end }}
{{- end }}

{{/*
Fails, naming the value, when an object of a CRD is asked for but the cluster does not serve its API: the
install would otherwise stop at the API server ("no matches for kind"), after the pre-install hook has already
migrated the database. `helm install/upgrade` read the served APIs from the cluster (group/version and
group/version/kind); `helm template` knows only the built-in ones plus its --api-versions. The kind-qualified
entry always counts; the group/version alone only when .kindless says so (a group/version that always came
with the kind, as monitoring.coreos.com/v1 did; gateway.networking.k8s.io/v1 was served without GRPCRoute
before Gateway API v1.1). Under `helm lint`, which has no --api-versions, fail only logs "[INFO] Fail" and the
object is still linted (test/chart/observability.test.ts).
Usage: include "customer-intelligence.requireApi" (dict "context" $ "apiVersion" "monitoring.coreos.com/v1"
"kind" "ServiceMonitor" "kindless" true "value" "metrics.serviceMonitor.enabled" "crds" "the prometheus-operator CRDs")
*/}}
{{- define "customer-intelligence.requireApi" -}}
{{- $apis := .context.Capabilities.APIVersions }}
{{- $qualified := printf "%s/%s" .apiVersion .kind }}
{{- if not (or ($apis.Has $qualified) (and .kindless ($apis.Has .apiVersion))) }}
{{- fail (printf "%s, but the cluster serves no %s %s: install %s first (with helm template, pass --api-versions %s)" .value .apiVersion .kind .crds $qualified) }}
{{- end }}
{{- end }}
