//go:build cgo

package runbook_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// TestCauseFromTheLogs: logs read through the real API server's pods/log (a node log endpoint
// stands in for the kubelet envtest lacks): a dependency that refuses a workload says why in its
// own log, which moves the cause from the password to the setting that is wrong; a failing pod
// whose termination message is empty is quoted by its log.
func TestCauseFromTheLogs(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}
	node := c.KubeletLogs("cz-logs-node")
	running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}

	t.Run("a database that has no such user moves the cause to the connection string's ConfigMap key", func(t *testing.T) {
		ns := c.Namespace("cz-srvlog")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-db-settings"},
			Data: map[string]string{"LOG_LEVEL": "info", "MONGODB_URI": "mongodb://shop_svc@shop-mongo:27017/shop"}})
		c.Create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-db-password"}, StringData: map[string]string{"MONGODB_PASSWORD": "x"}})
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-mongo"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "shop-mongo"}, Ports: []corev1.ServicePort{{Port: 27017}}}})
		db := c.Deployment(ns, "shop-mongo", 1, nil)
		c.Pod(db, ns, "shop-mongo-h1-0", "cz-logs-node", running)
		api := c.Deployment(ns, "shop-api", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shop-db-settings"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "shop-db-password"}}}}
		})
		c.Pod(api, ns, "shop-api-h1-0", "cz-logs-node", crashing(""))
		node.Set(ns, "shop-api-h1-0", "app", true, "connecting to mongodb://shop_svc:****@shop-mongo:27017/shop", "MongoServerError: Authentication failed.")
		node.Set(ns, "shop-mongo-h1-0", "app", false,
			`{"c":"NETWORK","msg":"Connection accepted","attr":{"remote":"10.0.0.7:50418"}}`,
			`{"c":"ACCESS","msg":"Failed to authenticate","attr":{"mechanism":"SCRAM-SHA-256","user":"shop_svc","db":"shop","error":"UserNotFound: Could not find user \"shop_svc\" for db \"shop\""}}`)
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/shop-api"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.CredentialsRejected || cz.Object != "configmap/"+ns+"/shop-db-settings" || cz.Field != "data[MONGODB_URI]" {
			t.Fatalf("cause %+v, want the ConfigMap key that carries the connection string:\n%s", cz, d.Text())
		}
		mustSay(t, d, "no user shop_svc in database shop", "authSource", "Service shop-mongo's pod shop-mongo-h1-0 logs", "runbook server-mongodb-user-not-found")
		noRestart(t, d)

		// the same refusal with a server that says nothing of it: the password's Secret stays
		node.Set(ns, "shop-mongo-h1-0", "app", false, `{"c":"NETWORK","msg":"Connection accepted"}`)
		d = diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/shop-api"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.CredentialsRejected || strings.HasPrefix(cz.Object, "configmap/") {
			t.Fatalf("cause %+v, want the credentials' side, not the connection string:\n%s", cz, d.Text())
		}
	})

	t.Run("a setting a server refuses, held in a mounted ConfigMap file that the line does not name", func(t *testing.T) {
		ns := c.Namespace("cz-cnf")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reports-cnf"},
			Data: map[string]string{"tuning.cnf": "[mysqld]\nquery_cache_type=1\nquery_cache_size=64M\n", "charset.cnf": "[mysqld]\ncharacter-set-server=utf8mb4\n"}})
		db := c.Deployment(ns, "reports-mysql", 1, func(p *corev1.PodSpec) {
			p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cnf", MountPath: "/etc/mysql/conf.d", ReadOnly: true}}
			p.Volumes = []corev1.Volume{{Name: "cnf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "reports-cnf"}}}}}
		})
		c.Pod(db, ns, "reports-mysql-h1-0", "cz-logs-node", crashing(""))
		node.Set(ns, "reports-mysql-h1-0", "app", true,
			"2026-12-07 02:10:33+00:00 [Note] [Entrypoint]: Entrypoint script for MySQL Server 8.0.40-1.el9 started.",
			"2026-12-07T02:10:34.019482Z 0 [ERROR] [MY-000067] [Server] unknown variable 'query_cache_type=1'.",
			"2026-12-07T02:10:34.019755Z 0 [ERROR] [MY-010119] [Server] Aborting")
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/reports-mysql"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/"+ns+"/reports-cnf" || cz.Field != "data[tuning.cnf]" {
			t.Fatalf("cause %+v, want the ConfigMap key that holds query_cache_type:\n%s", cz, d.Text())
		}
		mustSay(t, d, "query_cache_type", "/etc/mysql/conf.d/tuning.cnf is key tuning.cnf of ConfigMap reports-cnf")
		noRestart(t, d)
	})

	t.Run("an OOMKilled sidecar names its own limit, not the application's", func(t *testing.T) {
		ns := c.Namespace("cz-sidecar")
		rs := c.Deployment(ns, "checkout", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
			p.Containers = append(p.Containers, corev1.Container{Name: "log-shipper", Image: "registry.example/fluent-bit:3.2",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}})
		})
		oom := fixture.Terminated("OOMKilled", 137)
		c.Pod(rs, ns, "checkout-h1-0", "", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}},
			{Name: "log-shipper", RestartCount: 7, LastTerminationState: corev1.ContainerState{Terminated: oom},
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container=log-shipper"}}}}})
		d := diagnose(t, e, runbook.Question{Subject: "deployment/" + ns + "/checkout"}, diagnosis.OOMKilled)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.MemoryLimit || cz.Object != "deployment/"+ns+"/checkout" || cz.Field != "spec.template.spec.containers[log-shipper].resources.limits.memory" {
			t.Fatalf("cause %+v, want the sidecar's memory limit:\n%s", cz, d.Text())
		}
		mustSay(t, d, "container log-shipper is killed (OOMKilled, exit 137)", "64Mi")
	})

	t.Run("a node that advertises no GPU: the device plugin's pod that fails there is quoted by its log", func(t *testing.T) {
		ns := c.Namespace("cz-plugin")
		gpuNode := c.KubeletLogs("cz-h100b")
		var n corev1.Node
		if err := c.C.Get(context.Background(), client.ObjectKey{Name: "cz-h100b"}, &n); err != nil {
			t.Fatal(err)
		}
		n.Labels = map[string]string{"nvidia.com/gpu.present": "true", "pool": "cz-h100b"}
		if err := c.C.Update(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{"app": "gpu-device-plugin"}
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-device-plugin"},
			Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"nvidia.com/gpu.present": "true"},
					Containers:   []corev1.Container{{Name: "nvidia-device-plugin-ctr", Image: "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"}}}}}}
		c.Create(ds)
		plugin := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-device-plugin-x7k2p", Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr.To(true)}}},
			Spec: *ds.Spec.Template.Spec.DeepCopy()}
		plugin.Spec.NodeName = "cz-h100b"
		c.Create(plugin)
		last := fixture.Terminated("Error", 1)
		plugin.Status = fixture.Waiting("CrashLoopBackOff", "back-off 10s restarting failed container=nvidia-device-plugin-ctr", last)
		plugin.Status.ContainerStatuses[0].Name = "nvidia-device-plugin-ctr"
		c.SetStatus(plugin)
		gpuNode.Set(ns, "gpu-device-plugin-x7k2p", "nvidia-device-plugin-ctr", true,
			`I1230 08:14:02.121702       1 main.go:317] Loading configuration.`,
			`E1230 08:14:02.124019       1 factory.go:68] Failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND.`,
			`E1230 08:14:02.124044       1 factory.go:69] If this is a GPU node, did you set the docker default runtime to `+"`nvidia`"+`?`)
		train := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "protein-fold-0"}, Spec: corev1.PodSpec{
			NodeSelector: map[string]string{"pool": "cz-h100b"},
			Containers: []corev1.Container{{Name: "trainer", Image: "registry.example/fold:1",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}}}}}}
		c.Create(train)
		train.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/7 nodes are available: 1 Insufficient nvidia.com/gpu, 6 node(s) didn't match Pod's node affinity/selector."}}}
		c.SetStatus(train)
		d := diagnose(t, e, runbook.Question{Subject: "pod/" + ns + "/protein-fold-0"}, diagnosis.InsufficientGPU)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ResourceNotAdvertised {
			t.Fatalf("cause %+v, want ResourceNotAdvertised:\n%s", cz, d.Text())
		}
		mustSay(t, d, "gpu-device-plugin-x7k2p's log says: E1230 08:14:02.124019       1 factory.go:68] Failed to initialize NVML: ERROR_LIBRARY_NOT_FOUND.")
	})
}
