package knowledge

import (
	"slices"
	"strings"
	"testing"
)

// signatureCase is one failure's lines (newest first, as the engine reads logs) and what the
// built-in runbooks must make of them.
type signatureCase struct {
	lines []string
	ctx   Context
	// want: the runbook that wins ("" when none may match), its category, a subset of its
	// variables, the rendered cause's object and summary, and the setting to look for.
	runbook, category string
	vars              map[string]string
	object, summary   string
	setting           string
	// absent are variables that must not be set (a timestamp taken for a host).
	absent []string
}

var shopCtx = Context{Symptom: "CrashLoopBackOff", Namespace: "shop", Pod: "cart-6d9f-x2", Container: "cart", Owner: "deployment/shop/cart"}

// TestSignatureFamilies runs realistic failures through the whole built-in set: the runbook
// that wins in file order (ahead of the generic ones that would match the same lines), the
// variables it takes, and the cause the diagnosis shows, with the decisive value quoted.
func TestSignatureFamilies(t *testing.T) {
	withSA := shopCtx
	withSA.ServiceAccount = "cart-uploader"
	for name, tc := range map[string]signatureCase{
		"docker hub pull rate limit": {
			lines:    []string{`Failed to pull image "docker.io/library/haproxy:2.9": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/haproxy/manifests/sha256:4f1e: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit`},
			ctx:      Context{Symptom: "ImagePullBackOff", Namespace: "edge", Pod: "lb-7x", Container: "haproxy", Owner: "daemonset/edge/lb"},
			runbook:  "registry-rate-limit",
			category: "RegistryAuth",
			vars:     map[string]string{"image": "docker.io/library/haproxy:2.9", "registry": "registry-1.docker.io"},
			object:   "daemonset/edge/lb",
			summary:  "the registry registry-1.docker.io refuses to serve the image docker.io/library/haproxy:2.9 for its pull rate limit (You have reached your unauthenticated pull rate limit): the nodes pull it anonymously (unauthenticated), and anonymous pulls are rate-limited",
		},
		"an application's own 429 is not a registry's": {
			lines:   []string{`WARN POST https://api.partner.example/v1/orders returned 429 Too Many Requests, retrying in 2s`},
			ctx:     shopCtx,
			runbook: "",
		},
		"image never pulled": {
			lines:    []string{`Failed: Error: ErrImageNeverPull`, `Container image "registry.example.org/ml/tokenizer:3.4.1" is not present with pull policy of Never`},
			ctx:      Context{Symptom: "ImagePullBackOff", Namespace: "ml", Pod: "tok-0", Container: "tokenizer", Owner: "deployment/ml/tok"},
			runbook:  "image-never-pull",
			category: "ImageReference",
			vars:     map[string]string{"image": "registry.example.org/ml/tokenizer:3.4.1"},
			object:   "deployment/ml/tok",
			summary:  "the container's imagePullPolicy is Never and its image registry.example.org/ml/tokenizer:3.4.1 is not present on the node, so the kubelet never pulls it (ErrImageNeverPull)",
		},
		"spring boot binding failure": {
			// the failure analysis, last line first, then a connection retry that must not win
			lines: []string{
				`Action:`,
				`Reason: failed to convert java.lang.String to long (caused by java.lang.NumberFormatException: For input string: "45s")`,
				`Origin: System Environment Property "SPRING_KAFKA_CONSUMER_FETCHMAXWAIT"`,
				`Value: "45s"`,
				`Property: spring.kafka.consumer.fetch-max-wait`,
				`Failed to bind properties under 'spring.kafka.consumer.fetch-max-wait' to long:`,
				`APPLICATION FAILED TO START`,
			},
			ctx:      shopCtx,
			runbook:  "value-unparsable",
			category: "ApplicationConfig",
			vars:     map[string]string{"value": "45s", "property": "spring.kafka.consumer.fetch-max-wait", "type": "long"},
			object:   "deployment/shop/cart",
			summary:  `the application cannot parse the value "45s" of spring.kafka.consumer.fetch-max-wait as long (from System Environment Property "SPRING_KAFKA_CONSUMER_FETCHMAXWAIT"): the setting that carries it has the wrong format`,
			setting:  "45s",
		},
		"go duration beats the generic config runbook and the crash": {
			lines:    []string{`panic: config: REFRESH_EVERY: time: invalid duration "ninety"`, `goroutine 1 [running]:`},
			ctx:      shopCtx,
			runbook:  "value-unparsable",
			category: "ApplicationConfig",
			vars:     map[string]string{"value": "ninety"},
			summary:  `the application cannot parse the value "ninety": the setting that carries it has the wrong format`,
			setting:  "ninety",
		},
		"python int() in a traceback": {
			lines:   []string{`ValueError: invalid literal for int() with base 10: '8 workers'`, `    workers = int(os.environ["WORKERS"])`, `Traceback (most recent call last):`},
			ctx:     shopCtx,
			runbook: "value-unparsable",
			vars:    map[string]string{"value": "8 workers", "type": "int"},
			summary: `the application cannot parse the value "8 workers" as int: the setting that carries it has the wrong format`,
			setting: "8 workers",
		},
		"elasticsearch max_map_count": {
			lines: []string{
				`ERROR: Elasticsearch did not exit normally - check the logs at /usr/share/elasticsearch/logs/search.log`,
				`{"@timestamp":"2026-11-30T02:14:51.008Z", "log.level":"ERROR", "message":"node validation exception\n[1] bootstrap checks failed. You must address the points described in the following [1] lines before starting Elasticsearch.\nbootstrap check failure [1] of [1]: max virtual memory areas vm.max_map_count [65530] is too low, increase to at least [262144]; for more information see [https://www.elastic.co/guide/en/elasticsearch/reference/8.13/_maximum_map_count_check.html]"}`,
			},
			ctx:      Context{Symptom: "CrashLoopBackOff", Namespace: "search", Pod: "es-0", Container: "elasticsearch", Owner: "statefulset/search/es"},
			runbook:  "search-bootstrap-check",
			category: "ApplicationConfig",
			vars:     map[string]string{"mapCount": "65530", "want": "262144"},
			object:   "statefulset/search/es",
			summary:  "the search node refuses to start: a bootstrap check fails (max virtual memory areas vm.max_map_count [65530] is too low, increase to at least [262144]): the node's vm.max_map_count (65530) is below what the memory-mapped store needs; raise it on the node (sysctl from a privileged init container or a DaemonSet) or set node.store.allow_mmap: false",
		},
		"pg_dump older than the server": {
			lines:    []string{`pg_dump: detail: server version: 17.2; pg_dump version: 16.6`, `pg_dump: error: aborting because of server version mismatch`},
			ctx:      Context{Symptom: "JobFailed", Namespace: "db", Pod: "nightly-dump-29x-abc", Container: "dump", Owner: "cronjob/db/nightly-dump"},
			runbook:  "client-server-version-mismatch",
			category: "ApplicationConfig",
			vars:     map[string]string{"client": "pg_dump", "serverVersion": "17.2", "clientVersion": "16.6"},
			object:   "cronjob/db/nightly-dump",
			summary:  "the image's pg_dump 16.6 refuses the server's version 17.2 (version mismatch): the container's image carries a client older than the server",
		},
		"versions on lines of their own": {
			lines:   []string{`pg_dump: error: aborting because of server version mismatch`, `pg_dump version: 16.6`, `pg_dump: server version: 17.2`},
			ctx:     Context{Symptom: "JobFailed", Namespace: "db", Owner: "cronjob/db/nightly-dump"},
			runbook: "client-server-version-mismatch",
			vars:    map[string]string{"client": "pg_dump", "serverVersion": "17.2", "clientVersion": "16.6"},
		},
		"boto without credentials names the ServiceAccount": {
			lines:    []string{`botocore.exceptions.NoCredentialsError: Unable to locate credentials`, `Traceback (most recent call last):`},
			ctx:      withSA,
			runbook:  "cloud-credentials-missing",
			category: "CredentialsRejected",
			vars:     map[string]string{"aws": "NoCredentialsError", "serviceAccount": "cart-uploader"},
			object:   "serviceaccount/shop/cart-uploader",
			summary:  "the workload finds no AWS credentials (NoCredentialsError): its ServiceAccount cart-uploader carries no workload-identity binding (eks.amazonaws.com/role-arn) and the pod mounts no keys",
		},
		"aws sdk go: the IMDS dial is not a refused dependency": {
			lines:    []string{`level=error msg="upload failed" err="operation error S3: PutObject, get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, request send failed, Get \"http://169.254.169.254/latest/meta-data/iam/security-credentials/\": dial tcp 169.254.169.254:80: connect: connection refused"`},
			ctx:      withSA,
			runbook:  "cloud-credentials-missing",
			category: "CredentialsRejected",
			object:   "serviceaccount/shop/cart-uploader",
		},
		"gcp without a ServiceAccount in the context leaves the object empty": {
			lines:    []string{`google: could not find default credentials. See https://cloud.google.com/docs/authentication/external/set-up-adc for more information`},
			ctx:      shopCtx,
			runbook:  "cloud-credentials-missing",
			category: "CredentialsRejected",
			object:   "",
			summary:  "the workload finds no Google Cloud credentials (could not find default credentials): its ServiceAccount carries no workload-identity binding (iam.gke.io/gcp-service-account) and the pod mounts no keys",
		},
		"eks token file missing is not a missing file": {
			lines:   []string{`WebIdentityErr: failed to retrieve credentials caused by: open /var/run/secrets/eks.amazonaws.com/serviceaccount/token: no such file or directory`},
			ctx:     withSA,
			runbook: "cloud-credentials-missing",
		},
		"pyyaml mark with the file": {
			lines: []string{
				`  in "/etc/relay/relay.yaml", line 14, column 20`,
				`yaml.scanner.ScannerError: mapping values are not allowed here`,
				`  File "/usr/lib/python3/site-packages/yaml/scanner.py", line 577, in fetch_value`,
				`Traceback (most recent call last):`,
			},
			ctx:      shopCtx,
			runbook:  "config-file-parse",
			category: "ApplicationConfig",
			vars:     map[string]string{"path": "/etc/relay/relay.yaml", "lineNo": "14", "column": "20"},
			summary:  "the file /etc/relay/relay.yaml is not valid YAML (line 14, column 20): mapping values are not allowed here",
			setting:  "/etc/relay/relay.yaml",
		},
		"go yaml in a json log line": {
			lines:   []string{`{"level":"fatal","ts":"2026-12-01T06:00:00Z","msg":"load config","error":"read /srv/conf/pipeline.yml: yaml: line 7: did not find expected key"}`},
			ctx:     shopCtx,
			runbook: "config-file-parse",
			vars:    map[string]string{"path": "/srv/conf/pipeline.yml", "lineNo": "7"},
			summary: "the file /srv/conf/pipeline.yml is not valid YAML (line 7): did not find expected key",
		},
		"json decode error without a file": {
			lines:   []string{`json.decoder.JSONDecodeError: Expecting ',' delimiter: line 5 column 3 (char 61)`},
			ctx:     shopCtx,
			runbook: "config-file-parse",
			summary: "the JSON the program reads is not valid (line 5, column 3): Expecting ',' delimiter",
		},
		"a json log line's timestamp is never the host": {
			lines:    []string{`{"ts":"2026-10-02T08:41:55.902Z","level":"error","error":"Get \"http://pricing:9000/v1/quote\": dial tcp 10.96.140.7:9000: connect: connection refused"}`},
			ctx:      shopCtx,
			runbook:  "dependency-refused",
			category: "DependencyUnreachable",
			object:   "service/shop/pricing",
			summary:  "a service the workload calls (pricing:9000) refuses or does not answer",
			setting:  "pricing",
			absent:   []string{"host6"},
		},
		"a bare IP stays the IP": {
			lines:    []string{`2026-10-02T08:41:55Z error: dial tcp 10.96.140.7:9000: connect: connection refused`},
			ctx:      shopCtx,
			runbook:  "dependency-refused",
			object:   "deployment/shop/cart",
			summary:  "a service the workload calls (10.96.140.7:9000) refuses or does not answer",
			setting:  "10.96.140.7",
			absent:   []string{"host7", "host6"},
			category: "DependencyUnreachable",
		},
		"a name beats the IP of the same connection": {
			lines:   []string{`Error: connect ECONNREFUSED 10.96.3.1:6379 | fatal: cannot reach the store redis://session-cache:6379/0, exiting`},
			ctx:     shopCtx,
			runbook: "dependency-refused",
			object:  "service/shop/session-cache",
			summary: "a service the workload calls (session-cache:6379) refuses or does not answer",
		},
		"node EADDRINUSE with the port on its own line": {
			lines:    []string{`}`, `  port: 9464`, `  address: '::',`, `  syscall: 'listen',`, `  code: 'EADDRINUSE',`, `    at Server.listen (node:net:2067:7)`, `Error: listen EADDRINUSE: address already in use :::9464`},
			ctx:      shopCtx,
			runbook:  "port-in-use",
			category: "ApplicationConfig",
			vars:     map[string]string{"port": "9464", "value": "9464"},
			summary:  "the process cannot listen on port 9464 (address already in use): another container of the pod, or a hostNetwork process on the node, already uses it",
			setting:  "9464",
		},
		"go bind with a timestamp": {
			lines:   []string{`2026-12-11T13:20:07.131Z	FATAL	listen tcp 0.0.0.0:9100: bind: address already in use`},
			ctx:     shopCtx,
			runbook: "port-in-use",
			vars:    map[string]string{"port": "9100"},
			setting: "9100",
		},
		"a timestamp is never the port": {
			lines:   []string{`2026-12-11T13:20:07Z ERROR 10:20:07 bind: address already in use`},
			ctx:     shopCtx,
			runbook: "port-in-use",
			absent:  []string{"port", "value"},
			summary: "the process cannot listen on its port (address already in use): another container of the pod, or a hostNetwork process on the node, already uses it",
		},
		"a python traceback's own file line is not a config error": {
			lines:   []string{`RuntimeError: worker pool exhausted`, `  File "/app/worker.py", line 14, in main`, `Traceback (most recent call last):`},
			ctx:     shopCtx,
			runbook: "application-crash",
		},
		"a flag the program does not take": {
			lines:    []string{"Usage of /manager:", "flag provided but not defined: -probe-addr"},
			ctx:      shopCtx,
			runbook:  "config-invalid",
			category: "ApplicationConfig",
			summary:  "the application refuses its configuration: it does not take the flag -probe-addr",
			setting:  "-probe-addr",
		},
		"tls unknown authority": {
			lines:    []string{`Post "https://vault.security:8200/v1/auth/kubernetes/login": tls: failed to verify certificate: x509: certificate signed by unknown authority`},
			ctx:      shopCtx,
			runbook:  "tls-certificate",
			category: "CredentialsRejected",
			summary:  "a TLS certificate is not trusted, expired or names another host (certificate signed by unknown authority): the workload lacks the CA that signed it, or the certificate is wrong",
		},
		"cuda oom quotes the allocation": {
			lines:    []string{`torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.50 GiB. GPU 0 has a total capacity of 39.39 GiB of which 1.02 GiB is free.`},
			ctx:      Context{Symptom: "CrashLoopBackOff", Namespace: "ml", Owner: "deployment/ml/embed"},
			runbook:  "cuda-out-of-memory",
			category: "MemoryLimit",
			summary:  "the process needs more GPU memory than its GPU (or GPU slice) has (it tried to allocate 3.50 GiB more); the device has 39.39 GiB in all",
		},
		"cuda oom on a MIG slice names the slice": {
			lines:    []string{`torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB. GPU 0 has a total capacity of 9.75 GiB of which 310.00 MiB is free.`},
			ctx:      Context{Symptom: "CrashLoopBackOff", Namespace: "ml", Owner: "deployment/ml/chat", GPUs: "nvidia.com/mig-1g.10gb: 1"},
			runbook:  "cuda-out-of-memory",
			category: "MemoryLimit",
			summary:  "the process needs more GPU memory than its GPU (or GPU slice) has (it tried to allocate 1.20 GiB more); the device has 9.75 GiB in all; the container is given nvidia.com/mig-1g.10gb: 1, a MIG slice with a fraction of the GPU's memory",
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, ok := Builtin().Match(tc.lines, tc.ctx)
			if tc.runbook == "" {
				if ok && slices.Contains([]string{"registry-rate-limit", "registry-auth"}, h.Runbook.Name) {
					t.Fatalf("%s matched %q", h.Runbook.Name, h.Line)
				}
				return
			}
			if !ok {
				t.Fatalf("no runbook matched, want %s", tc.runbook)
			}
			if h.Runbook.Name != tc.runbook {
				t.Fatalf("runbook %s matched %q, want %s", h.Runbook.Name, h.Line, tc.runbook)
			}
			c := h.Cause()
			if tc.category != "" && c.Category != tc.category {
				t.Errorf("category %s, want %s", c.Category, tc.category)
			}
			for k, want := range tc.vars {
				if h.Vars[k] != want {
					t.Errorf("%s=%q, want %q (all: %v)", k, h.Vars[k], want, h.Vars)
				}
			}
			for _, k := range tc.absent {
				if v, set := h.Vars[k]; set {
					t.Errorf("variable %s=%q is set, want none (all: %v)", k, v, h.Vars)
				}
			}
			if tc.object != "" || strings.Contains(name, "object empty") {
				if c.Object != tc.object {
					t.Errorf("object %q, want %q", c.Object, tc.object)
				}
			}
			if tc.summary != "" && c.Summary != tc.summary {
				t.Errorf("summary\n got %q\nwant %q", c.Summary, tc.summary)
			}
			if tc.setting != "" && h.Setting() != tc.setting {
				t.Errorf("setting %q, want %q", h.Setting(), tc.setting)
			}
			if strings.Contains(c.Summary+c.Object+c.Field, "<no value>") {
				t.Errorf("a template renders a missing variable: %+v", c)
			}
		})
	}
}

// TestSettingPatterns: the runbooks that know which settings govern their failure say so, and
// their pattern finds those settings (an env entry's name or value, or an argument) and not
// unrelated ones.
func TestSettingPatterns(t *testing.T) {
	for name, tc := range map[string]struct {
		line        string
		match, miss []string
	}{
		"java-heap": {
			line:  `Exception in thread "main" java.lang.OutOfMemoryError: Java heap space`,
			match: []string{"-XX:MaxRAMPercentage=25.0", "-Xmx512m", "-XX:InitialRAMPercentage=50", "--max-old-space-size=256"},
			miss:  []string{"JAVA_HOME", "/opt/java/openjdk", "-Dfile.encoding=UTF-8"},
		},
		"cuda-out-of-memory": {
			line:  `torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.00 GiB`,
			match: []string{"--max-model-len=32768", "--gpu-memory-utilization=0.97", "--max-num-seqs", "BATCH_SIZE", "PYTORCH_CUDA_ALLOC_CONF", "--per-device-train-batch-size=64"},
			miss:  []string{"CUDA_VISIBLE_DEVICES", "--model=/models/llama", "HF_HOME"},
		},
		"tls-certificate": {
			line:  `x509: certificate signed by unknown authority`,
			match: []string{"--ca-file", "--cacert=/etc/pki/internal.pem", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "VAULT_CACERT", "NODE_EXTRA_CA_CERTS", "/etc/ssl/private/root.crt", "-Djavax.net.ssl.trustStore=/certs/store.jks", "--tls-ca"},
			miss:  []string{"CACHE_DIR", "LOCAL_CACHE_TTL", "https://vault:8200", "CATALOG_URL"},
		},
		"port-in-use": {
			line:  `listen tcp :9464: bind: address already in use`,
			match: []string{"PORT", "METRICS_PORT", "OTEL_EXPORTER_PROMETHEUS_PORT", "--metrics-port=9464", "--listen-address=:9090", "--port", "server.port"},
			miss:  []string{"REPORT_DIR", "IMPORT_PATH", "SUPPORT_EMAIL", "--log-level=info"},
		},
		"search-bootstrap-check": {
			line:  `bootstrap check failure [1] of [1]: max virtual memory areas vm.max_map_count [65530] is too low, increase to at least [262144]`,
			match: []string{"node.store.allow_mmap", "NODE_STORE_ALLOW_MMAP", "bootstrap.memory_lock", "discovery.type"},
			miss:  []string{"ES_JAVA_OPTS", "cluster.name"},
		},
		"cloud-credentials-missing": {
			line:  `botocore.exceptions.NoCredentialsError: Unable to locate credentials`,
			match: []string{"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_ID"},
			miss:  []string{"AWS_REGION", "S3_BUCKET"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, ok := Builtin().Match([]string{tc.line}, shopCtx)
			if !ok || h.Runbook.Name != name {
				t.Fatalf("got %v, want %s", h.Runbook, name)
			}
			re := h.SettingPattern()
			if re == nil {
				t.Fatalf("%s has no settingPattern", name)
			}
			for _, s := range tc.match {
				if !re.MatchString(s) {
					t.Errorf("%q does not match %s", s, re)
				}
			}
			for _, s := range tc.miss {
				if re.MatchString(s) {
					t.Errorf("%q matches %s, but governs nothing here", s, re)
				}
			}
		})
	}
	// a runbook without one says none
	h, ok := Builtin().Match([]string{"Liveness probe failed: HTTP probe failed with statuscode: 404"}, shopCtx)
	if !ok || h.SettingPattern() != nil {
		t.Errorf("%s: settingPattern %v, want nil", h.Runbook.Name, h.SettingPattern())
	}
}

// TestGatherAndServiceAccount: a user's runbook takes variables from the failure's other lines
// (gather), sees the pod's ServiceAccount, repeats a group name across alternatives, and its
// settingPattern is compiled.
func TestGatherAndServiceAccount(t *testing.T) {
	doc := `apiVersion: opsmesh.dev/v1alpha1
kind: Runbooks
runbooks:
- name: quota-client
  match: 'quota refused for tenant (?P<tenant>\S+)|tenant (?P<tenant>\S+) over quota'
  gather: {limit: 'limit=(\d+)', tenant: 'tenant=(\S+)'}
  settingPattern: '^TENANT_'
  cause: {category: ApplicationConfig, object: '{{with .serviceAccount}}serviceaccount/{{$.namespace}}/{{.}}{{end}}', summary: 'tenant {{.tenant}} is over its limit {{.limit}}'}
  examples:
    match:
    - {line: 'quota refused for tenant blue', context: ['limit=40'], vars: {tenant: blue, limit: "40"}}
    - {line: 'tenant green over quota', vars: {tenant: green}}
`
	s, err := Parse("team.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.runbooks[0].Check(); err != nil {
		t.Fatal(err)
	}
	lines := []string{"retrying", "quota refused for tenant blue", "settings: limit=40 tenant=red"}
	h, ok := s.Match(lines, Context{Namespace: "billing", ServiceAccount: "meter"})
	if !ok {
		t.Fatal("no match")
	}
	// the matching line's own tenant wins over the other line's; the limit comes from there
	c := h.Cause()
	if c.Summary != "tenant blue is over its limit 40" || c.Object != "serviceaccount/billing/meter" {
		t.Errorf("cause %+v", c)
	}
	if h.SettingPattern() == nil || !h.SettingPattern().MatchString("TENANT_ID") {
		t.Errorf("settingPattern %v", h.SettingPattern())
	}
	// without a ServiceAccount the object renders empty (the engine keeps the workload)
	h, _ = s.Match(lines, Context{Namespace: "billing"})
	if o := h.Cause().Object; o != "" {
		t.Errorf("object %q without a ServiceAccount, want empty", o)
	}
	// a gather variable that no line has stays unset
	h, _ = s.Match([]string{"tenant green over quota"}, Context{})
	if _, set := h.Vars["limit"]; set || h.Cause().Summary != "tenant green is over its limit" {
		t.Errorf("vars %v summary %q", h.Vars, h.Cause().Summary)
	}
}

// TestPreferName: the template function that picks a Service's name over an IP address.
func TestPreferName(t *testing.T) {
	f := funcs["preferName"].(func(...string) string)
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"", "10.0.0.1", "inventory"}, "inventory"},
		{[]string{"", "10.0.0.1", "fd00::1"}, "10.0.0.1"},
		{[]string{"[fd00::1]", "db"}, "db"},
		{[]string{"", ""}, ""},
		{nil, ""},
	} {
		if got := f(tc.in...); got != tc.want {
			t.Errorf("preferName %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}
