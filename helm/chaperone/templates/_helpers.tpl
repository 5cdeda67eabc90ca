{{/* Names and labels. */}}

{{- define "chaperone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chaperone.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "chaperone.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chaperone.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chaperone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chaperone.labels" -}}
helm.sh/chart: {{ include "chaperone.chart" . }}
{{ include "chaperone.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chaperone
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "chaperone.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "chaperone.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Service's fully qualified name, as Istio and Envoy address it. */}}
{{- define "chaperone.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "chaperone.fullname" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{- define "chaperone.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Where the policy comes from. */}}
{{- define "chaperone.policyConfigMap" -}}
{{- default (printf "%s-policy" (include "chaperone.fullname" .)) .Values.policy.existingConfigMap -}}
{{- end -}}

{{/* Where a signed policy bundle comes from: "url", "file", or nothing (the policy file). */}}
{{- define "chaperone.bundleFrom" -}}
{{- with .Values.policy.bundle -}}
{{- if .url -}}
url
{{- else if or .configMap .secret -}}
file
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap of the bundles' public keys the chart renders from policy.bundle.publicKeys.content. */}}
{{- define "chaperone.bundleKeysConfigMap" -}}
{{- printf "%s-bundle-keys" (include "chaperone.fullname" .) -}}
{{- end -}}

{{/* The port of the budgets' store: state.networkPolicy.port, else the url's, else 6379. */}}
{{- define "chaperone.statePort" -}}
{{- $port := regexFind ":[0-9]+/?$" .Values.state.url | trimPrefix ":" | trimSuffix "/" -}}
{{- .Values.state.networkPolicy.port | default $port | default 6379 -}}
{{- end -}}

{{/* The signing-keys Secret, or nothing (ephemeral keys, one replica only). */}}
{{- define "chaperone.signingKeysSecret" -}}
{{- if .Values.signingKeys.existingSecret -}}
{{- .Values.signingKeys.existingSecret -}}
{{- else if or .Values.signingKeys.keys (and .Values.signingKeys.generate (not .Values.signingKeys.ephemeral)) -}}
{{- printf "%s-signing-keys" (include "chaperone.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* "true" when more than one replica may run (replicaCount, or the HPA's maximum). */}}
{{- define "chaperone.severalReplicas" -}}
{{- if or (gt (int .Values.replicaCount) 1) (and .Values.autoscaling.enabled (gt (int .Values.autoscaling.maxReplicas) 1)) -}}
true
{{- end -}}
{{- end -}}

{{/* The hash-key Secret, or nothing (a random key per process). */}}
{{- define "chaperone.hashKeySecret" -}}
{{- if .Values.hashKey.existingSecret -}}
{{- .Values.hashKey.existingSecret -}}
{{- else if or .Values.hashKey.value .Values.hashKey.generate -}}
{{- printf "%s-hash-key" (include "chaperone.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The TLS Secret (only meaningful with tls.enabled). */}}
{{- define "chaperone.tlsSecret" -}}
{{- default (printf "%s-tls" (include "chaperone.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{/* The label matchers that select this release's series in Prometheus. */}}
{{- define "chaperone.metricSelector" -}}
{{- default (printf "namespace=%q,job=%q" .Release.Namespace (include "chaperone.fullname" .)) .Values.monitoring.prometheusRule.metricSelector -}}
{{- end -}}

{{/* Mount points inside the container. */}}
{{- define "chaperone.paths" -}}
policyDir: /etc/chaperone/policy
signingKeysDir: /etc/chaperone/signing-keys
hashKeyDir: /etc/chaperone/hash-key
tlsDir: /etc/chaperone/tls
bundleDir: /etc/chaperone/bundle
bundleKeysDir: /etc/chaperone/bundle-keys
stateDir: /etc/chaperone/state
{{- end -}}

{{/* The labels of the Envoys that call chaperone; empty for every workload. */}}
{{- define "chaperone.istioSelector" -}}
{{- if not .Values.istio.allWorkloads -}}
{{- toYaml (.Values.istio.selector | default (dict "istio" "ingressgateway")) -}}
{{- end -}}
{{- end -}}

{{/* "true" when chaperone authorizes on every ext_proc stream (no ext_authz in front). */}}
{{- define "chaperone.extProcAuthorizes" -}}
{{- if or (and .Values.istio.enabled .Values.istio.envoyFilter.authorize) (and .Values.envoyGateway.enabled (not .Values.envoyGateway.extAuth.enabled)) -}}
true
{{- end -}}
{{- end -}}
