{{/*
Batch CronJobs: the scoring, training and retention CLIs of the server image on a schedule (cronjobs.yaml),
their NetworkPolicy (networkpolicy-batch.yaml) and the server's ingress from the scoring jobs.

What the CLIs read, and therefore what the chart gives them:
- DATABASE_URL or DATABASE_URL_FILE (batch/src/cli/batch-environment.ts, read once at start): from a Kubernetes
  Secret, or with the Vault Agent injector and Vault database credentials from a file the agent's init
  container renders (the CLIs have no Vault client of their own). Unset, a CLI would start the embedded
  quick-start Postgres, so the chart never renders a batch job without one of them.
- score-cli: SCORING_ADDRESS, BATCH_RUN_ID, JOB_COMPLETION_INDEX (set by Kubernetes) and the client side of the
  server's security (batch/src/cli/server-credentials.ts) as files: from the Secrets named in
  cronJobs.scoring, else with the Vault Agent injector from the server's KV secret (keys batch_*), rendered by
  an init container only (pre-populate-only) so the Job can finish.
- train-cli: the same for the admin API (ADMIN_*, cronJobs.training, KV keys train_*): it registers and
  promotes through the server, which loads a version before it becomes the default and audits the change.
Each job runs as its own ServiceAccount and logs in to Vault with its own role (_identities.tpl), never the
server's.
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
  identity    whose ServiceAccount and Vault roles the pods use (_identities.tpl): score (both scoring
              jobs), train, retention
  cronJobName the CronJob's name
  schedule    cron expression (in cronJobs.timeZone)
  suspend     CronJob spec.suspend
  args        the CLI and its flags
  scoring     true for the scoring jobs
  client      the server API a job calls, for batchClientPlan: scoring (the scoring jobs), admin (training)
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
  "identity" "score"
  "schedule" $job.schedule
  "suspend" ($job.suspend | default false)
  "args" (list "dist/batch/src/score/score-cli.js" "--model" $model "--shard-count" (toString $shards))
  "scoring" true
  "client" "scoring"
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
{{- /* The model registry (no --out), through the server's admin API: what every server replica serves. */}}
{{- $args := list "dist/batch/src/train/train-cli.js" "--margin" (toString .margin) }}
{{- range .models }}
{{- $args = concat $args (list "--model" .) }}
{{- end }}
{{- $jobs = append $jobs (dict
  "name" "train"
  "identity" "train"
  "schedule" .schedule
  "suspend" (.suspend | default false)
  "args" $args
  "client" "admin"
  "backoffLimit" (int64 .backoffLimit)
  "activeDeadlineSeconds" (int64 .activeDeadlineSeconds)
  "resources" (.resources | default dict)
) }}
{{- end }}
{{- end }}
{{- with $c.retention }}
{{- if .enabled }}
{{- /* Dropping a partition needs its owner: retention's own database role (see jobDatabaseRole). */}}
{{- $jobs = append $jobs (dict
  "name" "retention"
  "identity" "retention"
  "schedule" .schedule
  "suspend" (.suspend | default false)
  "args" (list "dist/batch/src/retention/retention-cli.js" "--retention-days" (toString (int64 .retentionDays)))
  "backoffLimit" (int64 .backoffLimit)
  "activeDeadlineSeconds" (int64 .activeDeadlineSeconds)
  "resources" (.resources | default dict)
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
Where a batch job's database URL comes from, as YAML: {secret: {name, key}} for DATABASE_URL from a Secret,
or {databaseRole: <role>} for DATABASE_URL_FILE rendered by the Vault Agent injector's init container. In order:
cronJobs.database.existingSecret; with the injector and Vault database credentials, the job's own database
role (jobDatabaseRole: never the server's, and rendering fails without one); database.existingSecret. Fails
when none applies (the direct provider's Vault client is the server's: the CLIs cannot use it).
Takes {context, job} (job: one of batchJobs' jobs).
*/}}
{{- define "customer-intelligence.batchDatabase" -}}
{{- $v := .context.Values }}
{{- $key := $v.cronJobs.database.urlKey | default $v.database.urlKey }}
{{- if $v.cronJobs.database.existingSecret }}
{{- toYaml (dict "secret" (dict "name" $v.cronJobs.database.existingSecret "key" $key)) }}
{{- else if and (eq $v.secrets.provider "injector") (include "customer-intelligence.vaultDatabase" .context) }}
{{- toYaml (dict "databaseRole" (include "customer-intelligence.jobDatabaseRole" (dict "context" .context "job" .job.identity))) }}
{{- else if $v.database.existingSecret }}
{{- toYaml (dict "secret" (dict "name" $v.database.existingSecret "key" $key)) }}
{{- else }}
{{- fail "cronJobs need cronJobs.database.existingSecret (or database.existingSecret): a Secret holding the batch jobs' DATABASE_URL, or secrets.provider=injector with Vault database credentials (secrets.vault.database.role and each job's secrets.vault.jobs.<job>.databaseRole)" }}
{{- end }}
{{- end }}

{{/*
Whether any batch pod runs the Vault Agent's init container ("true" or ""): see batchJobUsesVault.
*/}}
{{- define "customer-intelligence.batchUsesVault" -}}
{{- $uses := false }}
{{- range (include "customer-intelligence.batchJobs" . | fromYaml).jobs }}
{{- if include "customer-intelligence.batchJobUsesVault" (dict "context" $ "job" .) }}{{ $uses = true }}{{ end }}
{{- end }}
{{- if $uses }}true{{ end }}
{{- end }}
