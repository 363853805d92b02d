//go:build cgo

package runbook_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// TestCauseInAValueTheLineNames: a program that stops on a value no runbook knows the words for
// ("references exporter X which is not configured", "no queue X", "bucket X does not exist")
// is followed to where the pod is given that value — a mounted ConfigMap file, a ConfigMap key it
// takes its environment from, its own env — which is named as the setting at fault.
func TestCauseInAValueTheLineNames(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}
	node := c.KubeletLogs("cz-tokens-node")
	mount := func(cm, at string) func(p *corev1.PodSpec) {
		return func(p *corev1.PodSpec) {
			p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: at, ReadOnly: true}}
			p.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}}
		}
	}

	t.Run("a pipeline that names an exporter its mounted file does not define", func(t *testing.T) {
		ns := c.Namespace("cz-tok-otel")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "collector-pipeline"},
			Data: map[string]string{"collector.yaml": "receivers:\n  otlp:\n    protocols: {grpc: {}}\nexporters:\n  otlp/tempo:\n    endpoint: tempo:4317\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/tempo-east]\n"}})
		rs := c.Deployment(ns, "trace-gateway", 1, mount("collector-pipeline", "/conf"))
		c.Pod(rs, ns, "trace-gateway-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "trace-gateway-h1-0", "app", true,
			`2026-12-07T10:00:01.118Z	info	service@v0.114.0/service.go:135	Setting up own telemetry...`,
			`Error: invalid configuration: service::pipelines::traces: references exporter "otlp/tempo-east" which is not configured`,
			`2026/12/07 10:00:01 collector server run finished with error: invalid configuration: service::pipelines::traces: references exporter "otlp/tempo-east" which is not configured`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/trace-gateway"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/collector-pipeline" || cz.Field != "data[collector.yaml]" {
			t.Fatalf("cause %+v, want the mounted file that names the exporter:\n%s", cz, d.Text())
		}
		mustSay(t, d, "otlp/tempo-east", "/conf/collector.yaml is key collector.yaml of ConfigMap collector-pipeline")
		noRestart(t, d)
	})

	t.Run("a consumer whose queue name, from its ConfigMap, the broker does not have", func(t *testing.T) {
		ns := c.Namespace("cz-tok-queue")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "invoice-consumer-env"},
			Data: map[string]string{"AMQP_HOST": "broker", "INVOICE_QUEUE": "invoices.created.v2", "PREFETCH": "20"}})
		rs := c.Deployment(ns, "invoice-consumer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "invoice-consumer-env"}}}}
		})
		c.Pod(rs, ns, "invoice-consumer-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "invoice-consumer-h1-0", "app", true,
			`connected to amqp://broker:5672`,
			`Error: Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue 'invoices.created.v2' in vhost '/'"`,
			`    at reply (/app/node_modules/amqplib/lib/channel.js:136:17)`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/invoice-consumer"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Object != "configmap/"+ns+"/invoice-consumer-env" || cz.Field != "data[INVOICE_QUEUE]" {
			t.Fatalf("cause %+v, want the ConfigMap key that names the queue:\n%s", cz, d.Text())
		}
		mustSay(t, d, "invoices.created.v2", "INVOICE_QUEUE")
		noRestart(t, d)
	})

	t.Run("a program that stops on a bucket its own env names", func(t *testing.T) {
		ns := c.Namespace("cz-tok-env")
		rs := c.Deployment(ns, "artifact-sync", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_FORMAT", Value: "json"}, {Name: "ARTIFACT_BUCKET", Value: "gs://ml-artifacts-prod-euw"}}
		})
		c.Pod(rs, ns, "artifact-sync-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "artifact-sync-h1-0", "app", true,
			`{"level":"info","msg":"starting sync","interval":"5m"}`,
			`{"level":"fatal","msg":"opening artifact store","bucket":"ml-artifacts-prod-euw","err":"storage: bucket doesn't exist"}`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/artifact-sync"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "deployment/"+ns+"/artifact-sync" || cz.Field != "spec.template.spec.containers[app].env[ARTIFACT_BUCKET]" {
			t.Fatalf("cause %+v, want the env entry that names the bucket:\n%s", cz, d.Text())
		}
		mustSay(t, d, "ml-artifacts-prod-euw")
		noRestart(t, d)
	})

	t.Run("a shard map in a mounted file that names a region the program does not know", func(t *testing.T) {
		ns := c.Namespace("cz-tok-plain")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shard-layout"},
			Data: map[string]string{"shards.json": `{"shards":[{"id":1,"region":"eu-west-1"},{"id":2,"region":"eu-north-7"}]}`}})
		rs := c.Deployment(ns, "ledger-router", 1, mount("shard-layout", "/etc/router"))
		c.Pod(rs, ns, "ledger-router-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "ledger-router-h1-0", "app", true,
			`2026-12-07 10:00:01,204 INFO  [main] loading shard layout`,
			`2026-12-07 10:00:01,377 ERROR [main] shard 2 is placed in region eu-north-7, which this build does not serve; exiting`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/ledger-router"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/shard-layout" || cz.Field != "data[shards.json]" {
			t.Fatalf("cause %+v, want the mounted file that names the region:\n%s", cz, d.Text())
		}
		mustSay(t, d, "eu-north-7")
		noRestart(t, d)
	})

	t.Run("a running workload no analyzer faults: the failure its pod logs is followed", func(t *testing.T) {
		ns := c.Namespace("cz-tok-running")
		running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		rs := c.Deployment(ns, "quota-sync", 1, nil)
		c.Pod(rs, ns, "quota-sync-h1-0", "cz-tokens-node", running)
		node.Set(ns, "quota-sync-h1-0", "app", false,
			`2026-12-07T10:00:00Z INFO syncing quotas every 30s`,
			`2026-12-07T10:00:30Z ERROR sync failed: resourcequotas is forbidden: User "system:serviceaccount:`+ns+`:default" cannot list resource "resourcequotas" in API group "" in the namespace "`+ns+`"`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/quota-sync", Text: "why does quota-sync not update anything?"}, diagnosis.Unknown)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.RBACDenied {
			t.Fatalf("cause %+v, want the RBAC denial its log reports:\n%s", cz, d.Text())
		}
		mustSay(t, d, "cannot list resource \"resourcequotas\"", "the cause is read from the log of its pod quota-sync-h1-0")

		// the same pod logging only what it does: nothing to report
		node.Set(ns, "quota-sync-h1-0", "app", false, `2026-12-07T10:00:00Z INFO syncing quotas every 30s`)
		diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/quota-sync"}, diagnosis.NoProblemFound)
	})

	t.Run("a running workload whose logs say nothing: the dependency its env names fails next to it", func(t *testing.T) {
		ns := c.Namespace("cz-tok-dep")
		running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		web := c.Deployment(ns, "storefront", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "PRICING_URL", Value: "http://pricing-rules:8080"}}
		})
		c.Pod(web, ns, "storefront-h1-0", "cz-tokens-node", running)
		node.Set(ns, "storefront-h1-0", "app", false, `INFO serving on :8080`)
		dep := c.Deployment(ns, "pricing-rules", 1, nil)
		c.Pod(dep, ns, "pricing-rules-h1-0", "", crashing("java.lang.IllegalStateException: no pricing rules loaded from /rules"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/storefront", Text: "why do product pages show no prices?"}, diagnosis.Unknown)
		if cz := d.RootCause.Cause; cz == nil || cz.Object != "deployment/"+ns+"/pricing-rules" {
			t.Fatalf("cause %+v, want the crashing dependency the env names:\n%s", cz, d.Text())
		}
		mustSay(t, d, "no pricing rules loaded")
		noRestart(t, d)
	})

	t.Run("a configuration file the line names by its name alone, mounted from a ConfigMap key", func(t *testing.T) {
		ns := c.Namespace("cz-tok-fname")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dash-provisioning"},
			Data: map[string]string{"datasources.yaml": "apiVersion: 1\ndatasources:\n- name: prom\n  isDefault: true\n- name: loki\n  isDefault: true\n", "dashboards.yaml": "apiVersion: 1\n"}})
		rs := c.Deployment(ns, "ops-dash", 1, mount("dash-provisioning", "/etc/grafana/provisioning/datasources"))
		c.Pod(rs, ns, "ops-dash-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "ops-dash-h1-0", "app", true,
			`logger=provisioning t=2026-12-07T10:00:01Z level=info msg="starting to provision datasources"`,
			`Error: ✗ *provisioning.ProvisioningServiceImpl run error: Datasource provisioning error: datasources.yaml config is invalid. Only one datasource per organization can be marked as default`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/ops-dash"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/dash-provisioning" || cz.Field != "data[datasources.yaml]" {
			t.Fatalf("cause %+v, want the ConfigMap key the file name names:\n%s", cz, d.Text())
		}
		mustSay(t, d, "Only one datasource per organization")
		noRestart(t, d)
	})

	t.Run("a program that cannot parse its configuration, from the one ConfigMap it mounts", func(t *testing.T) {
		ns := c.Namespace("cz-tok-onecm")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plugin-sharing"},
			Data: map[string]string{"any": `{"version": "v1", "sharing": {"timeSlicing": {"resources": [{"name": "nvidia.com/gpu", "replicas": "four"}]}}}`}})
		rs := c.Deployment(ns, "device-advertiser", 1, mount("plugin-sharing", "/config"))
		c.Pod(rs, ns, "device-advertiser-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "device-advertiser-h1-0", "app", true,
			`E1207 06:12:44.501223       1 main.go:173] error starting plugins: unable to load config: unable to finalize config: unable to parse config file: error parsing config file: unmarshal error: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field ReplicatedResource.sharing.timeSlicing.resources.replicas of type int`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/device-advertiser"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/plugin-sharing" {
			t.Fatalf("cause %+v, want the one ConfigMap the container mounts:\n%s", cz, d.Text())
		}
		noRestart(t, d)
	})

	t.Run("an init container's template needs a variable its ConfigMap no longer has", func(t *testing.T) {
		ns := c.Namespace("cz-tok-envgone")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "edge-env"},
			Data: map[string]string{"DOCS_UPSTREAM_ADDR": "docs-backend:8080", "WORKERS": "4"}})
		rs := c.Deployment(ns, "edge", 1, func(p *corev1.PodSpec) {
			p.InitContainers = []corev1.Container{{Name: "render", Image: "registry.example/gomplate:4",
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "edge-env"}}}}}}
		})
		last := fixture.Terminated("Error", 1)
		c.Pod(rs, ns, "edge-h1-0", "cz-tokens-node", corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "render", RestartCount: 6, LastTerminationState: corev1.ContainerState{Terminated: last},
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=render"}}}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}})
		node.Set(ns, "edge-h1-0", "render", true,
			`10:42:07 ERR  error="failed to render template /templates/default.conf.tmpl: template: /templates/default.conf.tmpl:9:26: executing \"/templates/default.conf.tmpl\" at <.Env.UPSTREAM_HOST>: map has no entry for key \"UPSTREAM_HOST\""`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/edge"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/edge-env" || cz.Field != "data[UPSTREAM_HOST]" {
			t.Fatalf("cause %+v, want the ConfigMap that lacks the variable:\n%s", cz, d.Text())
		}
		mustSay(t, d, "UPSTREAM_HOST", "DOCS_UPSTREAM_ADDR")
		noRestart(t, d)
	})

	t.Run("an OOMKilled Go program whose ConfigMap sets GOGC=off and GOMEMLIMIT above its limit", func(t *testing.T) {
		ns := c.Namespace("cz-tok-gomem")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "go-tuning"},
			Data: map[string]string{"GOGC": "off", "GOMEMLIMIT": "6GiB", "LOG_LEVEL": "info"}})
		rs := c.Deployment(ns, "span-writer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "go-tuning"}}}}
		})
		oom := fixture.Terminated("OOMKilled", 137)
		c.Pod(rs, ns, "span-writer-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", oom))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/span-writer"}, diagnosis.OOMKilled)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/go-tuning" || cz.Field != "data[GOMEMLIMIT]" {
			t.Fatalf("cause %+v, want the ConfigMap's GOMEMLIMIT:\n%s", cz, d.Text())
		}
		mustSay(t, d, "GOMEMLIMIT=6GiB", "GOGC=off", "memory limit of 2Gi")
		for _, a := range d.Plan {
			if a.Tool == "workload_set_resources" {
				t.Errorf("plan raises the limit, which lets the runtime grow again:\n%s", d.Text())
			}
		}
	})

	t.Run("a client refused for a server's setting names the server's ConfigMap", func(t *testing.T) {
		ns := c.Namespace("cz-tok-server")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "catalog-db-cnf"},
			Data: map[string]string{"tuning.cnf": "[mysqld]\nmax_connections = 400\nmax_allowed_packet = 4M\n"}})
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "catalog-db"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "catalog-db"}, Ports: []corev1.ServicePort{{Port: 3306}}}})
		db := c.Deployment(ns, "catalog-db", 1, mount("catalog-db-cnf", "/etc/mysql/conf.d"))
		c.Pod(db, ns, "catalog-db-h1-0", "cz-tokens-node", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}})
		rs := c.Deployment(ns, "feed-import", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "SPRING_DATASOURCE_URL", Value: "jdbc:mysql://catalog-db:3306/catalog"}}
		})
		c.Pod(rs, ns, "feed-import-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "feed-import-h1-0", "app", true,
			`2026-12-07 02:00:04.311  INFO 1 --- [main] c.a.feed.ImportRunner : importing 1840 products`,
			`2026-12-07 02:00:09.877 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed`,
			`com.mysql.cj.jdbc.exceptions.PacketTooBigException: Packet for query is too large (5,242,880 > 4,194,304). You can change this value on the server by setting the 'max_allowed_packet' variable.`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/feed-import"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/catalog-db-cnf" || cz.Field != "data[tuning.cnf]" {
			t.Fatalf("cause %+v, want the server's ConfigMap that sets max_allowed_packet:\n%s", cz, d.Text())
		}
		mustSay(t, d, "max_allowed_packet", "Service catalog-db")
		noRestart(t, d)
	})

	t.Run("an identity provider refusing the projected token's audience names the token volume", func(t *testing.T) {
		ns := c.Namespace("cz-tok-aud")
		rs := c.Deployment(ns, "mirror-sync", 1, func(p *corev1.PodSpec) {
			p.ServiceAccountName = "default"
			p.Containers[0].Env = []corev1.EnvVar{{Name: "AWS_ROLE_ARN", Value: "arn:aws:iam::123456789012:role/mirror"}, {Name: "AWS_WEB_IDENTITY_TOKEN_FILE", Value: "/var/run/secrets/tokens/aws"}}
			p.Volumes = []corev1.Volume{{Name: "aws-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "aws"}}}}}}}
		})
		c.Pod(rs, ns, "mirror-sync-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "mirror-sync-h1-0", "app", true,
			`/usr/local/bundle/gems/aws-sdk-core-3.211.0/lib/seahorse/client/plugins/raise_response_errors.rb:17:in 'call': Incorrect token audience (Aws::STS::Errors::InvalidIdentityToken)`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/mirror-sync"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.CredentialsRejected || cz.Object != "deployment/"+ns+"/mirror-sync" || cz.Field != "spec.template.spec.volumes[aws-token].projected.sources[0].serviceAccountToken.audience" {
			t.Fatalf("cause %+v, want the projected token's audience:\n%s", cz, d.Text())
		}
		mustSay(t, d, `whose audience is "vault"`, "sts.amazonaws.com")
		noRestart(t, d)
	})

	t.Run("a setting the program ignores, named in its log, is found by its variable's name", func(t *testing.T) {
		ns := c.Namespace("cz-tok-kcname")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "idp-env"},
			Data: map[string]string{"KC_DB": "postgres", "KC_HOSTNAME_URL": "https://login.example.com", "KC_PROXY_HEADERS": "xforwarded"}})
		rs := c.Deployment(ns, "idp", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "idp-env"}}}}
		})
		c.Pod(rs, ns, "idp-h1-0", "cz-tokens-node", crashing(""))
		node.Set(ns, "idp-h1-0", "app", true,
			`2026-12-07 10:00:01,100 WARN  [org.keycloak.quarkus.runtime.configuration.mappers.PropertyMappers] (main) - hostname-url: Available only when hostname:v1 feature is enabled.`,
			`2026-12-07 10:00:01,300 ERROR [org.keycloak.quarkus.runtime.cli.ExecutionExceptionHandler] (main) ERROR: hostname is not configured; either configure hostname, or set hostname-strict to false`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/idp"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/idp-env" || cz.Field != "data.KC_HOSTNAME_URL" && cz.Field != "data[KC_HOSTNAME_URL]" {
			t.Fatalf("cause %+v, want the ConfigMap key that carries hostname-url:\n%s", cz, d.Text())
		}
		mustSay(t, d, "hostname-url")

		// the same options as the items of a list under the line that introduces them
		node.Set(ns, "idp-h1-0", "app", true,
			`WARNING: The following used run time options are UNAVAILABLE and will be ignored during build time:`,
			` - hostname-url: Available only when hostname:v1 feature is enabled.`,
			`ERROR: Failed to start server in (production) mode`,
			`ERROR: hostname is not configured; either configure hostname, or set hostname-strict to false`)
		d = diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/idp"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Object != "configmap/"+ns+"/idp-env" {
			t.Fatalf("cause %+v, want the ConfigMap key that carries hostname-url, from the list item:\n%s", cz, d.Text())
		}
	})

	t.Run("an Ingress no analyzer faults: the failure its backend's pod logs is followed", func(t *testing.T) {
		ns := c.Namespace("cz-tok-ing")
		running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal-web"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "portal-web"}, Ports: []corev1.ServicePort{{Port: 80}}}})
		c.Create(&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal"},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "portal.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "portal-web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}})
		rs := c.Deployment(ns, "portal-web", 1, nil)
		c.Pod(rs, ns, "portal-web-h1-0", "cz-tokens-node", running)
		// the endpoints controller envtest lacks: the pod is the Service's ready endpoint
		c.Create(&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "portal-web-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "portal-web"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.4.7"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "portal-web-h1-0"}}}})
		node.Set(ns, "portal-web-h1-0", "app", false,
			`[2026-12-07 10:00:00] production.INFO: request handled`,
			`[2026-12-07 10:00:02] production.ERROR: SQLSTATE[08006] [7] FATAL:  password authentication failed for user "portal"`)
		d := diagnose(t, e, runbook.Question{Subject: "ingress/" + ns + "/portal", Text: "why does portal.example.com answer 500?"}, diagnosis.Unknown)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.CredentialsRejected {
			t.Fatalf("cause %+v, want the credentials its backend's log reports:\n%s", cz, d.Text())
		}
		mustSay(t, d, "the cause is read from the log of its pod portal-web-h1-0")
	})

	t.Run("an init container that waits for a dependency forever names what it waits for", func(t *testing.T) {
		ns := c.Namespace("cz-tok-initwait")
		rs := c.Deployment(ns, "shop-web", 1, func(p *corev1.PodSpec) {
			p.InitContainers = []corev1.Container{{Name: "wait-db", Image: "busybox:1.36",
				Command: []string{"sh", "-c", "until nslookup orders-db; do echo waiting for orders-db; sleep 2; done"}}}
		})
		c.Pod(rs, ns, "shop-web-h1-0", "cz-tokens-node", corev1.PodStatus{Phase: corev1.PodPending,
			Conditions:            []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionFalse, Reason: "ContainersNotInitialized", Message: "containers with incomplete status: [wait-db]"}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "wait-db", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(metav1.Now().Add(-20 * 60e9))}}}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}}})
		node.Set(ns, "shop-web-h1-0", "wait-db", false,
			`Server:		10.96.0.10`,
			`** server can't find orders-db.`+ns+`.svc.cluster.local: NXDOMAIN`,
			`waiting for orders-db`)
		// (envtest runs no Deployment controller: the Deployment shows no unavailable replica,
		// so the pod's logs are read as a running subject's are)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/shop-web", Text: "why does shop-web not start?"}, diagnosis.Unknown)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ReferenceMissing || cz.Object != "service/"+ns+"/orders-db" {
			t.Fatalf("cause %+v, want the Service the init container waits for:\n%s", cz, d.Text())
		}
		mustSay(t, d, "NXDOMAIN")
	})
}
