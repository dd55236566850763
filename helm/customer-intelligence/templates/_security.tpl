{{/*
Security and secrets: which files the server reads, where each comes from, and the checks on their values.

Every secret reaches the server as a file (TLS material, the API key list, the JWT secret or JWKS, and with the
injector the database URL); the ConfigMap only holds the file *paths*. A file comes from the Kubernetes Secret
named for it when one is (mounted read-only, without subPath so rotations reach the pod), otherwise from Vault
when secrets.provider is injector or direct (the KV key of the same name in /vault/secrets, in both modes),
otherwise rendering fails with a message naming the value to set. The Vault wiring is in _vault.tpl.
*/}}

{{/*
Checks the combinations the schema cannot express; fails with a message naming the values to set.
*/}}
{{- define "customer-intelligence.validateSecurity" -}}
{{- $v := .Values }}
{{- $vault := include "customer-intelligence.vaultEnabled" . }}
{{- if not $v.grpc.tls.mode }}
{{- fail "grpc.tls.mode is required: plaintext, tls or mtls. The server refuses to start against a database without an explicit choice; use tls or mtls in production (with grpc.tls.existingSecret, e.g. a cert-manager Certificate's Secret)" }}
{{- end }}
{{- if not $v.auth.mode }}
{{- fail "auth.mode is required: required (API keys and/or JWTs) or none (every caller gets every role). The server refuses to start against a database without an explicit choice" }}
{{- end }}
{{- if ne $v.grpc.tls.mode "plaintext" }}
{{- if or (eq (int $v.grpc.healthPort) (int $v.containerPort)) (eq (int $v.grpc.healthPort) (int $v.metrics.port)) }}
{{- fail "grpc.healthPort must differ from containerPort and metrics.port: with tls/mtls the probes need their own plaintext health port (the kubelet's gRPC probe cannot speak TLS)" }}
{{- end }}
{{- end }}
{{- if and (eq $v.auth.mode "required") (not $v.auth.apiKeys.enabled) (eq $v.auth.jwt.keySource "none") }}
{{- fail "auth.mode=required needs auth.apiKeys.enabled or an auth.jwt.keySource: otherwise no caller can authenticate" }}
{{- end }}
{{- with $v.auth.jwt }}
{{- if ne .keySource "none" }}
{{- if not (and .issuer .audience) }}
{{- fail (printf "auth.jwt.keySource=%s needs auth.jwt.issuer and auth.jwt.audience" .keySource) }}
{{- end }}
{{- if and (eq .keySource "jwksUrl") (not .jwksUrl) }}
{{- fail "auth.jwt.keySource=jwksUrl needs auth.jwt.jwksUrl" }}
{{- end }}
{{- if and (eq .keySource "jwksFile") (ne (len (compact (list .jwksFile.existingConfigMap .jwksFile.existingSecret))) 1) }}
{{- fail "auth.jwt.keySource=jwksFile needs exactly one of auth.jwt.jwksFile.existingConfigMap and auth.jwt.jwksFile.existingSecret" }}
{{- end }}
{{- end }}
{{- end }}
{{- if $vault }}
{{- if not $v.secrets.vault.role }}
{{- fail (printf "secrets.provider=%s needs secrets.vault.role: the server's Vault role of the Kubernetes auth method, bound to the server's ServiceAccount only (each job has its own, secrets.vault.jobs)" $v.secrets.provider) }}
{{- end }}
{{- if and (eq $v.secrets.provider "direct") (not $v.secrets.vault.address) }}
{{- fail "secrets.provider=direct needs secrets.vault.address (VAULT_ADDR)" }}
{{- end }}
{{- end }}
{{- if include "customer-intelligence.vaultDatabase" . }}
{{- if not $v.database.url }}
{{- fail "secrets.vault.database.role needs database.url: the connection string without credentials (Vault supplies them)" }}
{{- end }}
{{- if $v.database.readUrlKey }}
{{- fail "with Vault database credentials the replica is database.readUrl (without credentials), not database.readUrlKey" }}
{{- end }}
{{- if and $v.migration.enabled (eq $v.secrets.provider "direct") (not $v.database.existingSecret) }}
{{- fail "secrets.provider=direct with secrets.vault.database.role: the migration hook cannot log in to Vault (migrate-cli has no Vault client), so it needs database.existingSecret (a schema owner's DATABASE_URL), or set migration.enabled=false and migrate otherwise" }}
{{- end }}
{{- else }}
{{- if not $v.database.existingSecret }}
{{- fail "database.existingSecret is required: the Secret holding DATABASE_URL (or, with secrets.provider injector/direct, set secrets.vault.database.role and database.url for Vault-issued credentials)" }}
{{- end }}
{{- if or $v.database.url $v.database.readUrl }}
{{- fail "database.url and database.readUrl are only used with Vault database credentials (secrets.vault.database.role); otherwise the connection strings come from database.existingSecret" }}
{{- end }}
{{- end }}
{{- $plan := include "customer-intelligence.secretPlan" . | fromYaml }}
{{- if and $vault (not $plan.vaultKeys) (not (include "customer-intelligence.vaultDatabase" .)) }}
{{- fail (printf "secrets.provider=%s, but nothing comes from Vault: set secrets.vault.kv.path with a file secret that names no existing Secret, or secrets.vault.database.role; or use secrets.provider=existingSecret" $v.secrets.provider) }}
{{- end }}
{{- if and $plan.vaultKeys (not $v.secrets.vault.kv.path) }}
{{- fail (printf "secrets.vault.kv.path is required: the KV keys %s come from Vault (or name existing Secrets for them)" (join ", " $plan.vaultKeys)) }}
{{- end }}
{{- if and $v.tests.enabled (ne $v.grpc.tls.mode "plaintext") (not $v.tests.tls.existingSecret) }}
{{- fail (printf "tests.enabled with grpc.tls.mode=%s needs tests.tls.existingSecret (ca.crt to verify the server%s), or set tests.enabled=false" $v.grpc.tls.mode (ternary ", tls.crt/tls.key as the client certificate" "" (eq $v.grpc.tls.mode "mtls"))) }}
{{- end }}
{{- /* One ServiceAccount and one Vault role per workload (_identities.tpl). */}}
{{- include "customer-intelligence.validateIdentities" . }}
{{- end }}

{{/*
The server's secret files as YAML:
  env:       {VARIABLE: path}  file variables for the ConfigMap (paths only)
  vaultKeys: [key, ...]        KV keys read from Vault into /vault/secrets
  volumes:   [...]             read-only Secret/ConfigMap volumes
  mounts:    [...]             their mounts in the server container
*/}}
{{- define "customer-intelligence.secretPlan" -}}
{{- $v := .Values }}
{{- $vault := include "customer-intelligence.vaultEnabled" . }}
{{- $dir := include "customer-intelligence.vaultSecretsDir" . }}
{{- $env := dict }}
{{- $vaultKeys := list }}
{{- $volumes := list }}
{{- $mounts := list }}
{{- $tls := $v.grpc.tls }}
{{- if and $tls.mode (ne $tls.mode "plaintext") }}
{{- $mtls := eq $tls.mode "mtls" }}
{{- if $tls.existingSecret }}
{{- $items := list (dict "key" "tls.crt" "path" "tls.crt") (dict "key" "tls.key" "path" "tls.key") }}
{{- $_ := set $env "TLS_CERT_FILE" "/etc/customer-intelligence/tls/tls.crt" }}
{{- $_ = set $env "TLS_KEY_FILE" "/etc/customer-intelligence/tls/tls.key" }}
{{- if and $mtls (not $tls.clientCa.existingSecret) }}
{{- $items = append $items (dict "key" $tls.clientCa.key "path" "client-ca.crt") }}
{{- $_ = set $env "TLS_CLIENT_CA_FILE" "/etc/customer-intelligence/tls/client-ca.crt" }}
{{- end }}
{{- $volumes = append $volumes (dict "name" "tls" "secret" (dict "secretName" $tls.existingSecret "defaultMode" 288 "items" $items)) }}
{{- $mounts = append $mounts (dict "name" "tls" "mountPath" "/etc/customer-intelligence/tls" "readOnly" true) }}
{{- else if $vault }}
{{- $vaultKeys = concat $vaultKeys (list "tls_cert" "tls_key") }}
{{- $_ := set $env "TLS_CERT_FILE" (printf "%s/tls_cert" $dir) }}
{{- $_ = set $env "TLS_KEY_FILE" (printf "%s/tls_key" $dir) }}
{{- else }}
{{- fail (printf "grpc.tls.mode=%s needs grpc.tls.existingSecret: a kubernetes.io/tls Secret with tls.crt and tls.key (e.g. a cert-manager Certificate's secretName), or a Vault secrets.provider" $tls.mode) }}
{{- end }}
{{- if $mtls }}
{{- if $tls.clientCa.existingSecret }}
{{- $volumes = append $volumes (dict "name" "client-ca" "secret" (dict "secretName" $tls.clientCa.existingSecret "defaultMode" 288 "items" (list (dict "key" $tls.clientCa.key "path" "ca.crt")))) }}
{{- $mounts = append $mounts (dict "name" "client-ca" "mountPath" "/etc/customer-intelligence/client-ca" "readOnly" true) }}
{{- $_ := set $env "TLS_CLIENT_CA_FILE" "/etc/customer-intelligence/client-ca/ca.crt" }}
{{- else if not $tls.existingSecret }}
{{- /* $vault is true here, or the certificate check above failed. */}}
{{- $vaultKeys = append $vaultKeys "tls_client_ca" }}
{{- $_ := set $env "TLS_CLIENT_CA_FILE" (printf "%s/tls_client_ca" $dir) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.auth.apiKeys }}
{{- if .enabled }}
{{- if .existingSecret }}
{{- $volumes = append $volumes (dict "name" "api-keys" "secret" (dict "secretName" .existingSecret "defaultMode" 288 "items" (list (dict "key" .key "path" "api-keys.json")))) }}
{{- $mounts = append $mounts (dict "name" "api-keys" "mountPath" "/etc/customer-intelligence/api-keys" "readOnly" true) }}
{{- $_ := set $env "API_KEYS_FILE" "/etc/customer-intelligence/api-keys/api-keys.json" }}
{{- else if $vault }}
{{- $vaultKeys = append $vaultKeys "api_keys" }}
{{- $_ := set $env "API_KEYS_FILE" (printf "%s/api_keys" $dir) }}
{{- else }}
{{- fail "auth.apiKeys.enabled needs auth.apiKeys.existingSecret: a Secret holding the JSON key list (npm run apikey makes entries), or a Vault secrets.provider" }}
{{- end }}
{{- end }}
{{- end }}
{{- with $v.auth.jwt }}
{{- if eq .keySource "jwksFile" }}
{{- $source := ternary (dict "configMap" (dict "name" .jwksFile.existingConfigMap "items" (list (dict "key" .jwksFile.key "path" "jwks.json")))) (dict "secret" (dict "secretName" .jwksFile.existingSecret "defaultMode" 288 "items" (list (dict "key" .jwksFile.key "path" "jwks.json")))) (ne .jwksFile.existingConfigMap "") }}
{{- $volumes = append $volumes (merge (dict "name" "jwks") $source) }}
{{- $mounts = append $mounts (dict "name" "jwks" "mountPath" "/etc/customer-intelligence/jwks" "readOnly" true) }}
{{- $_ := set $env "JWT_JWKS_FILE" "/etc/customer-intelligence/jwks/jwks.json" }}
{{- else if eq .keySource "hs256Secret" }}
{{- if .hs256Secret.existingSecret }}
{{- $volumes = append $volumes (dict "name" "jwt-secret" "secret" (dict "secretName" .hs256Secret.existingSecret "defaultMode" 288 "items" (list (dict "key" .hs256Secret.key "path" "hs256-secret")))) }}
{{- $mounts = append $mounts (dict "name" "jwt-secret" "mountPath" "/etc/customer-intelligence/jwt" "readOnly" true) }}
{{- $_ := set $env "JWT_HS256_SECRET_FILE" "/etc/customer-intelligence/jwt/hs256-secret" }}
{{- else if $vault }}
{{- $vaultKeys = append $vaultKeys "jwt_hs256_secret" }}
{{- $_ := set $env "JWT_HS256_SECRET_FILE" (printf "%s/jwt_hs256_secret" $dir) }}
{{- else }}
{{- fail "auth.jwt.keySource=hs256Secret needs auth.jwt.hs256Secret.existingSecret, or a Vault secrets.provider" }}
{{- end }}
{{- end }}
{{- end }}
{{- if $vault }}
{{- /* The Vault login token: projected, short-lived, never the automounted API token. */}}
{{- $token := dict "path" "token" "expirationSeconds" 3600 }}
{{- with $v.secrets.vault.tokenAudience }}
{{- $_ := set $token "audience" . }}
{{- end }}
{{- $volumes = append $volumes (dict "name" "vault-token" "projected" (dict "sources" (list (dict "serviceAccountToken" $token)))) }}
{{- if eq $v.secrets.provider "direct" }}
{{- /* Only the server's own client reads it; with the injector only the agent mounts it (annotation). */}}
{{- $mounts = append $mounts (dict "name" "vault-token" "mountPath" "/var/run/secrets/vault" "readOnly" true) }}
{{- /* The KV mirror: memory-backed, so secrets never touch the node's disk. */}}
{{- $volumes = append $volumes (dict "name" "vault-secrets" "emptyDir" (dict "medium" "Memory" "sizeLimit" "1Mi")) }}
{{- $mounts = append $mounts (dict "name" "vault-secrets" "mountPath" $dir) }}
{{- with $v.secrets.vault.caCert.existingSecret }}
{{- $volumes = append $volumes (dict "name" "vault-ca" "secret" (dict "secretName" . "defaultMode" 288 "items" (list (dict "key" $v.secrets.vault.caCert.key "path" "ca.crt")))) }}
{{- $mounts = append $mounts (dict "name" "vault-ca" "mountPath" "/etc/customer-intelligence/vault-ca" "readOnly" true) }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (dict "env" $env "vaultKeys" $vaultKeys "volumes" $volumes "mounts" $mounts) }}
{{- end }}

{{/*
Variables for the ConfigMap: transport, authentication, the secret file paths and, in direct mode, the Vault
client's settings. Values only, never secret contents. Output: YAML map VARIABLE: string.
*/}}
{{- define "customer-intelligence.securityEnv" -}}
{{- $v := .Values }}
{{- $plan := include "customer-intelligence.secretPlan" . | fromYaml }}
{{- $env := dict "GRPC_TLS" $v.grpc.tls.mode "AUTH_MODE" $v.auth.mode "REFLECTION_ENABLED" (toString $v.grpc.reflection.enabled) }}
{{- if ne $v.grpc.tls.mode "plaintext" }}
{{- $_ := set $env "HEALTH_PORT" (toString (int64 $v.grpc.healthPort)) }}
{{- $_ = set $env "TLS_RELOAD_INTERVAL_MS" (toString (int64 $v.grpc.tls.reloadIntervalMs)) }}
{{- end }}
{{- if $v.auth.apiKeys.enabled }}
{{- $_ := set $env "API_KEYS_RELOAD_INTERVAL_MS" (toString (int64 $v.auth.apiKeys.reloadIntervalMs)) }}
{{- end }}
{{- with $v.auth.jwt }}
{{- if ne .keySource "none" }}
{{- $_ := set $env "JWT_ISSUER" .issuer }}
{{- $_ = set $env "JWT_AUDIENCE" .audience }}
{{- $_ = set $env "JWT_ROLES_CLAIM" .rolesClaim }}
{{- with .maxTokenAgeSeconds }}
{{- $_ := set $env "JWT_MAX_TOKEN_AGE_S" (toString (int64 .)) }}
{{- end }}
{{- end }}
{{- if eq .keySource "jwksUrl" }}
{{- $_ := set $env "JWT_JWKS_URL" .jwksUrl }}
{{- end }}
{{- end }}
{{- $env = merge $env $plan.env }}
{{- $vault := $v.secrets.vault }}
{{- if include "customer-intelligence.vaultDatabase" . }}
{{- if eq $v.secrets.provider "direct" }}
{{- /* No credentials in it (the schema and validateSecurity refuse them): Vault issues them. */}}
{{- $_ := set $env "DATABASE_URL" $v.database.url }}
{{- else }}
{{- $_ := set $env "DATABASE_URL_FILE" (printf "%s/database_url" (include "customer-intelligence.vaultSecretsDir" .)) }}
{{- end }}
{{- with $v.database.readUrl }}
{{- $_ := set $env "DATABASE_READ_URL" . }}
{{- end }}
{{- end }}
{{- if eq $v.secrets.provider "direct" }}
{{- $_ := set $env "VAULT_ADDR" $vault.address }}
{{- $_ = set $env "VAULT_AUTH" "kubernetes" }}
{{- $_ = set $env "VAULT_ROLE" $vault.role }}
{{- $_ = set $env "VAULT_K8S_MOUNT" $vault.authMount }}
{{- $_ = set $env "VAULT_K8S_TOKEN_FILE" "/var/run/secrets/vault/token" }}
{{- $_ = set $env "VAULT_REQUEST_TIMEOUT_MS" (toString (int64 $vault.requestTimeoutMs)) }}
{{- if $vault.kv.path }}
{{- $_ = set $env "VAULT_KV_MOUNT" $vault.kv.mount }}
{{- $_ = set $env "VAULT_KV_PATH" $vault.kv.path }}
{{- $_ = set $env "VAULT_SECRETS_DIR" (include "customer-intelligence.vaultSecretsDir" .) }}
{{- $_ = set $env "VAULT_KV_REFRESH_MS" (toString (int64 $vault.kv.refreshMs)) }}
{{- end }}
{{- if $vault.database.role }}
{{- $_ = set $env "VAULT_DB_MOUNT" $vault.database.mount }}
{{- $_ = set $env "VAULT_DB_ROLE" $vault.database.role }}
{{- end }}
{{- end }}
{{- toYaml $env }}
{{- end }}
