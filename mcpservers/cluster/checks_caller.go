package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// The caller's side of a dependency (reference_check with host and fromPod): whether the pod that
// calls host can resolve the name (hostNetwork without ClusterFirstWithHostNet, dnsPolicy
// Default, egress policies without DNS), whether its own egress NetworkPolicies let it reach the
// pods behind the Service, and whether their ingress NetworkPolicies admit it. And why a Service
// has no pods at all: the workload its selector names is scaled to 0, or cannot create its pods.

// readCaller reads the pod that calls a dependency (fromPod) from the watch cache.
func (t *tools) readCaller(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	reader, err := t.k.cached(ctx)
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf(`fromPod: pod %s not found in namespace %s; pass the name of the pod that calls host, as pods_list shows it`, name, ns)
		}
		return nil, apiError(err, "get", objectRef("pod", ns, name))
	}
	return &p, nil
}

// DNS policy as the Kubernetes documentation states it ("DNS for Services and Pods", Pod's DNS
// Policy), quoted as evidence.
const (
	dnsPolicySource   = `Kubernetes "DNS for Services and Pods", Pod's DNS Policy`
	dnsDefaultDoc     = `"Default": The Pod inherits the name resolution configuration from the node that the Pods run on.`
	dnsWithHostNetDoc = `"ClusterFirstWithHostNet": For Pods running with hostNetwork, you should explicitly set its DNS policy to "ClusterFirstWithHostNet". Otherwise, Pods running with hostNetwork and "ClusterFirst" will fallback to the behavior of the "Default" policy.`
)

// callerDNSCause is why the calling pod cannot resolve host, a cluster Service name, from its own
// settings: it uses the node's resolver (hostNetwork without ClusterFirstWithHostNet, or
// dnsPolicy Default), which does not know cluster names. The workload that owns the pod is the
// object, its template's dnsPolicy the field.
func (s *snapshot) callerDNSCause(caller *corev1.Pod, d depTarget) *contract.Cause {
	policy := caller.Spec.DNSPolicy
	shown := string(policy)
	if shown == "" {
		shown = "ClusterFirst (default)"
	}
	var how, want, doc string
	switch {
	case caller.Spec.HostNetwork && policy != corev1.DNSClusterFirstWithHostNet && policy != corev1.DNSNone:
		how = fmt.Sprintf("uses the node's network (hostNetwork: true) with dnsPolicy %s", shown)
		want, doc = string(corev1.DNSClusterFirstWithHostNet), dnsWithHostNetDoc
	case !caller.Spec.HostNetwork && policy == corev1.DNSDefault:
		how = "has dnsPolicy Default"
		want, doc = string(corev1.DNSClusterFirst), dnsDefaultDoc
	case policy == corev1.DNSNone && !s.clusterResolver(caller.Spec.DNSConfig):
		var servers []string
		if caller.Spec.DNSConfig != nil {
			servers = caller.Spec.DNSConfig.Nameservers
		}
		how = fmt.Sprintf("has dnsPolicy None with its own dnsConfig.nameservers [%s], not the cluster's DNS Service", strings.Join(servers, ", "))
		want, doc = string(corev1.DNSClusterFirst), dnsNoneDoc
	default:
		return nil
	}
	object, field := objectRef("pod", caller.Namespace, caller.Name), "spec.dnsPolicy"
	w := s.owner(caller)
	if w != nil {
		object, field = w.ref.String(), "spec.template.spec.dnsPolicy"
	}
	c := &contract.Cause{Category: contract.DNSFailure, Object: object, Field: field,
		Summary: fmt.Sprintf("the calling pod %s %s, so it resolves names with %s, which does not answer for cluster Service names such as %s; set dnsPolicy: %s",
			caller.Name, how, resolverOf(policy), d.host, want),
		Evidence: []string{
			fmt.Sprintf("pod %s/%s spec.hostNetwork: %t, spec.dnsPolicy: %s%s", caller.Namespace, caller.Name, caller.Spec.HostNetwork, shown, dnsConfigText(caller.Spec.DNSConfig)),
			fmt.Sprintf("host %s is the cluster Service %s in namespace %s, which only the cluster's resolver answers", d.host, d.name, d.namespace),
			dnsPolicySource + ": " + doc,
		},
	}
	text := fmt.Sprintf("set %s of %s to %s, so that the pod asks the cluster's resolver", field, object, want)
	switch {
	case w == nil:
		c.Fix = &contract.Fix{Text: text + "; a pod's dnsPolicy cannot change: recreate the pod with it (or run it from a workload)"}
	case w.Kind == "deployment" || w.Kind == "daemonset" || w.Kind == "statefulset" || w.Kind == "replicaset":
		patch := map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"dnsPolicy": want}}}}
		f := fix{tool: "resource_patch", args: []arg{{"kind", w.Kind}, {"namespace", w.Namespace}, {"name", w.Name}, {"patchType", "merge"}, {"patch", jsonText(patch)}},
			note: text + " (the pods are replaced with the new template)"}.contract()
		c.Fix = &f
	default:
		c.Fix = &contract.Fix{Text: text + fmt.Sprintf("; the template of a %s cannot change in place: change where it is defined (its CronJob, or the manifest)", w.Kind)}
	}
	return c
}

// dnsNoneDoc: what dnsPolicy None means.
const dnsNoneDoc = "with dnsPolicy None the pod's resolv.conf holds only spec.dnsConfig (its nameservers and searches): names resolve through the cluster's DNS Service only when a nameserver is that Service's ClusterIP (or a node-local cache that runs)"

// resolverOf words the resolver a pod with dnsPolicy policy asks.
func resolverOf(policy corev1.DNSPolicy) string {
	if policy == corev1.DNSNone {
		return "the nameservers of its dnsConfig"
	}
	return "the node's resolver"
}

// dnsConfigText quotes a pod's dnsConfig nameservers, "" when it has none.
func dnsConfigText(c *corev1.PodDNSConfig) string {
	if c == nil || len(c.Nameservers) == 0 {
		return ""
	}
	return ", spec.dnsConfig.nameservers: [" + strings.Join(c.Nameservers, ", ") + "]"
}

// clusterResolver says whether dnsConfig names the cluster's DNS Service (kube-system/kube-dns,
// by its ClusterIP) among its nameservers. Unknown (the Service not readable): true, so that
// nothing is blamed on a guess.
func (s *snapshot) clusterResolver(c *corev1.PodDNSConfig) bool {
	if c == nil || len(c.Nameservers) == 0 {
		return false
	}
	var svc corev1.Service
	if err := s.direct.Get(s.ctx, types.NamespacedName{Namespace: "kube-system", Name: "kube-dns"}, &svc); err != nil {
		return !apierrors.IsNotFound(err)
	}
	return slices.Contains(c.Nameservers, svc.Spec.ClusterIP)
}

// callerResolverCause is a NetworkPolicy of the calling pod's namespace that isolates its egress
// and allows no DNS, so host does not resolve; nil when none does.
func callerResolverCause(caller *corev1.Pod, egress policySide, host string) *contract.Cause {
	if len(egress.isolating) == 0 {
		return nil
	}
	if by, partly := egress.allows(dnsAllows, dnsNamespace, dnsNamespaceLabels, dnsPodLabels, netip.Addr{}); by != nil || len(partly) > 0 {
		return nil
	}
	first := egress.isolating[0]
	var evidence []string
	for _, np := range egress.isolating {
		evidence = append(evidence, policyText(np, "egress")...)
	}
	return &contract.Cause{Category: contract.NetworkPolicyBlocked, Object: objectRef("networkpolicy", first.Namespace, first.Name), Field: "spec.egress",
		Summary: fmt.Sprintf("%s the egress of the calling pod %s and %s; no rule allows DNS (port 53), so %s does not resolve",
			isolateText(egress.isolating), caller.Name, allowsText(egress.isolating, "egress"), host),
		Evidence: evidence,
		Fix: &contract.Fix{Text: fmt.Sprintf("add an egress rule to NetworkPolicy %s that allows DNS to the cluster's resolver in %s: "+
			"{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}; "+
			"NetworkPolicy is a person's change: no tool here writes it", first.Name, dnsNamespace)},
	}
}

// callTarget is a port the caller reaches the pods behind a Service on: the Service's port and
// the target port it resolves to on a backing pod.
type callTarget struct {
	svcPort int32
	port    int32
	proto   corev1.Protocol
}

func (c callTarget) String() string { return fmt.Sprintf("%d/%s", c.port, c.proto) }

// callTargets resolves the Service ports the caller calls (port, or every port when it names
// none) to the target ports of backend; unresolved lists the named targetPorts backend does not
// declare.
func callTargets(svc *corev1.Service, port string, backend *corev1.Pod) (out []callTarget, unresolved []string) {
	var ports []corev1.ServicePort
	if port != "" {
		if sp := servicePort(svc, port); sp != nil {
			ports = append(ports, *sp)
		}
	} else {
		ports = svc.Spec.Ports
	}
	named := containerPortNames(backend)
	for _, sp := range ports {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		tp := sp.TargetPort
		switch {
		case tp.Type == intstr.String && named[tp.StrVal] != 0:
			out = append(out, callTarget{sp.Port, named[tp.StrVal], proto})
		case tp.Type == intstr.String:
			unresolved = append(unresolved, tp.StrVal)
		case tp.IntVal == 0:
			out = append(out, callTarget{sp.Port, sp.Port, proto})
		default:
			out = append(out, callTarget{sp.Port, tp.IntVal, proto})
		}
	}
	return out, unresolved
}

// callerPolicyCheck checks, for a Service with ready endpoints, the NetworkPolicies on both sides
// of the caller's connections: the caller's own egress to the pods behind the Service on the
// target port, then the ingress of one ready backing pod from the caller. A side that isolates
// the traffic and allows none of it is the cause (the caller's egress first).
func (s *snapshot) callerPolicyCheck(out *checkReport, caller *corev1.Pod, callerEgress policySide, svc *corev1.Service, port string) {
	if len(svc.Spec.Selector) == 0 {
		return
	}
	if caller.Spec.HostNetwork {
		out.fact("pod %s uses the node's network (hostNetwork: true): its connections come from the node's address, which NetworkPolicy pod selectors do not match; the policies were not checked for it", caller.Name)
		return
	}
	pods := s.podsMatching(svc.Namespace, svc.Spec.Selector)
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	var backend *corev1.Pod
	for _, p := range pods {
		if podIsReady(p) {
			backend = p
			break
		}
	}
	if backend == nil {
		out.fact("no pod behind Service %s/%s is Ready: the NetworkPolicies between pod %s and them were not checked", svc.Namespace, svc.Name, caller.Name)
		return
	}
	s.policyBetween(out, caller, callerEgress, svc, port, backend)
}

// peerPolicyCheck checks the NetworkPolicies between the caller and its peers behind svc (a
// gang's members behind their headless Service: a rendezvous, NCCL, MPI): the caller stands in
// for the peer it calls, whose labels and ports it shares, so the check holds even when that
// peer is gone (its Job ended and took it) or not ready. It reports whether svc selects the
// caller, and so whether the check ran.
func (s *snapshot) peerPolicyCheck(out *checkReport, caller *corev1.Pod, callerEgress policySide, svc *corev1.Service, port string) bool {
	if caller == nil || len(svc.Spec.Selector) == 0 || caller.Namespace != svc.Namespace ||
		!labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(caller.Labels)) || caller.Spec.HostNetwork {
		return false
	}
	out.fact("pod %s is itself behind Service %s: it calls a peer, whose NetworkPolicies are checked with its own labels and ports", caller.Name, svc.Name)
	s.policyBetween(out, caller, callerEgress, svc, port, caller)
	return true
}

// policyBetween checks the caller's egress to backend, and backend's ingress from the caller,
// on the ports of svc the caller dials.
func (s *snapshot) policyBetween(out *checkReport, caller *corev1.Pod, callerEgress policySide, svc *corev1.Service, port string, backend *corev1.Pod) {
	targets, unresolved := callTargets(svc, port, backend)
	for _, u := range unresolved {
		out.fact("targetPort %q of Service %s is not a container port of pod %s: that port was not checked against NetworkPolicies", u, svc.Name, backend.Name)
	}
	if len(targets) == 0 {
		return
	}
	sel := labels.Set(svc.Spec.Selector).String()
	behind := fmt.Sprintf("the pods behind Service %s (%s)", svc.Name, sel)
	if svc.Namespace != caller.Namespace {
		behind = fmt.Sprintf("the pods behind Service %s/%s (%s)", svc.Namespace, svc.Name, sel)
	}
	named := containerPortNames(backend)
	var portWords []string
	for _, t := range targets {
		portWords = append(portWords, t.String())
	}
	onPorts := "port " + strings.Join(portWords, " or ")

	// The caller's egress, to the backing pods' labels and namespace.
	if len(callerEgress.isolating) == 0 {
		out.fact("no NetworkPolicy isolates the egress of pod %s: its connections to %s are not restricted on its side", caller.Name, behind)
	} else {
		svcNS := namespaceLabels(s.ctx, s.direct, svc.Namespace)
		backendIP, _ := netip.ParseAddr(backend.Status.PodIP)
		by, partly := callerEgress.allowsAny(targets, named, svc.Namespace, svcNS, labels.Set(backend.Labels), backendIP)
		switch {
		case by != nil:
			out.fact("%s allows pod %s to reach %s on %s", by, caller.Name, behind, onPorts)
		case len(partly) > 0:
			for _, m := range partly {
				out.fact("%s allows %s to %s only: it may or may not cover %s (pod %s has IP %s)", m, onPorts, peersText(m.rule.peers), behind, backend.Name, orNone(backend.Status.PodIP))
			}
		default:
			// the rules whose ipBlocks would allow some address on those ports, but not the pod's
			_, ipRules := callerEgress.allowsAny(targets, named, svc.Namespace, svcNS, labels.Set(backend.Labels), netip.Addr{})
			first := callerEgress.isolating[0]
			if len(ipRules) > 0 {
				first = ipRules[0].np
			}
			var evidence []string
			for _, np := range callerEgress.isolating {
				evidence = append(evidence, policyText(np, "egress")...)
			}
			evidence = append(evidence, fmt.Sprintf("pod %s/%s (behind Service %s) labels: %s", backend.Namespace, backend.Name, svc.Name, labelsText(backend.Labels, nil)))
			to := fmt.Sprintf("{to: [{podSelector: {matchLabels: %s}}], ports: [%s]}", matchLabelsText(svc.Spec.Selector), portsYAML(targets))
			if svc.Namespace != caller.Namespace {
				to = fmt.Sprintf("{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}, podSelector: {matchLabels: %s}}], ports: [%s]}", svc.Namespace, matchLabelsText(svc.Spec.Selector), portsYAML(targets))
			}
			out.cause(contract.Cause{Category: contract.NetworkPolicyBlocked, Object: objectRef("networkpolicy", first.Namespace, first.Name), Field: "spec.egress",
				Summary: fmt.Sprintf("%s the egress of the calling pod %s (%s) and %s; no rule allows %s to %s, so its connections time out%s",
					isolateText(callerEgress.isolating), caller.Name, labelsText(caller.Labels, nil), allowsText(callerEgress.isolating, "egress"), onPorts, behind, ipBlockNote(ipRules, svc, backend)),
				Evidence: evidence,
				Fix: &contract.Fix{Text: fmt.Sprintf("add an egress rule to NetworkPolicy %s that allows the caller to reach %s: %s; NetworkPolicy is a person's change: no tool here writes it",
					first.Name, behind, to)},
			})
			return
		}
	}

	// The backing pod's ingress, from the caller's labels and namespace.
	policies, err := listPolicies(s.ctx, s.direct, svc.Namespace)
	if err != nil {
		out.fact("the ingress NetworkPolicies of %s were not checked: %v", behind, err)
		return
	}
	ingress := policiesOf(policies, backend, "ingress")
	if len(ingress.isolating) == 0 {
		out.fact("no NetworkPolicy isolates the ingress of %s (pod %s): they accept pod %s", behind, backend.Name, caller.Name)
		return
	}
	callerNS := namespaceLabels(s.ctx, s.direct, caller.Namespace)
	callerIP, _ := netip.ParseAddr(caller.Status.PodIP)
	by, partly := ingress.allowsAny(targets, named, caller.Namespace, callerNS, labels.Set(caller.Labels), callerIP)
	keys := selectorKeys(ingress.isolating)
	who := fmt.Sprintf("the calling pod %s (%s)", caller.Name, labelsText(caller.Labels, keys))
	if caller.Namespace != svc.Namespace {
		who = fmt.Sprintf("the calling pod %s in namespace %s (%s; namespace %s)", caller.Name, caller.Namespace, labelsText(caller.Labels, keys), labelsText(callerNS, nsSelectorKeys(ingress.isolating)))
	}
	switch {
	case by != nil:
		out.fact("%s admits %s to %s on %s", by, who, behind, onPorts)
	case len(partly) > 0:
		for _, m := range partly {
			out.fact("%s admits %s on %s: it may or may not cover %s (IP %s)", m, peersText(m.rule.peers), onPorts, who, orNone(caller.Status.PodIP))
		}
	default:
		first := ingress.isolating[0]
		var evidence []string
		for _, np := range ingress.isolating {
			evidence = append(evidence, policyText(np, "ingress")...)
		}
		evidence = append(evidence, fmt.Sprintf("calling pod %s/%s labels: %s", caller.Namespace, caller.Name, labelsText(caller.Labels, nil)))
		if caller.Namespace != svc.Namespace {
			evidence = append(evidence, fmt.Sprintf("namespace %s labels: %s", caller.Namespace, labelsText(callerNS, nil)))
		}
		evidence = append(evidence, fmt.Sprintf("service/%s/%s → pod %s on %s", svc.Namespace, svc.Name, backend.Name, onPorts))
		from := fmt.Sprintf("{from: [{podSelector: {matchLabels: %s}}], ports: [%s]}", matchLabelsText(callerSelector(caller.Labels)), portsYAML(targets))
		if caller.Namespace != svc.Namespace {
			from = fmt.Sprintf("{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: %s}}, podSelector: {matchLabels: %s}}], ports: [%s]}",
				caller.Namespace, matchLabelsText(callerSelector(caller.Labels)), portsYAML(targets))
		}
		out.cause(contract.Cause{Category: contract.NetworkPolicyBlocked, Object: objectRef("networkpolicy", first.Namespace, first.Name), Field: "spec.ingress",
			Summary: fmt.Sprintf("%s the ingress of %s and %s; %s is not admitted, so its connections time out",
				isolateText(ingress.isolating), behind, admitsText(ingress.isolating), who),
			Evidence: evidence,
			Fix: &contract.Fix{Text: fmt.Sprintf("add an ingress rule to NetworkPolicy %s admitting the caller: %s; NetworkPolicy is a person's change: no tool here writes it",
				first.Name, from)},
		})
	}
}

// ipBlockHolds says whether addr is in b's CIDR and in none of its excepts.
func ipBlockHolds(b *networkingv1.IPBlock, addr netip.Addr) bool {
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !pfx.Contains(addr) {
		return false
	}
	for _, e := range b.Except {
		if ex, err := netip.ParsePrefix(e); err == nil && ex.Contains(addr) {
			return false
		}
	}
	return true
}

// ipBlockNote explains rules that allow ipBlocks the backing pod is not in — most often a
// Service's ClusterIP range, which a policy never sees: it matches the pod address the Service
// translates to.
func ipBlockNote(partly []ruleRef, svc *corev1.Service, backend *corev1.Pod) string {
	if len(partly) == 0 {
		return ""
	}
	var blocks []string
	clusterIP := false
	cip, cipErr := netip.ParseAddr(svc.Spec.ClusterIP)
	for _, m := range partly {
		for _, p := range m.rule.peers {
			if p.IPBlock != nil {
				blocks = append(blocks, "ipBlock "+p.IPBlock.CIDR)
				if cipErr == nil && ipBlockHolds(p.IPBlock, cip) {
					clusterIP = true
				}
			}
		}
	}
	note := fmt.Sprintf("; %s allows %s, which does not hold pod %s's address %s", partly[0], strings.Join(blocks, ", "), backend.Name, orNone(backend.Status.PodIP))
	if clusterIP {
		note += fmt.Sprintf(": it holds Service %s's ClusterIP %s, but a NetworkPolicy sees the connection after the Service's address is translated to a pod's, so an ipBlock of Service addresses never matches", svc.Name, svc.Spec.ClusterIP)
	}
	return note
}

// allowsAny is allows for any of targets (a rule for one of them is enough).
func (ps policySide) allowsAny(targets []callTarget, named map[string]int32, peerNS string, nsLabels, peer labels.Set, peerIP netip.Addr) (*ruleRef, []ruleRef) {
	var partly []ruleRef
	for _, t := range targets {
		by, maybe := ps.allows(portAllows(t.port, t.proto, named), peerNS, nsLabels, peer, peerIP)
		if by != nil {
			return by, nil
		}
		partly = append(partly, maybe...)
	}
	return nil, partly
}

// isolateText: "NetworkPolicy a isolates", "NetworkPolicies a and b isolate".
func isolateText(isolating []*networkingv1.NetworkPolicy) string {
	names := make([]string, len(isolating))
	for i, np := range isolating {
		names[i] = np.Name
	}
	if len(names) == 1 {
		return "NetworkPolicy " + names[0] + " isolates"
	}
	return "NetworkPolicies " + listOf(names) + " isolate"
}

// admitsText says what the ingress rules of the isolating policies admit, compactly: "admits
// only pods tier=frontend on port 8080"; "admits nothing".
func admitsText(isolating []*networkingv1.NetworkPolicy) string {
	rules := policyRulesText(isolating, "ingress")
	if rules == "" {
		return map[bool]string{true: "admits", false: "admit"}[len(isolating) == 1] + " nothing (no ingress rules)"
	}
	return map[bool]string{true: "admits only ", false: "admit only "}[len(isolating) == 1] + rules
}

// allowsText says what the egress rules of the isolating policies allow: "allows it only to
// pods app=ledger-db on port 5432".
func allowsText(isolating []*networkingv1.NetworkPolicy, direction string) string {
	rules := policyRulesText(isolating, direction)
	if rules == "" {
		return "allows it nothing (no " + direction + " rules)"
	}
	return "allows it only " + rules
}

// policyRulesText renders the rules of policies in direction as prose, "; or " between rules.
func policyRulesText(isolating []*networkingv1.NetworkPolicy, direction string) string {
	var parts []string
	for _, np := range isolating {
		for _, r := range policyRules(np, direction == "egress") {
			p := peersPhrase(r.peers, np.Namespace) + " on " + portsPhrase(r.ports)
			if direction == "egress" {
				p = "to " + p
			}
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "; or ")
}

// peersPhrase renders a rule's peers: "pods tier=frontend", "every pod of namespaces
// team=web", "pods app=a in namespaces team=web", "ipBlock 10.0.0.0/8", "anywhere".
func peersPhrase(peers []networkingv1.NetworkPolicyPeer, policyNS string) string {
	if len(peers) == 0 {
		return "any pod or address"
	}
	var parts []string
	for _, p := range peers {
		switch {
		case p.IPBlock != nil:
			w := "ipBlock " + p.IPBlock.CIDR
			if len(p.IPBlock.Except) > 0 {
				w += " except " + strings.Join(p.IPBlock.Except, ",")
			}
			parts = append(parts, w)
		case p.NamespaceSelector == nil && p.PodSelector != nil:
			if sel := selectorText(p.PodSelector); sel != "{}" {
				parts = append(parts, "pods "+sel)
			} else {
				parts = append(parts, "every pod of namespace "+policyNS)
			}
		case p.NamespaceSelector != nil && p.PodSelector == nil:
			if sel := selectorText(p.NamespaceSelector); sel != "{}" {
				parts = append(parts, "every pod of namespaces "+sel)
			} else {
				parts = append(parts, "every pod of every namespace")
			}
		case p.NamespaceSelector != nil:
			parts = append(parts, fmt.Sprintf("pods %s in namespaces %s", selectorText(p.PodSelector), selectorText(p.NamespaceSelector)))
		}
	}
	return strings.Join(parts, " or ")
}

// portsPhrase renders a rule's ports: "port 8080", "ports 8080 and UDP/53", "any port".
func portsPhrase(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return "any port"
	}
	var parts []string
	for _, p := range ports {
		w := "any"
		if p.Port != nil {
			w = p.Port.String()
			if p.EndPort != nil {
				w += "-" + strconv.Itoa(int(*p.EndPort))
			}
		}
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			w = string(*p.Protocol) + "/" + w
		}
		parts = append(parts, w)
	}
	if len(parts) == 1 {
		return "port " + parts[0]
	}
	return "ports " + listOf(parts)
}

// selectorKeys are the label keys the pod selectors of the policies' ingress rules test.
func selectorKeys(isolating []*networkingv1.NetworkPolicy) []string {
	return peerKeys(isolating, func(p networkingv1.NetworkPolicyPeer) *metav1.LabelSelector { return p.PodSelector })
}

// nsSelectorKeys are the label keys the namespace selectors of the policies' ingress rules test.
func nsSelectorKeys(isolating []*networkingv1.NetworkPolicy) []string {
	return peerKeys(isolating, func(p networkingv1.NetworkPolicyPeer) *metav1.LabelSelector { return p.NamespaceSelector })
}

func peerKeys(isolating []*networkingv1.NetworkPolicy, of func(networkingv1.NetworkPolicyPeer) *metav1.LabelSelector) []string {
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, np := range isolating {
		for _, r := range np.Spec.Ingress {
			for _, p := range r.From {
				sel := of(p)
				if sel == nil {
					continue
				}
				for k := range sel.MatchLabels {
					add(k)
				}
				for _, e := range sel.MatchExpressions {
					add(e.Key)
				}
			}
		}
	}
	return out
}

// Labels a controller adds to every pod, which say nothing about the pod's role.
var generatedLabels = map[string]bool{"pod-template-hash": true, "controller-revision-hash": true,
	"statefulset.kubernetes.io/pod-name": true, "pod-template-generation": true, "apps.kubernetes.io/pod-index": true}

// labelsText quotes the labels of a pod: with keys, the labels a selector tests (those it lacks
// said so: "no label tier") and its app label; without, all but the generated ones.
func labelsText(l map[string]string, keys []string) string {
	var parts, missing []string
	if keys == nil {
		for k, v := range l {
			if !generatedLabels[k] {
				parts = append(parts, k+"="+v)
			}
		}
	} else {
		want := map[string]bool{"app": true, "app.kubernetes.io/name": true}
		for _, k := range keys {
			want[k] = true
			if _, ok := l[k]; !ok {
				missing = append(missing, "no label "+k)
			}
		}
		for k, v := range l {
			if want[k] {
				parts = append(parts, k+"="+v)
			}
		}
	}
	sort.Strings(parts)
	sort.Strings(missing)
	parts = append(parts, missing...)
	if len(parts) == 0 {
		return "no labels"
	}
	return strings.Join(parts, ", ")
}

// callerSelector is the labels a rule admitting the caller would select it by: its app label
// when it has one, else its labels but the generated ones.
func callerSelector(l map[string]string) map[string]string {
	for _, k := range []string{"app", "app.kubernetes.io/name"} {
		if v, ok := l[k]; ok {
			return map[string]string{k: v}
		}
	}
	out := map[string]string{}
	for k, v := range l {
		if !generatedLabels[k] {
			out[k] = v
		}
	}
	return out
}

// matchLabelsText renders labels as YAML flow: "{app: storefront-bff}".
func matchLabelsText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + l[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// portsYAML renders targets as NetworkPolicy ports in YAML flow.
func portsYAML(targets []callTarget) string {
	parts := make([]string, len(targets))
	for i, t := range targets {
		parts[i] = fmt.Sprintf("{protocol: %s, port: %d}", t.proto, t.port)
	}
	return strings.Join(parts, ", ")
}

// selectedWorkload is a workload whose pod template a Service's selector matches.
type selectedWorkload struct {
	kind     string // as the API spells it: Deployment, StatefulSet, ReplicaSet
	obj      metav1.Object
	replicas int32
}

func (w selectedWorkload) ref() string {
	return objectRef(strings.ToLower(w.kind), w.obj.GetNamespace(), w.obj.GetName())
}

// workloadsSelected are the Deployments, StatefulSets and ReplicaSets without an owner of
// namespace ns whose pod template carries every label of selector.
func (s *snapshot) workloadsSelected(ns string, selector map[string]string) []selectedWorkload {
	sel := labels.SelectorFromSet(selector)
	replicas := func(r *int32) int32 {
		if r == nil {
			return 1
		}
		return *r
	}
	var out []selectedWorkload
	for i := range s.deployments {
		if d := &s.deployments[i]; d.Namespace == ns && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, selectedWorkload{"Deployment", d, replicas(d.Spec.Replicas)})
		}
	}
	for i := range s.statefulSets {
		if st := &s.statefulSets[i]; st.Namespace == ns && sel.Matches(labels.Set(st.Spec.Template.Labels)) {
			out = append(out, selectedWorkload{"StatefulSet", st, replicas(st.Spec.Replicas)})
		}
	}
	for i := range s.replicaSets {
		if rs := &s.replicaSets[i]; rs.Namespace == ns && metav1.GetControllerOfNoCopy(rs) == nil && sel.Matches(labels.Set(rs.Spec.Template.Labels)) {
			out = append(out, selectedWorkload{"ReplicaSet", rs, replicas(rs.Spec.Replicas)})
		}
	}
	return out
}

// workloadWarning is the most recent Warning event about a workload or, for a Deployment, about
// its ReplicaSets (where FailedCreate is recorded), as evidence; "" when there is none.
func (s *snapshot) workloadWarning(w selectedWorkload) string {
	warnings := func(kind string, obj metav1.Object) []*corev1.Event {
		var out []*corev1.Event
		for _, e := range s.eventsFor(kind, obj, "") {
			if e.Type == corev1.EventTypeWarning {
				out = append(out, e)
			}
		}
		return out
	}
	events := warnings(w.kind, w.obj)
	if w.kind == "Deployment" {
		for i := range s.replicaSets {
			rs := &s.replicaSets[i]
			if c := metav1.GetControllerOfNoCopy(rs); c != nil && c.UID == w.obj.GetUID() {
				events = append(events, warnings("ReplicaSet", rs)...)
			}
		}
	}
	if e, _ := latest(events); e != nil {
		return fmt.Sprintf("%s/%s %s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, eventEvidence([]*corev1.Event{e}))
	}
	if d, ok := w.obj.(*appsv1.Deployment); ok {
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				return fmt.Sprintf("deployment/%s condition ReplicaFailure (%s): %s", d.Name, c.Reason, clip(c.Message))
			}
		}
	}
	return ""
}

// noPodsCause is why a Service whose selector matches no pod has none: the workload whose pod
// template it selects is scaled to 0, or wants pods and has none (with its latest Warning);
// nil when no workload's template matches.
func (s *snapshot) noPodsCause(svc *corev1.Service, subject, sel, slices string) *causeFix {
	found := s.workloadsSelected(svc.Namespace, svc.Spec.Selector)
	if len(found) == 0 {
		return nil
	}
	w := found[0]
	for _, f := range found {
		if f.replicas == 0 {
			w = f
			break
		}
	}
	selEvidence := fmt.Sprintf("service/%s/%s spec.selector: %s matches no pod; it matches the pod template of %s", svc.Namespace, svc.Name, sel, w.ref())
	if w.replicas == 0 {
		c := contract.Cause{Category: contract.DependencyUnreachable, Object: w.ref(), Field: "spec.replicas",
			Summary: fmt.Sprintf("%s has no ready endpoints: the pods it selects (%s) belong to %s %s, which is scaled to 0 replicas",
				subject, sel, w.kind, w.obj.GetName()),
			Evidence: []string{fmt.Sprintf("%s spec.replicas: 0", w.ref()), selEvidence, slices}}
		return &causeFix{c: c, f: noFix("scale %s %s back up (workload_scale with kind %s, name %s and the replicas it ran with) once whoever scaled it down agrees: a scale to 0 is usually deliberate",
			w.kind, w.obj.GetName(), strings.ToLower(w.kind), w.obj.GetName())}
	}
	why := s.workloadWarning(w)
	summary := fmt.Sprintf("%s has no ready endpoints: the pods it selects (%s) belong to %s %s, which wants %d %s but has none",
		subject, sel, w.kind, w.obj.GetName(), w.replicas, plural(int(w.replicas), "replica"))
	evidence := []string{fmt.Sprintf("%s spec.replicas: %d; no pod of it exists", w.ref(), w.replicas), selEvidence, slices}
	if why != "" {
		summary += ": " + why
		evidence = append(evidence, why)
	} else {
		summary += ", and no Warning event says why (is its controller running?)"
	}
	c := contract.Cause{Category: contract.DependencyUnreachable, Object: w.ref(), Summary: summary, Evidence: evidence}
	return &causeFix{c: c, f: noFix("fix what stops %s %s from creating its pods (quoted above: a quota, an admission webhook or policy refusing them); the Service has endpoints once a pod is Ready", w.kind, w.obj.GetName())}
}
