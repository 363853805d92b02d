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
