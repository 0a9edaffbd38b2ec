{{/* The release's full name: the release name, or <release>-kvsync when it does not contain "kvsync". */}}
{{- define "kvsync.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kvsync.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kvsync.labels" -}}
{{ include "kvsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "kvsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kvsync.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kvsync.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Fixed by the controller (src/controller/webhook.ts): one configuration and one certificate Secret per cluster. */}}
{{- define "kvsync.webhookConfigurationName" -}}kvsync-webhook{{- end -}}
{{- define "kvsync.webhookSecretName" -}}kvsync-webhook-tls{{- end -}}
{{- define "kvsync.webhookServiceName" -}}{{ include "kvsync.fullname" . }}-webhook{{- end -}}
{{/* src/controller/mac.ts and src/controller/controller.ts */}}
{{- define "kvsync.macKeySecretName" -}}kvsync-mac-key{{- end -}}
{{- define "kvsync.leaseName" -}}kvsync-controller{{- end -}}

{{/* The controller's arguments; the chart test parses them with `kvsync controller`'s own parser. */}}
{{- define "kvsync.args" -}}
{{- $v := .Values -}}
{{- $a := list "controller" (printf "--namespace=%s" .Release.Namespace) (printf "--health-addr=0.0.0.0:%v" $v.healthPort) (printf "--log-level=%s" $v.logLevel) (printf "--concurrency=%v" $v.concurrency) (printf "--leader-elect=%t" $v.leaderElection.enabled) -}}
{{- with $v.watchNamespace }}{{ $a = append $a (printf "--watch-namespace=%s" .) }}{{ end -}}
{{- if not $v.tlsSources.enabled }}{{ $a = append $a "--tls-sources=false" }}{{ end -}}
{{- with $v.allowedVaultHosts }}{{ $a = append $a (printf "--allowed-vault-hosts=%s" (join "," .)) }}{{ end -}}
{{- if $v.webhook.enabled -}}
{{- $a = append $a (printf "--webhook-addr=0.0.0.0:%v" $v.webhook.port) -}}
{{- $a = append $a (printf "--webhook-service=%s" (include "kvsync.webhookServiceName" .)) -}}
{{- $a = append $a (printf "--webhook-sidecar-image=%s" (default (include "kvsync.image" .) $v.webhook.sidecarImage)) -}}
{{- if $v.webhook.certificateSecret }}{{ $a = append $a "--webhook-cert-dir=/etc/kvsync/webhook-tls" }}{{ end -}}
{{- with $v.webhook.sidecarCAConfigMap }}{{ $a = append $a (printf "--webhook-sidecar-ca-configmap=%s" .) }}{{ end -}}
{{- end -}}
{{- if $v.eventGrid.enabled -}}
{{- $a = append $a (printf "--eventgrid-addr=0.0.0.0:%v" $v.eventGrid.port) -}}
{{- if $v.eventGrid.keySecret.name }}{{ $a = append $a (printf "--eventgrid-key-file=/etc/kvsync/eventgrid/%s" $v.eventGrid.keySecret.key) }}{{ end -}}
{{- if and (not $v.eventGrid.keySecret.name) (not $v.eventGrid.audiences) }}{{ fail "eventGrid.enabled needs eventGrid.keySecret.name and/or eventGrid.audiences" }}{{ end -}}
{{- if and $v.eventGrid.audiences (not $v.eventGrid.clientIds) }}{{ fail "eventGrid.audiences needs eventGrid.clientIds (the applications allowed to deliver, e.g. Event Grid's own)" }}{{ end -}}
{{- with $v.eventGrid.audiences }}{{ $a = append $a (printf "--eventgrid-audience=%s" (join "," .)) }}{{ end -}}
{{- with $v.eventGrid.tenantId }}{{ $a = append $a (printf "--eventgrid-tenant-id=%s" .) }}{{ end -}}
{{- with $v.eventGrid.clientIds }}{{ $a = append $a (printf "--eventgrid-client-id=%s" (join "," .)) }}{{ end -}}
{{- /* The leader labels its pod so the Event Grid Service reaches the leader only; kubelet expands $(POD_NAME). */ -}}
{{- $a = append $a "--eventgrid-pod=$(POD_NAME)" -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.vaultRequestsPer10s) }}{{ $a = append $a (printf "--vault-requests-per-10s=%v" $v.vaultRequestsPer10s) }}{{ end -}}
{{- with $v.expiryWarningWindow }}{{ $a = append $a (printf "--expiry-warning-window=%s" .) }}{{ end -}}
{{- with $v.objectCacheMaxBytes }}{{ $a = append $a (printf "--object-cache-max-bytes=%s" .) }}{{ end -}}
{{- if not (kindIs "invalid" $v.maxWorkersPerVault) }}{{ $a = append $a (printf "--max-workers-per-vault=%v" $v.maxWorkersPerVault) }}{{ end -}}
{{- with $v.syncTimeout }}{{ $a = append $a (printf "--sync-timeout=%s" .) }}{{ end -}}
{{- with $v.azureRequestTimeout }}{{ $a = append $a (printf "--azure-request-timeout=%s" .) }}{{ end -}}
{{- range $v.extraArgs }}{{ $a = append $a . }}{{ end -}}
{{- toYaml $a -}}
{{- end -}}
