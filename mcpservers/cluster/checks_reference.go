package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// reference_check follows an object's references and reports the broken ones: an Ingress's
// backend Services (do they exist, expose the port, have ready endpoints), a Service's selector,
// target ports and endpoints, a pod template's ConfigMaps, Secrets (and keys), claims and
// ServiceAccount; or a dependency as an application names it (a host, host:port or URL) with the
// state of the pods behind its Service. The analyzer ingressBackends uses the same logic.

// referenceCheckTools is the family of reference_check (checkTools).
func (t *tools) referenceCheckTools() []mcptool.Tool {
	return []mcptool.Tool{mcptool.NewData(mcptool.Spec{
		Name: "reference_check",
		Description: "Follow an object's references and report the broken ones, or check a dependency an application names. " +
			"With kind and name: an Ingress's backend Services (exist? expose the port? have ready endpoints?), a Service's selector, " +
			"targetPorts and endpoints, or a pod/workload template's ConfigMaps, Secrets and keys, PersistentVolumeClaims and ServiceAccount. " +
			"With host (and port): a dependency as applications write it (ledger-postgres, ledger-postgres:5432, " +
			"ledger-postgres.payments.svc.cluster.local, redis://kv-cache:6379/0, postgres://user@db:5432/app): its Service, endpoints and " +
			"the state of the pods behind it, with how they last ended, verbatim (a Service with no pods: the workload it selects, scaled to 0 or failing to create them). " +
			"With fromPod as well: the caller's side: its DNS settings (a hostNetwork pod without ClusterFirstWithHostNet cannot resolve Service names), " +
			"and the NetworkPolicies on both sides (the caller's egress, the ingress of the pods behind the Service) for the caller's labels and the target port. Read-only.",
		Params: []mcp.ToolOption{
			mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the object, or of the application that calls host"), mcp.MaxLength(63)),
			mcp.WithString("kind", mcp.Description("ingress, service, pod, deployment, statefulset, daemonset, replicaset, job or cronjob; with name"), mcp.MaxLength(253)),
			mcp.WithString("name", mcp.Description("name of the object"), mcp.MaxLength(253)),
			mcp.WithString("host", mcp.Description("instead of kind and name: a dependency's host, host:port or URL as the application names it"), mcp.MaxLength(512)),
			mcp.WithNumber("port", mcp.Description("with host: the port the application calls, when host does not carry it"), mcp.Min(1), mcp.Max(65535)),
			mcp.WithString("fromPod", mcp.Description("with host: the pod that calls host, in namespace: its labels are checked against the NetworkPolicies on both sides, and its DNS settings"), mcp.MaxLength(253)),
			mcp.WithString("failure", mcp.Description("with host: how the caller's calls fail, when known: resolve (the name does not resolve: \"no such host\", \"Name or service not known\"); a Service that is an ExternalName for a name outside the cluster is then the object at fault"), mcp.Enum("resolve")),
		},
	}, t.referenceCheck)}
}

type referenceArgs struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Host      string `json:"host,omitempty"`
	Port      int    `json:"port,omitempty"`
	FromPod   string `json:"fromPod,omitempty"`
	Failure   string `json:"failure,omitempty"`
}

func (a *referenceArgs) Validate() error {
	a.Kind, a.Host = strings.TrimSpace(a.Kind), strings.TrimSpace(a.Host)
	if err := checkName("namespace", &a.Namespace, true, `the namespace of the object, such as "shop"`); err != nil {
		return err
	}
	if err := checkName("name", &a.Name, false, `such as kind "ingress" with name "chat"`); err != nil {
		return err
	}
	if err := checkName("fromPod", &a.FromPod, false, "pass the name of the pod that calls host, as pods_list shows it"); err != nil {
		return err
	}
	switch {
	case a.Host != "" && (a.Kind != "" || a.Name != ""):
		return errors.New(`give either "kind" and "name" (an object whose references to check) or "host" (a dependency), not both`)
	case a.Host == "" && (a.Kind == "" || a.Name == ""):
		return errors.New(`give "kind" and "name" (such as kind "ingress", name "chat"), or "host" (such as "ledger-postgres:5432")`)
	case a.FromPod != "" && a.Host == "":
		return errors.New(`"fromPod" goes with "host": the pod that calls that dependency; leave it out when checking an object by kind and name`)
	case a.Failure != "" && a.Failure != "resolve":
		return fmt.Errorf(`"failure" is %q: it takes "resolve" (the caller's lookup of host fails), or leave it out`, a.Failure)
	case a.Failure != "" && a.Host == "":
		return errors.New(`"failure" goes with "host": how the caller's calls to that dependency fail`)
	}
	return nil
}

// referenceKinds are the kinds reference_check follows, by kind as the API spells it.
var referenceKinds = map[string]string{"Ingress": "ingress", "Service": "service", "Pod": "pod", "Deployment": "deployment",
	"StatefulSet": "statefulset", "DaemonSet": "daemonset", "ReplicaSet": "replicaset", "Job": "job", "CronJob": "cronjob"}

func (t *tools) referenceCheck(ctx context.Context, a referenceArgs) (contract.CheckReport, string, error) {
	var none contract.CheckReport
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return none, "", err
	}
	ns := a.Namespace
	var caller *corev1.Pod
	if a.FromPod != "" {
		var err error
		if caller, err = t.readCaller(ctx, a.Namespace, a.FromPod); err != nil {
			return none, "", err
		}
	}
	var dep depTarget
	var nsErr error // the namespace the host names is not this server's to read
	if a.Host != "" {
		var err error
		if dep, err = parseDepTarget(a.Host, a.Port, a.Namespace); err != nil {
			return none, "", err
		}
		dep.unresolved = a.Failure == "resolve"
		// A pod reading is followed only where this server may read its namespace.
		if p := dep.podFirst; p != nil && t.k.checkNamespace(p.namespace) != nil {
			dep.podFirst = nil
		}
		if dep.external && dep.podFirst == nil {
			var out checkReport
			out.Checked = fmt.Sprintf("dependency %s: %s is not a Service name of this cluster (name, name.namespace, pod.name, pod.name.namespace or name.namespace.svc.<domain>), so it was not followed", a.Host, dep.host)
			return out.done(t.maxBytes)
		}
		if err := t.k.checkNamespace(dep.namespace); err != nil && !dep.external {
			nsErr = fmt.Errorf("dependency %s is in namespace %s: %w", a.Host, dep.namespace, err)
			if dep.podFirst == nil {
				return none, "", nsErr
			}
			dep.external = true // only its pod reading can be followed
		}
		ns = dep.namespace
		if dep.external {
			ns = dep.podFirst.namespace
		}
	}
	reader, err := t.k.cached(ctx)
	if err != nil {
		return none, "", err
	}
	scope := []string{ns}
	if p := dep.podFirst; p != nil && !slices.Contains(scope, p.namespace) {
		scope = append(scope, p.namespace)
	}
	if caller != nil && !slices.Contains(scope, caller.Namespace) {
		scope = append(scope, caller.Namespace) // the caller's owner
	}
	s, err := loadSnapshot(ctx, reader, t.k.Direct, scope, false)
	if err != nil {
		return none, "", err
	}
	var out checkReport
	if a.Host != "" {
		shown := a.Host
		if u, err := url.Parse(a.Host); err == nil && strings.Contains(a.Host, "://") {
			shown = u.Redacted() // a password in the URL is not repeated
		}
		if dep = dep.resolve(s); dep.external {
			if nsErr != nil {
				return none, "", nsErr
			}
			out.Checked = fmt.Sprintf("dependency %s: %s is not a Service name of this cluster, nor a pod of a headless Service, so it was not followed", a.Host, dep.host)
			return t.doneCheck(&out)
		}
		s.depTargetCheck(&out, shown, dep, caller)
		if caller != nil {
			out.Checked += fmt.Sprintf("; called from pod %s/%s", caller.Namespace, caller.Name)
		}
		return t.doneCheck(&out)
	}
	r, err := t.k.resolve(a.Kind)
	if err != nil {
		return none, "", err
	}
	kind, ok := referenceKinds[r.gvk.Kind]
	if !ok {
		return none, "", fmt.Errorf("reference_check follows the references of an ingress, service, pod, deployment, statefulset, daemonset, replicaset, job or cronjob, not %s", r.gvr.Resource)
	}
	what := objectRef(kind, a.Namespace, a.Name)
	switch kind {
	case "ingress":
		for i := range s.ingresses {
			if ing := &s.ingresses[i]; ing.Name == a.Name {
				causes, facts := s.ingressCauses(ing)
				out.Checked = fmt.Sprintf("Ingress %s/%s: %d %s", ing.Namespace, ing.Name, len(ingressBackendsOf(ing)), plural(len(ingressBackendsOf(ing)), "backend"))
				for _, c := range causes {
					out.cause(c.withFix())
				}
				for _, f := range facts {
					out.fact("%s", f)
				}
			}
		}
	case "service":
		if svc := s.service(a.Namespace, a.Name); svc != nil {
			s.serviceCheck(&out, svc)
		}
	case "replicaset":
		if rs, ok := s.rsByName[types.NamespacedName{Namespace: a.Namespace, Name: a.Name}]; ok {
			s.templateCheck(&out, ref{Kind: kind, Namespace: a.Namespace, Name: a.Name}, &rs.Spec.Template.Spec)
		}
	default:
		if spec, _ := s.templateOf(kind, a.Namespace, a.Name); spec != nil {
			s.templateCheck(&out, ref{Kind: kind, Namespace: a.Namespace, Name: a.Name}, spec)
		}
	}
	if out.Checked == "" {
		return none, "", fmt.Errorf("%s not found; check the name and namespace (resources_list lists what exists)", what)
	}
	return t.doneCheck(&out)
}

func (t *tools) doneCheck(out *checkReport) (contract.CheckReport, string, error) {
	rep, text, err := out.done(t.maxBytes)
	return rep, t.k.secrets.Scrub(text), err
}

// causeFix is a cause with the fix as the analyzers suggest it (a write tool call, in order).
type causeFix struct {
	c contract.Cause
	f fix
}

func (c causeFix) withFix() contract.Cause {
	out := c.c
	cf := c.f.contract()
	out.Fix = &cf
	return out
}

// depTarget is a host as an application names it, resolved to a Service name.
type depTarget struct {
	host       string // the host part
	name       string // the Service
	namespace  string
	pod        string // a StatefulSet pod's own name (pod.service.namespace.svc), if named
	port       string // a number or a name; "" when not given
	ip         bool   // host is an IP address: name is found by ClusterIP
	external   bool   // not a cluster Service name
	unresolved bool   // the caller's lookup of the name fails ("no such host")
	// podFirst is how the cluster's resolver reads the host before this reading, when the host
	// can name a pod of a headless Service (pod.service, searched in the caller's namespace
	// first; pod.service.namespace): it is taken when that Service exists and is headless.
	podFirst *depTarget
}

// parseDepTarget reads host (name, name:port, name.ns, name.ns.svc[.domain], pod.name.ns.svc,
// scheme://user@host:port/path, an IP) as the cluster's DNS would resolve it from namespace ns;
// pod.name and pod.name.ns, a StatefulSet pod's stable name under a headless Service, are kept
// as podFirst, which resolve settles once the Services are read.
func parseDepTarget(host string, port int, ns string) (depTarget, error) {
	h := host
	var d depTarget
	if strings.Contains(h, "://") {
		u, err := url.Parse(h)
		if err != nil || u.Hostname() == "" {
			return d, fmt.Errorf("host %q is not a URL with a host; give a host such as ledger-postgres, ledger-postgres:5432 or postgres://user@ledger-postgres:5432/db", host)
		}
		h, d.port = u.Hostname(), u.Port()
	} else if hp, p, err := net.SplitHostPort(h); err == nil {
		h, d.port = hp, p
	}
	if port > 0 {
		d.port = strconv.Itoa(port)
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	d.host, d.namespace = h, ns
	if net.ParseIP(h) != nil {
		d.ip, d.name = true, h
		return d, nil
	}
	parts := strings.Split(h, ".")
	for _, p := range parts {
		if p == "" || !dnsName.MatchString(p) {
			return d, fmt.Errorf("host %q is not a host name; give a host such as ledger-postgres, ledger-postgres:5432 or ledger-postgres.payments.svc.cluster.local", host)
		}
	}
	// With the pod's search path (namespace.svc.<domain>, svc.<domain>, <domain>), a.b is first
	// tried as pod a of Service b in the caller's namespace, then as Service a of namespace b;
	// a.b.c (c not "svc") as pod a of Service b in namespace c.
	pod := func(p, svc, ns string) *depTarget {
		return &depTarget{host: d.host, port: d.port, pod: p, name: svc, namespace: ns}
	}
	switch {
	case len(parts) == 1:
		d.name = parts[0]
	case len(parts) == 2:
		d.name, d.namespace = parts[0], parts[1]
		d.podFirst = pod(parts[0], parts[1], ns)
	case parts[2] == "svc":
		d.name, d.namespace = parts[0], parts[1]
	case len(parts) >= 4 && parts[3] == "svc":
		d.pod, d.name, d.namespace = parts[0], parts[1], parts[2]
	case len(parts) == 3:
		d.external = true
		d.podFirst = pod(parts[0], parts[1], parts[2])
	default:
		d.external = true
	}
	return d, nil
}

// resolve picks the reading of d the cluster's resolver would answer: its pod reading when the
// Service of that reading exists in s and is headless, else d itself.
func (d depTarget) resolve(s *snapshot) depTarget {
	if p := d.podFirst; p != nil {
		if svc := s.service(p.namespace, p.name); svc != nil && svc.Spec.ClusterIP == corev1.ClusterIPNone {
			return *p
		}
	}
	return d
}

// depTargetCheck follows a dependency to its Service, the port, the endpoints and the pods;
// with the pod that calls it (caller, or nil), the caller's side as well: first whether it can
// resolve the name at all, last, when the Service is fine, the NetworkPolicies between them.
func (s *snapshot) depTargetCheck(out *checkReport, host string, d depTarget, caller *corev1.Pod) {
	var callerEgress policySide
	if caller != nil {
		policies, err := listPolicies(s.ctx, s.direct, caller.Namespace)
		if err != nil {
			out.fact("the NetworkPolicies of pod %s were not checked: %v", caller.Name, err)
		}
		callerEgress = policiesOf(policies, caller, "egress")
		if !d.ip {
			// A name that does not resolve fails every call: the caller's resolver settings,
			// then its egress policies (which do not apply to a hostNetwork pod).
			if c := s.callerDNSCause(caller, d); c != nil {
				out.cause(*c)
			} else if !caller.Spec.HostNetwork {
				if c := callerResolverCause(caller, callerEgress, d.host); c != nil {
					out.cause(*c)
				}
			}
		}
	}
	before := len(out.Causes)
	var svc *corev1.Service
	if d.ip {
		for i := range s.services {
			if s.services[i].Spec.ClusterIP == d.name {
				svc = &s.services[i]
			}
		}
	} else {
		svc = s.service(d.namespace, d.name)
	}
	subject := fmt.Sprintf("the dependency %s", host)
	if svc == nil && d.ip {
		// An address no Service has: a pod's IP, something outside the cluster, or a ClusterIP
		// from another time. Nothing here names a missing object.
		out.Checked = fmt.Sprintf("dependency %s: no Service of the cluster has ClusterIP %s", host, d.name)
		out.fact("no Service has ClusterIP %s: the address is a pod's, outside the cluster, or stale", d.name)
		return
	}
	if svc == nil {
		out.Checked = fmt.Sprintf("dependency %s: Service %s/%s", host, d.namespace, d.name)
		names := s.serviceNames(d.namespace)
		there := "namespace " + d.namespace + " has no Services"
		if len(names) > 0 {
			there = "Services in namespace " + d.namespace + ": " + examples(names, 10)
		}
		c := contract.Cause{
			Category: contract.ReferenceMissing, Object: objectRef("service", d.namespace, d.name),
			Summary:  fmt.Sprintf("%s names Service %s/%s, which does not exist (%s)", subject, d.namespace, d.name, there),
			Evidence: []string{"host " + d.host + " resolves to Service " + d.name + " in namespace " + d.namespace, there},
			Fix:      &contract.Fix{Text: fmt.Sprintf("correct the host the application calls to a Service that exists, or create Service %s in namespace %s", d.name, d.namespace)},
		}
		if like := s.likeNamedServices(d, caller); len(like) > 0 {
			c.Summary += fmt.Sprintf("; %s: %s, so the name the caller uses is stale or mistyped", contract.LikeNamedService, examples(like, 5))
			c.Evidence = append(c.Evidence, "like-named Services: "+examples(like, 5))
			c.Fix.Text = fmt.Sprintf("correct the host the application calls (to Service %s, if that is the one meant)", like[0])
		}
		out.cause(c)
		return
	}
	subject = fmt.Sprintf("the dependency %s (Service %s/%s)", host, svc.Namespace, svc.Name)
	if d.pod != "" {
		subject = fmt.Sprintf("the dependency %s (pod %s of Service %s/%s)", host, d.pod, svc.Namespace, svc.Name)
	}
	out.Checked = fmt.Sprintf("dependency %s: Service %s/%s, its ports, endpoints and pods", host, svc.Namespace, svc.Name)
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		out.Checked = fmt.Sprintf("dependency %s: Service %s/%s, an ExternalName for %s", host, svc.Namespace, svc.Name, svc.Spec.ExternalName)
		s.externalNameCheck(out, svc, subject, d.unresolved)
		return
	}
	if d.port != "" && servicePort(svc, d.port) == nil {
		c := contract.Cause{
			Category: contract.ReferenceMissing, Object: objectRef("service", svc.Namespace, svc.Name), Field: "spec.ports",
			Summary:  fmt.Sprintf("%s is called on port %s, which the Service does not expose (it exposes %s)", subject, d.port, servicePortsText(svc)),
			Evidence: []string{fmt.Sprintf("service/%s/%s spec.ports: %s", svc.Namespace, svc.Name, servicePortsText(svc))},
			Fix:      &contract.Fix{Text: fmt.Sprintf("call Service %s on a port it exposes (%s), or add port %s to the Service", svc.Name, servicePortsText(svc), d.port)},
		}
		if pod, container := s.listensOn(svc, d.port); pod != "" {
			// the backends serve that port: the Service lacks it, not the caller's setting
			c.Summary += fmt.Sprintf("; %s %s (pod %s, container %s): the Service lacks the port", contract.PodsListenOn, d.port, pod, container)
			c.Evidence = append(c.Evidence, fmt.Sprintf("pod %s/%s container %s: containerPort %s", svc.Namespace, pod, container, d.port))
			c.Fix = &contract.Fix{Text: fmt.Sprintf("add port %s (targetPort %s) to spec.ports of Service %s/%s", d.port, d.port, svc.Namespace, svc.Name)}
		}
		out.cause(c)
	}
	pods := s.podsMatching(svc.Namespace, svc.Spec.Selector)
	if len(svc.Spec.Selector) == 0 {
		pods = nil
	}
	// The ports the caller dials (all, when it names none) that reach no container port: the
	// connection is refused even while the pods are Ready.
	var portCauses []contract.Cause
	for _, c := range targetPortCauses(s, svc, pods) {
		if d.port == "" || c.port == servicePort(svc, d.port) {
			portCauses = append(portCauses, c.Cause)
		}
	}
	if d.pod != "" {
		// a gang member calling a peer by its pod name: the policies between them first (the
		// peer may be gone with its ended Job, which says nothing of why the call failed)
		before := len(out.Causes)
		if s.peerPolicyCheck(out, caller, callerEgress, svc, d.port) && len(out.Causes) > before {
			return
		}
		if c := s.headlessPodCause(svc, d, subject, caller); c != nil {
			out.cause(c.withFix())
			return
		}
	}
	if cf := s.unreachableCause(svc, subject); cf != nil {
		if note := headlessNote(svc, d); note != "" {
			cf.c.Summary += "; " + note
			cf.c.Evidence = append(cf.c.Evidence, headlessEvidence(svc))
		}
		out.cause(cf.withFix())
		for _, c := range portCauses {
			out.cause(c)
		}
		return
	}
	for _, c := range portCauses {
		out.cause(c)
	}
	ready, all := s.readyEndpoints(svc)
	out.fact("Service %s/%s has %d ready %s (%d in all)", svc.Namespace, svc.Name, ready, plural(ready, "endpoint"), all)
	for _, p := range pods {
		if phrase, _ := podTrouble(p); phrase != "" {
			out.fact("pod %s %s", p.Name, phrase)
		}
	}
	if caller != nil && ready > 0 && len(out.Causes) == before {
		s.localTrafficCheck(out, caller, svc, pods, subject)
	}
	if caller != nil && ready > 0 && len(out.Causes) == before {
		s.callerPolicyCheck(out, caller, callerEgress, svc, d.port)
	}
}

// localTrafficCheck: a Service with internalTrafficPolicy Local routes a pod's calls only to
// endpoints on that pod's own node; a caller on a node where no ready pod of the Service runs has
// its connections dropped (a timeout, not a refusal), while other callers are served.
func (s *snapshot) localTrafficCheck(out *checkReport, caller *corev1.Pod, svc *corev1.Service, pods []*corev1.Pod, subject string) {
	if p := svc.Spec.InternalTrafficPolicy; p == nil || *p != corev1.ServiceInternalTrafficPolicyLocal || caller.Spec.NodeName == "" {
		return
	}
	var nodes []string
	for _, p := range pods {
		if podIsReady(p) && p.Spec.NodeName != "" {
			if p.Spec.NodeName == caller.Spec.NodeName {
				return
			}
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	svcRef := objectRef("service", svc.Namespace, svc.Name)
	out.cause(contract.Cause{
		Category: contract.DependencyUnreachable, Object: svcRef, Field: "spec.internalTrafficPolicy",
		Summary: fmt.Sprintf("%s has internalTrafficPolicy: Local, so a pod's calls go only to its endpoints on the pod's own node; the calling pod %s runs on node %s, where none of its ready pods runs (they run on %s), so its connections are dropped (timeouts)",
			subject, caller.Name, caller.Spec.NodeName, strings.Join(nodes, ", ")),
		Evidence: []string{fmt.Sprintf("%s spec.internalTrafficPolicy: Local", svcRef), fmt.Sprintf("pod %s/%s spec.nodeName: %s", caller.Namespace, caller.Name, caller.Spec.NodeName),
			fmt.Sprintf("ready pods of Service %s on nodes: %s", svc.Name, strings.Join(nodes, ", "))},
		Fix: &contract.Fix{Text: fmt.Sprintf("set spec.internalTrafficPolicy of Service %s/%s to Cluster (or run a ready pod of it on every node its callers use, as a DaemonSet does)", svc.Namespace, svc.Name)},
	})
}

// A headless Service (clusterIP: None) has no address of its own: the cluster's DNS answers its
// name with the addresses of its ready pods, and pod.service with that pod's address while it is
// ready — unless the Service sets publishNotReadyAddresses. With no ready pod the name does not
// resolve at all, so its callers see "no such host" or "Name or service not known", not a refused
// connection, although the Service exists.
const headlessDoc = `Kubernetes "DNS for Services and Pods": for headless Services, the A/AAAA records resolve to the IPs of the ready pods selected by the Service`

// likeNamedServices are the Services a caller most likely meant by a name that resolves to no
// Service: one of the same name in another namespace of the snapshot (the caller's own, when a
// host spells the namespace wrong), or one in the named namespace whose name holds the name or
// is held by it (redis-master and the chart's quiz-cache-redis-master), as namespace/name.
func (s *snapshot) likeNamedServices(d depTarget, caller *corev1.Pod) []string {
	var out []string
	for i := range s.services {
		svc := &s.services[i]
		same := svc.Name == d.name && svc.Namespace != d.namespace && (caller == nil || svc.Namespace == caller.Namespace)
		like := svc.Namespace == d.namespace && svc.Name != d.name && len(d.name) >= 4 && len(svc.Name) >= 4 &&
			(strings.Contains(svc.Name, d.name) || strings.Contains(d.name, svc.Name))
		if same || like {
			out = append(out, svc.Namespace+"/"+svc.Name)
		}
	}
	return out
}

// headlessNote says why the name of a headless Service without ready pods does not resolve, or
// "" when svc is not headless (or publishes pods that are not ready).
func headlessNote(svc *corev1.Service, d depTarget) string {
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Spec.PublishNotReadyAddresses {
		return ""
	}
	name := d.host
	if name == "" || d.ip {
		name = svc.Name
	}
	return fmt.Sprintf("Service %s is headless (clusterIP: None), so its name resolves only to ready pods: with none ready, %s has no DNS record and does not resolve (\"no such host\", \"Name or service not known\")", svc.Name, name)
}

func headlessEvidence(svc *corev1.Service) string {
	return fmt.Sprintf("service/%s/%s spec.clusterIP: None, publishNotReadyAddresses: %t; %s", svc.Namespace, svc.Name, svc.Spec.PublishNotReadyAddresses, headlessDoc)
}

// headlessPodCause is why host names one pod of a headless Service (pod.service) that the
// caller cannot reach: the pod does not exist (the StatefulSet has fewer replicas than the name
// assumes), or it is not ready, so its name has no DNS record. Nil when the pod is ready.
//
// A caller that is itself one of the Service's pods (a peer: an etcd or ZooKeeper member, a
// training rank at its rendezvous) looks the others up before any of them is ready — each waits
// for the others to become ready — so what is wrong is the Service's publishNotReadyAddresses,
// which such a peer Service sets so that its members' names resolve from the start.
func (s *snapshot) headlessPodCause(svc *corev1.Service, d depTarget, subject string, caller *corev1.Pod) *causeFix {
	var pod *corev1.Pod
	var names []string
	for i := range s.pods {
		p := &s.pods[i]
		if p.Namespace != svc.Namespace || p.DeletionTimestamp != nil {
			continue
		}
		if p.Name == d.pod || (p.Spec.Hostname == d.pod && p.Spec.Subdomain == svc.Name) {
			// by name, or by hostname and subdomain (an Indexed Job's pod: job-0.subdomain)
			pod = p
		}
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	if pod == nil {
		there := "it selects no pods"
		if len(names) > 0 {
			there = "its pods are " + examples(names, 10)
		}
		object := objectRef("service", svc.Namespace, svc.Name)
		for _, w := range s.workloadsSelected(svc.Namespace, svc.Spec.Selector) {
			if w.kind == "StatefulSet" {
				object = w.ref()
				there += fmt.Sprintf(" (StatefulSet %s has %d %s)", w.obj.GetName(), w.replicas, plural(int(w.replicas), "replica"))
				break
			}
		}
		c := contract.Cause{Category: contract.ReferenceMissing, Object: objectRef("pod", svc.Namespace, d.pod),
			Summary:  fmt.Sprintf("%s names pod %s, which does not exist, so %s does not resolve: %s", subject, d.pod, d.host, there),
			Evidence: []string{fmt.Sprintf("pod/%s/%s: not found; %s", svc.Namespace, d.pod, there)}}
		return &causeFix{c: c, f: noFix("call a pod that exists (or the Service %s itself), or scale %s to include %s", svc.Name, object, d.pod)}
	}
	if podIsReady(pod) || svc.Spec.PublishNotReadyAddresses || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return nil
	}
	phrase, evidence := podTrouble(pod)
	object := objectRef("pod", pod.Namespace, pod.Name)
	if w := s.owner(pod); w != nil {
		object = w.ref.String()
	}
	if caller != nil && caller.Namespace == svc.Namespace && len(svc.Spec.Selector) > 0 &&
		labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(caller.Labels)) {
		c := contract.Cause{Category: contract.DNSFailure, Object: objectRef("service", svc.Namespace, svc.Name), Field: "spec.publishNotReadyAddresses",
			Summary: fmt.Sprintf("%s: the caller, pod %s, is itself one of headless Service %s's pods and looks up its peer %s before it is ready (pod %s %s); the Service publishes only ready pods (publishNotReadyAddresses is not set), so peers that wait for each other never resolve one another",
				subject, caller.Name, svc.Name, pod.Name, pod.Name, phrase),
			Evidence: append(evidence, headlessEvidence(svc), fmt.Sprintf("pod/%s/%s (the caller) is selected by Service %s (%s)", caller.Namespace, caller.Name, svc.Name, labels.FormatLabels(svc.Spec.Selector)))}
		return &causeFix{c: c, f: noFix("set publishNotReadyAddresses: true on Service %s/%s, so its pods' names resolve before they are ready (the peers find each other and start)", svc.Namespace, svc.Name)}
	}
	c := contract.Cause{Category: contract.DependencyUnreachable, Object: object,
		Summary: fmt.Sprintf("%s: pod %s %s; it is not ready, so %s has no DNS record and does not resolve (a headless Service's pod names resolve only while the pod is ready)",
			subject, pod.Name, phrase, d.host),
		Evidence: append(evidence, headlessEvidence(svc))}
	return &causeFix{c: c, f: noFix("fix what stops pod %s of %s (quoted above: how it last ended; its previous log says more, pod_logs with previous true); its name resolves again once it is Ready", pod.Name, object)}
}

// readyEndpoints counts the ready endpoints of a Service's EndpointSlices, and all of them.
func (s *snapshot) readyEndpoints(svc *corev1.Service) (ready, all int) {
	for _, sl := range s.slicesOf(svc.Namespace, svc.Name) {
		for _, e := range sl.Endpoints {
			all++
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready++
			}
		}
	}
	return ready, all
}

// unreachableCause is why a Service has no ready endpoint — a selector that matches no pod (the
// workload it selects is scaled to 0 or creates no pods, or none matches), or pods that do not
// become ready, quoted with how they last ended — or nil when it has one (or
// when its endpoints are not the selector's to give). subject names the Service as the caller
// sees it.
func (s *snapshot) unreachableCause(svc *corev1.Service, subject string) *causeFix {
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	ready, all := s.readyEndpoints(svc)
	if ready > 0 {
		return nil
	}
	sel := labels.Set(svc.Spec.Selector).String()
	slices := fmt.Sprintf("endpointslices (label %s=%s): %d endpoints, 0 ready", "kubernetes.io/service-name", svc.Name, all)
	pods := s.podsMatching(svc.Namespace, svc.Spec.Selector)
	svcRef := objectRef("service", svc.Namespace, svc.Name)
	if len(pods) == 0 {
		if cf := s.noPodsCause(svc, subject, sel, slices); cf != nil {
			return cf
		}
		c := contract.Cause{Category: contract.ReferenceMissing, Object: svcRef, Field: "spec.selector",
			Summary:  fmt.Sprintf("%s has no ready endpoints: its selector %s matches no pod in namespace %s", subject, sel, svc.Namespace),
			Evidence: []string{fmt.Sprintf("service/%s/%s spec.selector: %s matches no pod", svc.Namespace, svc.Name, sel), slices}}
		if near := s.nearSelector(svc.Namespace, svc.Spec.Selector); near != "" {
			c.Evidence = append(c.Evidence, near)
		}
		return &causeFix{c: c, f: noFix("correct the selector of Service %s to the labels of the pods it should serve (resource_patch), or deploy those pods", svc.Name)}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var phrases, evidence []string
	var object string
	readyPods := 0
	for _, p := range pods {
		phrase, ev := podTrouble(p)
		if phrase == "" {
			readyPods++
			continue
		}
		if object == "" {
			if w := s.owner(p); w != nil {
				object = w.ref.String()
			}
		}
		if len(phrases) < 3 {
			if behind, claimEv := s.pendingClaimsOf(p); behind != "" {
				phrase += "; " + behind
				ev = append(ev, claimEv...)
			}
			phrases = append(phrases, p.Name+" "+phrase)
			evidence = append(evidence, ev...)
		}
	}
	if readyPods > 0 || len(phrases) == 0 {
		return nil // the pods are ready: the endpoints are late, or the controller is not running
	}
	if object == "" {
		object = svcRef
	}
	what := "its pod " + phrases[0]
	if len(pods) > 1 {
		what = fmt.Sprintf("none of its %d pods is ready: %s", len(pods), strings.Join(phrases, "; "))
	}
	c := contract.Cause{Category: contract.DependencyUnreachable, Object: object,
		Summary:  fmt.Sprintf("%s has no ready endpoints: %s", subject, what),
		Evidence: append([]string{fmt.Sprintf("spec.selector %s matches %d pods, 0 of them Ready", sel, len(pods)), slices}, evidence...)}
	return &causeFix{c: c, f: noFix("fix what stops the pods of %s (quoted above: how they last ended; their previous logs say more, pod_logs with previous true); the Service has endpoints again once a pod is Ready", object)}
}

// pendingClaimsOf says why an unscheduled pod's claims are not bound ("its claim data-db-0 is
// Pending: claim data-db-0 names StorageClass gp3, whose provisioner ebs.csi.aws.com ..."), the
// next link behind a dependency whose pod waits for its volume; "" when the pod is scheduled or
// its claims are bound (or not read).
func (s *snapshot) pendingClaimsOf(p *corev1.Pod) (string, []string) {
	if p.Spec.NodeName != "" {
		return "", nil
	}
	var phrases, evidence []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		for i := range s.claims {
			c := &s.claims[i]
			if c.Namespace != p.Namespace || c.Name != v.PersistentVolumeClaim.ClaimName || c.Status.Phase != corev1.ClaimPending {
				continue
			}
			phrase := "its claim " + c.Name + " is Pending"
			var scratch finding
			if cause := s.claimProvisionCause(c, ptrString(c.Spec.StorageClassName), s.eventsFor("PersistentVolumeClaim", c, ""), &scratch); cause != nil {
				phrase += ": " + cause.Summary
				evidence = append(evidence, cause.Evidence...)
			}
			phrases = append(phrases, phrase)
		}
	}
	return strings.Join(phrases, "; "), evidence
}

// servicePort is the port of svc that port (a number or a name) names, or nil.
func servicePort(svc *corev1.Service, port string) *corev1.ServicePort {
	n, err := strconv.Atoi(port)
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if (err == nil && int(p.Port) == n) || (err != nil && p.Name == port) {
			return p
		}
	}
	return nil
}

// portsText lists a Service's ports: "80 (http), 443 (https)"; "no ports".
func servicePortsText(svc *corev1.Service) string {
	if len(svc.Spec.Ports) == 0 {
		return "no ports"
	}
	var parts []string
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			parts = append(parts, fmt.Sprintf("%d (%s)", p.Port, p.Name))
		} else {
			parts = append(parts, strconv.Itoa(int(p.Port)))
		}
	}
	return strings.Join(parts, ", ")
}

// ingressBackend is one backend of an Ingress: the route it serves, its field, its JSON path.
type ingressBackend struct {
	route   string // "chat.example.com/", or "(default backend)"
	field   string // spec.rules[0].http.paths[0].backend.service
	pointer string // /spec/rules/0/http/paths/0/backend/service
	b       *networkingv1.IngressBackend
}

func ingressBackendsOf(ing *networkingv1.Ingress) []ingressBackend {
	var out []ingressBackend
	if b := ing.Spec.DefaultBackend; b != nil {
		out = append(out, ingressBackend{"(default backend)", "spec.defaultBackend.service", "/spec/defaultBackend/service", b})
	}
	for i, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		host := r.Host
		if host == "" {
			host = "*"
		}
		for j := range r.HTTP.Paths {
			p := &r.HTTP.Paths[j]
			path := p.Path
			if path == "" {
				path = "/"
			}
			out = append(out, ingressBackend{host + path, fmt.Sprintf("spec.rules[%d].http.paths[%d].backend.service", i, j),
				fmt.Sprintf("/spec/rules/%d/http/paths/%d/backend/service", i, j), &p.Backend})
		}
	}
	return out
}

// ingressCauses checks every Service backend of ing: the Service exists, exposes the port, and
// has ready endpoints. The facts say what was fine.
func (s *snapshot) ingressCauses(ing *networkingv1.Ingress) ([]causeFix, []string) {
	var causes []causeFix
	var facts []string
	ingRef := objectRef("ingress", ing.Namespace, ing.Name)
	seen := map[string]bool{}
	for _, be := range ingressBackendsOf(ing) {
		if be.b.Service == nil {
			if be.b.Resource != nil {
				facts = append(facts, fmt.Sprintf("%s routes to resource %s %s (not checked)", be.route, be.b.Resource.Kind, be.b.Resource.Name))
			}
			continue
		}
		name, port := be.b.Service.Name, be.b.Service.Port
		portText := strconv.Itoa(int(port.Number))
		if port.Name != "" {
			portText = strconv.Quote(port.Name)
		}
		key := name + "\x00" + portText
		if seen[key] {
			continue
		}
		seen[key] = true
		backendLine := fmt.Sprintf("%s %s: name=%s port=%s", ingRef, be.field, name, portText)
		svc := s.service(ing.Namespace, name)
		if svc == nil {
			names := s.serviceNames(ing.Namespace)
			there := "the namespace has no Services"
			if len(names) > 0 {
				there = "Services in the namespace: " + examples(names, 10)
			}
			causes = append(causes, causeFix{
				c: contract.Cause{Category: contract.ReferenceMissing, Object: objectRef("service", ing.Namespace, name),
					Summary:  fmt.Sprintf("Ingress %s routes %s to Service %s, which does not exist (%s)", ing.Name, be.route, name, there),
					Evidence: []string{backendLine, fmt.Sprintf("service/%s/%s: not found; %s", ing.Namespace, name, there)}},
				f: noFix("create Service %s in namespace %s, or point %s.name of Ingress %s at the Service that serves %s (resource_patch)", name, ing.Namespace, be.field, ing.Name, be.route),
			})
			continue
		}
		var sp *corev1.ServicePort
		if port.Name != "" {
			sp = servicePort(svc, port.Name)
		} else {
			sp = servicePort(svc, strconv.Itoa(int(port.Number)))
		}
		if sp == nil {
			only := "exposes only " + servicePortsText(svc)
			if len(svc.Spec.Ports) == 0 {
				only = "exposes no ports"
			}
			cf := causeFix{
				c: contract.Cause{Category: contract.ReferenceMissing, Object: ingRef, Field: be.field + ".port",
					Summary:  fmt.Sprintf("Ingress %s sends to port %s of Service %s, which %s", ing.Name, portText, name, only),
					Evidence: []string{backendLine, fmt.Sprintf("service/%s/%s spec.ports: %s", svc.Namespace, svc.Name, servicePortsText(svc))}},
				f: noFix("set %s.port of Ingress %s to a port Service %s exposes (%s), or expose port %s on the Service", be.field, ing.Name, name, servicePortsText(svc), portText),
			}
			if len(svc.Spec.Ports) == 1 {
				value := map[string]any{"number": svc.Spec.Ports[0].Port}
				patch := []map[string]any{{"op": "replace", "path": be.pointer + "/port", "value": value}}
				cf.f = fix{tool: "resource_patch", args: []arg{{"kind", "ingress"}, {"namespace", ing.Namespace}, {"name", ing.Name}, {"patchType", "json"}, {"patch", jsonText(patch)}},
					note: fmt.Sprintf("sends %s to port %d, the one port Service %s exposes", be.route, svc.Spec.Ports[0].Port, name)}
			}
			causes = append(causes, cf)
			continue
		}
		if cf := s.unreachableCause(svc, fmt.Sprintf("Service %s, the backend of Ingress %s for %s,", name, ing.Name, be.route)); cf != nil {
			cf.c.Evidence = append([]string{backendLine}, cf.c.Evidence...)
			causes = append(causes, *cf)
			continue
		}
		ready, _ := s.readyEndpoints(svc)
		facts = append(facts, fmt.Sprintf("%s → Service %s port %s: exists, %d ready %s", be.route, name, portText, ready, plural(ready, "endpoint")))
	}
	return causes, facts
}

// ingressBackends: Ingresses with a backend Service that does not exist, does not expose the
// port the Ingress sends to, or has no ready endpoints; one finding per Ingress, its first broken
// backend as the cause.
func ingressBackends(s *snapshot) []finding {
	var out []finding
	for i := range s.ingresses {
		ing := &s.ingresses[i]
		causes, _ := s.ingressCauses(ing)
		if len(causes) == 0 {
			continue
		}
		f := finding{severity: critical, category: "ServiceNoEndpoints", object: ref{Kind: "ingress", Namespace: ing.Namespace, Name: ing.Name}}
		for _, c := range causes {
			f.evidence = append(f.evidence, c.c.Summary)
		}
		f.evidence = append(f.evidence, causes[0].c.Evidence...)
		c := causes[0].withFix()
		f.cause = &c
		f.fix = causes[0].f
		if c.Object != f.object.String() {
			kind, ns, name := splitObjectRef(c.Object)
			f.related = append(f.related, ref{Kind: kind, Namespace: ns, Name: name})
		}
		out = append(out, f)
	}
	return out
}

// serviceCheck: the selector matches pods, the target ports resolve, and there are ready
// endpoints.
func (s *snapshot) serviceCheck(out *checkReport, svc *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		out.Checked = fmt.Sprintf("Service %s/%s: an ExternalName for %s", svc.Namespace, svc.Name, svc.Spec.ExternalName)
		s.externalNameCheck(out, svc, fmt.Sprintf("Service %s/%s", svc.Namespace, svc.Name), false)
		return
	}
	out.Checked = fmt.Sprintf("Service %s/%s: selector %s, ports %s", svc.Namespace, svc.Name, orNone(labels.Set(svc.Spec.Selector).String()), servicePortsText(svc))
	if len(svc.Spec.Selector) == 0 {
		out.fact("the Service has no selector: its EndpointSlices are written by hand or by another controller")
	}
	subject := fmt.Sprintf("Service %s/%s", svc.Namespace, svc.Name)
	if cf := s.unreachableCause(svc, subject); cf != nil {
		out.cause(cf.withFix())
	}
	pods := s.podsMatching(svc.Namespace, svc.Spec.Selector)
	for _, c := range targetPortCauses(s, svc, pods) {
		out.cause(c.Cause)
	}
	ready, all := s.readyEndpoints(svc)
	out.fact("%d ready %s of %d, %d pods selected", ready, plural(ready, "endpoint"), all, len(pods))
}

// portCause is a cause about one port of a Service.
type portCause struct {
	contract.Cause
	port *corev1.ServicePort
}

// targetPortCauses: each port of svc whose targetPort no container of the selected pods declares
// (by name; by number, when the containers declare ports at all). Nothing listens there, so a
// connection to that port is refused although the pods may be Ready.
func targetPortCauses(s *snapshot, svc *corev1.Service, pods []*corev1.Pod) []portCause {
	if len(pods) == 0 {
		return nil
	}
	// Who the pods are, as the summary names them: "its 2 pods (Deployment inventory)".
	owners := map[string]bool{}
	var ownerNames []string
	for _, p := range pods {
		if w := s.owner(p); w != nil && !owners[w.String()] {
			owners[w.String()] = true
			ownerNames = append(ownerNames, apiKind(w.Kind)+" "+w.Name)
		}
	}
	sort.Strings(ownerNames)
	podsText := fmt.Sprintf("its %d %s", len(pods), plural(len(pods), "pod"))
	if len(pods) == 1 {
		podsText = "its pod"
	}
	if len(ownerNames) > 0 {
		podsText += " (" + strings.Join(ownerNames, ", ") + ")"
	}
	var out []portCause
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		tp := sp.TargetPort
		if tp.Type == intstr.Int && tp.IntVal == 0 {
			tp = intstr.FromInt32(sp.Port)
		}
		var declared []string
		seen := map[string]bool{}
		found := false
		for _, p := range pods {
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Protocol != "" && sp.Protocol != "" && cp.Protocol != sp.Protocol {
						continue
					}
					if (tp.Type == intstr.String && cp.Name == tp.StrVal) || (tp.Type == intstr.Int && cp.ContainerPort == tp.IntVal) {
						found = true
					}
					d := strconv.Itoa(int(cp.ContainerPort))
					if cp.Name != "" {
						d = fmt.Sprintf("%d (%s)", cp.ContainerPort, cp.Name)
					}
					if !seen[d] {
						seen[d] = true
						declared = append(declared, d)
					}
				}
			}
		}
		if found || (tp.Type == intstr.Int && len(declared) == 0) {
			continue
		}
		field := fmt.Sprintf("spec.ports[%d].targetPort", i)
		declaredText := orNone(listOf(declared))
		var summary string
		other := fmt.Sprintf("make the containers listen on %d", tp.IntVal)
		if tp.Type == intstr.String {
			other = fmt.Sprintf("name a container port %q", tp.StrVal)
			they := "they declare " + declaredText
			if len(declared) == 0 {
				they = "they declare no container ports"
			}
			summary = fmt.Sprintf("Service %s sends port %d to targetPort %q, but no container of %s declares a port named %q (%s), so connections to port %d are refused",
				svc.Name, sp.Port, tp.StrVal, podsText, tp.StrVal, they, sp.Port)
		} else {
			listen := "listen"
			if len(pods) == 1 {
				listen = "listens"
			}
			summary = fmt.Sprintf("Service %s sends port %d to targetPort %d, but %s %s on %s: nothing listens on %d, so connections to port %d are refused",
				svc.Name, sp.Port, tp.IntVal, podsText, listen, declaredText, tp.IntVal, sp.Port)
		}
		out = append(out, portCause{port: sp, Cause: contract.Cause{Category: contract.ReferenceMissing, Object: objectRef("service", svc.Namespace, svc.Name), Field: field,
			Summary:  summary,
			Evidence: []string{fmt.Sprintf("service/%s/%s %s: %s (port %d)", svc.Namespace, svc.Name, field, tp.String(), sp.Port), "container ports of the selected pods: " + declaredText},
			Fix:      &contract.Fix{Text: fmt.Sprintf("set %s of Service %s to the port the containers listen on (%s), or %s", field, svc.Name, declaredText, other)}}})
	}
	return out
}

// apiKind spells a kind as the API does: statefulset → StatefulSet.
func apiKind(kind string) string {
	for api, lower := range referenceKinds {
		if lower == kind {
			return api
		}
	}
	return kind
}

// templateCheck: the ConfigMaps, Secrets and keys, claims, pull Secrets and ServiceAccount a pod
// spec references exist.
func (s *snapshot) templateCheck(out *checkReport, w ref, spec *corev1.PodSpec) {
	var refs []configRef
	containers := append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
	for i := range containers {
		for _, r := range configRefs(&containers[i], nil, false) {
			r.Via += " of container " + containers[i].Name
			refs = append(refs, r)
		}
	}
	refs = append(refs, configRefs(nil, spec, true)...)
	for _, p := range spec.ImagePullSecrets {
		if p.Name != "" {
			refs = append(refs, configRef{"Secret", p.Name, "", "spec.imagePullSecrets"})
		}
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	refs = append(refs, configRef{"ServiceAccount", sa, "", "spec.serviceAccountName"})
	checked := 0
	done := map[string]bool{}
	for _, r := range refs {
		key := r.Kind + "/" + r.Name + "/" + r.Key
		if done[key] {
			continue
		}
		done[key] = true
		checked++
		l := s.keysOf(r.Kind, w.Namespace, r.Name)
		obj := objectRef(strings.ToLower(r.Kind), w.Namespace, r.Name)
		switch {
		case l.err != nil:
			out.fact("could not check %s %s (%s): %v", r.Kind, r.Name, r.Via, l.err)
		case !l.found:
			out.cause(contract.Cause{Category: contract.ReferenceMissing, Object: obj,
				Summary:  fmt.Sprintf("%s references %s %s (%s), which does not exist", w, r.Kind, r.Name, r.Via),
				Evidence: []string{fmt.Sprintf("%s: %s %s/%s not found", r.Via, r.Kind, w.Namespace, r.Name)},
				Fix:      &contract.Fix{Text: fmt.Sprintf("create %s %s in namespace %s, or correct the reference (%s) in %s", r.Kind, r.Name, w.Namespace, r.Via, w)}})
		case r.Key != "" && !l.keys[r.Key]:
			keys := make([]string, 0, len(l.keys))
			for k := range l.keys {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			out.cause(contract.Cause{Category: contract.ReferenceMissing, Object: obj, Field: "data[" + r.Key + "]",
				Summary:  fmt.Sprintf("%s references key %s of %s %s (%s), which has no such key (its keys: %s)", w, r.Key, r.Kind, r.Name, r.Via, orNone(examples(keys, 10))),
				Evidence: []string{fmt.Sprintf("%s %s/%s keys: %s", r.Kind, w.Namespace, r.Name, orNone(strings.Join(keys, ", ")))},
				Fix:      &contract.Fix{Text: fmt.Sprintf("add key %s to %s %s (values are not shown), or correct the key (%s) in %s", r.Key, r.Kind, r.Name, r.Via, w)}})
		}
	}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		checked++
		name := v.PersistentVolumeClaim.ClaimName
		found := false
		for i := range s.claims {
			if s.claims[i].Namespace == w.Namespace && s.claims[i].Name == name {
				found = true
				if s.claims[i].Status.Phase != corev1.ClaimBound {
					out.fact("PersistentVolumeClaim %s (volume %s) is %s", name, v.Name, s.claims[i].Status.Phase)
				}
			}
		}
		if !found {
			out.cause(contract.Cause{Category: contract.ReferenceMissing, Object: objectRef("persistentvolumeclaim", w.Namespace, name),
				Summary:  fmt.Sprintf("%s mounts PersistentVolumeClaim %s (volume %s), which does not exist", w, name, v.Name),
				Evidence: []string{fmt.Sprintf("spec.volumes[%s].persistentVolumeClaim.claimName: %s; no such claim in namespace %s", v.Name, name, w.Namespace)},
				Fix:      &contract.Fix{Text: fmt.Sprintf("create PersistentVolumeClaim %s in namespace %s, or correct the claim name of volume %s in %s", name, w.Namespace, v.Name, w)}})
		}
	}
	out.Checked = fmt.Sprintf("%s: %d references (ConfigMaps, Secrets and keys, claims, pull Secrets, ServiceAccount)", w, checked)
}

// listensOn names a pod Service svc selects, and its container, that declares containerPort port
// (a number); "" when none does.
func (s *snapshot) listensOn(svc *corev1.Service, port string) (string, string) {
	n, err := strconv.Atoi(port)
	if err != nil || len(svc.Spec.Selector) == 0 {
		return "", ""
	}
	for _, p := range s.podsMatching(svc.Namespace, svc.Spec.Selector) {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if int(cp.ContainerPort) == n {
					return p.Name, c.Name
				}
			}
		}
	}
	return "", ""
}

// inClusterName reads an ExternalName that names a Service of this cluster:
// NAME.NAMESPACE.svc[.cluster.local][.].
var inClusterName = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\.?$`)

// externalNameCheck: Service svc of type ExternalName is a DNS alias (a CNAME) for
// spec.externalName; it has no pods or endpoints. When that name is a Service of this cluster
// (name.ns.svc.cluster.local), the Service must exist, or every lookup of svc fails.
//
// With resolve (the caller's lookup of the name fails) and a name outside the cluster, the
// Service is the object at fault: the CNAME leads to a name the resolver does not find (a
// deleted database endpoint, a typo), which nothing in the cluster can check further.
func (s *snapshot) externalNameCheck(out *checkReport, svc *corev1.Service, subject string, resolve bool) {
	name := svc.Spec.ExternalName
	svcRef := objectRef("service", svc.Namespace, svc.Name)
	out.fact("%s spec.type: ExternalName, spec.externalName: %s: the cluster's DNS answers its name with a CNAME for %s; it has no pods or endpoints of its own", svcRef, orNone(name), orNone(name))
	m := inClusterName.FindStringSubmatch(strings.ToLower(name))
	if m == nil {
		out.fact("%s is outside the cluster: it was not followed", orNone(name))
		if resolve {
			out.cause(contract.Cause{
				Category: contract.DNSFailure, Object: svcRef, Field: "spec.externalName",
				Summary: fmt.Sprintf("%s is an ExternalName (a CNAME) for %s, outside the cluster, and the caller's lookup of it fails: %s does not resolve (a deleted or renamed endpoint, a typo)",
					subject, orNone(name), orNone(name)),
				Evidence: []string{fmt.Sprintf("%s spec.externalName: %s", svcRef, orNone(name))},
				Fix: &contract.Fix{Text: fmt.Sprintf("set spec.externalName of Service %s/%s to the endpoint's current DNS name; restarting the callers cannot help",
					svc.Namespace, svc.Name)},
			})
		}
		return
	}
	target, ns := m[1], m[3]
	var t corev1.Service
	err := s.direct.Get(s.ctx, types.NamespacedName{Namespace: ns, Name: target}, &t)
	switch {
	case err == nil:
		out.fact("%s points at Service %s/%s, which exists (type %s); check it with reference_check kind=service namespace=%s name=%s", svcRef, ns, target, orNone(string(t.Spec.Type)), ns, target)
	case apierrors.IsNotFound(err):
		out.cause(contract.Cause{
			Category: contract.ReferenceMissing, Object: svcRef, Field: "spec.externalName",
			Summary: fmt.Sprintf("%s is an ExternalName for %s, the name of Service %s in namespace %s, which does not exist: the name does not resolve, so every call fails",
				subject, name, target, ns),
			Evidence: []string{fmt.Sprintf("%s spec.externalName: %s", svcRef, name), fmt.Sprintf("service/%s/%s: not found", ns, target)},
			Fix: &contract.Fix{Text: fmt.Sprintf("correct spec.externalName of Service %s/%s to a Service that exists (NAME.NAMESPACE.svc.cluster.local), or create Service %s in namespace %s",
				svc.Namespace, svc.Name, target, ns)},
		})
	default:
		out.fact("Service %s/%s, which %s points at, could not be read: %v", ns, target, svcRef, err)
	}
}
