package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// access_check: the API server refused a workload's ServiceAccount a verb on a resource; which
// Role, ClusterRole or binding is at fault.

func (t *tools) accessCheckTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "access_check",
			Description: "Why a ServiceAccount may or may not do something: asks the API server (SubjectAccessReview) whether " +
				"system:serviceaccount:<namespace>:<serviceAccount> may <verb> <resource>, then reads the RoleBindings of the namespace " +
				"and the ClusterRoleBindings that bind it and their Roles' rules. When denied, the cause names the Role or ClusterRole " +
				"that covers the resource but not the verb, the binding that binds another subject instead, or says that nothing binds " +
				"the account. Use it after a 'forbidden: User \"system:serviceaccount:...\" cannot <verb> resource \"<resource>\"' error.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the ServiceAccount (and of the request)"), mcp.MaxLength(63)),
				mcp.WithString("serviceAccount", mcp.Required(), mcp.Description("name of the ServiceAccount the workload runs as"), mcp.MaxLength(253)),
				mcp.WithString("verb", mcp.Required(), mcp.Description("the verb refused: get, list, watch, create, update, patch, delete, ..."), mcp.MaxLength(64)),
				mcp.WithString("resource", mcp.Required(), mcp.Description("the resource refused, plural as the error names it: pods, endpoints, deployments (pods/log for a subresource)"), mcp.MaxLength(253)),
				mcp.WithString("group", mcp.Description(`API group of the resource: "" (core, the default), apps, batch, ...`), mcp.MaxLength(253)),
				mcp.WithString("subresource", mcp.Description("subresource, such as log, status or scale"), mcp.MaxLength(64)),
				mcp.WithString("name", mcp.Description("name of the one object the request was about, when it was"), mcp.MaxLength(253)),
				mcp.WithBoolean("clusterScope", mcp.Description("the request was cluster-wide (the error says \"at the cluster scope\"): a list across all namespaces, or a cluster-scoped resource such as nodes (those are found by themselves)")),
			},
		}, t.accessCheck),
	}
}

type accessArgs struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	Verb           string `json:"verb"`
	Resource       string `json:"resource"`
	Group          string `json:"group,omitempty"`
	Subresource    string `json:"subresource,omitempty"`
	Name           string `json:"name,omitempty"`
	ClusterScope   bool   `json:"clusterScope,omitempty"`
}

func (a *accessArgs) Validate() error {
	if err := checkName("namespace", &a.Namespace, true, `pass the namespace of the ServiceAccount, such as "ml"`); err != nil {
		return err
	}
	a.ServiceAccount = strings.TrimPrefix(strings.TrimSpace(a.ServiceAccount), "system:serviceaccount:"+a.Namespace+":")
	if err := checkName("serviceAccount", &a.ServiceAccount, true, `pass the ServiceAccount's name, such as "queue-autoscaler" (the last part of system:serviceaccount:<namespace>:<name>)`); err != nil {
		return err
	}
	a.Verb = strings.ToLower(strings.TrimSpace(a.Verb))
	if a.Verb == "" || strings.ContainsAny(a.Verb, " /*") {
		return fmt.Errorf(`argument "verb" must be one verb, such as "list" or "get", not %q`, a.Verb)
	}
	a.Resource, a.Group, a.Subresource = strings.ToLower(strings.TrimSpace(a.Resource)), strings.TrimSpace(a.Group), strings.TrimSpace(a.Subresource)
	if res, sub, ok := strings.Cut(a.Resource, "/"); ok { // pods/log
		if a.Subresource != "" && a.Subresource != sub {
			return fmt.Errorf(`argument "resource" %q names subresource %q but "subresource" is %q; pass one`, a.Resource, sub, a.Subresource)
		}
		a.Resource, a.Subresource = res, sub
	}
	if a.Group == "" {
		if res, group, ok := strings.Cut(a.Resource, "."); ok { // deployments.apps
			a.Resource, a.Group = res, group
		}
	}
	if a.Group == "core" || a.Group == "v1" {
		a.Group = ""
	}
	if a.Resource == "" || a.Resource == "*" || strings.ContainsAny(a.Resource, " *") {
		return fmt.Errorf(`argument "resource" must name one resource as the error does, such as "pods" or "deployments", not %q`, a.Resource)
	}
	return checkName("name", &a.Name, false, "pass the name of the object the request was about, or leave it out")
}

// request words the refused request: "list pods", "get pods/log web-0", "update deployments.apps/scale".
func (a accessArgs) request() string {
	out := a.Verb + " " + a.resourceText()
	if a.Name != "" {
		out += " " + a.Name
	}
	return out
}

func (a accessArgs) resourceText() string {
	r := a.Resource
	if a.Group != "" {
		r += "." + a.Group
	}
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	return r
}

// boundRole is one binding that applies to the account, with the role it grants.
type boundRole struct {
	binding     string // "RoleBinding x" or "ClusterRoleBinding y"
	bindingRef  string // rolebinding/ns/x or clusterrolebinding/y
	ref         rbacv1.RoleRef
	subjects    []rbacv1.Subject
	via         string // "ServiceAccount sa", "group system:serviceaccounts"
	direct      bool   // names the account itself, not a group it is in
	role        string // "Role r" or "ClusterRole c"
	roleRef     string // role/ns/r or clusterrole/c
	rules       []rbacv1.PolicyRule
	missingRole bool
}

func (t *tools) accessCheck(ctx context.Context, a accessArgs) (contract.CheckReport, string, error) {
	r := &checkReport{}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return r.CheckReport, "", err
	}
	user := "system:serviceaccount:" + a.Namespace + ":" + a.ServiceAccount
	clusterResource := t.clusterScopedResource(a.Group, a.Resource)
	if clusterResource {
		a.ClusterScope = true // nodes, persistentvolumes, namespaces: a request about them is cluster-wide
	}
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + a.Namespace, "system:authenticated"}

	// The real answer first: the API server's authorizer, whatever authorizes it.
	verdict, allowed, known := t.reviewAccess(ctx, a, user, groups)
	if allowed || !known {
		r.fact("%s", verdict) // a denial is quoted as the cause's evidence
	}

	// The account and the bindings that apply to it.
	sa := &corev1.ServiceAccount{}
	saMissing := false
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: a.Namespace, Name: a.ServiceAccount}, sa); apierrors.IsNotFound(err) {
		saMissing = true
		r.fact("ServiceAccount %s/%s does not exist", a.Namespace, a.ServiceAccount)
	}
	var rbs rbacv1.RoleBindingList
	if err := t.k.Direct.List(ctx, &rbs, client.InNamespace(a.Namespace)); err != nil {
		return r.CheckReport, "", apiError(err, "list", "rolebindings in namespace "+a.Namespace)
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := t.clusterScoped("ClusterRoleBindings"); err != nil {
		r.fact("%v", err)
	} else if err := t.k.Direct.List(ctx, &crbs); err != nil {
		r.fact("%v", apiError(err, "list", "clusterrolebindings"))
	}
	sort.Slice(rbs.Items, func(i, j int) bool { return rbs.Items[i].Name < rbs.Items[j].Name })
	sort.Slice(crbs.Items, func(i, j int) bool { return crbs.Items[i].Name < crbs.Items[j].Name })

	var bound []boundRole
	for i := range rbs.Items {
		b := &rbs.Items[i]
		if via, direct, ok := appliesTo(b.Subjects, a.Namespace, a.Namespace, a.ServiceAccount, user, groups); ok {
			br := t.roleOf(ctx, b.Namespace, b.RoleRef)
			br.binding, br.via, br.direct = "RoleBinding "+b.Name, via, direct
			br.bindingRef, br.ref, br.subjects = objectRef("rolebinding", b.Namespace, b.Name), b.RoleRef, b.Subjects
			bound = append(bound, br)
		}
	}
	for i := range crbs.Items {
		b := &crbs.Items[i]
		if via, direct, ok := appliesTo(b.Subjects, "", a.Namespace, a.ServiceAccount, user, groups); ok {
			br := t.roleOf(ctx, "", b.RoleRef)
			br.binding, br.via, br.direct = "ClusterRoleBinding "+b.Name, via, direct
			br.bindingRef, br.ref, br.subjects = objectRef("clusterrolebinding", "", b.Name), b.RoleRef, b.Subjects
			bound = append(bound, br)
		}
	}
	direct := 0
	for _, b := range bound {
		if b.direct {
			direct++
		}
		// Bindings of groups every account is in (system:authenticated's discovery roles) are
		// named only when their role says something of the resource.
		if b.direct || slices.ContainsFunc(b.rules, a.touches) {
			r.fact("%s binds %s to %s%s", b.binding, b.via, b.role, missingNote(b))
		}
	}
	r.Checked = fmt.Sprintf("ServiceAccount %s/%s may %s? %s; bindings that name it: %d (of %d RoleBindings in the namespace and %d ClusterRoleBindings)",
		a.Namespace, a.ServiceAccount, a.request(), verdictWord(allowed, known), direct, len(rbs.Items), len(crbs.Items))

	// a RoleBinding grants within its namespace only: nothing of a cluster-wide request
	grants := slices.ContainsFunc(bound, func(b boundRole) bool {
		return (!a.ClusterScope || strings.HasPrefix(b.binding, "ClusterRoleBinding")) && slices.ContainsFunc(b.rules, a.allows)
	})
	if (known && allowed) || (!known && grants) {
		r.Checked += "; the refusal, if there was one, did not come from this account's RBAC (check the user the request ran as, or an admission webhook)"
		return r.done(t.maxBytes)
	}
	evidenceVerdict := verdict

	// 0. A binding of the account whose roleRef names a Role or ClusterRole that does not exist
	// grants nothing: whatever it was meant to give, the account lacks. That is the cause before
	// any "no role grants the verb", which would only describe its consequence.
	dangling := t.danglingCauses(ctx, a, bound, evidenceVerdict)
	for _, c := range dangling {
		r.cause(c)
	}

	// 0b. A cluster-wide request (a cluster-scoped resource such as nodes, or a list across all
	// namespaces) that a RoleBinding's role would grant: a RoleBinding grants only within its
	// namespace, so the rule is there and still grants nothing here.
	if a.ClusterScope {
		for _, b := range bound {
			ri := slices.IndexFunc(b.rules, a.allows)
			if !strings.HasPrefix(b.binding, "RoleBinding") || ri < 0 {
				continue
			}
			why := "the request is cluster-wide (across all namespaces)"
			if clusterResource {
				why = a.resourceText() + " are cluster-scoped"
			}
			r.cause(contract.Cause{
				Category: contract.RBACDenied, Object: b.roleRef, Field: fmt.Sprintf("rules[%d]", ri),
				Summary: fmt.Sprintf("%s (bound to %s by %s) names %s %s, but %s: a RoleBinding grants only within namespace %s, so %s is refused at the cluster scope",
					b.role, b.via, b.binding, a.Verb, a.resourceText(), why, a.Namespace, a.request()),
				Evidence: []string{fmt.Sprintf("%s rules[%d]: %s", b.role, ri, ruleText(b.rules[ri])), fmt.Sprintf("%s roleRef: %s %s", b.binding, b.ref.Kind, b.ref.Name), evidenceVerdict},
				Fix: &contract.Fix{Text: fmt.Sprintf("grant it with a ClusterRole (the rule {apiGroups: [%q], resources: [%s], verbs: [%s]}) and a ClusterRoleBinding to ServiceAccount %s/%s; RBAC is a person's change: no tool here writes it",
					a.Group, a.ruleResource(), a.Verb, a.Namespace, a.ServiceAccount)},
			})
			return r.done(t.maxBytes)
		}
	}

	// 1. A role bound to the account covers the resource but not the verb (or the name).
	for _, b := range bound {
		var touching []string
		var idx []int
		for i, rule := range b.rules {
			if a.touches(rule) {
				touching = append(touching, fmt.Sprintf("%s rules[%d]: %s", b.role, i, ruleText(rule)))
				idx = append(idx, i)
			}
		}
		if len(touching) == 0 {
			continue
		}
		granted := grantedVerbs(b.rules, idx)
		lacking := "not " + a.Verb
		if slices.Contains(granted, a.Verb) || slices.Contains(granted, rbacv1.VerbAll) {
			lacking = "only on the objects its resourceNames list" // the request is about another, or all
		}
		r.cause(contract.Cause{
			Category: contract.RBACDenied, Object: b.roleRef, Field: "rules",
			Summary: fmt.Sprintf("%s (bound to %s by %s) grants %s on %s but %s",
				b.role, b.via, b.binding, strings.Join(granted, ", "), a.resourceText(), lacking),
			Evidence: append(touching, evidenceVerdict),
			Fix: &contract.Fix{Text: fmt.Sprintf("add %q to the verbs of %s (the rule on %s), or bind the account to a role that grants it; RBAC is a person's change: no tool here writes it",
				a.Verb, ruleIndexes(b.role, idx), a.resourceText())},
		})
		return r.done(t.maxBytes)
	}

	// 2. Nothing (of use) binds the account, but a binding in the namespace grants the verb on
	// the resource to another subject: a wrong name or namespace in its subjects.
	if direct == 0 {
		for i := range rbs.Items {
			b := &rbs.Items[i]
			br := t.roleOf(ctx, b.Namespace, b.RoleRef)
			ri := slices.IndexFunc(br.rules, a.allows)
			if ri < 0 || len(b.Subjects) == 0 {
				continue
			}
			r.cause(contract.Cause{
				Category: contract.RBACDenied, Object: objectRef("rolebinding", b.Namespace, b.Name), Field: "subjects",
				Summary: fmt.Sprintf("RoleBinding %s grants %s on %s to %s, not to %s",
					b.Name, a.Verb, a.resourceText(), subjectsText(b.Subjects, b.Namespace), a.ServiceAccount),
				Evidence: []string{
					fmt.Sprintf("RoleBinding %s subjects: %s", b.Name, subjectsYAML(b.Subjects)),
					fmt.Sprintf("RoleBinding %s roleRef: %s %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name),
					fmt.Sprintf("%s rules[%d]: %s", br.role, ri, ruleText(br.rules[ri])),
					evidenceVerdict,
				},
				Fix: &contract.Fix{Text: fmt.Sprintf("add {kind: ServiceAccount, name: %s, namespace: %s} to the subjects of RoleBinding %s (or correct the subject that was meant to be it); RBAC is a person's change: no tool here writes it",
					a.ServiceAccount, a.Namespace, b.Name)},
			})
			return r.done(t.maxBytes)
		}
	}

	if len(dangling) > 0 {
		return r.done(t.maxBytes)
	}

	// 3. Bound, but to roles that say nothing of the resource.
	for _, b := range bound {
		if !b.direct {
			continue
		}
		what := "nothing on " + a.resourceText()
		if b.missingRole {
			what = "nothing: the " + strings.ToLower(strings.Fields(b.role)[0]) + " does not exist"
		}
		r.cause(contract.Cause{
			Category: contract.RBACDenied, Object: b.roleRef, Field: "rules",
			Summary:  fmt.Sprintf("%s (bound to %s by %s) grants %s, so %s is refused", b.role, b.via, b.binding, what, a.request()),
			Evidence: append(rulesText(b.role, b.rules), evidenceVerdict),
			Fix: &contract.Fix{Text: fmt.Sprintf("add a rule {apiGroups: [%q], resources: [%s], verbs: [%s]} to %s; RBAC is a person's change: no tool here writes it",
				a.Group, a.ruleResource(), a.Verb, b.role)},
		})
		return r.done(t.maxBytes)
	}

	// 4. Nothing binds it at all.
	summary := fmt.Sprintf("no RoleBinding in namespace %s and no ClusterRoleBinding binds ServiceAccount %s, so it may not %s", a.Namespace, a.ServiceAccount, a.request())
	if saMissing {
		summary = fmt.Sprintf("ServiceAccount %s does not exist in namespace %s, and no binding grants it %s", a.ServiceAccount, a.Namespace, a.request())
	}
	r.cause(contract.Cause{
		Category: contract.RBACDenied, Object: objectRef("serviceaccount", a.Namespace, a.ServiceAccount),
		Summary: summary, Evidence: []string{evidenceVerdict},
		Fix: &contract.Fix{Text: fmt.Sprintf("create a Role in %s with the rule {apiGroups: [%q], resources: [%s], verbs: [%s]} and a RoleBinding of it to ServiceAccount %s; RBAC is a person's change: no tool here writes it",
			a.Namespace, a.Group, a.ruleResource(), a.Verb, a.ServiceAccount)},
	})
	return r.done(t.maxBytes)
}

// danglingCauses are the bindings of the account whose roleRef names a Role or ClusterRole that
// does not exist (the API server accepts such a binding, and it grants nothing until the role
// exists): the ones that name the account itself, and the RoleBindings of its namespace that bind
// a group it is in. Each names the binding and its roleRef as the field at fault, and the roles
// that do grant the request, the nearest name first: the role the binding was likely meant for.
func (t *tools) danglingCauses(ctx context.Context, a accessArgs, bound []boundRole, verdict string) []contract.Cause {
	var out []contract.Cause
	var grantors []grantor
	listed := false
	for _, b := range bound {
		if !b.missingRole || b.bindingRef == "" || (!b.direct && strings.HasPrefix(b.binding, "ClusterRoleBinding")) {
			continue
		}
		if !listed {
			grantors, listed = t.grantors(ctx, a), true
		}
		kind, missing := b.ref.Kind, b.ref.Name
		where := ""
		if kind != "ClusterRole" {
			where = " in namespace " + a.Namespace
		}
		who := "ServiceAccount " + a.ServiceAccount
		if !b.direct {
			who += " (through " + b.via + ")"
		}
		summary := fmt.Sprintf("%s grants %s %s, which does not exist%s, so %s has none of its permissions and may not %s",
			b.binding, kind, missing, where, who, a.request())
		evidence := []string{
			fmt.Sprintf("%s roleRef: {apiGroup: %s, kind: %s, name: %s}", b.binding, b.ref.APIGroup, kind, missing),
			fmt.Sprintf("%s: not found", b.roleRef),
			fmt.Sprintf("%s subjects: %s", b.binding, subjectsYAML(b.subjects)),
		}
		fixText := fmt.Sprintf("create %s %s%s with the rule {apiGroups: [%q], resources: [%s], verbs: [%s]}", kind, missing, where, a.Group, a.ruleResource(), a.Verb)
		ranked := rankGrantors(grantors, missing)
		if len(ranked) > 0 {
			g := ranked[0]
			if g.near {
				summary += fmt.Sprintf("; %s, which does exist and grants it, is the likely intended roleRef", g.role)
			}
			for i, o := range ranked {
				if i == 3 {
					break
				}
				evidence = append(evidence, fmt.Sprintf("%s rules[%d]: %s", o.role, o.rule, ruleText(o.rules[o.rule])))
			}
			fixText = fmt.Sprintf("point %s at %s %s, which grants %s: roleRef cannot be changed, so delete the binding and create it again with roleRef {kind: %s, name: %s} and the same subjects; or %s",
				b.binding, g.kind, g.name, a.request(), g.kind, g.name, fixText)
		}
		out = append(out, contract.Cause{
			Category: contract.RBACDenied, Object: b.bindingRef, Field: "roleRef.name",
			Summary:  summary,
			Evidence: append(evidence, verdict),
			Fix:      &contract.Fix{Text: fixText + "; RBAC is a person's change: no tool here writes it"},
		})
	}
	return out
}

// grantor is a Role or ClusterRole that grants the request, by the rule that does.
type grantor struct {
	kind, name string // Role, job-launcher
	role       string // "Role job-launcher"
	rules      []rbacv1.PolicyRule
	rule       int
	near       bool // its name is close to the name a binding refers to
	distance   int
}

// grantors are the Roles of the request's namespace and, on a server that may read them, the
// ClusterRoles that grant the request. A list that fails leaves its kind out: they only suggest
// a fix.
func (t *tools) grantors(ctx context.Context, a accessArgs) []grantor {
	var out []grantor
	var roles rbacv1.RoleList
	if err := t.k.Direct.List(ctx, &roles, client.InNamespace(a.Namespace)); err == nil {
		for _, r := range roles.Items {
			if i := slices.IndexFunc(r.Rules, a.allows); i >= 0 {
				out = append(out, grantor{kind: "Role", name: r.Name, role: "Role " + r.Name, rules: r.Rules, rule: i})
			}
		}
	}
	if t.clusterScoped("ClusterRoles") == nil {
		var crs rbacv1.ClusterRoleList
		if err := t.k.Direct.List(ctx, &crs); err == nil {
			for _, r := range crs.Items {
				if i := slices.IndexFunc(r.Rules, a.allows); i >= 0 {
					out = append(out, grantor{kind: "ClusterRole", name: r.Name, role: "ClusterRole " + r.Name, rules: r.Rules, rule: i})
				}
			}
		}
	}
	return out
}

// rankGrantors orders grantors by how close their name is to missing, the name a binding refers
// to, and keeps the near ones (a misspelling: at most a quarter of the name's letters differ) and,
// when none is near, the Roles of the namespace (the ClusterRoles that grant everything, such as
// admin and edit, are no suggestion of what was meant).
func rankGrantors(all []grantor, missing string) []grantor {
	limit := max(2, len(missing)/4)
	var near, roles []grantor
	for _, g := range all {
		g.distance = editDistance(g.name, missing)
		g.near = g.distance <= limit
		switch {
		case g.near:
			near = append(near, g)
		case g.kind == "Role":
			roles = append(roles, g)
		}
	}
	byDistance := func(x, y grantor) int {
		if x.distance != y.distance {
			return x.distance - y.distance
		}
		return strings.Compare(x.role, y.role)
	}
	slices.SortFunc(near, byDistance)
	if len(near) > 0 {
		return near
	}
	slices.SortFunc(roles, byDistance)
	return roles
}

// editDistance is the Levenshtein distance between a and b, in bytes (names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// reviewAccess asks the API server whether user (in groups) may make the request: the verdict
// quoted, whether it allowed it, and whether the review could be made at all.
func (t *tools) reviewAccess(ctx context.Context, a accessArgs, user string, groups []string) (verdict string, allowed, known bool) {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		},
	}}
	where := "in namespace " + a.Namespace
	if a.ClusterScope {
		review.Spec.ResourceAttributes.Namespace, where = "", "at the cluster scope"
	}
	if err := t.k.Direct.Create(ctx, review); err != nil {
		return fmt.Sprintf("SubjectAccessReview not made (%v): the verdict below rests on the RBAC objects alone", apiError(err, "create", "subjectaccessreviews.authorization.k8s.io")), false, false
	}
	s := review.Status
	word := "denied"
	if s.Allowed {
		word = "allowed"
	}
	verdict = fmt.Sprintf("SubjectAccessReview: %s may %s %s: %s", user, a.request(), where, word)
	if s.Reason != "" {
		verdict += fmt.Sprintf(" (reason: %s)", s.Reason)
	}
	if s.EvaluationError != "" {
		verdict += fmt.Sprintf(" (evaluation error: %s)", s.EvaluationError)
	}
	return verdict, s.Allowed, true
}

// clusterScopedResource says whether group/resource is cluster-scoped (nodes, persistentvolumes,
// namespaces, clusterroles), as the API server's discovery says; false when unknown.
func (t *tools) clusterScopedResource(group, resource string) bool {
	gvk, err := t.k.mapper.KindFor(schema.GroupVersionResource{Group: group, Resource: resource})
	if err != nil {
		return false
	}
	m, err := t.k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	return err == nil && m.Scope.Name() == meta.RESTScopeNameRoot
}

func verdictWord(allowed, known bool) string {
	switch {
	case !known:
		return "unknown (no SubjectAccessReview)"
	case allowed:
		return "allowed"
	}
	return "denied"
}

// appliesTo says whether subjects name the account — itself (as a ServiceAccount or its user
// name), or a group it is in — and how. bindingNS is the RoleBinding's namespace ("" for a
// ClusterRoleBinding): a ServiceAccount subject without a namespace means that one.
func appliesTo(subjects []rbacv1.Subject, bindingNS, ns, sa, user string, groups []string) (via string, direct, ok bool) {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			subjectNS := s.Namespace
			if subjectNS == "" {
				subjectNS = bindingNS
			}
			if s.Name == sa && subjectNS == ns {
				return "ServiceAccount " + sa, true, true
			}
		case rbacv1.UserKind:
			if s.Name == user {
				return "user " + user, true, true
			}
		case rbacv1.GroupKind:
			if slices.Contains(groups, s.Name) {
				via = "group " + s.Name
			}
		}
	}
	return via, false, via != ""
}

// roleOf reads the Role or ClusterRole a binding refers to.
func (t *tools) roleOf(ctx context.Context, ns string, ref rbacv1.RoleRef) boundRole {
	if ref.Kind == "ClusterRole" {
		br := boundRole{role: "ClusterRole " + ref.Name, roleRef: objectRef("clusterrole", "", ref.Name)}
		var cr rbacv1.ClusterRole
		if err := t.k.Direct.Get(ctx, client.ObjectKey{Name: ref.Name}, &cr); err != nil {
			br.missingRole = apierrors.IsNotFound(err)
			return br
		}
		br.rules = cr.Rules
		return br
	}
	br := boundRole{role: "Role " + ref.Name, roleRef: objectRef("role", ns, ref.Name)}
	var role rbacv1.Role
	if err := t.k.Direct.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &role); err != nil {
		br.missingRole = apierrors.IsNotFound(err)
		return br
	}
	br.rules = role.Rules
	return br
}

func missingNote(b boundRole) string {
	if b.missingRole {
		return " (which does not exist)"
	}
	return ""
}

// touches reports whether rule covers the request's group and resource (and name), whatever its
// verbs — as RBAC matches them (k8s.io/kubernetes pkg/apis/rbac/v1 evaluation helpers).
func (a accessArgs) touches(rule rbacv1.PolicyRule) bool {
	if !slices.Contains(rule.APIGroups, a.Group) && !slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) {
		return false
	}
	combined := a.Resource
	if a.Subresource != "" {
		combined += "/" + a.Subresource
	}
	return slices.ContainsFunc(rule.Resources, func(res string) bool {
		return res == rbacv1.ResourceAll || res == combined || (a.Subresource != "" && res == "*/"+a.Subresource)
	})
}

// allows reports whether rule grants the request.
func (a accessArgs) allows(rule rbacv1.PolicyRule) bool {
	return a.touches(rule) &&
		(slices.Contains(rule.Verbs, a.Verb) || slices.Contains(rule.Verbs, rbacv1.VerbAll)) &&
		(len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, a.Name))
}

func (a accessArgs) ruleResource() string {
	if a.Subresource != "" {
		return a.Resource + "/" + a.Subresource
	}
	return a.Resource
}

// grantedVerbs are the verbs of rules[idx], in their order, once each.
func grantedVerbs(rules []rbacv1.PolicyRule, idx []int) []string {
	var out []string
	for _, i := range idx {
		for _, v := range rules[i].Verbs {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

func ruleIndexes(role string, idx []int) string {
	parts := make([]string, len(idx))
	for i, n := range idx {
		parts[i] = fmt.Sprintf("rules[%d]", n)
	}
	return role + " " + strings.Join(parts, ", ")
}

// ruleText renders a rule as it is written in YAML flow style: {apiGroups: [""], resources:
// [pods], verbs: [get, watch]}.
func ruleText(r rbacv1.PolicyRule) string {
	groups := make([]string, len(r.APIGroups))
	for i, g := range r.APIGroups {
		if g == "" {
			g = `""`
		}
		groups[i] = g
	}
	out := fmt.Sprintf("{apiGroups: [%s], resources: [%s], verbs: [%s]", strings.Join(groups, ", "), strings.Join(r.Resources, ", "), strings.Join(r.Verbs, ", "))
	if len(r.ResourceNames) > 0 {
		out += fmt.Sprintf(", resourceNames: [%s]", strings.Join(r.ResourceNames, ", "))
	}
	if len(r.NonResourceURLs) > 0 {
		out += fmt.Sprintf(", nonResourceURLs: [%s]", strings.Join(r.NonResourceURLs, ", "))
	}
	return out + "}"
}

func rulesText(role string, rules []rbacv1.PolicyRule) []string {
	if len(rules) == 0 {
		return []string{role + " has no rules"}
	}
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = fmt.Sprintf("%s rules[%d]: %s", role, i, ruleText(r))
	}
	return out
}

// subjectsText names a binding's subjects in prose: "ServiceAccount metrics-agent",
// "ServiceAccount other/agent and group devs".
func subjectsText(subjects []rbacv1.Subject, bindingNS string) string {
	names := make([]string, len(subjects))
	for i, s := range subjects {
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			names[i] = "ServiceAccount " + s.Name
			if s.Namespace != "" && s.Namespace != bindingNS {
				names[i] = "ServiceAccount " + s.Namespace + "/" + s.Name
			}
		case rbacv1.GroupKind:
			names[i] = "group " + s.Name
		default:
			names[i] = "user " + s.Name
		}
	}
	return listOf(names)
}

// subjectsYAML renders subjects as written: [{kind: ServiceAccount, name: x, namespace: y}].
func subjectsYAML(subjects []rbacv1.Subject) string {
	parts := make([]string, len(subjects))
	for i, s := range subjects {
		p := fmt.Sprintf("{kind: %s, name: %s", s.Kind, s.Name)
		if s.Namespace != "" {
			p += ", namespace: " + s.Namespace
		}
		parts[i] = p + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
