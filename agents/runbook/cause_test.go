//go:build cgo

package runbook_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// TestCauseBehindTheSymptom: the engine names the cause behind a crash loop from the line the
// crash left (a signature of the built-in runbooks), or from a failing neighbour the subject's
// spec names, and proposes what the cause calls for — not a restart that cannot help.
func TestCauseBehindTheSymptom(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}

	t.Run("an RBAC refusal names the service account and the verb, and restarts nothing", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-rbac")
		c.Create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scaler"}})
		c.Create(&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scaler-watch"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "watch"}}}})
		c.Create(&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scaler-watch"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "scaler-watch"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "scaler", Namespace: ns}}})
		rs := c.Deployment(ns, "scaler", 2, func(p *corev1.PodSpec) { p.ServiceAccountName = "scaler" })
		c.Pod(rs, ns, "scaler-h2-0", "", crashing(`failed to list pods: pods is forbidden: User "system:serviceaccount:cz-rbac:scaler" cannot list resource "pods" in API group "" in the namespace "cz-rbac"`))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-rbac/scaler"}, diagnosis.CrashLoopBackOff)
		// access_check (a real SubjectAccessReview) names the Role that lacks the verb
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.RBACDenied || cz.Object != "role/cz-rbac/scaler-watch" {
			t.Fatalf("cause %+v, want RBACDenied at role/cz-rbac/scaler-watch:\n%s", cz, d.Text())
		}
		mustSay(t, d, "scaler-watch", "cannot list resource", "runbook rbac-forbidden: grant list on pods to ServiceAccount cz-rbac/scaler")
		noRestart(t, d)
	})

	t.Run("a foreign-architecture binary rolls back, naming the image's architecture", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-arch")
		rs := c.Deployment(ns, "api", 2, nil)
		c.Pod(rs, ns, "api-h2-0", "", crashing("exec /usr/local/bin/api: exec format error"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-arch/api"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.ImageArchitecture || cz.Object != "deployment/cz-arch/api" || !strings.Contains(cz.Field, "image") {
			t.Fatalf("cause %+v:\n%s", cz, d.Text())
		}
		planIs(t, d, "workload_rollback@cluster-tools[disruptive]")

		// the same failure in a workload's first revision: nothing to roll back to
		rs1 := c.Deployment(ns, "fresh", 1, nil)
		c.Pod(rs1, ns, "fresh-h1-0", "", crashing("exec /usr/local/bin/fresh: exec format error"))
		d = diagnose(t, e, runbook.Question{Subject: "deployment/cz-arch/fresh"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.ImageArchitecture {
			t.Fatalf("cause %+v:\n%s", cz, d.Text())
		}
		planIs(t, d)
		mustSay(t, d, "deployment/cz-arch/fresh has no previous revision to roll back to")
	})

	t.Run("a crash on a refused dependency names the failing neighbour the spec points at", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-dep")
		db := c.Deployment(ns, "ledger-db", 1, nil)
		dbLast := fixture.Terminated("Error", 1)
		dbLast.Message = `initdb: error: could not change permissions of directory "/var/lib/postgresql/data": Operation not permitted`
		c.Pod(db, ns, "ledger-db-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off", dbLast))
		web := c.Deployment(ns, "checkout", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgres://app@ledger-db:5432/ledger"}}
		})
		c.Pod(web, ns, "checkout-h1-0", "", crashing("could not connect to the database: connection refused"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-dep/checkout"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.DependencyUnreachable || cz.Object != "deployment/cz-dep/ledger-db" {
			t.Fatalf("cause %+v, want the ledger-db Deployment:\n%s", cz, d.Text())
		}
		mustSay(t, d, "could not change permissions", "fix the dependency deployment/cz-dep/ledger-db first")
		noRestart(t, d)
	})

	t.Run("a dependency that crashes with words no signature knows is still said, by its own last words", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-depwords")
		broker := c.Deployment(ns, "queue-broker", 1, nil)
		last := fixture.Terminated("Error", 1)
		last.Message = "BOOT FAILED: the frobnication table is corrupt"
		c.Pod(broker, ns, "queue-broker-h1-0", "", fixture.Waiting("CrashLoopBackOff", "back-off", last))
		worker := c.Deployment(ns, "mailer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "BROKER_URL", Value: "amqp://mailer@queue-broker:5672/"}}
		})
		c.Pod(worker, ns, "mailer-h1-0", "", crashing("kombu.exceptions.OperationalError: [Errno 111] Connection refused"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-depwords/mailer"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.DependencyUnreachable || cz.Object != "deployment/cz-depwords/queue-broker" {
			t.Fatalf("cause %+v, want the crashing broker:\n%s", cz, d.Text())
		}
		mustSay(t, d, "behind it: deployment/cz-depwords/queue-broker itself crashes, its last termination message says: BOOT FAILED: the frobnication table is corrupt")
		noRestart(t, d)
	})

	t.Run("a gang whose ranks time out names the one member whose own error differs", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-gang")
		timeout := "[Rank 0] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1, OpType=ALLREDUCE) ran for 600081 milliseconds before timing out."
		for _, name := range []string{"run-master-0", "run-worker-0", "run-worker-1", "run-worker-2"} {
			msg := timeout
			if name == "run-worker-1" {
				msg = "NCCL INFO NCCL_SOCKET_IFNAME set by environment to ib0\nNCCL WARN Bootstrap : no socket interface found"
			}
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"job": "run", "pod": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pytorch", Image: "registry.example/sft:1"}}}}
			c.Create(p)
			p.Status = crashing(msg)
			c.SetStatus(p)
		}
		d := diagnose(t, e, runbook.Question{Subject: "pod/cz-gang/run-master-0"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "pod/cz-gang/run-worker-1" || !strings.Contains(cz.Field, "NCCL_SOCKET_IFNAME") {
			t.Fatalf("cause %+v, want run-worker-1's NCCL_SOCKET_IFNAME:\n%s", cz, d.Text())
		}
		noRestart(t, d)
	})

	t.Run("a workload without pods names what its ReplicaSet's refusal says", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-nosa")
		rs := c.Deployment(ns, "model-sync", 1, func(p *corev1.PodSpec) { p.ServiceAccountName = "model-sync-sa" })
		c.RolloutStatus(ns, "model-sync")
		c.Create(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "model-sync-rs.1"}, Type: corev1.EventTypeWarning, Reason: "FailedCreate",
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: ns, Name: rs.Name, UID: rs.UID},
			Message:        `Error creating: pods "` + rs.Name + `-x" is forbidden: error looking up service account cz-nosa/model-sync-sa: serviceaccount "model-sync-sa" not found`,
			Count:          3, LastTimestamp: metav1.Now(), FirstTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "replicaset-controller"}})
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-nosa/model-sync"}, diagnosis.ReplicasUnavailable)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.ReferenceMissing || cz.Object != "serviceaccount/cz-nosa/model-sync-sa" {
			t.Fatalf("cause %+v, want the missing ServiceAccount:\n%s", cz, d.Text())
		}
	})

	t.Run("a rollout a full quota refuses names the quota and rolls nothing back", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-quotaroll")
		q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "team-pods"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("1")}}}
		c.Create(q)
		rs := c.Deployment(ns, "ranker", 2, nil)
		c.RolloutStatus(ns, "ranker")
		var dep appsv1.Deployment
		if err := c.C.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "ranker"}, &dep); err != nil {
			t.Fatal(err)
		}
		dep.Status.Conditions = append(dep.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "ranker-h2" has timed out progressing.`, LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()})
		c.SetStatus(&dep)
		c.Create(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ranker-rs.1"}, Type: corev1.EventTypeWarning, Reason: "FailedCreate",
			InvolvedObject: corev1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: ns, Name: rs.Name, UID: rs.UID},
			Message:        `Error creating: pods "` + rs.Name + `-x" is forbidden: exceeded quota: team-pods, requested: pods=1, used: pods=1, limited: pods=1`,
			Count:          3, LastTimestamp: metav1.Now(), FirstTimestamp: metav1.Now(), Source: corev1.EventSource{Component: "replicaset-controller"}})
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-quotaroll/ranker"}, diagnosis.QuotaExceeded)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.QuotaExceeded || cz.Object != "resourcequota/cz-quotaroll/team-pods" {
			t.Fatalf("cause %+v, want the quota:\n%s", cz, d.Text())
		}
		noRestart(t, d)
	})

	t.Run("a crash with no known line keeps the symptom's fix and names no cause", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-plain")
		rs := c.Deployment(ns, "plain", 2, nil)
		c.Pod(rs, ns, "plain-h2-0", "", crashing("bye"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-plain/plain"}, diagnosis.CrashLoopBackOff)
		if d.RootCause.Cause != nil {
			t.Errorf("cause %+v from nothing:\n%s", d.RootCause.Cause, d.Text())
		}
		if !slices.ContainsFunc(d.Plan, func(a diagnosis.Action) bool { return a.Tool == "workload_rollback" }) {
			t.Errorf("the symptom's rollback is gone:\n%s", d.Text())
		}
	})

	t.Run("an optional Secret key the application needs names the Secret and the key it lacks", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-optkey")
		c.Create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "digest-mailer"}, StringData: map[string]string{"smtp-user": "mailer@example.com"}})
		rs := c.Deployment(ns, "digest", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "SMTP_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "digest-mailer"}, Key: "smtp-password", Optional: ptr.To(true)}}}}
		})
		c.Pod(rs, ns, "digest-h1-0", "", crashing("Error: missing required environment variable SMTP_PASSWORD"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-optkey/digest"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ReferenceMissing || cz.Object != "secret/cz-optkey/digest-mailer" || cz.Field != "data.smtp-password" {
			t.Fatalf("cause %+v, want the Secret's missing key:\n%s", cz, d.Text())
		}
		mustSay(t, d, "which Secret digest-mailer does not hold (the reference is optional: true", "Secret digest-mailer keys: smtp-user; no key smtp-password")
		noRestart(t, d)
	})

	t.Run("a registry's refusal names the pull Secret and the suspended CronJob that refreshes it", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-pullauth")
		c.Create(&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ecr-token-refresh"},
			Spec: batchv1.CronJobSpec{Schedule: "0 */6 * * *", Suspend: ptr.To(true), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "refresh", Image: "registry.example/aws-cli:2",
					Args: []string{"kubectl create secret docker-registry ecr-pull-token --dry-run=client -o yaml | kubectl apply -f -"}}}}}}}}})
		rs := c.Deployment(ns, "store", 1, func(p *corev1.PodSpec) {
			p.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "ecr-pull-token"}}
		})
		c.Pod(rs, ns, "store-h1-0", "", fixture.Waiting("ImagePullBackOff",
			`Back-off pulling image "123.dkr.ecr.us-east-1.amazonaws.com/store:1": failed to resolve reference: unexpected status from HEAD request: 403 Forbidden`, nil))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-pullauth/store"}, diagnosis.ImagePullBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.RegistryAuth || cz.Object != "secret/cz-pullauth/ecr-pull-token" {
			t.Fatalf("cause %+v, want the pull Secret:\n%s", cz, d.Text())
		}
		mustSay(t, d, "the pod pulls with imagePullSecrets ecr-pull-token", "CronJob ecr-token-refresh, which refreshes ecr-pull-token, is suspended")
	})

	t.Run("a host that does not resolve names the setting that carries it", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-hostenv")
		rs := c.Deployment(ns, "thumbs", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "REDIS_URL", Value: "redis://redis-master:6379/0"}}
		})
		c.Pod(rs, ns, "thumbs-h1-0", "", crashing("redis.exceptions.ConnectionError: Error -2 connecting to redis-master:6379. Name or service not known."))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-hostenv/thumbs"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ReferenceMissing || cz.Object != "service/cz-hostenv/redis-master" {
			t.Fatalf("cause %+v, want the missing Service:\n%s", cz, d.Text())
		}
		mustSay(t, d, "REDIS_URL=redis://redis-master:6379/0")
		noRestart(t, d)
	})

	t.Run("a configuration file the application refuses names the ConfigMap key mounted there", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-cmfile")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "relay-conf"}, Data: map[string]string{"relay.json": "{"}})
		rs := c.Deployment(ns, "relayd", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Args = []string{"--config", "/etc/relayd/relay.json"}
			p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/relayd"}}
			p.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "relay-conf"}}}}}
		})
		c.Pod(rs, ns, "relayd-h1-0", "", crashing("fatal: invalid configuration in /etc/relayd/relay.json: unexpected end of JSON input"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-cmfile/relayd"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/cz-cmfile/relay-conf" || cz.Field != "data[relay.json]" {
			t.Fatalf("cause %+v, want key relay.json of ConfigMap relay-conf:\n%s", cz, d.Text())
		}
		mustSay(t, d, "/etc/relayd/relay.json is key relay.json of ConfigMap relay-conf")
		noRestart(t, d)
	})

	t.Run("a crash that began with a revision says what the revision changed", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-revenv")
		env := func(v string) func(*corev1.PodSpec) {
			return func(p *corev1.PodSpec) { p.Containers[0].Env = []corev1.EnvVar{{Name: "BATCH_SIZE", Value: v}} }
		}
		rs1 := c.Deployment(ns, "scorer", 1, env("64"))
		rs2 := rs1.DeepCopy()
		rs2.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "scorer-h2", OwnerReferences: rs1.OwnerReferences,
			Labels: map[string]string{"app": "scorer", "pod-template-hash": "h2"}, Annotations: map[string]string{"deployment.kubernetes.io/revision": "2"}}
		rs2.Spec.Selector.MatchLabels = rs2.Labels
		rs2.Spec.Template.Labels = rs2.Labels
		env("256")(&rs2.Spec.Template.Spec)
		c.Create(rs2)
		c.Pod(rs2, ns, "scorer-h2-0", "", crashing("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 18.00 GiB. GPU 0 has a total capacity of 79.11 GiB of which 9.31 GiB is free."))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-revenv/scorer"}, diagnosis.CrashLoopBackOff)
		if d.RootCause.Cause == nil {
			t.Fatalf("no cause:\n%s", d.Text())
		}
		mustSay(t, d, `it began with the latest revision (2), which changed container app: env BATCH_SIZE: "64" → "256"`)
		// what the revision brought, a rollback undoes
		if !slices.ContainsFunc(d.Plan, func(a diagnosis.Action) bool { return a.Tool == "workload_rollback" }) {
			t.Errorf("no rollback of the revision that brought the change:\n%s", d.Text())
		}
	})

	t.Run("a dependency behind a headless Service is named with why it fails", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-headless")
		db := c.Deployment(ns, "ledgerdb", 1, nil)
		c.Pod(db, ns, "ledgerdb-h1-0", "", crashing(`FATAL: could not write to file "pg_wal/xlogtemp.32": No space left on device`))
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledgerdb"}, Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "ledgerdb"}, Ports: []corev1.ServicePort{{Port: 5432}}}})
		api := c.Deployment(ns, "ledger-api", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "DB_HOST", Value: "ledgerdb"}}
		})
		c.Pod(api, ns, "ledger-api-h1-0", "", crashing("dial tcp: lookup ledgerdb on 10.96.0.10:53: no such host"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-headless/ledger-api"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.DependencyUnreachable || cz.Object != "deployment/cz-headless/ledgerdb" {
			t.Fatalf("cause %+v, want the Deployment behind the headless Service:\n%s", cz, d.Text())
		}
		// the check says the dependency fails; the dependency's own line says why
		mustSay(t, d, "headless", "behind it: ", "No space left on device")
		noRestart(t, d)
	})

	t.Run("a port the Service does not expose names the caller's setting that carries it, not the Service", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-callport")
		c.Create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-db"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "ledger-db"}, Ports: []corev1.ServicePort{{Name: "pg", Port: 5432}}}})
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ledger-client"}, Data: map[string]string{"DB_ADDR": "ledger-db:5433"}})
		rs := c.Deployment(ns, "ledger-api", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ledger-client"}}}}
		})
		c.Pod(rs, ns, "ledger-api-h1-0", "", crashing("fatal: failed to connect to `host=ledger-db user=ledger database=ledger`: dial error (dial tcp 10.96.14.2:5433: connect: connection refused)"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-callport/ledger-api"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Object != "configmap/cz-callport/ledger-client" || cz.Field != "data[DB_ADDR]" {
			t.Fatalf("cause %+v, want key DB_ADDR of ConfigMap ledger-client:\n%s", cz, d.Text())
		}
		mustSay(t, d, "is called on port 5433, which the Service does not expose (it exposes 5432 (pg))", "key DB_ADDR of ConfigMap ledger-client")
		noRestart(t, d)
	})

	t.Run("a value the program cannot parse is found in the ConfigMap the container takes its env from", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-cmvalue")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ingest-tuning"}, Data: map[string]string{"CHUNK": "64kb", "WORKERS": "4"}})
		rs := c.Deployment(ns, "ingest", 1, func(p *corev1.PodSpec) {
			p.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "ingest-tuning"}}}}
		})
		c.Pod(rs, ns, "ingest-h1-0", "", crashing(`panic: strconv.ParseInt: parsing "64kb": invalid syntax`))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-cmvalue/ingest"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/cz-cmvalue/ingest-tuning" || cz.Field != "data[CHUNK]" {
			t.Fatalf("cause %+v, want key CHUNK of ConfigMap ingest-tuning:\n%s", cz, d.Text())
		}
		mustSay(t, d, "key CHUNK of ConfigMap ingest-tuning (envFrom), as CHUNK=64kb")
		noRestart(t, d)
	})
}

// crashing is the status of a pod whose container app crashes in a loop, its last termination
// message the line given.
func crashing(message string) corev1.PodStatus {
	last := fixture.Terminated("Error", 1)
	last.Message = message
	return fixture.Waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container=app", last)
}

// noRestart fails the test when the plan restarts, deletes or rolls back what a restart cannot
// help.
func noRestart(t *testing.T, d *diagnosis.Diagnosis) {
	t.Helper()
	for _, a := range d.Plan {
		if a.Tool == "workload_restart" || a.Tool == "pod_delete" || a.Tool == "workload_rollback" {
			t.Errorf("plan proposes %s, which cannot help:\n%s", a.Tool, d.Text())
		}
	}
}
