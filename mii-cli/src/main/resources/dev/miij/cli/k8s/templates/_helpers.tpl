{{/* Base name of every object: the deployment name. */}}
{{- define "mii.name" -}}
{{- .Values.deploymentName | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "mii.labels" -}}
app.kubernetes.io/name: mii
app.kubernetes.io/instance: {{ include "mii.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The pods that serve the model: Deployment pods, or LeaderWorkerSet leaders. */}}
{{- define "mii.replicaSelector" -}}
app.kubernetes.io/name: mii
app.kubernetes.io/instance: {{ include "mii.name" . }}
app.kubernetes.io/component: replica
{{- end -}}

{{- define "mii.routerSelector" -}}
app.kubernetes.io/name: mii
app.kubernetes.io/instance: {{ include "mii.name" . }}
app.kubernetes.io/component: router
{{- end -}}

{{- define "mii.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "mii.cacheClaim" -}}
{{- .Values.cache.pvc.existingClaim | default (printf "%s-hf-cache" (include "mii.name" .)) -}}
{{- end -}}

{{/* Environment of every MII-J container. */}}
{{- define "mii.env" -}}
- name: HF_HOME
  value: {{ .Values.cache.mountPath | quote }}
- name: MII_JAVA_OPTS
  value: {{ .Values.javaOptions | quote }}
{{- with .Values.secrets.hfToken.name }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.hfToken.key }}
{{- end }}
{{- with .Values.secrets.apiKey.name }}
- name: MII_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.apiKey.key }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mii.cacheVolume" -}}
- name: hf-cache
{{- if eq .Values.cache.type "pvc" }}
  persistentVolumeClaim:
    claimName: {{ include "mii.cacheClaim" . }}
{{- else if eq .Values.cache.type "hostPath" }}
  hostPath:
    path: {{ .Values.cache.hostPath.path }}
    type: DirectoryOrCreate
{{- else if eq .Values.cache.type "emptyDir" }}
  emptyDir: {}
{{- else }}
{{- fail "cache.type must be pvc, hostPath or emptyDir" }}
{{- end }}
{{- end -}}

{{- define "mii.ports" -}}
- name: grpc
  containerPort: {{ .Values.ports.grpc }}
  protocol: TCP
- name: http
  containerPort: {{ .Values.ports.http }}
  protocol: TCP
{{- end -}}

{{- define "mii.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.startup.periodSeconds }}
  failureThreshold: {{ .Values.probes.startup.failureThreshold }}
readinessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
  failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
  failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
{{- end -}}

{{/* Requests and limits of a replica pod, with its GPUs. */}}
{{- define "mii.resources" -}}
{{- $r := deepCopy .Values.resources -}}
{{- if gt (int .Values.gpusPerReplica) 0 -}}
{{- $limits := get $r "limits" | default dict -}}
{{- $_ := set $limits "nvidia.com/gpu" (int .Values.gpusPerReplica) -}}
{{- $_ := set $r "limits" $limits -}}
{{- end -}}
{{ toYaml $r }}
{{- end -}}

{{/* The server container: `mii serve` with one local engine process, on every interface. */}}
{{- define "mii.serverContainer" -}}
- name: mii
  image: {{ include "mii.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - serve
    - {{ .Values.model | quote }}
    - --deployment-name
    - {{ include "mii.name" . }}
    - --host
    - 0.0.0.0
    - --port
    - {{ .Values.ports.grpc | quote }}
    - --replica-num
    - "1"
    - --enable-restful-api
    - --restful-api-port
    - {{ .Values.ports.http | quote }}
    - --device
    - {{ if gt (int .Values.gpusPerReplica) 0 }}cuda{{ else }}cpu{{ end }}
    {{- range .Values.serveArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    {{- include "mii.env" . | nindent 4 }}
  ports:
    {{- include "mii.ports" . | nindent 4 }}
  {{- include "mii.probes" . | nindent 2 }}
  resources:
    {{- include "mii.resources" . | nindent 4 }}
  volumeMounts:
    - name: hf-cache
      mountPath: {{ .Values.cache.mountPath }}
{{- end -}}

{{/* What replica pods share: scheduling, pull secrets, grace period, the cache volume. */}}
{{- define "mii.podCommon" -}}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "mii.cacheVolume" . | nindent 2 }}
{{- end -}}

{{- define "mii.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.ports.http | quote }}
prometheus.io/path: /metrics
{{- end -}}
