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
}
