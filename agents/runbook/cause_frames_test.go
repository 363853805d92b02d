//go:build cgo

package runbook_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// TestCauseInTheSettingBehindTheValue: the failing value reaches the program through one more
// step than its own line shows — a flag whose value is a variable, a host a ConfigMap names
// next to a Service of a like name, a credential with a stray newline, a switch the line names
// by a word of its variable, the implementation a setting selects, a dependency's timeout in
// milliseconds — and the diagnosis follows that step to the key to change.
func TestCauseInTheSettingBehindTheValue(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}
	node := c.KubeletLogs("cz-behind-node")
	envFrom := func(cm string) func(p *corev1.PodSpec) {
		return func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}
		}
	}
	running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}

	t.Run("a flag whose value is a variable names the ConfigMap key that sets it", func(t *testing.T) {
		ns := c.Namespace("cz-bh-flagvar")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "summarizer-engine"},
			Data: map[string]string{"MODEL": "acme/sum-13b", "TP_WIDTH": "3"}})
		rs := c.Deployment(ns, "summarizer", 1, func(p *corev1.PodSpec) {
			envFrom("summarizer-engine")(p)
			p.Containers[0].Command = []string{"/bin/sh", "-c"}
			p.Containers[0].Args = []string{"exec python3 -m vllm.entrypoints.openai.api_server --model $MODEL --tensor-parallel-size $TP_WIDTH --port 8000"}
		})
		c.Pod(rs, ns, "summarizer-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "summarizer-h1-0", "app", true,
			`INFO 12-07 10:00:01 api_server.py:585] vLLM API server version 0.6.3`,
			`ValueError: Total number of attention heads (40) must be divisible by tensor parallel size (3).`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/summarizer"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/summarizer-engine" || cz.Field != "data[TP_WIDTH]" {
			t.Fatalf("cause %+v, want the ConfigMap key the flag's variable comes from:\n%s", cz, d.Text())
		}
		mustSay(t, d, "--tensor-parallel-size $TP_WIDTH", "key TP_WIDTH of ConfigMap summarizer-engine")
		noRestart(t, d)
	})

	t.Run("a host next to a Service of a like name names the setting, not the missing Service", func(t *testing.T) {
		ns := c.Namespace("cz-bh-stalehost")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "leaderboard-config"},
			Data: map[string]string{"REDIS_HOST": "redis-master", "REDIS_PORT": "6379"}})
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scores-redis-master"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "scores-redis"}, Ports: []corev1.ServicePort{{Port: 6379}}}})
		rs := c.Deployment(ns, "leaderboard", 1, envFrom("leaderboard-config"))
		c.Pod(rs, ns, "leaderboard-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "leaderboard-h1-0", "app", true,
			`Error: getaddrinfo ENOTFOUND redis-master`,
			`    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/leaderboard"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/leaderboard-config" || cz.Field != "data[REDIS_HOST]" {
			t.Fatalf("cause %+v, want the ConfigMap key that names the stale host:\n%s", cz, d.Text())
		}
		mustSay(t, d, "scores-redis-master", contract.LikeNamedService)
		noRestart(t, d)
	})

	t.Run("rejected credentials with a trailing newline name the Secret's key", func(t *testing.T) {
		ns := c.Namespace("cz-bh-newline")
		c.Create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-db-login"},
			Data: map[string][]byte{"PGUSER": []byte("svc_ledger_rw"), "PGPASSWORD": []byte("s3cr3t-rotated\n")}})
		rs := c.Deployment(ns, "ledger-api", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ledger-db-login"}}}}
		})
		c.Pod(rs, ns, "ledger-api-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "ledger-api-h1-0", "app", true,
			`FATAL:  password authentication failed for user "svc_ledger_rw"`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/ledger-api"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.CredentialsRejected || cz.Object != "secret/"+ns+"/ledger-db-login" || cz.Field != "data[PGPASSWORD]" {
			t.Fatalf("cause %+v, want the Secret key whose value ends with a newline:\n%s", cz, d.Text())
		}
		mustSay(t, d, "PGPASSWORD", "ends with a newline")
		if text := d.Text(); strings.Contains(text, "s3cr3t-rotated") {
			t.Errorf("the diagnosis quotes the Secret's value:\n%s", text)
		}
		noRestart(t, d)
	})

	t.Run("rejected credentials encoded twice name the Secret's key", func(t *testing.T) {
		ns := c.Namespace("cz-bh-twice")
		// "cGF5cm9sbC1yb3RhdGVkLTIw" is base64 of "payroll-rotated-20": encoded before data encoded it again
		c.Create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "totals-db-login"},
			Data: map[string][]byte{"DB_USER": []byte("svc_totals"), "DB_PASSWORD": []byte("cGF5cm9sbC1yb3RhdGVkLTIw")}})
		rs := c.Deployment(ns, "totals", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "totals-db-login"}}}}
		})
		c.Pod(rs, ns, "totals-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "totals-h1-0", "app", true, `FATAL:  password authentication failed for user "svc_totals"`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/totals"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.CredentialsRejected || cz.Object != "secret/"+ns+"/totals-db-login" || cz.Field != "data[DB_PASSWORD]" {
			t.Fatalf("cause %+v, want the Secret key encoded twice:\n%s", cz, d.Text())
		}
		mustSay(t, d, "DB_PASSWORD", "encoded twice")
		if strings.Contains(d.Text(), "cGF5cm9sbC1yb3RhdGVkLTIw") || strings.Contains(d.Text(), "payroll-rotated-20") {
			t.Errorf("the diagnosis quotes the Secret's value:\n%s", d.Text())
		}
	})

	t.Run("a switch the failing line names by a word of its variable", func(t *testing.T) {
		ns := c.Namespace("cz-bh-switch")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ranker-env"},
			Data: map[string]string{"HF_HOME": "/cache/hf", "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}})
		rs := c.Deployment(ns, "ranker", 1, envFrom("ranker-env"))
		c.Pod(rs, ns, "ranker-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "ranker-h1-0", "app", true,
			`Traceback (most recent call last):`,
			`  File "/app/serve.py", line 12, in <module>`,
			`    tok = AutoTokenizer.from_pretrained(MODEL)`,
			`OSError: We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them in the cached files. Offline mode is enabled.`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/ranker"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/ranker-env" || cz.Field != "data[HF_HUB_OFFLINE]" {
			t.Fatalf("cause %+v, want the switch HF_HUB_OFFLINE:\n%s", cz, d.Text())
		}
		mustSay(t, d, "HF_HUB_OFFLINE=1", "Offline mode is enabled")
		noRestart(t, d)
	})

	t.Run("a cache path set where no volume is mounted names that setting", func(t *testing.T) {
		ns := c.Namespace("cz-bh-unmounted")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "embedder-env"},
			Data: map[string]string{"HF_HOME": "/models/hf", "LOG_LEVEL": "info"}})
		rs := c.Deployment(ns, "embedder", 1, func(p *corev1.PodSpec) {
			envFrom("embedder-env")(p)
			p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "hf-cache", MountPath: "/mnt/hf-cache"}}
			p.Volumes = []corev1.Volume{{Name: "hf-cache", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/hf-cache"}}}}
		})
		c.Pod(rs, ns, "embedder-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "embedder-h1-0", "app", true,
			`Traceback (most recent call last):`,
			`  File "/app/serve.py", line 9, in <module>`,
			`OSError: Cannot find the requested files in the disk cache and outgoing traffic has been disabled. To enable hf.co look-ups and downloads online, set 'local_files_only' to False.`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/embedder"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/embedder-env" || cz.Field != "data[HF_HOME]" {
			t.Fatalf("cause %+v, want HF_HOME, which points where nothing is mounted:\n%s", cz, d.Text())
		}
		mustSay(t, d, "HF_HOME=/models/hf", "/mnt/hf-cache")
		noRestart(t, d)
	})

	t.Run("a traceback through the implementation a setting selects names that setting", func(t *testing.T) {
		ns := c.Namespace("cz-bh-frames")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "media-store-env"},
			Data: map[string]string{"STORAGE_BACKEND": "azureblob", "MEDIA_ROOT": "/media"}})
		rs := c.Deployment(ns, "media-api", 1, envFrom("media-store-env"))
		c.Pod(rs, ns, "media-api-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "media-api-h1-0", "app", true,
			`Traceback (most recent call last):`,
			`  File "/app/media/server.py", line 40, in <module>`,
			`    store = open_store()`,
			`  File "/app/media/stores/azureblob/client.py", line 18, in open_store`,
			`    return BlobServiceClient.from_connection_string(conn)`,
			`KeyError: 'AccountName'`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/media-api"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/media-store-env" || cz.Field != "data[STORAGE_BACKEND]" {
			t.Fatalf("cause %+v, want the setting that selects the failing backend:\n%s", cz, d.Text())
		}
		mustSay(t, d, "STORAGE_BACKEND=azureblob", "KeyError: 'AccountName'")
		noRestart(t, d)
	})

	t.Run("a broker's timeout in milliseconds names the broker's ConfigMap line", func(t *testing.T) {
		ns := c.Namespace("cz-bh-number")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jobs-broker-config"},
			Data: map[string]string{"rabbitmq.conf": "listeners.tcp.default = 5672\nconsumer_timeout = 1800000\n"}})
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jobs-broker"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "jobs-broker"}, Ports: []corev1.ServicePort{{Port: 5672}}}})
		broker := c.Deployment(ns, "jobs-broker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/rabbitmq/conf.d"}}
			p.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "jobs-broker-config"}}}}}
		})
		c.Pod(broker, ns, "jobs-broker-h1-0", "cz-behind-node", running)
		rs := c.Deployment(ns, "report-workers", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "CELERY_BROKER_URL", Value: "amqp://jobs:jobs@jobs-broker:5672//"}}
		})
		c.Pod(rs, ns, "report-workers-h1-0", "cz-behind-node", crashing(""))
		node.Set(ns, "report-workers-h1-0", "app", true,
			`[2026-12-07 02:44:09,802: CRITICAL/MainProcess] Unrecoverable error: PreconditionFailed(406, 'PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1800000 ms.', (0, 0), '')`,
			`Traceback (most recent call last):`,
			`  File "/usr/local/lib/python3.12/site-packages/amqp/channel.py", line 241, in _on_close`,
			`    raise error_for_code(`,
			`amqp.exceptions.PreconditionFailed: (0, 0): (406) PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 1800000 ms.`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/report-workers"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/jobs-broker-config" || cz.Field != "data[rabbitmq.conf]" {
			t.Fatalf("cause %+v, want the broker's ConfigMap that sets consumer_timeout:\n%s", cz, d.Text())
		}
		mustSay(t, d, "consumer_timeout = 1800000", "PreconditionFailed")
		noRestart(t, d)
	})
}
