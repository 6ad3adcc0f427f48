{{- define "bulkexport.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bulkexport.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bulkexport.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bulkexport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bulkexport.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bulkexport.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "bulkexport.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bulkexport.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bulkexport.image" -}}
{{- printf "%s:%s" .repository (default $.appVersion .tag) -}}
{{- end -}}

{{/* Leader election is required, not optional, once two replicas could reconcile at once. */}}
{{- define "bulkexport.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicas) 1) -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/*
The rules for ExportSchedules and what the operator creates from them: exactly the contract's list,
no wildcards. Used by the ClusterRole (all namespaces) or by one Role per watched namespace.
*/}}
{{- define "bulkexport.watchRules" -}}
- apiGroups: [bulkexport.io]
  resources: [exportschedules]
  verbs: [get, list, watch, update, patch]
- apiGroups: [bulkexport.io]
  resources: [exportschedules/status]
  verbs: [get, patch]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [batch]
  # update: on resume the operator moves status.lastScheduleTime past the runs missed while
  # suspended, so the CronJob controller does not start one at once.
  resources: [cronjobs/status]
  verbs: [update]
- apiGroups: [batch]
  resources: [jobs]
  # create: the run-now annotation starts a Job from a CronJob, as kubectl create job --from does.
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
{{- if .Values.rbac.secretsAccess }}
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
