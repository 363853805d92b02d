package cluster

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/opsmesh/opsmesh/api/contract"
)

// Causes that lie in objects the failing one refers to, or that refer to it: the admission
// webhook that refuses a controller's pods, the IngressClass or TLS Secret an Ingress names, the
// container or emptyDir volume whose use got a pod evicted, the workload an HPA targets, the
// ServiceAccount a pod takes its image pull Secrets from, and the StorageClass (and its
// provisioner) a pending claim waits for.

// webhookCall reads an admission webhook's failure in a controller's FailedCreate event:
// `Error creating: Internal error occurred: failed calling webhook "validate.policy.example":
// failed to call webhook: Post "https://policy-svc.policy.svc:443/validate?timeout=10s": dial
// tcp 10.96.1.2:443: connect: connection refused`.
var webhookCall = regexp.MustCompile(`failed calling webhook "([^"]+)": (.*)$`)

// webhookURLService reads the Service of an in-cluster webhook URL: https://NAME.NS.svc:443/...
var webhookURLService = regexp.MustCompile(`https://([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc[.:/]`)

// webhookConfig is one webhook of a Validating- or MutatingWebhookConfiguration.
type webhookConfig struct {
	kind, config  string // validatingwebhookconfiguration, its name
	index         int    // in its configuration's webhooks
	name          string // the webhook's own name
	clientConfig  admissionregistrationv1.WebhookClientConfig
	failurePolicy string
	timeout       int32
}

// webhookList is the cluster's webhooks, read once per call.
type webhookList struct {
	items []webhookConfig
	err   error // the first read that failed
}

// webhookNamed finds the webhook called name among the cluster's webhook configurations (read
// directly, once per call: they are not cached).
func (s *snapshot) webhookNamed(name string) (*webhookConfig, error) {
	if s.webhooks == nil {
		s.webhooks = &webhookList{}
		var v admissionregistrationv1.ValidatingWebhookConfigurationList
		if err := s.direct.List(s.ctx, &v); err != nil {
			s.webhooks.err = apiError(err, "list", "validatingwebhookconfigurations")
		}
		for _, c := range v.Items {
			for i, w := range c.Webhooks {
				s.webhooks.items = append(s.webhooks.items, webhookConfig{kind: "validatingwebhookconfiguration", config: c.Name, index: i, name: w.Name,
					clientConfig: w.ClientConfig, failurePolicy: policyOf(w.FailurePolicy), timeout: timeoutOf(w.TimeoutSeconds)})
			}
		}
		var m admissionregistrationv1.MutatingWebhookConfigurationList
		if err := s.direct.List(s.ctx, &m); err != nil && s.webhooks.err == nil {
			s.webhooks.err = apiError(err, "list", "mutatingwebhookconfigurations")
		}
		for _, c := range m.Items {
			for i, w := range c.Webhooks {
				s.webhooks.items = append(s.webhooks.items, webhookConfig{kind: "mutatingwebhookconfiguration", config: c.Name, index: i, name: w.Name,
					clientConfig: w.ClientConfig, failurePolicy: policyOf(w.FailurePolicy), timeout: timeoutOf(w.TimeoutSeconds)})
			}
		}
	}
	for i := range s.webhooks.items {
		if s.webhooks.items[i].name == name {
			return &s.webhooks.items[i], nil
		}
	}
	return nil, s.webhooks.err
}

func policyOf(p *admissionregistrationv1.FailurePolicyType) string {
	if p == nil {
		return string(admissionregistrationv1.Fail) // the v1 default
	}
	return string(*p)
}

func timeoutOf(t *int32) int32 {
	if t == nil {
		return 10 // the v1 default
	}
	return *t
}

// webhookCause follows the webhook a FailedCreate event names to its configuration and the
// Service it calls, and says why that Service cannot answer: it does not exist, or has no ready
// endpoints (with its pods' state); or, when it has, what the API server's message says (a
// timeout, a certificate it does not trust). subject is the workload whose pods are refused.
func (s *snapshot) webhookCause(e *corev1.Event, subject string, f *finding) *contract.Cause {
	m := webhookCall.FindStringSubmatch(strings.TrimSpace(e.Message))
	if m == nil {
		return nil
	}
	name, failure := m[1], m[2]
	event := fmt.Sprintf("event FailedCreate on %s %s: %s", strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Name, quoteMessage(e.Message))
	wh, err := s.webhookNamed(name)
	c := &contract.Cause{Category: contract.DependencyUnreachable, Evidence: []string{event}}
	var svcNS, svcName string
	policy := string(admissionregistrationv1.Fail)
	what := fmt.Sprintf("admission webhook %q", name)
	switch {
	case wh != nil:
		c.Object = objectRef(wh.kind, "", wh.config)
		policy = wh.failurePolicy
		kindName := "ValidatingWebhookConfiguration"
		if wh.kind == "mutatingwebhookconfiguration" {
			kindName = "MutatingWebhookConfiguration"
		}
		what = fmt.Sprintf("admission webhook %q of %s %s", name, kindName, wh.config)
		if sv := wh.clientConfig.Service; sv != nil {
			c.Field = fmt.Sprintf("webhooks[%d].clientConfig.service", wh.index)
			svcNS, svcName = sv.Namespace, sv.Name
			port := int32(443)
			if sv.Port != nil {
				port = *sv.Port
			}
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s: namespace=%s name=%s port=%d; failurePolicy %s, timeoutSeconds %d", c.Object, c.Field, sv.Namespace, sv.Name, port, wh.failurePolicy, wh.timeout))
		} else if wh.clientConfig.URL != nil {
			c.Field = fmt.Sprintf("webhooks[%d].clientConfig.url", wh.index)
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s: %s; failurePolicy %s, timeoutSeconds %d", c.Object, c.Field, *wh.clientConfig.URL, wh.failurePolicy, wh.timeout))
		}
	default:
		// The configuration could not be read (or is gone): the Service the URL in the message
		// names is the dependency.
		if err != nil {
			f.evidence = append(f.evidence, "could not read the webhook configurations: "+err.Error())
		}
		u := webhookURLService.FindStringSubmatch(failure)
		if u == nil {
			return nil
		}
		svcName, svcNS = u[1], u[3]
		c.Object = objectRef("service", svcNS, svcName)
	}
	if c.Object != "" {
		kind, ns, n := splitObjectRef(c.Object)
		f.related = append(f.related, ref{Kind: kind, Namespace: ns, Name: n})
	}
	why := "the call failed: " + webhookReason(failure)
	if svcName != "" {
		state, facts := s.webhookServiceState(svcNS, svcName)
		c.Evidence = append(c.Evidence, facts...)
		if state != "" {
			why = state
		} else {
			why = fmt.Sprintf("Service %s/%s has ready endpoints, yet %s", svcNS, svcName, why)
		}
	}
	refuses := fmt.Sprintf("with failurePolicy %s the API server refuses every pod it matches, so %s creates none", policy, subject)
	if policy == string(admissionregistrationv1.Ignore) {
		refuses = fmt.Sprintf("its failurePolicy is Ignore now, but the API server refused the pods of %s while it failed", subject)
	}
	c.Summary = fmt.Sprintf("%s cannot answer: %s; %s", what, why, refuses)
	fixText := fmt.Sprintf("make the webhook's Service %s/%s answer (see the findings of namespace %s), or, until it does, set failurePolicy Ignore on %s or narrow its namespaceSelector; the controller of %s then creates its pods on its own",
		svcNS, svcName, svcNS, c.Object, subject)
	if svcName == "" {
		fixText = fmt.Sprintf("make the endpoint of %s answer, or set failurePolicy Ignore on %s until it does; the controller of %s then creates its pods on its own", what, c.Object, subject)
	}
	c.Fix = &contract.Fix{Text: fixText}
	if f.fix.tool == "" {
		f.fix = noFix("%s", fixText)
	}
	return c
}

// webhookReason says in words what a failed webhook call's message says, quoting it.
func webhookReason(failure string) string {
	var what string
	switch {
	case strings.Contains(failure, "x509:") || strings.Contains(failure, "tls:"):
		what = "the API server does not trust the webhook's TLS certificate (check clientConfig.caBundle against the certificate its server presents)"
	case strings.Contains(failure, "context deadline exceeded") || strings.Contains(failure, "Client.Timeout") || strings.Contains(failure, "i/o timeout"):
		what = "the webhook did not answer within its timeout"
	case strings.Contains(failure, "connection refused"):
		what = "nothing listens on the webhook's port"
	case strings.Contains(failure, "no endpoints available"):
		what = "its Service has no ready endpoints"
	case strings.Contains(failure, "not found"):
		what = "its Service does not exist"
	}
	if what == "" {
		return quoteMessage(failure)
	}
	return what + " (" + clip(failure) + ")"
}

// webhookServiceState reads the webhook's Service ns/name, its EndpointSlices and the pods its
// selector picks directly (they may lie outside the namespaces analyzed). It returns why the
// Service cannot answer ("" when it has ready endpoints, or could not be read) and the facts.
func (s *snapshot) webhookServiceState(ns, name string) (string, []string) {
	ref := objectRef("service", ns, name)
	var svc corev1.Service
	if err := s.direct.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Sprintf("its Service %s/%s does not exist", ns, name), []string{ref + ": not found"}
		}
		return "", []string{"could not check: " + apiError(err, "get", ref).Error()}
	}
	var slices discoveryv1.EndpointSliceList
	if err := s.direct.List(s.ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: name}); err != nil {
		return "", []string{"could not check: " + apiError(err, "list", "endpointslices of "+ref).Error()}
	}
	ready := 0
	for _, sl := range slices.Items {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready++
			}
		}
	}
	if ready > 0 {
		return "", []string{fmt.Sprintf("%s: %d ready %s", ref, ready, plural(ready, "endpoint"))}
	}
	if len(svc.Spec.Selector) == 0 {
		return fmt.Sprintf("its Service %s/%s has no ready endpoints (it has no selector)", ns, name), []string{ref + ": no ready endpoints, no selector"}
	}
	sel := labels.Set(svc.Spec.Selector).String()
	var pods corev1.PodList
	if err := s.direct.List(s.ctx, &pods, client.InNamespace(ns), client.MatchingLabels(svc.Spec.Selector)); err != nil {
		return fmt.Sprintf("its Service %s/%s has no ready endpoints", ns, name), []string{"could not check its pods: " + apiError(err, "list", "pods in namespace "+ns).Error()}
	}
	var live []*corev1.Pod
	for i := range pods.Items {
		if p := &pods.Items[i]; p.DeletionTimestamp == nil && !podTerminated(p) {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return fmt.Sprintf("its Service %s/%s has no ready endpoints: its selector %s matches no running pod", ns, name, sel),
			[]string{fmt.Sprintf("%s spec.selector %s matches no running pod in namespace %s", ref, sel, ns)}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].Name < live[j].Name })
	state := summarizeUnready(live)
	facts := []string{fmt.Sprintf("%s: no ready endpoints; its pods (selector %s): %s", ref, sel, state)}
	for _, p := range live {
		if len(facts) == 4 {
			break
		}
		facts = append(facts, fmt.Sprintf("pod %s/%s: %s", ns, p.Name, unreadyReason(p)))
	}
	return fmt.Sprintf("its Service %s/%s has no ready endpoints (its pods: %s)", ns, name, state), facts
}

// The IngressClass annotations the API defines.
const (
	defaultIngressClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	legacyIngressClassAnnotation  = "kubernetes.io/ingress.class"
)

// ingressReferences: Ingresses whose spec.ingressClassName names no IngressClass (or that name
// none while no class is the default, and IngressClasses exist), and Ingresses whose TLS Secret
// does not exist. No controller serves the first; the second's hosts are served without their
// certificate.
func ingressReferences(s *snapshot) []finding {
	if len(s.ingresses) == 0 {
		return nil
	}
	var classList networkingv1.IngressClassList
	classesErr := s.direct.List(s.ctx, &classList)
	var classes, defaults []string
	for _, c := range classList.Items {
		classes = append(classes, c.Name)
		if c.Annotations[defaultIngressClassAnnotation] == "true" {
			defaults = append(defaults, c.Name)
		}
	}
	sort.Strings(classes)
	if classesErr != nil && !apierrors.IsForbidden(classesErr) { // a server confined to namespaces may not read them
		s.skipped = append(s.skipped, "Ingress classes: "+apiError(classesErr, "list", "ingressclasses").Error())
	}
	var out []finding
	for i := range s.ingresses {
		ing := &s.ingresses[i]
		obj := ref{Kind: "ingress", Namespace: ing.Namespace, Name: ing.Name}
		if classesErr == nil {
			if f, ok := ingressClassFinding(ing, obj, classes, defaults); ok {
				out = append(out, f)
			}
		}
		for j, tls := range ing.Spec.TLS {
			if tls.SecretName == "" {
				continue
			}
			l := s.keysOf("Secret", ing.Namespace, tls.SecretName)
			if l.found || l.err != nil {
				continue // present, or not readable (Secrets may be off limits): nothing to say
			}
			field := fmt.Sprintf("spec.tls[%d].secretName", j)
			hosts := strings.Join(tls.Hosts, ", ")
			if hosts == "" {
				hosts = "its hosts"
			}
			f := finding{severity: warning, object: obj}
			f.evidence = append(f.evidence, fmt.Sprintf("%s %s: %s; secret/%s/%s: not found", obj, field, tls.SecretName, ing.Namespace, tls.SecretName))
			f.cause = &contract.Cause{Category: contract.ReferenceMissing, Object: obj.String(), Field: field,
				Summary:  fmt.Sprintf("Ingress %s names TLS Secret %s for %s; no Secret %s exists in namespace %s, so the controller serves them without that certificate (or not at all)", ing.Name, tls.SecretName, hosts, tls.SecretName, ing.Namespace),
				Evidence: f.evidence,
				Fix:      &contract.Fix{Text: fmt.Sprintf("create Secret %s (type kubernetes.io/tls) in namespace %s, or correct %s of Ingress %s to the Secret that holds the certificate", tls.SecretName, ing.Namespace, field, ing.Name)}}
			f.fix = noFix("%s", f.cause.Fix.Text)
			out = append(out, f)
		}
	}
	return out
}

// ingressClassFinding is the finding of an Ingress no IngressClass serves: one whose
// spec.ingressClassName names a class that does not exist, or one that names none (nor the
// legacy annotation) while IngressClasses exist and none is the default.
func ingressClassFinding(ing *networkingv1.Ingress, obj ref, classes, defaults []string) (finding, bool) {
	const field = "spec.ingressClassName"
	have := "no IngressClass exists"
	if len(classes) > 0 {
		have = "classes: " + strings.Join(classes, ", ")
	}
	f := finding{severity: critical, object: obj}
	var summary string
	switch {
	case ing.Spec.IngressClassName != nil:
		name := *ing.Spec.IngressClassName
		for _, c := range classes {
			if c == name {
				return f, false
			}
		}
		f.evidence = append(f.evidence, fmt.Sprintf("%s %s: %s; ingressclass/%s: not found (%s)", obj, field, name, name, have))
		summary = fmt.Sprintf("Ingress %s asks for class %s; no IngressClass %s exists (%s), so no controller serves it", ing.Name, name, name, have)
	case ing.Annotations[legacyIngressClassAnnotation] != "" || len(classes) == 0 || len(defaults) > 0:
		return f, false
	default:
		f.evidence = append(f.evidence, fmt.Sprintf("%s %s: <none>; no IngressClass is annotated %s=true (%s)", obj, field, defaultIngressClassAnnotation, have))
		summary = fmt.Sprintf("Ingress %s names no class, and no IngressClass is the default (%s), so no controller serves it", ing.Name, have)
	}
	text := fmt.Sprintf("set %s of Ingress %s to a class that exists (%s), or create the IngressClass its controller serves", field, ing.Name, have)
	f.cause = &contract.Cause{Category: contract.ReferenceMissing, Object: obj.String(), Field: field, Summary: summary, Evidence: f.evidence, Fix: &contract.Fix{Text: text}}
	f.fix = noFix("%s", text)
	if len(classes) == 1 || len(defaults) == 1 {
		to := classes[0]
		if len(defaults) == 1 {
			to = defaults[0]
		}
		f.fix = fix{tool: "resource_patch", args: []arg{{"kind", "ingress"}, {"namespace", ing.Namespace}, {"name", ing.Name}, {"patchType", "merge"},
			{"patch", fmt.Sprintf(`{"spec":{"ingressClassName":%q}}`, to)}}, note: fmt.Sprintf("IngressClass %s is the one that exists here; check that its controller is the one meant to serve this Ingress", to)}
	}
	return f, true
}

var (
	// evictedLowOn reads the kubelet's eviction for node pressure: "The node was low on
	// resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8Gi. Container app was
	// using 12Gi, request is 0, has larger consumption of ephemeral-storage."
	evictedLowOn = regexp.MustCompile(`The node was low on resource: ([a-zA-Z0-9._/-]+)\.`)
	// evictedContainer reads one container's use in that message.
	evictedContainer = regexp.MustCompile(`Container ([a-z0-9]([-a-z0-9]*[a-z0-9])?) was using ([^,]+), request is ([^,]+), has larger consumption of ([a-zA-Z0-9._/-]+)`)
	// evictedPodLimit: "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi."
	evictedPodLimit = regexp.MustCompile(`Pod ephemeral local storage usage exceeds the total limit of containers ([^ ]+?)\.?$`)
	// evictedContainerLimit: `Container app exceeded its local ephemeral storage limit "1Gi". `
	evictedContainerLimit = regexp.MustCompile(`Container ([a-z0-9]([-a-z0-9]*[a-z0-9])?) exceeded its local ephemeral storage limit "([^"]+)"`)
	// evictedEmptyDir: `Usage of EmptyDir volume "scratch" exceeds the limit "2Gi". `
	evictedEmptyDir = regexp.MustCompile(`Usage of EmptyDir volume "([^"]+)" exceeds the limit "([^"]+)"`)
)

// rejectedResource reads the kubelet's admission refusal: "Pod was rejected: Node didn't have
// enough resource: nvidia.com/gpu, requested: 2, used: 8, capacity: 8".
var rejectedResource = regexp.MustCompile(`(?:Node didn't have enough resource|Insufficient): ([\w./-]+)(?:, requested: (\d+), used: (\d+), capacity: (\d+))?`)

// admissionRejected: pods the kubelet refused to admit (phase Failed, reason OutOf<resource>,
// UnexpectedAdmissionError, NodeAffinity...): the node it was bound to cannot run it. A pod bound
// by its own spec.nodeName never went through the scheduler, which would have placed it on a node
// with room: that field is the cause.
func admissionRejected(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		r := p.Status.Reason
		if p.Status.Phase != corev1.PodFailed || p.DeletionTimestamp != nil || r == "" || r == "Evicted" ||
			!(strings.HasPrefix(r, "OutOf") || r == "UnexpectedAdmissionError" || r == "NodeAffinity" || r == "NodeName" || strings.HasPrefix(r, "Predicate") || r == "NodePorts") {
			continue
		}
		category := contract.SchedulingConstraint
		resource := strings.TrimPrefix(r, "OutOf")
		if m := rejectedResource.FindStringSubmatch(p.Status.Message); m != nil {
			resource = m[1]
		}
		if strings.HasPrefix(r, "OutOf") {
			category = contract.InsufficientResource
			if strings.Contains(resource, "gpu") {
				category = contract.InsufficientGPU
			}
		}
		f, w := s.podFinding(p, critical, string(category), "")
		f.evidence = append(f.evidence, fmt.Sprintf("status: phase=Failed reason=%s message=%s (node %s)", r, quoteMessage(p.Status.Message), orNone(p.Spec.NodeName)))
		if s.boundBySpec(p, w) {
			object, field := objectRef("pod", p.Namespace, p.Name), "spec.nodeName"
			if w != nil {
				object, field = w.String(), "spec.template.spec.nodeName"
			}
			f.cause = &contract.Cause{Category: contract.ApplicationConfig, Object: object, Field: field,
				Summary: fmt.Sprintf("%s names its node itself (nodeName: %s), so the scheduler never placed it, and the kubelet there rejected it (%s: %s): the node has no room for it",
					whose(p, w), p.Spec.NodeName, r, quoteMessage(p.Status.Message)),
				Evidence: []string{fmt.Sprintf("%s %s: %s", object, field, p.Spec.NodeName)},
				Fix:      &contract.Fix{Text: fmt.Sprintf("remove nodeName from %s (use a nodeSelector or affinity) so the scheduler places it on a node with room, or free %s on node %s", whose(p, w), resource, p.Spec.NodeName)}}
			f.fix = noFix("%s", f.cause.Fix.Text)
		} else {
			f.fix = noFix("the kubelet of node %s refused the pod (%s): see what holds %s there (analyze kind=node name=%s); its controller makes a new pod", orNone(p.Spec.NodeName), r, resource, orNone(p.Spec.NodeName))
		}
		out = append(out, f)
	}
	return out
}

// boundBySpec says whether pod p was bound to its node by its own spec (or its template's)
// nodeName, not by the scheduler: the scheduler marks the pods it binds PodScheduled True with no
// reason; a pod created with nodeName has no PodScheduled condition, or its template names the
// node.
func (s *snapshot) boundBySpec(p *corev1.Pod, w *ownerWorkload) bool {
	if p.Spec.NodeName == "" {
		return false
	}
	if w != nil {
		if spec := s.specOf(w.ref); spec != nil {
			return spec.NodeName != ""
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return false
		}
	}
	return true
}

// evictedPods: pods the kubelet evicted (phase Failed, reason Evicted), with its message quoted
// and, where the message names it, the container or emptyDir volume whose use got them evicted.
// Pods of one workload and container are reported once.
func evictedPods(s *snapshot) []finding {
	var out []finding
	for i := range s.pods {
		p := &s.pods[i]
		if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "Evicted" || p.DeletionTimestamp != nil {
			continue
		}
		cause, container := evictionCause(p, s.owner(p))
		f, _ := s.podFinding(p, warning, "", container)
		on := ""
		if p.Spec.NodeName != "" {
			on = " on node " + p.Spec.NodeName
		}
		f.evidence = append(f.evidence, fmt.Sprintf("status.reason=Evicted%s message=%s", on, quoteMessage(p.Status.Message)))
		f.cause = cause
		if cause != nil {
			f.fix = noFix("%s", cause.Fix.Text)
		} else {
			f.fix = noFix("the kubelet evicted the pod for node pressure: see the node's conditions (analyze kind=node name=%s); delete the evicted pod once read (its controller has replaced it)", orNone(p.Spec.NodeName))
		}
		out = append(out, f)
	}
	return out
}

// evictionCause names the container (and its resources field) or emptyDir volume whose use the
// kubelet's eviction message blames, with the container's name for grouping; nil when the
// message names none.
func evictionCause(p *corev1.Pod, w *ownerWorkload) (*contract.Cause, string) {
	msg := strings.TrimSpace(p.Status.Message)
	object, prefix := objectRef("pod", p.Namespace, p.Name), "spec."
	if w != nil {
		object, prefix = w.String(), "spec.template.spec."
	}
	quoted := fmt.Sprintf("pod %s status.message: %s", p.Name, quoteMessage(msg))
	cause := func(category, field, summary, fix string) *contract.Cause {
		return &contract.Cause{Category: category, Object: object, Field: prefix + field, Summary: summary, Evidence: []string{quoted}, Fix: &contract.Fix{Text: fix}}
	}
	categoryOf := func(resource string) string {
		if resource == string(corev1.ResourceMemory) {
			return contract.MemoryLimit
		}
		return contract.VolumeFull
	}
	if m := evictedEmptyDir.FindStringSubmatch(msg); m != nil {
		vol, limit := m[1], m[2]
		return cause(contract.VolumeFull, fmt.Sprintf("volumes[%s].emptyDir.sizeLimit", vol),
			fmt.Sprintf("emptyDir volume %s of pod %s outgrew its sizeLimit %s, so the kubelet evicted the pod", vol, p.Name, limit),
			fmt.Sprintf("raise %svolumes[%s].emptyDir.sizeLimit of %s above what the pod writes there, or have the application clean up what it writes", prefix, vol, whose(p, w))), ""
	}
	if m := evictedContainerLimit.FindStringSubmatch(msg); m != nil {
		c, limit := m[1], m[3]
		return cause(contract.VolumeFull, fmt.Sprintf("containers[%s].resources.limits.ephemeral-storage", c),
			fmt.Sprintf("container %s of pod %s wrote more to its writable layer and logs than its ephemeral-storage limit %s, so the kubelet evicted the pod", c, p.Name, limit),
			fmt.Sprintf("raise the ephemeral-storage limit of container %s of %s (workload_set_resources), or have it write to a volume", c, whose(p, w))), c
	}
	if m := evictedPodLimit.FindStringSubmatch(msg); m != nil {
		limit := m[1]
		var limited []string
		for _, c := range p.Spec.Containers {
			if _, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
				limited = append(limited, c.Name)
			}
		}
		field, who := "containers[*].resources.limits.ephemeral-storage", "its containers"
		container := ""
		if len(limited) > 0 {
			container = limited[0]
			field, who = fmt.Sprintf("containers[%s].resources.limits.ephemeral-storage", container), "container "+strings.Join(limited, ", ")
		}
		return cause(contract.VolumeFull, field,
			fmt.Sprintf("pod %s used more local ephemeral storage than the total limit of its containers %s (set on %s), so the kubelet evicted it", p.Name, limit, who),
			fmt.Sprintf("raise the ephemeral-storage limits of %s of %s (workload_set_resources), or move what it writes to a volume", who, whose(p, w))), container
	}
	if m := evictedLowOn.FindStringSubmatch(msg); m != nil {
		resource := m[1]
		on := "its node"
		if p.Spec.NodeName != "" {
			on = "node " + p.Spec.NodeName
		}
		if c := evictedContainer.FindStringSubmatch(msg); c != nil {
			name, using, request := c[1], strings.TrimSpace(c[3]), strings.TrimSpace(c[4])
			return cause(categoryOf(resource), fmt.Sprintf("containers[%s].resources.requests.%s", name, resource),
				fmt.Sprintf("%s ran low on %s; container %s used %s against a request of %s, so the kubelet evicted pod %s first", on, resource, name, using, request, p.Name),
				fmt.Sprintf("give container %s of %s a request (and limit) of %s that covers what it uses (workload_set_resources), so that it is not the first evicted; and free %s on %s", name, whose(p, w), resource, resource, on)), name
		}
	}
	return nil, ""
}

// scaleTargetKinds are the scale targets whose existence analyze checks, by kind: the API group and
// list kind to list the ones that exist.
var scaleTargetKinds = map[string]schema.GroupVersionKind{
	"Deployment":  {Group: "apps", Version: "v1", Kind: "DeploymentList"},
	"StatefulSet": {Group: "apps", Version: "v1", Kind: "StatefulSetList"},
	"ReplicaSet":  {Group: "apps", Version: "v1", Kind: "ReplicaSetList"},
}

// hpaTargetMissing: an HPA whose spec.scaleTargetRef names a Deployment, StatefulSet or
// ReplicaSet that does not exist scales nothing. The cause is its scaleTargetRef, listing the
// objects of that kind that exist and the nearest name; the fix patches the name when one is
// near. Evidence goes to f. nil when the target exists or its kind is not checked.
func (s *snapshot) hpaTargetMissing(h *autoscalingv2.HorizontalPodAutoscaler, f *finding) *contract.Cause {
	t := h.Spec.ScaleTargetRef
	gvk, ok := scaleTargetKinds[t.Kind]
	if !ok || (t.APIVersion != "" && !strings.HasPrefix(t.APIVersion, "apps/")) {
		return nil
	}
	if spec, _ := s.templateOf(strings.ToLower(t.Kind), h.Namespace, t.Name); spec != nil {
		return nil
	}
	obj := &metav1.PartialObjectMetadata{}
	obj.SetGroupVersionKind(schema.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: t.Kind})
	if t.Kind == "ReplicaSet" {
		if _, ok := s.rsByName[types.NamespacedName{Namespace: h.Namespace, Name: t.Name}]; ok {
			return nil
		}
	}
	if err := s.direct.Get(s.ctx, client.ObjectKey{Namespace: h.Namespace, Name: t.Name}, obj); !apierrors.IsNotFound(err) {
		return nil // it exists, or cannot be read: nothing to say
	}
	names, err := s.namesOf(gvk, h.Namespace)
	have := existing(t.Kind, names, err, t.Name)
	object := ref{Kind: "horizontalpodautoscaler", Namespace: h.Namespace, Name: h.Name}
	const field = "spec.scaleTargetRef.name"
	f.evidence = append(f.evidence, fmt.Sprintf("%s: %s/%s not found in namespace %s (%s)", field, strings.ToLower(t.Kind), t.Name, h.Namespace, have))
	c := &contract.Cause{Category: contract.ReferenceMissing, Object: object.String(), Field: field,
		Summary: fmt.Sprintf("HorizontalPodAutoscaler %s targets %s %s, which does not exist in namespace %s (%s), so it scales nothing",
			h.Name, t.Kind, t.Name, h.Namespace, have),
		Evidence: []string{fmt.Sprintf("%s %s: %s (kind %s)", object, field, t.Name, t.Kind), fmt.Sprintf("%s/%s/%s: not found", strings.ToLower(t.Kind), h.Namespace, t.Name)}}
	near := ""
	if err == nil {
		near = nearestName(t.Name, names)
	}
	if near != "" {
		c.Fix = &contract.Fix{Text: fmt.Sprintf("set %s of HorizontalPodAutoscaler %s to %s (the nearest %s that exists), if that is the workload it should scale", field, h.Name, near, t.Kind)}
		f.fix = fix{tool: "resource_patch", args: []arg{{"kind", "horizontalpodautoscaler"}, {"namespace", h.Namespace}, {"name", h.Name}, {"patchType", "merge"},
			{"patch", fmt.Sprintf(`{"spec":{"scaleTargetRef":{"name":%q}}}`, near)}}, note: fmt.Sprintf("%s %s is the nearest name that exists: check it is the workload meant", t.Kind, near)}
		f.related = append(f.related, ref{Kind: strings.ToLower(t.Kind), Namespace: h.Namespace, Name: near})
	} else {
		c.Fix = &contract.Fix{Text: fmt.Sprintf("set %s of HorizontalPodAutoscaler %s to the %s it should scale (%s), or delete the autoscaler", field, h.Name, t.Kind, have)}
		f.fix = noFix("%s", c.Fix.Text)
	}
	return c
}

// danglingAutoscaler reports whether a finding is an HPA whose target does not exist.
func danglingAutoscaler(f *finding) bool {
	return f.object.Kind == "horizontalpodautoscaler" && f.cause != nil && f.cause.Category == contract.ReferenceMissing && f.cause.Field == "spec.scaleTargetRef.name"
}

// autoscaled reports whether an HPA of the snapshot targets the workload kind/ns/name.
func (s *snapshot) autoscaled(kind, ns, name string) bool {
	for i := range s.hpas {
		t := s.hpas[i].Spec.ScaleTargetRef
		if s.hpas[i].Namespace == ns && strings.EqualFold(t.Kind, kind) && t.Name == name {
			return true
		}
	}
	return false
}

// accountLookup is a ServiceAccount read directly: its image pull Secrets.
type accountLookup struct {
	found   bool
	secrets []string // imagePullSecrets
	err     error
}

// serviceAccount reads the ServiceAccount ns/name directly, once per call.
func (s *snapshot) serviceAccount(ns, name string) accountLookup {
	k := ns + "/" + name
	if l, ok := s.accounts[k]; ok {
		return l
	}
	if s.accounts == nil {
		s.accounts = map[string]accountLookup{}
	}
	var sa corev1.ServiceAccount
	var l accountLookup
	switch err := s.direct.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &sa); {
	case apierrors.IsNotFound(err):
	case err != nil:
		l.err = apiError(err, "get", objectRef("serviceaccount", ns, name))
	default:
		l.found = true
		for _, r := range sa.ImagePullSecrets {
			if r.Name != "" {
				l.secrets = append(l.secrets, r.Name)
			}
		}
	}
	s.accounts[k] = l
	return l
}

// podTemplate is the pod template p was made from: its ReplicaSet's (a Deployment's revision)
// or its workload's; nil for a pod without one in the snapshot.
func (s *snapshot) podTemplate(w *ownerWorkload) *corev1.PodSpec {
	switch {
	case w == nil:
		return nil
	case len(w.via) > 0:
		return s.specOf(w.via[0])
	}
	return s.specOf(w.ref)
}

// serviceAccountPullCause: a pod that cannot pull its image and takes its image pull Secrets
// from its ServiceAccount (its template names none; admission copies the account's into the
// pod): the account is the cause when it names a Secret that does not exist, or names none
// while the registry asks for credentials. nil otherwise (the pod names its own Secrets, or the
// image itself is the likelier cause).
func (s *snapshot) serviceAccountPullCause(p *corev1.Pod, w *ownerWorkload, image, message string, f *finding) *contract.Cause {
	name := p.Spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	low := strings.ToLower(message)
	refused := slices.ContainsFunc(authFailure, func(w string) bool { return strings.Contains(low, w) })
	acct := s.serviceAccount(p.Namespace, name)
	if acct.err != nil {
		if refused {
			f.evidence = append(f.evidence, "could not check the pod's service account: "+acct.err.Error())
		}
		return nil
	}
	if !acct.found {
		return nil
	}
	// Does the pod take its pull Secrets from the account? Its template names none, or (a pod
	// without a template) every one it has is the account's.
	if tmpl := s.podTemplate(w); tmpl != nil {
		if len(tmpl.ImagePullSecrets) > 0 {
			return nil
		}
	} else {
		for _, r := range p.Spec.ImagePullSecrets {
			if !slices.Contains(acct.secrets, r.Name) {
				return nil
			}
		}
	}
	object := objectRef("serviceaccount", p.Namespace, name)
	const field = "imagePullSecrets"
	quoted := fmt.Sprintf("pod %s: image %s: %s", p.Name, image, quoteMessage(message))
	takes := fmt.Sprintf("pod %s names no imagePullSecrets of its own and takes them from ServiceAccount %s", p.Name, name)
	var missing []string
	for _, sec := range acct.secrets {
		if l := s.keysOf("Secret", p.Namespace, sec); l.err == nil && !l.found {
			missing = append(missing, sec)
		}
	}
	switch {
	case len(missing) > 0:
		listed := strings.Join(acct.secrets, ", ")
		summary := fmt.Sprintf("%s, whose imagePullSecrets (%s) name %s %s that does not exist in namespace %s, so the kubelet pulls %s without those credentials",
			takes, listed, plural(len(missing), "Secret"), strings.Join(missing, ", "), p.Namespace, image)
		if refused {
			summary += " and the registry refuses it"
		}
		return &contract.Cause{Category: contract.ReferenceMissing, Object: object, Field: field, Summary: summary,
			Evidence: []string{quoted, fmt.Sprintf("%s %s: %s", object, field, listed), fmt.Sprintf("secret/%s/%s: not found", p.Namespace, missing[0])},
			Fix: &contract.Fix{Text: fmt.Sprintf("create the image pull Secret %s in namespace %s (type kubernetes.io/dockerconfigjson, with the registry's credentials), or correct %s of ServiceAccount %s; "+
				"admission copies the account's pull Secrets into new pods only, so restart %s afterwards", strings.Join(missing, ", "), p.Namespace, field, name, whose(p, w))}}
	case refused && len(acct.secrets) == 0:
		return &contract.Cause{Category: contract.RegistryAuth, Object: object, Field: field,
			Summary:  fmt.Sprintf("the registry asks for credentials to pull %s; %s, which lists none", image, takes),
			Evidence: []string{quoted, fmt.Sprintf("%s %s: <none>", object, field)},
			Fix: &contract.Fix{Text: fmt.Sprintf("add the registry's image pull Secret to %s of ServiceAccount %s (or to spec.imagePullSecrets of %s); "+
				"admission copies the account's pull Secrets into new pods only, so restart %s afterwards", field, name, whose(p, w), whose(p, w))}}
	}
	return nil
}

// accessModeWords: a provisioner's refusal that is about the claim's access mode ("Only support
// ReadWriteOnce access mode", "access mode ReadWriteMany is not supported").
// provisionerDenied: a provisioner's cloud refuses the driver's own identity.
var provisionerDenied = regexp.MustCompile(`(?i)AccessDenied|UnauthorizedOperation|not authorized to perform|AuthorizationFailed|PERMISSION_DENIED|\b403\b`)

// kmsWords name an encryption key a provider refuses.
var kmsWords = regexp.MustCompile(`(?i)\bKMS\b|encryption key|kmsKey|CMK\b|disk ?encryption ?set`)

// classParameterIn names the StorageClass parameter whose key or value the provisioner's message
// names ("InvalidKMSKey.InvalidState: The KMS key provided is not valid" and parameter kmsKeyId;
// a volume type the zone does not offer); "" when none.
func classParameterIn(sc *storagev1.StorageClass, msg string) string {
	low := strings.ToLower(msg)
	for _, k := range slices.Sorted(maps.Keys(sc.Parameters)) {
		v := sc.Parameters[k]
		camel := len(k) >= 8 && strings.ToLower(k) != k // kmsKeyId, iopsPerGB, skuName: not a common word
		if (len(v) >= 4 && strings.Contains(msg, v)) || (camel && strings.Contains(low, strings.ToLower(k))) {
			return k
		}
		if kmsWords.MatchString(k) && kmsWords.MatchString(msg) {
			return k
		}
	}
	return ""
}

var accessModeWords = regexp.MustCompile(`(?i)access ?modes?|ReadWriteMany|ReadOnlyMany|ReadWriteOncePod`)

// externalProvisioner reads the name of the provisioner a claim waits for: "waiting for a
// volume to be created either by the external provisioner 'ebs.csi.aws.com' or manually by the
// system administrator".
var externalProvisioner = regexp.MustCompile(`external provisioner '([^']+)'`)

// missingClassCause is the cause of claim c that names StorageClass class, which does not exist
// (have says which do): no provisioner is asked to create its volume.
func missingClassCause(c *corev1.PersistentVolumeClaim, class, have string) contract.Cause {
	claim := objectRef("persistentvolumeclaim", c.Namespace, c.Name)
	return contract.Cause{Category: contract.ReferenceMissing, Object: claim, Field: "spec.storageClassName",
		Summary:  fmt.Sprintf("claim %s names StorageClass %s, which does not exist (%s), so no provisioner creates its volume", c.Name, class, have),
		Evidence: []string{fmt.Sprintf("%s spec.storageClassName: %s", claim, class), fmt.Sprintf("storageclass/%s: not found", class)},
		Fix:      &contract.Fix{Text: fmt.Sprintf("create StorageClass %s, or recreate claim %s with a class that exists (%s; a claim's class cannot be changed)", class, c.Name, have)}}
}

// claimProvisionCause: a pending claim whose StorageClass does not exist, or whose
// StorageClass's provisioner does not create its volume: the cause names the StorageClass and
// its provisioner, says when no CSIDriver of that name is registered in the cluster (no CSI
// driver of that name runs), and quotes the provisioner's ProvisioningFailed message. nil when
// the claim names no class, or the class cannot be read.
func (s *snapshot) claimProvisionCause(c *corev1.PersistentVolumeClaim, class string, events []*corev1.Event, f *finding) *contract.Cause {
	if class == "" {
		return nil
	}
	claim := objectRef("persistentvolumeclaim", c.Namespace, c.Name)
	var sc storagev1.StorageClass
	if err := s.direct.Get(s.ctx, client.ObjectKey{Name: class}, &sc); apierrors.IsNotFound(err) {
		names, lerr := s.namesOf(schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "StorageClassList"}, "")
		mc := missingClassCause(c, class, existing("StorageClass", names, lerr, class))
		return &mc
	} else if err != nil {
		f.evidence = append(f.evidence, "could not check: "+apiError(err, "get", "storageclass "+class).Error())
		return nil
	}
	object := objectRef("storageclass", "", class)
	f.related = append(f.related, ref{Kind: "storageclass", Name: class})
	var failed, waiting *corev1.Event
	for _, e := range events {
		switch e.Reason {
		case "ProvisioningFailed":
			if failed == nil || eventLastSeen(failed).Before(eventLastSeen(e)) {
				failed = e
			}
		case "ExternalProvisioning":
			if waiting == nil || eventLastSeen(waiting).Before(eventLastSeen(e)) {
				waiting = e
			}
		}
	}
	provisioner := sc.Provisioner
	if waiting != nil {
		if m := externalProvisioner.FindStringSubmatch(waiting.Message); m != nil {
			provisioner = m[1]
		}
	}
	evidence := []string{fmt.Sprintf("%s provisioner: %s (claim %s)", object, sc.Provisioner, claim)}
	for _, e := range []*corev1.Event{failed, waiting} {
		if e != nil {
			evidence = append(evidence, fmt.Sprintf("claim %s event %s: %s", c.Name, e.Reason, quoteMessage(e.Message)))
		}
	}
	// In-tree provisioners (kubernetes.io/...) register no CSIDriver; others that run as CSI
	// drivers do.
	driver, driverState := true, ""
	if !strings.HasPrefix(provisioner, "kubernetes.io/") {
		var d storagev1.CSIDriver
		switch err := s.direct.Get(s.ctx, client.ObjectKey{Name: provisioner}, &d); {
		case apierrors.IsNotFound(err):
			driver = false
			names, lerr := s.namesOf(schema.GroupVersionKind{Group: "storage.k8s.io", Version: "v1", Kind: "CSIDriverList"}, "")
			driverState = fmt.Sprintf("no CSIDriver %s is registered in the cluster (%s), so no CSI driver of that name runs to create the volume", provisioner, existing("CSIDriver", names, lerr, provisioner))
			evidence = append(evidence, fmt.Sprintf("csidriver/%s: not found", provisioner))
		case apierrors.IsForbidden(err):
			driverState = fmt.Sprintf("whether a CSIDriver %s runs could not be checked: this server may not read CSIDrivers", provisioner)
			f.evidence = append(f.evidence, "could not check: "+apiError(err, "get", "csidriver "+provisioner).Error())
		case err != nil:
			driverState = fmt.Sprintf("whether a CSIDriver %s runs could not be checked", provisioner)
			f.evidence = append(f.evidence, "could not check: "+apiError(err, "get", "csidriver "+provisioner).Error())
		default:
			evidence = append(evidence, fmt.Sprintf("csidriver/%s: registered", provisioner))
		}
	}
	if failed == nil && waiting == nil && driver {
		return nil // nothing says the provisioner is at fault
	}
	cause := &contract.Cause{Object: object, Field: "provisioner", Evidence: evidence}
	switch {
	case failed != nil:
		// the provisioner runs and answers (whether or not it is a CSI driver): its word
		var modes []string
		for _, m := range c.Spec.AccessModes {
			modes = append(modes, string(m))
		}
		asks := fmt.Sprintf("the claim asks for access mode %s", orNone(strings.Join(modes, ", ")))
		if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			asks += " and " + q.String()
		}
		cause.Category = contract.DependencyUnreachable
		param := classParameterIn(&sc, failed.Message)
		switch {
		case accessModeWords.MatchString(failed.Message):
			cause.Category = contract.AccessModeUnsupported
			cause.Field = "spec.accessModes"
			cause.Object = claim
		case param != "":
			// the provider refuses a value of the class's parameters (an encryption key, a
			// volume type, an IOPS figure): the StorageClass is what is wrong
			cause.Category = contract.ApplicationConfig
			cause.Field = "parameters[" + param + "]"
			asks += fmt.Sprintf("; StorageClass %s parameters.%s: %s", class, param, sc.Parameters[param])
		case provisionerDenied.MatchString(failed.Message):
			cause.Category = contract.CredentialsRejected
		}
		cause.Summary = fmt.Sprintf("provisioner %s of StorageClass %s fails to create the volume of claim %s (%s): %s", provisioner, class, c.Name, asks, quoteMessage(failed.Message))
		cause.Fix = &contract.Fix{Text: fmt.Sprintf("correct what the provisioner %s says (the StorageClass %s's parameters, the claim's size or access mode, the driver's credentials), or use another StorageClass; the claim binds once a volume is created", provisioner, class)}
	case !driver:
		cause.Category = contract.ReferenceMissing
		cause.Summary = fmt.Sprintf("claim %s waits for StorageClass %s's provisioner %s to create its volume; %s", c.Name, class, provisioner, driverState)
		cause.Fix = &contract.Fix{Text: fmt.Sprintf("install the CSI driver %s (its controller creates the volumes of StorageClass %s), or recreate claim %s with a StorageClass whose provisioner runs in this cluster "+
			"(a non-CSI provisioner registers no CSIDriver: then check that its pods run)", provisioner, class, c.Name)}
	default:
		cause.Category = contract.DependencyUnreachable
		cause.Summary = fmt.Sprintf("claim %s waits for StorageClass %s's provisioner %s to create its volume, and it has not", c.Name, class, provisioner)
		if driverState != "" {
			cause.Summary += "; " + driverState
		}
		cause.Fix = &contract.Fix{Text: fmt.Sprintf("check that the controller of provisioner %s runs and reads this claim (its pods and logs); the claim binds once a volume is created", provisioner)}
	}
	return cause
}
