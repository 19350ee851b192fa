{{/* The labels of every object of a component (`hooks` or `webhook`): the selector labels,
plus the chart's own two on metadata. */}}
{{- define "image-mapper.selectorLabels" -}}
app.kubernetes.io/name: image-mapper
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{- define "image-mapper.labels" -}}
{{ include "image-mapper.selectorLabels" .component }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels of objects that belong to neither process (the Namespace, the controllers). */}}
{{- define "image-mapper.chartLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "image-mapper.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* "true" with the built-in TLS bootstrap, empty with cert-manager (values.schema.json
allows only these two modes). */}}
{{- define "image-mapper.bootstrapTLS" -}}
{{- if eq .Values.webhook.tls.mode "bootstrap" -}}true{{- end -}}
{{- end -}}

{{/* The Service's DNS names, as the certificate and Prometheus name it. */}}
{{- define "image-mapper.webhookHost" -}}
image-mapper-webhook.{{ .Release.Namespace }}.svc
{{- end -}}

{{/* The hooks' Service, as Metacontroller calls it. */}}
{{- define "image-mapper.hookWebhook" -}}
webhook:
  {{- if .root.Values.hooks.token.enabled }}
  authorization:
    type: Bearer
    secretRef:
      name: {{ .root.Values.hooks.token.secretName }}
      namespace: {{ .root.Release.Namespace }}
      key: {{ .root.Values.hooks.token.key }}
  {{- end }}
  service:
    name: image-mapper-hooks
    namespace: {{ .root.Release.Namespace }}
    port: 80
    protocol: http
  path: {{ .path }}
  timeout: 10s
{{- end -}}

{{/* Which Secret the controllers' hooks authenticate with (as components/hooks-token marks it). */}}
{{- define "image-mapper.hooksTokenAnnotation" -}}
{{- if .Values.hooks.token.enabled -}}
annotations:
  mapper.imagerelocation.pivotal.io/hooks-token-secret: {{ .Values.hooks.token.secretName }}
{{- end -}}
{{- end -}}
