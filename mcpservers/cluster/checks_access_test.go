package cluster_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// checkCase is one call of a check tool and what its report must say: the cause's category,
// object and field, and phrases its summary, evidence and fix (or, with no cause, Checked) hold.
// wantErr makes the call one that must fail, saying each of wantErr.
type checkCase struct {
	name      string
	args      map[string]any
	category  contract.Category // "" when no cause may be found
	object    string
	field     string
	summary   []string
	evidence  []string
	fix       []string
	checked   []string
	wantErr   []string
	moreCause []contract.Category // further causes expected after the first, in order
}

// runChecks calls tool with each case on s and checks the report.
func runChecks(t *testing.T, s *session, tool string, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := s.With(t)
			if tc.wantErr != nil {
				s.Fails(tool, tc.args, tc.wantErr...)
				return
			}
			var got contract.CheckReport
			text := s.Data(tool, tc.args, &got)
			t.Logf("%s", text)
			mustContain(t, got.Checked, tc.checked...)
			if tc.category == "" {
				if len(got.Causes) > 0 {
					t.Fatalf("%s found causes where nothing is wrong: %+v", tool, got.Causes)
				}
				mustContain(t, text, "cause: none found")
				return
			}
			if len(got.Causes) != 1+len(tc.moreCause) {
				t.Fatalf("%s found %d causes, want %d: %+v", tool, len(got.Causes), 1+len(tc.moreCause), got.Causes)
			}
			c := got.Causes[0]
			if c.Category != tc.category || c.Object != tc.object || c.Field != tc.field {
				t.Errorf("cause = %s %s %q, want %s %s %q", c.Category, c.Object, c.Field, tc.category, tc.object, tc.field)
			}
			for i, cat := range tc.moreCause {
				if got.Causes[i+1].Category != cat {
					t.Errorf("cause %d is %s, want %s", i+2, got.Causes[i+1].Category, cat)
				}
			}
			mustContain(t, c.Summary, tc.summary...)
			mustContain(t, strings.Join(c.Evidence, "\n"), tc.evidence...)
			if c.Fix == nil {
				t.Fatal("the cause has no fix")
			}
			mustContain(t, c.Fix.Text, tc.fix...)
			mustContain(t, text, c.Summary, string(c.Category)+" "+c.Object)
		})
	}
}

// TestAccessCheck runs access_check against envtest's API server, which authorizes with RBAC:
// the SubjectAccessReview verdict is the real authorizer's, and the causes name the Role or
// binding at fault, as in evals/heldout-causal/rbac-*.
func TestAccessCheck(t *testing.T) {
	ns := namespace(t, "chk-access")
	role := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
	}
	binding := func(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName}, Subjects: subjects}
	}
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	create(t,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "queue-autoscaler"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "telemetry-collector"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lonely"}},
		role("autoscaler-watch",
			rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "watch"}},
			rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update"}}),
		binding("autoscaler-watch", "autoscaler-watch", sa("queue-autoscaler")),
		role("endpoint-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods"}, Verbs: []string{"get", "list", "watch"}}),
		binding("collector-readers", "endpoint-reader", sa("metrics-agent")),
		// capacity-planner's Role names nodes, which a Role cannot grant; and pods, which its
		// RoleBinding grants in this namespace only
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "capacity-planner"}},
		role("node-capacity-reader", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes", "pods"}, Verbs: []string{"get", "list"}}),
		binding("capacity-planner-read", "node-capacity-reader", sa("capacity-planner")),
	)
	s := connect(t, cluster.Config{})
	runChecks(t, s, "access_check", []checkCase{{
		name:     "a bound Role covers the resource but not the verb",
		args:     map[string]any{"namespace": ns, "serviceAccount": "queue-autoscaler", "verb": "list", "resource": "pods"},
		category: contract.RBACDenied, object: "role/" + ns + "/autoscaler-watch", field: "rules",
		summary:  []string{"Role autoscaler-watch (bound to ServiceAccount queue-autoscaler by RoleBinding autoscaler-watch) grants get, watch on pods but not list"},
		evidence: []string{`Role autoscaler-watch rules[0]: {apiGroups: [""], resources: [pods], verbs: [get, watch]}`, "SubjectAccessReview: system:serviceaccount:" + ns + ":queue-autoscaler may list pods in namespace " + ns + ": denied"},
		fix:      []string{`add "list" to the verbs of Role autoscaler-watch rules[0]`},
		checked:  []string{"denied"},
	}, {
		name:     "a subresource the Role does not cover by verb",
		args:     map[string]any{"namespace": ns, "serviceAccount": "system:serviceaccount:" + ns + ":queue-autoscaler", "verb": "patch", "resource": "deployments/scale", "group": "apps"},
		category: contract.RBACDenied, object: "role/" + ns + "/autoscaler-watch", field: "rules",
		summary: []string{"grants get, update on deployments.apps/scale but not patch"},
	}, {
		name:     "the binding names another ServiceAccount",
		args:     map[string]any{"namespace": ns, "serviceAccount": "telemetry-collector", "verb": "list", "resource": "endpoints"},
		category: contract.RBACDenied, object: "rolebinding/" + ns + "/collector-readers", field: "subjects",
		summary:  []string{"RoleBinding collector-readers grants list on endpoints to ServiceAccount metrics-agent, not to telemetry-collector"},
		evidence: []string{"RoleBinding collector-readers subjects: [{kind: ServiceAccount, name: metrics-agent, namespace: " + ns + "}]", ": denied"},
		fix:      []string{"add {kind: ServiceAccount, name: telemetry-collector, namespace: " + ns + "} to the subjects of RoleBinding collector-readers"},
	}, {
		name:     "nothing binds the account",
		args:     map[string]any{"namespace": ns, "serviceAccount": "lonely", "verb": "delete", "resource": "configmaps"},
		category: contract.RBACDenied, object: "serviceaccount/" + ns + "/lonely",
		summary: []string{"no RoleBinding in namespace " + ns + " and no ClusterRoleBinding binds ServiceAccount lonely"},
		fix:     []string{"create a Role in " + ns},
	}, {
		name:     "a Role cannot grant a cluster-scoped resource",
		args:     map[string]any{"namespace": ns, "serviceAccount": "capacity-planner", "verb": "list", "resource": "nodes"},
		category: contract.RBACDenied, object: "role/" + ns + "/node-capacity-reader", field: "rules[0]",
		summary:  []string{"Role node-capacity-reader (bound to ServiceAccount capacity-planner by RoleBinding capacity-planner-read) names list nodes, but nodes are cluster-scoped", "refused at the cluster scope"},
		evidence: []string{"may list nodes at the cluster scope: denied"},
		fix:      []string{"ClusterRole", "ClusterRoleBinding to ServiceAccount " + ns + "/capacity-planner"},
	}, {
		name:     "a list across all namespaces that a RoleBinding grants in one",
		args:     map[string]any{"namespace": ns, "serviceAccount": "capacity-planner", "verb": "list", "resource": "pods", "clusterScope": true},
		category: contract.RBACDenied, object: "role/" + ns + "/node-capacity-reader", field: "rules[0]",
		summary: []string{"but the request is cluster-wide (across all namespaces): a RoleBinding grants only within namespace " + ns},
	}, {
		name:    "the same list in the namespace is allowed",
		args:    map[string]any{"namespace": ns, "serviceAccount": "capacity-planner", "verb": "list", "resource": "pods"},
		checked: []string{"may list pods? allowed"},
	}, {
		name:    "allowed: the refusal came from elsewhere",
		args:    map[string]any{"namespace": ns, "serviceAccount": "queue-autoscaler", "verb": "watch", "resource": "pods"},
		checked: []string{"may watch pods? allowed", "did not come from this account's RBAC"},
	}, {
		name:    "the verb is required",
		args:    map[string]any{"namespace": ns, "serviceAccount": "lonely", "resource": "pods"},
		wantErr: []string{`argument "verb" is required`},
	}, {
		name:    "a resource must be one resource",
		args:    map[string]any{"namespace": ns, "serviceAccount": "lonely", "verb": "get", "resource": "*"},
		wantErr: []string{`argument "resource" must name one resource`, `"pods"`},
	}, {
		name:    "a ServiceAccount name must be a name",
		args:    map[string]any{"namespace": ns, "serviceAccount": "Not A Name", "verb": "get", "resource": "pods"},
		wantErr: []string{`argument "serviceAccount" is "Not A Name", which is not a Kubernetes name`},
	}})
}

// TestAccessCheckDanglingRoleRef: a binding whose roleRef names a Role or ClusterRole that does
// not exist grants nothing (the API server accepts it): access_check names that binding and its
// roleRef before any "the role lacks the verb", and points at the role it was likely meant for.
func TestAccessCheckDanglingRoleRef(t *testing.T) {
	ns := namespace(t, "chk-dangling")
	groupNS := namespace(t, "chk-dangling-group")
	rule := func(group, resource string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{resource}, Verbs: verbs}
	}
	role := func(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
	}
	binding := func(ns, name, kind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
	}
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}
	}
	account := func(ns, name string) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	create(t,
		// report-builder is bound to "cronjob-launcher"; the Role is called "cronjobs-launcher".
		account(ns, "report-builder"),
		role(ns, "cronjobs-launcher", rule("batch", "cronjobs", "create", "get", "list")),
		binding(ns, "report-builder-launch", "Role", "cronjob-launcher", sa("report-builder")),
		// ingest reads ConfigMaps through one binding; the one meant to let it write them names
		// a Role nobody created. Its first binding alone would read as "get but not update".
		account(ns, "ingest"),
		role(ns, "ingest-read", rule("", "configmaps", "get", "watch")),
		binding(ns, "ingest-read", "Role", "ingest-read", sa("ingest")),
		binding(ns, "ingest-write", "Role", "configmap-writer", sa("ingest")),
		// sweeper is bound, in its namespace, to a ClusterRole that does not exist.
		account(ns, "sweeper"),
		binding(ns, "sweeper-cleanup", "ClusterRole", "chk-dangling-pvc-sweeper", sa("sweeper")),
		// auditor is bound cluster-wide to a ClusterRole that does not exist.
		account(ns, "auditor"),
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "chk-dangling-auditor"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "chk-dangling-event-auditor"},
			Subjects: []rbacv1.Subject{sa("auditor")}},
		// Every ServiceAccount of groupNS is meant to read leases, through a binding of its group.
		account(groupNS, "elector"),
		binding(groupNS, "all-accounts-leases", "Role", "lease-reader",
			rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:" + groupNS}),
	)
	s := connect(t, cluster.Config{})
	runChecks(t, s, "access_check", []checkCase{{
		name:     "the roleRef names a Role that does not exist, next to one that does",
		args:     map[string]any{"namespace": ns, "serviceAccount": "report-builder", "verb": "create", "resource": "cronjobs", "group": "batch"},
		category: contract.RBACDenied, object: "rolebinding/" + ns + "/report-builder-launch", field: "roleRef.name",
		summary: []string{
			"RoleBinding report-builder-launch grants Role cronjob-launcher, which does not exist in namespace " + ns +
				", so ServiceAccount report-builder has none of its permissions and may not create cronjobs.batch",
			"Role cronjobs-launcher, which does exist and grants it, is the likely intended roleRef",
		},
		evidence: []string{
			"RoleBinding report-builder-launch roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cronjob-launcher}",
			"role/" + ns + "/cronjob-launcher: not found",
			"Role cronjobs-launcher rules[0]: {apiGroups: [batch], resources: [cronjobs], verbs: [create, get, list]}",
			": denied",
		},
		fix:     []string{"roleRef {kind: Role, name: cronjobs-launcher}", "or create Role cronjob-launcher in namespace " + ns},
		checked: []string{"may create cronjobs.batch? denied"},
	}, {
		name:     "a dangling binding wins over the bound Role that lacks the verb",
		args:     map[string]any{"namespace": ns, "serviceAccount": "ingest", "verb": "update", "resource": "configmaps"},
		category: contract.RBACDenied, object: "rolebinding/" + ns + "/ingest-write", field: "roleRef.name",
		summary:   []string{"RoleBinding ingest-write grants Role configmap-writer, which does not exist in namespace " + ns + ", so ServiceAccount ingest has none of its permissions"},
		fix:       []string{`create Role configmap-writer in namespace ` + ns + ` with the rule {apiGroups: [""], resources: [configmaps], verbs: [update]}`},
		moreCause: []contract.Category{contract.RBACDenied}, // Role ingest-read grants get, watch but not update
	}, {
		name:     "a RoleBinding to a ClusterRole that does not exist",
		args:     map[string]any{"namespace": ns, "serviceAccount": "sweeper", "verb": "delete", "resource": "persistentvolumeclaims"},
		category: contract.RBACDenied, object: "rolebinding/" + ns + "/sweeper-cleanup", field: "roleRef.name",
		summary: []string{"RoleBinding sweeper-cleanup grants ClusterRole chk-dangling-pvc-sweeper, which does not exist, so ServiceAccount sweeper"},
		fix:     []string{"create ClusterRole chk-dangling-pvc-sweeper with the rule"},
	}, {
		name:     "a ClusterRoleBinding to a ClusterRole that does not exist",
		args:     map[string]any{"namespace": ns, "serviceAccount": "auditor", "verb": "list", "resource": "events"},
		category: contract.RBACDenied, object: "clusterrolebinding/chk-dangling-auditor", field: "roleRef.name",
		summary:  []string{"ClusterRoleBinding chk-dangling-auditor grants ClusterRole chk-dangling-event-auditor, which does not exist"},
		evidence: []string{"ClusterRoleBinding chk-dangling-auditor subjects: [{kind: ServiceAccount, name: auditor, namespace: " + ns + "}]"},
	}, {
		name:     "a binding of the namespace's accounts group to a Role that does not exist",
		args:     map[string]any{"namespace": groupNS, "serviceAccount": "elector", "verb": "get", "resource": "leases", "group": "coordination.k8s.io"},
		category: contract.RBACDenied, object: "rolebinding/" + groupNS + "/all-accounts-leases", field: "roleRef.name",
		summary: []string{"ServiceAccount elector (through group system:serviceaccounts:" + groupNS + ") has none of its permissions"},
	}, {
		name:    "a dangling binding does not make an allowed request a cause",
		args:    map[string]any{"namespace": ns, "serviceAccount": "ingest", "verb": "get", "resource": "configmaps"},
		checked: []string{"may get configmaps? allowed"},
	}})
}
