{{/*
Vault: whether secrets and database credentials come from Vault, where its secrets land in the pods, the
migration hook's Vault login, and the Vault Agent injector's annotations.

With secrets.provider injector the agent renders every secret into /vault/secrets (the KV keys, and with
secrets.vault.database.role the database URL from dynamic credentials); with direct the server's own Vault
client mirrors the KV keys there and fetches the database credentials itself. Which keys are needed is decided
in _security.tpl (secretPlan).
*/}}

{{/* Where Vault secrets land in the server container, in both Vault modes. */}}
{{- define "customer-intelligence.vaultSecretsDir" -}}
/vault/secrets
{{- end }}

{{/* Whether secrets come from Vault ("true" or ""). */}}
{{- define "customer-intelligence.vaultEnabled" -}}
{{- if ne .Values.secrets.provider "existingSecret" }}true{{ end }}
{{- end }}

{{/* Whether Vault issues the database credentials ("true" or ""). */}}
{{- define "customer-intelligence.vaultDatabase" -}}
{{- if and (include "customer-intelligence.vaultEnabled" .) .Values.secrets.vault.database.role }}true{{ end }}
{{- end }}

{{/*
Whether the migration hook needs Vault ("true" or ""): only with the injector and Vault database credentials.
In direct mode migrate-cli has no Vault client, so the hook reads database.existingSecret instead.
*/}}
{{- define "customer-intelligence.migrationUsesVault" -}}
{{- if and .Values.migration.enabled (eq .Values.secrets.provider "injector") (include "customer-intelligence.vaultDatabase" .) }}true{{ end }}
{{- end }}

{{/*
The consul-template that renders DATABASE_URL from dynamic credentials: database.url with the lease's user and
password put in front of the host. Call with (dict "context" $ "role" "<vault database role>").
*/}}
{{- define "customer-intelligence.databaseUrlTemplate" -}}
{{- $v := .context.Values }}
{{- $withCredentials := regexReplaceAll "^(postgres(ql)?)://" $v.database.url "${1}://{{ .Data.username | urlquery }}:{{ .Data.password | urlquery }}@" }}
{{- printf "{{- with secret %q -}}%s{{- end -}}" (printf "%s/creds/%s" $v.secrets.vault.database.mount .role) $withCredentials }}
{{- end }}

{{/*
Vault Agent injector annotations (YAML map). Call with
(dict "context" $ "role" <the workload's Kubernetes-auth role> "keys" <KV keys> "databaseRole" <role or "">
"prePopulateOnly" <bool>).
Each secret becomes /vault/secrets/<key> (mode 0400, owned by the app's user: agent-run-as-same-user). The
agent logs in with the pod's projected "vault-token" volume, not an automounted token. Jobs get
pre-populate-only: the agent runs as an init container only, so the Job can finish (vault-k8s#120, #133).
*/}}
{{- define "customer-intelligence.injectorAnnotations" -}}
{{- $v := .context.Values }}
{{- $vault := $v.secrets.vault }}
{{- $annotations := dict
  "vault.hashicorp.com/agent-inject" "true"
  "vault.hashicorp.com/role" (required "injectorAnnotations needs a role" .role)
  "vault.hashicorp.com/auth-path" (printf "auth/%s" $vault.authMount)
  "vault.hashicorp.com/agent-service-account-token-volume-name" "vault-token"
  "vault.hashicorp.com/agent-run-as-same-user" "true"
}}
{{- with $vault.address }}
{{- $_ := set $annotations "vault.hashicorp.com/service" . }}
{{- end }}
{{- with $vault.caCert.existingSecret }}
{{- $_ := set $annotations "vault.hashicorp.com/tls-secret" . }}
{{- $_ := set $annotations "vault.hashicorp.com/ca-cert" (printf "/vault/tls/%s" $vault.caCert.key) }}
{{- end }}
{{- if .prePopulateOnly }}
{{- $_ := set $annotations "vault.hashicorp.com/agent-pre-populate-only" "true" }}
{{- end }}
{{- $kvPath := printf "%s/data/%s" $vault.kv.mount $vault.kv.path }}
{{- range .keys }}
{{- $_ := set $annotations (printf "vault.hashicorp.com/agent-inject-secret-%s" .) $kvPath }}
{{- $_ = set $annotations (printf "vault.hashicorp.com/agent-inject-template-%s" .) (printf "{{- with secret %q -}}{{ .Data.data.%s }}{{- end -}}" $kvPath .) }}
{{- $_ = set $annotations (printf "vault.hashicorp.com/agent-inject-perms-%s" .) "0400" }}
{{- end }}
{{- with .databaseRole }}
{{- $_ := set $annotations "vault.hashicorp.com/agent-inject-secret-database_url" (printf "%s/creds/%s" $vault.database.mount .) }}
{{- $_ = set $annotations "vault.hashicorp.com/agent-inject-template-database_url" (include "customer-intelligence.databaseUrlTemplate" (dict "context" $.context "role" .)) }}
{{- $_ = set $annotations "vault.hashicorp.com/agent-inject-perms-database_url" "0400" }}
{{- end }}
{{- toYaml (merge $annotations $vault.injectorAnnotations) }}
{{- end }}
