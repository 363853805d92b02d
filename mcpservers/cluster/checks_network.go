package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// network_check: names do not resolve, or a connection times out; whether a NetworkPolicy that
// selects the pod isolates it and allows no such traffic.

func (t *tools) networkCheckTools() []mcptool.Tool {
	return []mcptool.Tool{
		mcptool.NewData(mcptool.Spec{
			Name: "network_check",
			Description: "Whether NetworkPolicies block a pod's traffic: the policies of its namespace that select it and isolate it " +
				"in the direction asked (egress by default), whether any of their rules allows DNS (port 53 to kube-system's resolver), " +
				"and, with port, whether that port (to that peer, when given) is allowed. A policy that isolates the pod and allows no " +
				"such traffic is the cause. Use it after 'lookup ... i/o timeout', 'no such host' or a connection timeout.",
			Params: []mcp.ToolOption{
				mcp.WithString("namespace", mcp.Required(), mcp.Description("namespace of the pod"), mcp.MaxLength(63)),
				mcp.WithString("pod", mcp.Required(), mcp.Description("name of the pod whose traffic fails"), mcp.MaxLength(253)),
				mcp.WithString("direction", mcp.Description("egress (default: the pod's own connections and lookups) or ingress (connections to it)"), mcp.Enum("egress", "ingress")),
				mcp.WithInteger("port", mcp.Description("the port the traffic goes to (egress) or arrives at (ingress)"), mcp.Min(1), mcp.Max(65535)),
				mcp.WithString("protocol", mcp.Description("TCP (default) or UDP"), mcp.Enum("TCP", "UDP", "SCTP")),
				mcp.WithString("peerNamespace", mcp.Description("namespace of the other end (default: the pod's)"), mcp.MaxLength(63)),
				mcp.WithString("peerLabels", mcp.Description("labels of the other end's pods, as a selector: app=ledger-db,tier=db"), mcp.MaxLength(1024)),
			},
		}, t.networkCheck),
	}
}

type networkArgs struct {
	Namespace     string `json:"namespace"`
	Pod           string `json:"pod"`
	Direction     string `json:"direction,omitempty"`
	Port          int32  `json:"port,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
	PeerNamespace string `json:"peerNamespace,omitempty"`
	PeerLabels    string `json:"peerLabels,omitempty"`

	peer labels.Set // parsed PeerLabels; nil when not given
}

func (a *networkArgs) Validate() error {
	if err := checkName("namespace", &a.Namespace, true, `pass the pod's namespace`); err != nil {
		return err
	}
	if err := checkName("pod", &a.Pod, true, `pass the name of the pod whose traffic fails`); err != nil {
		return err
	}
	switch a.Direction = strings.ToLower(strings.TrimSpace(a.Direction)); a.Direction {
	case "":
		a.Direction = "egress"
	case "egress", "ingress":
	default:
		return fmt.Errorf(`argument "direction" must be "egress" or "ingress", not %q`, a.Direction)
	}
	if a.Port < 0 || a.Port > 65535 {
		return fmt.Errorf(`argument "port" must be a port number from 1 to 65535, not %d`, a.Port)
	}
	a.Protocol = strings.ToUpper(strings.TrimSpace(a.Protocol))
	if a.Protocol != "" && a.Port == 0 {
		return fmt.Errorf(`argument "protocol" needs "port" as well, such as port 5432 with protocol TCP`)
	}
	if a.Protocol == "" {
		a.Protocol = string(corev1.ProtocolTCP)
	}
	if err := checkName("peerNamespace", &a.PeerNamespace, false, "pass the namespace of the other end, or leave it out for the pod's own"); err != nil {
		return err
	}
	if (a.PeerNamespace != "" || strings.TrimSpace(a.PeerLabels) != "") && a.Port == 0 {
		return fmt.Errorf(`arguments "peerNamespace" and "peerLabels" need "port" as well: the port the traffic to that peer goes to`)
	}
	if s := strings.TrimSpace(a.PeerLabels); s != "" {
		set, err := labels.ConvertSelectorToLabelsMap(s)
		if err != nil {
			return fmt.Errorf(`argument "peerLabels" must be labels as key=value pairs separated by commas, such as "app=ledger-db", not %q: %v`, s, err)
		}
		a.peer = set
	}
	return nil
}

// Where the cluster's resolver runs, as kubeadm, kind, EKS, GKE and AKS deploy it: CoreDNS (or
// kube-dns) pods labelled k8s-app=kube-dns in kube-system, whose namespace carries the label the
// API server sets on every namespace.
var (
	dnsNamespace       = metav1.NamespaceSystem
	dnsPodLabels       = labels.Set{"k8s-app": "kube-dns"}
	dnsNamespaceLabels = labels.Set{corev1.LabelMetadataName: metav1.NamespaceSystem}
)

func (t *tools) networkCheck(ctx context.Context, a networkArgs) (contract.CheckReport, string, error) {
	r := &checkReport{}
	if err := t.k.checkNamespace(a.Namespace); err != nil {
		return r.CheckReport, "", err
	}
	pod, err := t.readPod(ctx, a.Namespace, a.Pod)
	if err != nil {
		return r.CheckReport, "", err
	}
	policies, err := listPolicies(ctx, t.k.Direct, a.Namespace)
	if err != nil {
		return r.CheckReport, "", err
	}
	egress := a.Direction == "egress"
	side := policiesOf(policies, pod, a.Direction)
	for _, np := range side.open {
		r.fact("NetworkPolicy %s selects the pod but does not isolate its %s", np.Name, a.Direction)
	}
	isolating := side.isolating
	podRef := a.Namespace + "/" + a.Pod
	if len(isolating) == 0 {
		r.Checked = fmt.Sprintf("no NetworkPolicy selects pod %s and isolates its %s (%s in namespace %s): NetworkPolicy does not restrict it, so a failure of its %s traffic (DNS included) comes from elsewhere",
			podRef, a.Direction, nOf(len(policies), "NetworkPolicy"), a.Namespace, a.Direction)
		return r.done(t.maxBytes)
	}
	names := make([]string, len(isolating))
	for i, np := range isolating {
		names[i] = np.Name
	}
	r.Checked = fmt.Sprintf("pod %s: isolated for %s by %s (%s); traffic is allowed only where one of their rules allows it",
		podRef, a.Direction, nOf(len(isolating), "NetworkPolicy"), strings.Join(names, ", "))

	// What is allowed is the union of the rules of every isolating policy.
	field := "spec." + a.Direction
	first := isolating[0]
	selectsText := fmt.Sprintf("NetworkPolicy %s selects pod %s and isolates its %s", first.Name, a.Pod, a.Direction)
	if len(isolating) > 1 {
		selectsText = fmt.Sprintf("NetworkPolicies %s select pod %s and isolate its %s", listOf(names), a.Pod, a.Direction)
	}
	var evidence []string
	for _, np := range isolating {
		evidence = append(evidence, policyText(np, a.Direction)...)
	}

	if a.Port != 0 {
		peerNS := a.PeerNamespace
		if peerNS == "" {
			peerNS = a.Namespace
		}
		nsLabels := namespaceLabels(ctx, t.k.Direct, peerNS)
		to := fmt.Sprintf("port %d/%s", a.Port, a.Protocol)
		if a.peer != nil {
			to += fmt.Sprintf(" of pods %s in namespace %s", a.peer, peerNS)
		}
		// A named port in an ingress rule is the pod's own container port of that name.
		var named map[string]int32
		if !egress {
			named = containerPortNames(pod)
		}
		by, partly := side.allows(portAllows(a.Port, corev1.Protocol(a.Protocol), named), peerNS, nsLabels, a.peer, netip.Addr{})
		switch {
		case by != nil:
			r.fact("%s allows %s", by, to)
		case len(partly) > 0:
			for _, m := range partly {
				r.fact("%s allows %s to some peers only (%s); pass peerLabels and peerNamespace to check the one meant", m, to, peersText(m.rule.peers))
			}
		default:
			r.cause(contract.Cause{
				Category: contract.NetworkPolicyBlocked, Object: objectRef("networkpolicy", first.Namespace, first.Name), Field: field,
				Summary:  fmt.Sprintf("%s; no rule allows %s, so that traffic is dropped", selectsText, to),
				Evidence: evidence,
				Fix: &contract.Fix{Text: fmt.Sprintf("add a rule to %s of NetworkPolicy %s that allows %s (ports: [{protocol: %s, port: %d}], the peer in %s:); NetworkPolicy is a person's change: no tool here writes it",
					field, first.Name, to, a.Protocol, a.Port, map[bool]string{true: "to", false: "from"}[egress])},
			})
		}
	}

	if egress {
		by, partly := side.allows(dnsAllows, dnsNamespace, dnsNamespaceLabels, dnsPodLabels, netip.Addr{})
		switch {
		case by != nil:
			r.fact("%s allows DNS (port 53 to the resolver in %s)", by, dnsNamespace)
		case len(partly) > 0:
			for _, m := range partly {
				r.fact("%s allows port 53 to %s: DNS works only if that covers the resolver's pods", m, peersText(m.rule.peers))
			}
		default:
			r.cause(contract.Cause{
				Category: contract.NetworkPolicyBlocked, Object: objectRef("networkpolicy", first.Namespace, first.Name), Field: field,
				Summary:  fmt.Sprintf("%s; no rule allows DNS (port 53), so names do not resolve", selectsText),
				Evidence: evidence,
				Fix: &contract.Fix{Text: fmt.Sprintf("add an egress rule to NetworkPolicy %s that allows DNS to the cluster's resolver in %s: "+
					"{to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}], ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]}; "+
					"NetworkPolicy is a person's change: no tool here writes it", first.Name, dnsNamespace)},
			})
		}
	}
	return r.done(t.maxBytes)
}

// listPolicies lists the NetworkPolicies of namespace ns, sorted by name.
func listPolicies(ctx context.Context, r client.Reader, ns string) ([]networkingv1.NetworkPolicy, error) {
	var list networkingv1.NetworkPolicyList
	if err := r.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, apiError(err, "list", "networkpolicies in namespace "+ns)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items, nil
}

// policySide is what the NetworkPolicies of a pod's namespace say about one direction of its
// traffic: the policies that select the pod and isolate that direction (allowed is then only
// what one of their rules allows), and those that select it without isolating it.
type policySide struct {
	direction string // "egress" or "ingress"
	isolating []*networkingv1.NetworkPolicy
	open      []*networkingv1.NetworkPolicy
}

// policiesOf sorts the policies of pod's namespace (policies, by name) that select pod for
// direction ("egress" or "ingress").
func policiesOf(policies []networkingv1.NetworkPolicy, pod *corev1.Pod, direction string) policySide {
	side := policySide{direction: direction}
	typ := networkingv1.PolicyTypeIngress
	if direction == "egress" {
		typ = networkingv1.PolicyTypeEgress
	}
	for i := range policies {
		np := &policies[i]
		if np.Namespace != pod.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		if isolates(np, typ) {
			side.isolating = append(side.isolating, np)
		} else {
			side.open = append(side.open, np)
		}
	}
	return side
}

// ruleRef is one rule of an isolating policy.
type ruleRef struct {
	np        *networkingv1.NetworkPolicy
	direction string
	i         int
	rule      policyRule
}

// String names the rule as policyText does: "NetworkPolicy allow-frontend ingress[0]".
func (r ruleRef) String() string {
	return fmt.Sprintf("NetworkPolicy %s %s[%d]", r.np.Name, r.direction, r.i)
}

// allows evaluates the rules of the isolating policies (their union is what is allowed) for
// traffic whose port a rule's ports admit (ports) and whose other end is pods labelled peer
// (nil: not known) in namespace peerNS (labelled nsLabels). It returns the first rule that
// allows it, or nil and the rules that allow it to some peers only (an ipBlock, or a pod
// selector when peer is not known).
func (ps policySide) allows(ports func([]networkingv1.NetworkPolicyPort) bool, peerNS string, nsLabels, peer labels.Set, peerIP netip.Addr) (*ruleRef, []ruleRef) {
	var partly []ruleRef
	for _, np := range ps.isolating {
		for i, rule := range policyRules(np, ps.direction == "egress") {
			if !ports(rule.ports) {
				continue
			}
			switch peersAllow(rule.peers, np.Namespace, peerNS, nsLabels, peer, peerIP) {
			case peerYes:
				return &ruleRef{np, ps.direction, i, rule}, nil
			case peerMaybe:
				partly = append(partly, ruleRef{np, ps.direction, i, rule})
			}
		}
	}
	return nil, partly
}

// portAllows is the test allows takes for one port and protocol; named maps the container port
// names of the destination pod to their numbers (nil when not known).
func portAllows(port int32, proto corev1.Protocol, named map[string]int32) func([]networkingv1.NetworkPolicyPort) bool {
	return func(ports []networkingv1.NetworkPolicyPort) bool { return portsAllow(ports, port, proto, named) }
}

// dnsAllows is the test allows takes for DNS: port 53 over UDP or TCP.
func dnsAllows(ports []networkingv1.NetworkPolicyPort) bool {
	return portsAllow(ports, 53, corev1.ProtocolUDP, nil) || portsAllow(ports, 53, corev1.ProtocolTCP, nil)
}

// containerPortNames maps the named container ports of a pod to their numbers.
func containerPortNames(p *corev1.Pod) map[string]int32 {
	out := map[string]int32{}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name != "" {
				out[cp.Name] = cp.ContainerPort
			}
		}
	}
	return out
}

// isolates reports whether np isolates its pods in direction typ: policyTypes lists it, or, when
// policyTypes is empty, as the API defaults it (Ingress always; Egress when egress rules exist).
func isolates(np *networkingv1.NetworkPolicy, typ networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) > 0 {
		return slices.Contains(np.Spec.PolicyTypes, typ)
	}
	if typ == networkingv1.PolicyTypeIngress {
		return true
	}
	return len(np.Spec.Egress) > 0
}

// policyRule is an ingress or egress rule: its peers and ports.
type policyRule struct {
	peers []networkingv1.NetworkPolicyPeer
	ports []networkingv1.NetworkPolicyPort
}

func policyRules(np *networkingv1.NetworkPolicy, egress bool) []policyRule {
	var out []policyRule
	if egress {
		for _, r := range np.Spec.Egress {
			out = append(out, policyRule{peers: r.To, ports: r.Ports})
		}
		return out
	}
	for _, r := range np.Spec.Ingress {
		out = append(out, policyRule{peers: r.From, ports: r.Ports})
	}
	return out
}

// portsAllow reports whether a rule's ports allow port/protocol: a rule without ports allows
// every port, an entry without a port every port of its protocol (TCP when unset). A named port
// is resolved on the destination pod, whose named container ports are named (nil when not
// known); "dns" and "dns-tcp", the resolver's port names, are taken as 53.
func portsAllow(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol, named map[string]int32) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == 0: // an int
			lo, hi := p.Port.IntVal, p.Port.IntVal
			if p.EndPort != nil {
				hi = *p.EndPort
			}
			if port >= lo && port <= hi {
				return true
			}
		case port == 53 && (p.Port.StrVal == "dns" || p.Port.StrVal == "dns-tcp"):
			return true
		case named != nil && named[p.Port.StrVal] == port:
			return true
		}
	}
	return false
}

type peerAnswer int

const (
	peerNo    peerAnswer = iota
	peerMaybe            // an ipBlock, or peers narrower than a peer not named
	peerYes
)

// peersAllow says whether a rule's peers include pods labelled podLabels (nil: not known) in
// namespace peerNS (labelled nsLabels), at address peerIP (the zero Addr: not known); policyNS
// is the policy's namespace, which a podSelector alone means. An ipBlock is matched against the
// pod's own address, as a policy sees the connection once a Service's address is translated.
func peersAllow(peers []networkingv1.NetworkPolicyPeer, policyNS, peerNS string, nsLabels, podLabels labels.Set, peerIP netip.Addr) peerAnswer {
	if len(peers) == 0 {
		return peerYes
	}
	best := peerNo
	for _, p := range peers {
		if p.IPBlock != nil {
			switch {
			case !peerIP.IsValid():
				best = max(best, peerMaybe)
			case ipBlockHolds(p.IPBlock, peerIP):
				return peerYes
			}
			continue
		}
		nsOK := peerNS == policyNS
		if p.NamespaceSelector != nil {
			sel, err := metav1.LabelSelectorAsSelector(p.NamespaceSelector)
			nsOK = err == nil && sel.Matches(nsLabels)
		}
		if !nsOK {
			continue
		}
		if p.PodSelector == nil || (len(p.PodSelector.MatchLabels) == 0 && len(p.PodSelector.MatchExpressions) == 0) {
			return peerYes
		}
		if podLabels == nil {
			best = max(best, peerMaybe)
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(p.PodSelector); err == nil && sel.Matches(podLabels) {
			return peerYes
		}
	}
	return best
}

// namespaceLabels are a namespace's labels, or, when it cannot be read, the name label the API
// server sets on every namespace.
func namespaceLabels(ctx context.Context, r client.Reader, name string) labels.Set {
	var ns corev1.Namespace
	if err := r.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil || len(ns.Labels) == 0 {
		return labels.Set{corev1.LabelMetadataName: name}
	}
	return labels.Set(ns.Labels)
}

// policyText renders what a policy says about one direction, compactly:
// "NetworkPolicy baseline-lockdown: podSelector {}; policyTypes [Egress]; egress[0]: to podSelector app=ledger-db; ports TCP/5432".
func policyText(np *networkingv1.NetworkPolicy, direction string) []string {
	types := make([]string, len(np.Spec.PolicyTypes))
	for i, pt := range np.Spec.PolicyTypes {
		types[i] = string(pt)
	}
	head := fmt.Sprintf("NetworkPolicy %s: podSelector %s; policyTypes [%s]", np.Name, selectorText(&np.Spec.PodSelector), strings.Join(types, ", "))
	rules := policyRules(np, direction == "egress")
	if len(rules) == 0 {
		return []string{head + "; " + direction + ": [] (nothing allowed)"}
	}
	out := []string{head}
	word := map[bool]string{true: "to", false: "from"}[direction == "egress"]
	for i, r := range rules {
		out = append(out, fmt.Sprintf("NetworkPolicy %s %s[%d]: %s %s; ports %s", np.Name, direction, i, word, peersText(r.peers), portsText(r.ports)))
	}
	return out
}

func selectorText(s *metav1.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil || sel.Empty() {
		return "{}"
	}
	return sel.String()
}

func peersText(peers []networkingv1.NetworkPolicyPeer) string {
	if len(peers) == 0 {
		return "anywhere"
	}
	parts := make([]string, len(peers))
	for i, p := range peers {
		var words []string
		if p.IPBlock != nil {
			w := "ipBlock " + p.IPBlock.CIDR
			if len(p.IPBlock.Except) > 0 {
				w += " except " + strings.Join(p.IPBlock.Except, ",")
			}
			words = append(words, w)
		}
		if p.NamespaceSelector != nil {
			words = append(words, "namespaceSelector "+selectorText(p.NamespaceSelector))
		}
		if p.PodSelector != nil {
			words = append(words, "podSelector "+selectorText(p.PodSelector))
		}
		parts[i] = strings.Join(words, " ")
	}
	return strings.Join(parts, " | ")
}

func portsText(ports []networkingv1.NetworkPolicyPort) string {
	if len(ports) == 0 {
		return "all"
	}
	parts := make([]string, len(ports))
	for i, p := range ports {
		proto := "TCP"
		if p.Protocol != nil {
			proto = string(*p.Protocol)
		}
		switch {
		case p.Port == nil:
			parts[i] = proto + "/all"
		case p.EndPort != nil:
			parts[i] = fmt.Sprintf("%s/%s-%d", proto, p.Port.String(), *p.EndPort)
		default:
			parts[i] = proto + "/" + p.Port.String()
		}
	}
	return strings.Join(parts, ", ")
}
