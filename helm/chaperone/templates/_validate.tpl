{{/*
Refuse values that would render a chaperone that starts wrong, or quietly
less safe than asked. Called from deployment.yaml.
*/}}
{{- define "chaperone.validate" -}}
{{- $v := .Values -}}
{{- if le (int $v.terminationGracePeriodSeconds) (int $v.drainGraceSeconds) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than drainGraceSeconds (%v): the kubelet would kill chaperone mid-drain" $v.terminationGracePeriodSeconds $v.drainGraceSeconds) -}}
{{- end -}}
{{- if and $v.tracing.logs (not $v.tracing.otlpEndpoint) -}}
{{- fail "tracing.logs sends decision events to the OTLP collector: set tracing.otlpEndpoint" -}}
{{- end -}}
{{- if and $v.signingKeys.existingSecret $v.signingKeys.keys -}}
{{- fail "signingKeys: set existingSecret or keys, not both" -}}
{{- end -}}
{{- if and $v.istio.enabled $v.istio.envoyFilter.authorize (not $v.istio.envoyFilter.enabled) -}}
{{- fail "istio.envoyFilter.authorize needs istio.envoyFilter.enabled: without the filter nothing would decide (no AuthorizationPolicy is rendered then)" -}}
{{- end -}}
{{- if $v.envoyGateway.enabled -}}
{{- if not $v.envoyGateway.targets -}}
{{- fail "envoyGateway.enabled needs envoyGateway.targets: the namespaces and the Gateways or HTTPRoutes chaperone mediates" -}}
{{- end -}}
{{- range $v.envoyGateway.targets -}}
{{- if not (or .targetRefs .targetSelectors) -}}
{{- fail (printf "envoyGateway.targets: the entry for namespace %q has neither targetRefs nor targetSelectors: its policies would attach to nothing" .namespace) -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.envoyGateway.extAuth.enabled) $v.istio.enabled $v.istio.envoyFilter.enabled $v.istio.authorizationPolicy.enabled (not $v.istio.envoyFilter.authorize) -}}
{{- fail "envoyGateway without extAuth makes every ext_proc stream authorize (--ext-proc-authorize=always), and Istio here decides with ext_authz first: its requests would be decided twice. Set envoyGateway.extAuth.enabled=true or istio.envoyFilter.authorize=true" -}}
{{- end -}}
{{- if and $v.envoyGateway.extAuth.enabled $v.istio.enabled $v.istio.envoyFilter.authorize -}}
{{- fail "envoyGateway.extAuth.enabled decides with ext_authz first, and istio.envoyFilter.authorize makes every ext_proc stream authorize (--ext-proc-authorize=always): Envoy Gateway's requests would be decided twice. Use one mode for both" -}}
{{- end -}}
{{- end -}}
{{- if $v.signingKeys.keys -}}
{{- if and (gt (len $v.signingKeys.keys) 1) (not $v.signingKeys.activeKid) -}}
{{- fail "signingKeys.activeKid is required when signingKeys.keys holds several keys" -}}
{{- end -}}
{{- if and $v.signingKeys.activeKid (not (hasKey $v.signingKeys.keys $v.signingKeys.activeKid)) -}}
{{- fail (printf "signingKeys.activeKid %q names no key in signingKeys.keys" $v.signingKeys.activeKid) -}}
{{- end -}}
{{- range $kid, $pem := $v.signingKeys.keys -}}
{{- if not (or (contains "-----BEGIN PRIVATE KEY-----" $pem) (contains "-----BEGIN EC PRIVATE KEY-----" $pem)) -}}
{{- fail (printf "signingKeys.keys.%s is not a PKCS#8 or SEC1 EC PEM private key (make one with `chaperone keys generate`)" $kid) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.signingKeys.ephemeral (or $v.signingKeys.existingSecret $v.signingKeys.keys) -}}
{{- fail "signingKeys.ephemeral: set it, or existingSecret or keys, not both" -}}
{{- end -}}
{{- if not (include "chaperone.signingKeysSecret" .) -}}
{{- if not $v.signingKeys.ephemeral -}}
{{- fail "signingKeys: no keys (generate is off, no existingSecret or keys); set signingKeys.ephemeral=true to sign with a per-pod ephemeral key (one replica only)" -}}
{{- end -}}
{{- if include "chaperone.severalReplicas" . -}}
{{- fail (printf "signingKeys.ephemeral with more than one replica (replicaCount %v, autoscaling.enabled %v, maxReplicas %v): each pod would sign with its own key and tokens would fail against the JWKS another pod publishes. Use the generated shared Secret (signingKeys.generate, the default), existingSecret or keys, or run one replica" $v.replicaCount $v.autoscaling.enabled $v.autoscaling.maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- if and $v.hashKey.existingSecret $v.hashKey.value -}}
{{- fail "hashKey: set existingSecret or value, not both" -}}
{{- end -}}
{{- if and $v.hashKey.value (lt (len $v.hashKey.value) 32) -}}
{{- fail "hashKey.value must be at least 32 characters" -}}
{{- end -}}
{{- if $v.tls.enabled -}}
{{- if and $v.tls.existingSecret (or $v.tls.cert $v.tls.key) -}}
{{- fail "tls: set existingSecret or cert and key, not both" -}}
{{- end -}}
{{- if and (not $v.tls.existingSecret) (not (and $v.tls.cert $v.tls.key)) -}}
{{- fail "tls.enabled needs tls.existingSecret, or tls.cert and tls.key" -}}
{{- end -}}
{{- if $v.tls.clientCA.enabled -}}
{{- if and $v.tls.clientCA.existingSecret $v.tls.clientCA.existingConfigMap -}}
{{- fail "tls.clientCA: set existingSecret or existingConfigMap, not both" -}}
{{- end -}}
{{- if and (not $v.tls.existingSecret) (not $v.tls.clientCA.existingSecret) (not $v.tls.clientCA.existingConfigMap) (not $v.tls.clientCA.content) -}}
{{- fail "tls.clientCA.enabled needs a CA bundle: tls.clientCA.content, existingSecret or existingConfigMap (or tls.existingSecret holding it)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $v.policy.bundle -}}
{{- if and .url (or .configMap .secret) -}}
{{- fail "policy.bundle: set url or a bundle file (configMap or secret), not both" -}}
{{- end -}}
{{- if and .configMap .secret -}}
{{- fail "policy.bundle: set configMap or secret, not both" -}}
{{- end -}}
{{- if include "chaperone.bundleFrom" $ -}}
{{- $keys := .publicKeys -}}
{{- $sources := compact (list $keys.content $keys.existingConfigMap $keys.existingSecret) -}}
{{- if not $sources -}}
{{- fail "policy.bundle needs policy.bundle.publicKeys (content, existingConfigMap or existingSecret): a bundle is trusted only by its signature, and chaperone does not start without the keys to check it" -}}
{{- end -}}
{{- if gt (len $sources) 1 -}}
{{- fail "policy.bundle.publicKeys: set one of content, existingConfigMap and existingSecret" -}}
{{- end -}}
{{- if contains "PRIVATE KEY" $keys.content -}}
{{- fail "policy.bundle.publicKeys.content holds a private key: give the public keys only (`chaperone keys jwks release.pem`) and keep the release key offline" -}}
{{- end -}}
{{- if $v.policy.existingConfigMap -}}
{{- fail "policy.bundle and policy.existingConfigMap are two policy sources: set one" -}}
{{- end -}}
{{- if regexMatch "^[^/?#]*//[^/?#]*@" .url -}}
{{- fail "policy.bundle.url must not carry credentials: the args are readable by anyone who can read the Deployment (the bundle's signature is what chaperone trusts)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- with $v.state -}}
{{- if .url -}}
{{- if contains "@" .url -}}
{{- fail "state.url must not carry a password: the args are readable by anyone who can read the Deployment; use state.password.existingSecret" -}}
{{- end -}}
{{- if not (regexMatch "^rediss?://([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\\[[0-9A-Fa-f:.]+\\])(:[0-9]{1,5})?/?$" .url) -}}
{{- fail (printf "state.url %q: expected redis://host:port or rediss://host:port (TLS), host and port only" .url) -}}
{{- end -}}
{{- if and .ca.existingSecret .ca.existingConfigMap -}}
{{- fail "state.ca: set existingSecret or existingConfigMap, not both" -}}
{{- end -}}
{{- if and (or .ca.existingSecret .ca.existingConfigMap) (not (hasPrefix "rediss://" .url)) -}}
{{- fail "state.ca is for a TLS store: state.url must be rediss://" -}}
{{- end -}}
{{- if not (include "chaperone.hashKeySecret" $) -}}
{{- fail "state.url needs a hash key every replica shares (hashKey.generate, value or existingSecret): the store's keys are HMACs under it, and pods with keys of their own would never count together" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled $v.networkPolicy.egress.enabled (not .networkPolicy.to) -}}
{{- fail "networkPolicy.egress.enabled with state.url needs state.networkPolicy.to (the store's pods or addresses): chaperone could not reach the store" -}}
{{- end -}}
{{- else if or .password.existingSecret .ca.existingSecret .ca.existingConfigMap -}}
{{- fail "state.password and state.ca need state.url" -}}
{{- end -}}
{{- end -}}
{{- if and $v.istio.destinationRule.enabled (not $v.tls.enabled) -}}
{{- fail "istio.destinationRule makes Envoy speak TLS to chaperone: it needs tls.enabled" -}}
{{- end -}}
{{- if and $v.istio.destinationRule.enabled $v.istio.peerAuthentication.enabled -}}
{{- fail "istio.destinationRule (chaperone's own TLS, outside the mesh) and istio.peerAuthentication (mesh mTLS) exclude each other" -}}
{{- end -}}
{{- if and $v.istio.allWorkloads $v.istio.peerAuthentication.enabled -}}
{{- fail "istio.allWorkloads with chaperone in the mesh (istio.peerAuthentication) would send the calls to chaperone to chaperone: run chaperone outside the mesh (tls + istio.destinationRule) or select the calling workloads" -}}
{{- end -}}
{{- end -}}
