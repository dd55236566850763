{{/*
How a batch job reaches and authenticates to the server, as YAML like secretPlan's. Takes
(dict "context" $ "client" <client>), the client being one of
  scoring  the scoring jobs: ScoreStream with the batch role; SCORING_* variables (score-cli); the credential
           and tls of cronJobs.scoring; the KV keys batch_*
  admin    the training job: ModelAdminService with the admin role; ADMIN_* variables (train-cli); the
           credential and tls of cronJobs.training (its tls.existingSecret empty = cronJobs.scoring's: the
           same CA verifies the server); the KV keys train_*
and answering
  env:       {VARIABLE: value}  <PREFIX>_ADDRESS, <PREFIX>_TLS and the <PREFIX>_*_FILE paths (never contents)
  vaultKeys: [key, ...]         KV keys the injector renders into /vault/secrets
  volumes:   [...]              read-only Secret volumes
  mounts:    [...]              their mounts in the job's container
A file comes from the Secret named for it, else (injector only) from the KV key, else rendering fails with a
message naming the value to set.
*/}}
{{- define "customer-intelligence.batchClientPlan" -}}
{{- $v := .context.Values }}
{{- $scoring := eq .client "scoring" }}
{{- $prefix := ternary "SCORING" "ADMIN" $scoring }}
{{- $values := ternary "cronJobs.scoring" "cronJobs.training" $scoring }}
{{- $jobs := ternary "the scoring CronJobs" "the training CronJob" $scoring }}
{{- $need := ternary "need" "needs" $scoring }}
{{- $role := ternary "batch" "admin" $scoring }}
{{- $kv := ternary "batch" "train" $scoring }}
{{- $name := ternary "scoring" "admin" $scoring }}
{{- $s := ternary $v.cronJobs.scoring $v.cronJobs.training $scoring }}
{{- $tlsSecret := $s.tls.existingSecret | default $v.cronJobs.scoring.tls.existingSecret }}
{{- $provider := $v.secrets.provider }}
{{- $injector := eq $provider "injector" }}
{{- $dir := include "customer-intelligence.vaultSecretsDir" .context }}
{{- /* Outside the injector a missing Secret is an error; say why Vault is no way out in direct mode. */}}
{{- $noVault := ternary " (with secrets.provider=direct the batch CLIs cannot read Vault: they have no Vault client)" "" (eq $provider "direct") }}
{{- $port := int64 $v.service.port }}
{{- $fullname := include "customer-intelligence.fullname" .context }}
{{- $namespace := .context.Release.Namespace }}
{{- $address := printf "%s.%s.svc:%d" $fullname $namespace $port }}
{{- if $v.service.headless.enabled }}
{{- /* Every ready pod's address, balanced round-robin by the client. */}}
{{- $address = printf "dns:///%s.%s.svc:%d" (include "customer-intelligence.headlessName" .context) $namespace $port }}
{{- end }}
{{- $tls := ne $v.grpc.tls.mode "plaintext" }}
{{- $env := dict (printf "%s_ADDRESS" $prefix) $address (printf "%s_TLS" $prefix) (ternary "tls" "plaintext" $tls) }}
{{- if and $tls $v.service.headless.enabled }}
{{- /* Dial every pod through the headless name; check the certificate for the Service's name. */}}
{{- $_ := set $env (printf "%s_TLS_SERVER_NAME" $prefix) (printf "%s.%s.svc" $fullname $namespace) }}
{{- end }}
{{- $vaultKeys := list }}
{{- $volumes := list }}
{{- $mounts := list }}
{{- if $tls }}
{{- $mtls := eq $v.grpc.tls.mode "mtls" }}
{{- $tlsDir := printf "/etc/customer-intelligence/%s-tls" $name }}
{{- if $tlsSecret }}
{{- $items := list (dict "key" "ca.crt" "path" "ca.crt") }}
{{- $_ := set $env (printf "%s_TLS_CA_FILE" $prefix) (printf "%s/ca.crt" $tlsDir) }}
{{- if $mtls }}
{{- $items = concat $items (list (dict "key" "tls.crt" "path" "tls.crt") (dict "key" "tls.key" "path" "tls.key")) }}
{{- $_ = set $env (printf "%s_TLS_CERT_FILE" $prefix) (printf "%s/tls.crt" $tlsDir) }}
{{- $_ = set $env (printf "%s_TLS_KEY_FILE" $prefix) (printf "%s/tls.key" $tlsDir) }}
{{- end }}
{{- $volumes = append $volumes (dict "name" (printf "%s-tls" $name) "secret" (dict "secretName" $tlsSecret "defaultMode" 288 "items" $items)) }}
{{- $mounts = append $mounts (dict "name" (printf "%s-tls" $name) "mountPath" $tlsDir "readOnly" true) }}
{{- else if $injector }}
{{- $vaultKeys = append $vaultKeys (printf "%s_tls_ca" $kv) }}
{{- $_ := set $env (printf "%s_TLS_CA_FILE" $prefix) (printf "%s/%s_tls_ca" $dir $kv) }}
{{- if $mtls }}
{{- $vaultKeys = concat $vaultKeys (list (printf "%s_tls_cert" $kv) (printf "%s_tls_key" $kv)) }}
{{- $_ = set $env (printf "%s_TLS_CERT_FILE" $prefix) (printf "%s/%s_tls_cert" $dir $kv) }}
{{- $_ = set $env (printf "%s_TLS_KEY_FILE" $prefix) (printf "%s/%s_tls_key" $dir $kv) }}
{{- end }}
{{- else }}
{{- fail (printf "%s with grpc.tls.mode=%s %s %s.tls.existingSecret: ca.crt to verify the server%s (e.g. a cert-manager Certificate from the same CA)%s" $jobs $v.grpc.tls.mode $need $values (ternary ", tls.crt/tls.key as the client certificate" "" $mtls) $noVault) }}
{{- end }}
{{- end }}
{{- if eq $v.auth.mode "required" }}
{{- $c := $s.credential }}
{{- $apiKey := eq $c.type "apiKey" }}
{{- if and $apiKey (not $v.auth.apiKeys.enabled) }}
{{- fail (printf "%s.credential.type=apiKey needs auth.apiKeys.enabled: the server would refuse the key (or use credential.type bearerToken with a JWT key source)" $values) }}
{{- end }}
{{- if and (not $apiKey) (eq $v.auth.jwt.keySource "none") }}
{{- fail (printf "%s.credential.type=bearerToken needs an auth.jwt.keySource: the server could not verify the token" $values) }}
{{- end }}
{{- $variable := printf "%s_%s" $prefix (ternary "API_KEY_FILE" "BEARER_TOKEN_FILE" $apiKey) }}
{{- $file := ternary "api-key" "bearer-token" $apiKey }}
{{- $credentialDir := printf "/etc/customer-intelligence/%s-credential" $name }}
{{- if $c.existingSecret }}
{{- $volumes = append $volumes (dict "name" (printf "%s-credential" $name) "secret" (dict "secretName" $c.existingSecret "defaultMode" 288 "items" (list (dict "key" $c.key "path" $file)))) }}
{{- $mounts = append $mounts (dict "name" (printf "%s-credential" $name) "mountPath" $credentialDir "readOnly" true) }}
{{- $_ := set $env $variable (printf "%s/%s" $credentialDir $file) }}
{{- else if $injector }}
{{- $key := printf "%s_%s" $kv (ternary "api_key" "bearer_token" $apiKey) }}
{{- $vaultKeys = append $vaultKeys $key }}
{{- $_ := set $env $variable (printf "%s/%s" $dir $key) }}
{{- else }}
{{- fail (printf "%s with auth.mode=required %s %s.credential.existingSecret: a Secret holding %s with the %s role%s" $jobs $need $values (ternary "an API key" "a JWT" $apiKey) $role $noVault) }}
{{- end }}
{{- end }}
{{- if and $vaultKeys (not $v.secrets.vault.kv.path) }}
{{- fail (printf "secrets.vault.kv.path is required: the KV keys %s of %s come from Vault (or name existing Secrets for them in %s)" (join ", " $vaultKeys) $jobs $values) }}
{{- end }}
{{- toYaml (dict "env" $env "vaultKeys" $vaultKeys "volumes" $volumes "mounts" $mounts) }}
{{- end }}
