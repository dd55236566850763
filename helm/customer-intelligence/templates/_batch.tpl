{{/*
Batch CronJobs: the scoring, training and retention CLIs of the server image on a schedule (cronjobs.yaml),
their NetworkPolicy (networkpolicy-batch.yaml) and the server's ingress from the scoring jobs.

What the CLIs read, and therefore what the chart gives them:
- DATABASE_URL or DATABASE_URL_FILE (batch/src/cli/batch-environment.ts, read once at start): from a Kubernetes
  Secret, or with the Vault Agent injector and Vault database credentials from a file the agent's init
  container renders (the CLIs have no Vault client of their own). Unset, a CLI would start the embedded
  quick-start Postgres, so the chart never renders a batch job without one of them.
- score-cli: SCORING_ADDRESS, BATCH_RUN_ID, JOB_COMPLETION_INDEX (set by Kubernetes) and the client side of the
  server's security (batch/src/score/scoring-credentials.ts) as files: from the Secrets named in
  cronJobs.scoring, else with the Vault Agent injector from the server's KV secret (keys batch_*), rendered by
  an init container only (pre-populate-only) so the Job can finish.
*/}}

{{/*
Name of a batch CronJob, "<fullname>-<job>", cut so every name Kubernetes derives from it is valid: a CronJob's
Jobs are "<name>-<scheduled minute, 8 digits>" and must fit in a label value (63), hence at most 52; an Indexed
Job's pods get the hostname "<job name>-<index>" (63 at most), hence 53 - the digits of the highest index.
Call with (dict "context" $ "job" "<job name>" "shards" <shards, or 0 for an ordinary Job>).
*/}}
{{- define "customer-intelligence.cronJobName" -}}
{{- $max := 52 }}
{{- if .shards }}
{{- $max = sub 53 (len (toString (sub (int64 .shards) 1))) }}
{{- end }}
{{- $fullname := include "customer-intelligence.fullname" .context }}
{{- printf "%s-%s" ($fullname | trunc (int (sub (sub $max 1) (len .job))) | trimSuffix "-") .job }}
{{- end }}

{{/*
The rendered batch jobs as YAML {jobs: [...]}, each with:
  name        the CronJob suffix, the container name and the pods' app.kubernetes.io/component
  cronJobName the CronJob's name
  schedule    cron expression (in cronJobs.timeZone)
  args        the CLI and its flags
  scoring     true for the scoring jobs (they call the server)
  shards, parallelism, backoffLimitPerIndex   scoring: an Indexed Job of `shards` completions
  backoffLimit                                 training, retention: an ordinary Job
  activeDeadlineSeconds, resources
Empty when cronJobs.enabled is false; a job whose own enabled is false is left out.
*/}}
{{- define "customer-intelligence.batchJobs" -}}
{{- $c := .Values.cronJobs }}
{{- $jobs := list }}
{{- if $c.enabled }}
{{- range $model := list "churn" "clv" }}
{{- $job := index $c.scoring $model }}
{{- if $job.enabled }}
{{- $shards := int64 $job.shards }}
{{- /* 0 = every shard at once; more than the shards would only be capped by Kubernetes. */}}
{{- $parallelism := $shards }}
{{- if gt (int64 $job.parallelism) 0 }}
{{- $parallelism = min (int64 $job.parallelism) $shards }}
{{- end }}
{{- $jobs = append $jobs (dict
  "name" (printf "score-%s" $model)
  "schedule" $job.schedule
  "args" (list "dist/batch/src/score/score-cli.js" "--model" $model "--shard-count" (toString $shards))
  "scoring" true
  "shards" $shards
  "parallelism" $parallelism
  "backoffLimitPerIndex" (int64 $job.backoffLimitPerIndex)
  "activeDeadlineSeconds" (int64 $job.activeDeadlineSeconds)
  "resources" ($job.resources | default dict)
) }}
{{- end }}
{{- end }}
{{- with $c.training }}
{{- if .enabled }}
{{- /* The Postgres model registry (no --out): what every server replica serves. */}}
{{- $args := list "dist/batch/src/train/train-cli.js" "--margin" (toString .margin) }}
{{- range .models }}
{{- $args = concat $args (list "--model" .) }}
{{- end }}
{{- $jobs = append $jobs (dict
  "name" "train"
  "schedule" .schedule
  "args" $args
  "backoffLimit" (int64 .backoffLimit)
  "activeDeadlineSeconds" (int64 .activeDeadlineSeconds)
  "resources" (.resources | default dict)
) }}
{{- end }}
{{- end }}
{{- with $c.retention }}
{{- if .enabled }}
{{- /* Dropping a partition needs its owner: the schema owner's Vault role, not the jobs' (see batchDatabase). */}}
{{- $jobs = append $jobs (dict
  "name" "retention"
  "schedule" .schedule
  "args" (list "dist/batch/src/retention/retention-cli.js" "--retention-days" (toString (int64 .retentionDays)))
  "backoffLimit" (int64 .backoffLimit)
  "activeDeadlineSeconds" (int64 .activeDeadlineSeconds)
  "resources" (.resources | default dict)
  "vaultRole" (.vaultRole | default $.Values.secrets.vault.database.migrationRole)
) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $jobs }}
{{- $_ := set . "cronJobName" (include "customer-intelligence.cronJobName" (dict "context" $ "job" .name "shards" (.shards | default 0))) }}
{{- end }}
{{- toYaml (dict "jobs" $jobs) }}
{{- end }}

{{/*
Where the batch jobs' database URL comes from, as YAML: {secret: {name, key}} for DATABASE_URL from a Secret,
or {vaultRole: <role>} for DATABASE_URL_FILE rendered by the Vault Agent injector's init container. In order:
cronJobs.database.existingSecret; with the injector and Vault database credentials, Vault
(the job's own vaultRole — retention's, see batchJobs —, else cronJobs.database.vaultRole, else the server's
role); database.existingSecret. Fails when none applies (the direct provider's Vault client is the server's:
the CLIs cannot use it).
Takes {context, job} (job: one of batchJobs' jobs; an empty dict for what all jobs share).
*/}}
{{- define "customer-intelligence.batchDatabase" -}}
{{- $v := .context.Values }}
{{- $key := $v.cronJobs.database.urlKey | default $v.database.urlKey }}
{{- if $v.cronJobs.database.existingSecret }}
{{- toYaml (dict "secret" (dict "name" $v.cronJobs.database.existingSecret "key" $key)) }}
{{- else if and (eq $v.secrets.provider "injector") (include "customer-intelligence.vaultDatabase" .context) }}
{{- toYaml (dict "vaultRole" (.job.vaultRole | default $v.cronJobs.database.vaultRole | default $v.secrets.vault.database.role)) }}
{{- else if $v.database.existingSecret }}
{{- toYaml (dict "secret" (dict "name" $v.database.existingSecret "key" $key)) }}
{{- else }}
{{- fail "cronJobs need cronJobs.database.existingSecret (or database.existingSecret): a Secret holding the batch jobs' DATABASE_URL, or secrets.provider=injector with Vault database credentials (secrets.vault.database.role)" }}
{{- end }}
{{- end }}

{{/*
How the scoring jobs reach and authenticate to the server, as YAML like secretPlan's:
  env:       {VARIABLE: value}  SCORING_ADDRESS, SCORING_TLS and the SCORING_*_FILE paths (never contents)
  vaultKeys: [key, ...]         KV keys the injector renders into /vault/secrets
  volumes:   [...]              read-only Secret volumes
  mounts:    [...]              their mounts in the scoring container
A file comes from the Secret named for it, else (injector only) from the KV key batch_*, else rendering fails
with a message naming the value to set.
*/}}
{{- define "customer-intelligence.scoringClientPlan" -}}
{{- $v := .Values }}
{{- $s := $v.cronJobs.scoring }}
{{- $provider := $v.secrets.provider }}
{{- $injector := eq $provider "injector" }}
{{- $dir := include "customer-intelligence.vaultSecretsDir" . }}
{{- /* Outside the injector a missing Secret is an error; say why Vault is no way out in direct mode. */}}
{{- $noVault := ternary " (with secrets.provider=direct the batch CLIs cannot read Vault: they have no Vault client)" "" (eq $provider "direct") }}
{{- $port := int64 $v.service.port }}
{{- $address := printf "%s.%s.svc:%d" (include "customer-intelligence.fullname" .) .Release.Namespace $port }}
{{- if $v.service.headless.enabled }}
{{- /* Every ready pod's address, balanced round-robin by the client. */}}
{{- $address = printf "dns:///%s.%s.svc:%d" (include "customer-intelligence.headlessName" .) .Release.Namespace $port }}
{{- end }}
{{- $tls := ne $v.grpc.tls.mode "plaintext" }}
{{- $env := dict "SCORING_ADDRESS" $address "SCORING_TLS" (ternary "tls" "plaintext" $tls) }}
{{- if and $tls $v.service.headless.enabled }}
{{- /* Dial every pod through the headless name; check the certificate for the Service's name. */}}
{{- $_ := set $env "SCORING_TLS_SERVER_NAME" (printf "%s.%s.svc" (include "customer-intelligence.fullname" .) .Release.Namespace) }}
{{- end }}
{{- $vaultKeys := list }}
{{- $volumes := list }}
{{- $mounts := list }}
{{- if $tls }}
{{- $mtls := eq $v.grpc.tls.mode "mtls" }}
{{- if $s.tls.existingSecret }}
{{- $items := list (dict "key" "ca.crt" "path" "ca.crt") }}
{{- $_ := set $env "SCORING_TLS_CA_FILE" "/etc/customer-intelligence/scoring-tls/ca.crt" }}
{{- if $mtls }}
{{- $items = concat $items (list (dict "key" "tls.crt" "path" "tls.crt") (dict "key" "tls.key" "path" "tls.key")) }}
{{- $_ = set $env "SCORING_TLS_CERT_FILE" "/etc/customer-intelligence/scoring-tls/tls.crt" }}
{{- $_ = set $env "SCORING_TLS_KEY_FILE" "/etc/customer-intelligence/scoring-tls/tls.key" }}
{{- end }}
{{- $volumes = append $volumes (dict "name" "scoring-tls" "secret" (dict "secretName" $s.tls.existingSecret "defaultMode" 288 "items" $items)) }}
{{- $mounts = append $mounts (dict "name" "scoring-tls" "mountPath" "/etc/customer-intelligence/scoring-tls" "readOnly" true) }}
{{- else if $injector }}
{{- $vaultKeys = append $vaultKeys "batch_tls_ca" }}
{{- $_ := set $env "SCORING_TLS_CA_FILE" (printf "%s/batch_tls_ca" $dir) }}
{{- if $mtls }}
{{- $vaultKeys = concat $vaultKeys (list "batch_tls_cert" "batch_tls_key") }}
{{- $_ = set $env "SCORING_TLS_CERT_FILE" (printf "%s/batch_tls_cert" $dir) }}
{{- $_ = set $env "SCORING_TLS_KEY_FILE" (printf "%s/batch_tls_key" $dir) }}
{{- end }}
{{- else }}
{{- fail (printf "the scoring CronJobs with grpc.tls.mode=%s need cronJobs.scoring.tls.existingSecret: ca.crt to verify the server%s (e.g. a cert-manager Certificate from the same CA)%s" $v.grpc.tls.mode (ternary ", tls.crt/tls.key as the client certificate" "" $mtls) $noVault) }}
{{- end }}
{{- end }}
{{- if eq $v.auth.mode "required" }}
{{- $c := $s.credential }}
{{- $apiKey := eq $c.type "apiKey" }}
{{- if and $apiKey (not $v.auth.apiKeys.enabled) }}
{{- fail "cronJobs.scoring.credential.type=apiKey needs auth.apiKeys.enabled: the server would refuse the key (or use credential.type bearerToken with a JWT key source)" }}
{{- end }}
{{- if and (not $apiKey) (eq $v.auth.jwt.keySource "none") }}
{{- fail "cronJobs.scoring.credential.type=bearerToken needs an auth.jwt.keySource: the server could not verify the token" }}
{{- end }}
{{- $variable := ternary "SCORING_API_KEY_FILE" "SCORING_BEARER_TOKEN_FILE" $apiKey }}
{{- $file := ternary "api-key" "bearer-token" $apiKey }}
{{- if $c.existingSecret }}
{{- $volumes = append $volumes (dict "name" "scoring-credential" "secret" (dict "secretName" $c.existingSecret "defaultMode" 288 "items" (list (dict "key" $c.key "path" $file)))) }}
{{- $mounts = append $mounts (dict "name" "scoring-credential" "mountPath" "/etc/customer-intelligence/scoring-credential" "readOnly" true) }}
{{- $_ := set $env $variable (printf "/etc/customer-intelligence/scoring-credential/%s" $file) }}
{{- else if $injector }}
{{- $key := ternary "batch_api_key" "batch_bearer_token" $apiKey }}
{{- $vaultKeys = append $vaultKeys $key }}
{{- $_ := set $env $variable (printf "%s/%s" $dir $key) }}
{{- else }}
{{- fail (printf "the scoring CronJobs with auth.mode=required need cronJobs.scoring.credential.existingSecret: a Secret holding %s with the batch role%s" (ternary "an API key" "a JWT" $apiKey) $noVault) }}
{{- end }}
{{- end }}
{{- if and $vaultKeys (not $v.secrets.vault.kv.path) }}
{{- fail (printf "secrets.vault.kv.path is required: the KV keys %s of the scoring CronJobs come from Vault (or name existing Secrets for them in cronJobs.scoring)" (join ", " $vaultKeys)) }}
{{- end }}
{{- toYaml (dict "env" $env "vaultKeys" $vaultKeys "volumes" $volumes "mounts" $mounts) }}
{{- end }}

{{/*
KV keys the batch pods get from Vault (YAML {keys: [...]}): the scoring jobs' with the injector, none otherwise.
See batchUsesVault for whether any batch pod runs the Vault Agent.
*/}}
{{- define "customer-intelligence.batchVaultKeys" -}}
{{- $keys := list }}
{{- if eq .Values.secrets.provider "injector" }}
{{- range (include "customer-intelligence.batchJobs" . | fromYaml).jobs }}
{{- if .scoring }}
{{- $keys = (include "customer-intelligence.scoringClientPlan" $ | fromYaml).vaultKeys }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (dict "keys" $keys) }}
{{- end }}

{{/*
Whether any batch pod runs the Vault Agent's init container ("true" or ""): for the scoring jobs' KV keys, or
for every job's database credentials.
*/}}
{{- define "customer-intelligence.batchUsesVault" -}}
{{- $jobs := (include "customer-intelligence.batchJobs" . | fromYaml).jobs }}
{{- if $jobs }}
{{- if or (include "customer-intelligence.batchVaultKeys" . | fromYaml).keys (include "customer-intelligence.batchDatabase" (dict "context" . "job" dict) | fromYaml).vaultRole }}true{{ end }}
{{- end }}
{{- end }}
