{{/* The download service (server-*.yaml). Its own name, so no operator selector matches its pods. */}}
{{- define "bulkexport.server.fullname" -}}
{{- printf "%s-server" (include "bulkexport.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulkexport.server.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-server" (include "bulkexport.name" .) | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bulkexport.server.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bulkexport.server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: server
app.kubernetes.io/part-of: bulkexport
{{- end -}}

{{/* server.yaml: the values' settings, plus the credentials file when a Secret holds it. */}}
{{- define "bulkexport.server.settings" -}}
{{- $settings := deepCopy .Values.server.settings -}}
{{- if .Values.server.credentialsSecret -}}
{{- $_ := set $settings "credentialsFile" "/etc/bulkexport/credentials/credentials.yaml" -}}
{{- end -}}
{{- /* The server builds absolute links from the Host header only for hosts it trusts: the Ingress's
       host is one, when neither publicBaseUrl nor allowedHosts names them. */ -}}
{{- if and (not $settings.publicBaseUrl) (not $settings.allowedHosts) .Values.server.ingress.enabled .Values.server.ingress.host -}}
{{- $_ := set $settings "allowedHosts" (list .Values.server.ingress.host) -}}
{{- end -}}
{{- toYaml $settings -}}
{{- end -}}
