{{/*
Workload identities: one ServiceAccount and one Vault role per workload, so a Vault role bound to one
ServiceAccount admits that workload only. The workloads are
  server     the Deployment: serviceAccount.name, secrets.vault.role, secrets.vault.database.role
  score      both scoring CronJobs: serviceAccount.jobs.score, secrets.vault.jobs.score
  train      the training CronJob: serviceAccount.jobs.train, secrets.vault.jobs.train
  retention  the retention CronJob: serviceAccount.jobs.retention, secrets.vault.jobs.retention
  migration  the migration hook: serviceAccount.jobs.migration, secrets.vault.jobs.migration
No job runs as the server's ServiceAccount or logs in with the server's Vault role, and no job's database role
falls back to another workload's: a compromised server pod can then issue neither the schema owner's
credentials (retention's, the migration's) nor a job's.
*/}}

{{/* The jobs' identity names, in the order of the values. */}}
{{- define "customer-intelligence.jobIdentities" -}}
{{- toYaml (list "score" "train" "retention" "migration") }}
{{- end }}

{{/*
ServiceAccount of a job's pods. Created by the chart (serviceAccount.create): serviceAccount.jobs.<job>.name,
else "<fullname>-<job>" ("<fullname>-migrate" for the migration hook, like its Job), at most 63 characters.
Otherwise the pre-existing serviceAccount.jobs.<job>.name, else the namespace's "default".
Call with (dict "context" $ "job" "<score|train|retention|migration>").
*/}}
{{- define "customer-intelligence.jobServiceAccountName" -}}
{{- $v := .context.Values }}
{{- $name := (index $v.serviceAccount.jobs .job).name }}
{{- if $v.serviceAccount.create }}
{{- $suffix := ternary "migrate" .job (eq .job "migration") }}
{{- $fullname := include "customer-intelligence.fullname" .context }}
{{- default (printf "%s-%s" ($fullname | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix) $name }}
{{- else }}
{{- default "default" $name }}
{{- end }}
{{- end }}

{{/*
The Vault Kubernetes-auth role a job's Vault Agent logs in with (secrets.vault.jobs.<job>.role); rendering
fails when it is empty. Call with (dict "context" $ "job" "<job>").
*/}}
{{- define "customer-intelligence.jobVaultRole" -}}
{{- $role := (index .context.Values.secrets.vault.jobs .job).role }}
{{- if not $role }}
{{- fail (printf "secrets.vault.jobs.%s.role is required: the %s pods' Vault Agent logs in to Vault with it (a Kubernetes-auth role bound to the ServiceAccount %s only; never the server's secrets.vault.role)" .job .job (include "customer-intelligence.jobServiceAccountName" .)) }}
{{- end }}
{{- $role }}
{{- end }}

{{/*
The database secrets engine's role issuing a job's credentials: secrets.vault.jobs.<job>.databaseRole, else
its older value (cronJobs.database.vaultRole for score and train, cronJobs.retention.vaultRole for retention,
secrets.vault.database.migrationRole for the migration); never the server's role, nor another job's. Rendering
fails when none is set. Call with (dict "context" $ "job" "<job>").
*/}}
{{- define "customer-intelligence.jobDatabaseRole" -}}
{{- $v := .context.Values }}
{{- $older := dict
  "score" (list "cronJobs.database.vaultRole" $v.cronJobs.database.vaultRole)
  "train" (list "cronJobs.database.vaultRole" $v.cronJobs.database.vaultRole)
  "retention" (list "cronJobs.retention.vaultRole" $v.cronJobs.retention.vaultRole)
  "migration" (list "secrets.vault.database.migrationRole" $v.secrets.vault.database.migrationRole)
}}
{{- $role := (index $v.secrets.vault.jobs .job).databaseRole | default (index (index $older .job) 1) }}
{{- if not $role }}
{{- $why := dict
  "score" "a member of customer_intelligence_batch (server/src/db/roles.sql)"
  "train" "a member of customer_intelligence_batch (server/src/db/roles.sql)"
  "retention" "the one job role that may own the audit partitions: dropping one needs its owner"
  "migration" "one allowed to change the schema, e.g. its owner"
}}
{{- $instead := ternary "" "; or a Secret holding the batch jobs' DATABASE_URL in cronJobs.database.existingSecret" (eq .job "migration") }}
{{- fail (printf "secrets.vault.jobs.%s.databaseRole is required: the database secrets engine's role issuing the %s pods' credentials with the injector (%s%s). It never defaults to the server's secrets.vault.database.role" .job .job (index $why .job) $instead) }}
{{- end }}
{{- $role }}
{{- end }}

{{/*
Whether a batch job's pods run the Vault Agent's init container ("true" or ""): with the injector, for KV keys
of the server's API or for Vault database credentials. Call with (dict "context" $ "job" <a batchJobs job>).
*/}}
{{- define "customer-intelligence.batchJobUsesVault" -}}
{{- $ := .context }}
{{- if eq $.Values.secrets.provider "injector" }}
{{- $keys := list }}
{{- if .job.client }}
{{- $keys = (include "customer-intelligence.batchClientPlan" (dict "context" $ "client" .job.client) | fromYaml).vaultKeys }}
{{- end }}
{{- if or $keys (include "customer-intelligence.batchDatabase" (dict "context" $ "job" .job) | fromYaml).databaseRole }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The rendered workloads' identities as YAML {workloads: [{name, serviceAccount, vaultRole}]}, vaultRole only
for a workload that logs in to Vault (the server with a Vault provider; a job whose pods run the Vault Agent).
*/}}
{{- define "customer-intelligence.workloadIdentities" -}}
{{- $workloads := list }}
{{- $server := dict "name" "server" "serviceAccount" (include "customer-intelligence.serviceAccountName" .) }}
{{- if include "customer-intelligence.vaultEnabled" . }}
{{- $_ := set $server "vaultRole" .Values.secrets.vault.role }}
{{- end }}
{{- $workloads = append $workloads $server }}
{{- $batch := dict }}
{{- range (include "customer-intelligence.batchJobs" . | fromYaml).jobs }}
{{- $identity := get $batch .identity | default (dict "name" .identity "serviceAccount" (include "customer-intelligence.jobServiceAccountName" (dict "context" $ "job" .identity))) }}
{{- if include "customer-intelligence.batchJobUsesVault" (dict "context" $ "job" .) }}
{{- $_ := set $identity "vaultRole" (include "customer-intelligence.jobVaultRole" (dict "context" $ "job" .identity)) }}
{{- end }}
{{- $_ := set $batch .identity $identity }}
{{- end }}
{{- range $job := include "customer-intelligence.jobIdentities" . | fromYamlArray }}
{{- with get $batch $job }}
{{- $workloads = append $workloads . }}
{{- end }}
{{- end }}
{{- if .Values.migration.enabled }}
{{- $migration := dict "name" "migration" "serviceAccount" (include "customer-intelligence.jobServiceAccountName" (dict "context" $ "job" "migration")) }}
{{- if include "customer-intelligence.migrationUsesVault" . }}
{{- $_ := set $migration "vaultRole" (include "customer-intelligence.jobVaultRole" (dict "context" $ "job" "migration")) }}
{{- end }}
{{- $workloads = append $workloads $migration }}
{{- end }}
{{- toYaml (dict "workloads" $workloads) }}
{{- end }}

{{/*
Fails when two rendered workloads share a Vault role, or a ServiceAccount (unless it is the namespace's
"default" and neither logs in to Vault: nothing then tells them apart, and nothing needs to).
*/}}
{{- define "customer-intelligence.validateIdentities" -}}
{{- $workloads := (include "customer-intelligence.workloadIdentities" . | fromYaml).workloads }}
{{- $accountValue := dict "server" "serviceAccount.name" }}
{{- $roleValue := dict "server" "secrets.vault.role" }}
{{- range $job := include "customer-intelligence.jobIdentities" . | fromYamlArray }}
{{- $_ := set $accountValue $job (printf "serviceAccount.jobs.%s.name" $job) }}
{{- $_ = set $roleValue $job (printf "secrets.vault.jobs.%s.role" $job) }}
{{- end }}
{{- range $i, $a := $workloads }}
{{- range $b := slice $workloads (add1 $i) }}
{{- if and $a.vaultRole (eq $a.vaultRole ($b.vaultRole | default "")) }}
{{- fail (printf "%s and %s are both %q: the %s and %s pods would log in to Vault as each other. Give each workload its own Vault role, bound to its own ServiceAccount only" (index $roleValue $a.name) (index $roleValue $b.name) $a.vaultRole $a.name $b.name) }}
{{- end }}
{{- if and (eq $a.serviceAccount $b.serviceAccount) (or (ne $a.serviceAccount "default") $a.vaultRole $b.vaultRole) }}
{{- fail (printf "the %s and %s pods would both run as the ServiceAccount %q (%s, %s): give each workload its own, so a Vault role bound to one admits no other" $a.name $b.name $a.serviceAccount (index $accountValue $a.name) (index $accountValue $b.name)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
