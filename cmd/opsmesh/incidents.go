package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/agents/runbook"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/controller/approval"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

// kubeFlags are kubectl's flags for reaching the API: --kubeconfig, --context, -n/--namespace.
type kubeFlags struct {
	kubeconfig  string
	kubeContext string
	namespace   string
}

func (k *kubeFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&k.kubeContext, "context", "", "the kubeconfig context to use")
	fs.StringVarP(&k.namespace, "namespace", "n", "", "the namespace (default: the kubeconfig context's, else default)")
}

// client is a client of the API with the opsmesh kinds, and the namespace to work in.
func (k *kubeFlags) client() (client.Client, string, error) {
	c, _, ns, err := k.clientAndConfig()
	return c, ns, err
}

// clientAndConfig is client with the REST configuration it was made from.
func (k *kubeFlags) clientAndConfig() (client.Client, *rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{
		CurrentContext: k.kubeContext, Context: clientcmdapi.Context{Namespace: k.namespace}})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, nil, "", fmt.Errorf("loading the Kubernetes configuration: %w (use --kubeconfig, or run inside a pod)", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, nil, "", fmt.Errorf("the kubeconfig's namespace: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: gateway.Scheme()})
	if err != nil {
		return nil, nil, "", fmt.Errorf("connecting to the API server: %w", err)
	}
	return c, cfg, ns, nil
}

func newIncidentsCommand() *cobra.Command {
	var k kubeFlags
	cmd := &cobra.Command{
		Use:     "incidents",
		Aliases: []string{"incident"},
		Short:   "Raise, list, show, approve and reject Incidents",
		Long: `Raise an Incident by hand, list Incidents and show one (phase, root cause, remediation actions
with their id, state and risk, approvals, timeline), and approve or reject the actions that wait
for approval; the controller runs approved actions. Like kubectl, the namespace is -n, else the
kubeconfig context's.`,
		Args: cobra.NoArgs,
	}
	k.register(cmd)
	cmd.AddCommand(newIncidentsCreateCommand(&k), newIncidentsListCommand(&k), newIncidentsGetCommand(&k),
		newDecideCommand(&k, "approve", opsv1.DecisionApproved), newDecideCommand(&k, "reject", opsv1.DecisionRejected))
	return cmd
}

// newApproveCommand is `opsmesh approve`, the short form of `opsmesh incidents approve`.
func newApproveCommand() *cobra.Command {
	var k kubeFlags
	cmd := newDecideCommand(&k, "approve", opsv1.DecisionApproved)
	k.register(cmd)
	return cmd
}

// parseTarget reads --target: kind/namespace/name, or kind/name for a cluster-scoped kind (a
// node), the kind resolved as kubectl does (deploy, po, pvc, a CRD's short name) by kinds, the
// cluster's discovery.
func parseTarget(ctx context.Context, kinds runbook.Kinds, s string) (*opsv1.TargetReference, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || strings.TrimSpace(parts[0]) == "" {
		return nil, fmt.Errorf("--target %q: give kind/namespace/name, or node/name", s)
	}
	gvk, _, namespaced, err := kinds.ResolveKind(ctx, parts[0])
	switch {
	case meta.IsNoMatchError(err):
		return nil, fmt.Errorf("--target %q: unknown kind %q: this cluster serves no such resource (kubectl api-resources lists the kinds it serves)", s, parts[0])
	case err != nil:
		return nil, fmt.Errorf("--target %q: %w", s, err)
	}
	ref := opsv1.TargetReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
	switch {
	case !namespaced && len(parts) == 2:
		ref.Name = parts[1]
	case namespaced && len(parts) == 3:
		ref.Namespace, ref.Name = parts[1], parts[2]
	case !namespaced:
		return nil, fmt.Errorf("--target %q: a %s is cluster-scoped: name it as %s/<name>", s, gvk.Kind, strings.ToLower(parts[0]))
	default:
		return nil, fmt.Errorf("--target %q: name the object as %s/<namespace>/<name>", s, strings.ToLower(parts[0]))
	}
	if namespaced {
		if errs := validation.IsDNS1123Label(ref.Namespace); len(errs) > 0 {
			return nil, fmt.Errorf("--target %q: namespace %q: %s", s, ref.Namespace, strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1123Subdomain(ref.Name); len(errs) > 0 {
		return nil, fmt.Errorf("--target %q: name %q: %s", s, ref.Name, strings.Join(errs, "; "))
	}
	return &ref, nil
}

// parseLabels reads --label k=v values.
func parseLabels(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--label %q: write it as key=value", kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("--label %q: key %q: %s", kv, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("--label %q: value %q: %s", kv, v, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

func newIncidentsCreateCommand(k *kubeFlags) *cobra.Command {
	var (
		name, summary, target, severity, question, coordinator string
		labels                                                 []string
	)
	cmd := &cobra.Command{
		Use:   "create --summary TEXT",
		Short: "Raise an Incident by hand (source manual) and print its name",
		Example: `  opsmesh incidents create -n ml --summary "trainer pods crash" --target deployment/ml/trainer --severity critical
  opsmesh incidents create --summary "is gpu-7 healthy?" --target node/gpu-7 --question "why do jobs fail on gpu-7?"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(summary) == "" {
				return errors.New("--summary is required: say what is wrong in one line")
			}
			inc := &opsv1.Incident{Spec: opsv1.IncidentSpec{Summary: summary, Question: question, Coordinator: coordinator,
				Source: opsv1.IncidentSource{Type: opsv1.SourceManual}}}
			switch opsv1.Severity(severity) {
			case opsv1.SeverityCritical, opsv1.SeverityWarning, opsv1.SeverityInfo:
				inc.Spec.Severity = opsv1.Severity(severity)
			default:
				return fmt.Errorf("--severity %q: use critical, warning or info", severity)
			}
			c, cfg, ns, err := k.clientAndConfig()
			if err != nil {
				return err
			}
			if target != "" {
				kinds, err := kubeaccess.NewShared(cmd.Context(), cfg, nil, nil)
				if err != nil {
					return err
				}
				t, err := parseTarget(cmd.Context(), kinds, target)
				if err != nil {
					return err
				}
				inc.Spec.Target = t
			}
			l, err := parseLabels(labels)
			if err != nil {
				return err
			}
			inc.Labels = l
			if name != "" {
				if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
					return fmt.Errorf("--name %q: %s", name, strings.Join(errs, "; "))
				}
				inc.Name = name
			} else {
				inc.GenerateName = "manual-"
			}
			inc.Namespace = ns
			if err := c.Create(cmd.Context(), inc); err != nil {
				return fmt.Errorf("creating the Incident in namespace %s: %w", ns, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), inc.Name)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&summary, "summary", "", "what is wrong, in one line (required)")
	fs.StringVar(&target, "target", "", "the object it is about: kind/namespace/name, or node/name")
	fs.StringVar(&severity, "severity", string(opsv1.SeverityWarning), "critical, warning or info")
	fs.StringVar(&question, "question", "", "what you want to know, in words")
	fs.StringVar(&coordinator, "coordinator", "", "the coordinator Agent to handle it (default: the controller picks one by its incidentSelector)")
	fs.StringArrayVar(&labels, "label", nil, "a label key=value (repeatable); coordinators choose incidents by label")
	fs.StringVar(&name, "name", "", "the Incident's name (default: manual-<random>)")
	return cmd
}

func checkOutput(o string) error {
	switch o {
	case "table", "yaml", "json":
		return nil
	}
	return fmt.Errorf("--output %q is not supported; use table, yaml or json", o)
}

// printObject writes obj as YAML or JSON, without managedFields (as kubectl does).
func printObject(w io.Writer, format string, obj any) error {
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newIncidentsListCommand(k *kubeFlags) *cobra.Command {
	var (
		all    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List Incidents, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			var list opsv1.IncidentList
			if err := listIn(cmd.Context(), c, &list, ns, all, "Incidents"); err != nil {
				return err
			}
			gateway.SortIncidents(list.Items)
			w := cmd.OutOrStdout()
			if output != "table" {
				out := &opsv1.IncidentList{TypeMeta: metav1.TypeMeta{APIVersion: opsv1.GroupVersion.String(), Kind: "IncidentList"}}
				for i := range list.Items {
					out.Items = append(out.Items, *printable(&list.Items[i], "Incident"))
				}
				return printObject(w, output, out)
			}
			if len(list.Items) == 0 {
				where := "namespace " + ns
				if all {
					where = "any namespace"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "No Incidents in %s.\n", where)
				return nil
			}
			header := gateway.IncidentHeader
			if !all {
				header = header[1:]
			}
			t := mcptool.Table{Header: header}
			now := time.Now()
			for i := range list.Items {
				row := gateway.IncidentRow(&list.Items[i], now)
				if !all {
					row = row[1:]
				}
				t.Add(row...)
			}
			_, err = io.WriteString(w, t.Render(1<<30))
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Incidents of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, yaml or json")
	return cmd
}

// getIncident reads an Incident; when it does not exist the error lists those that do.
func getIncident(ctx context.Context, c client.Client, ns, name string) (*opsv1.Incident, error) {
	var inc opsv1.Incident
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &inc)
	if err == nil {
		return &inc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Incident %s/%s: %w", ns, name, err)
	}
	var list opsv1.IncidentList
	if lerr := c.List(ctx, &list, client.InNamespace(ns)); lerr != nil {
		return nil, fmt.Errorf("Incident %s/%s not found", ns, name)
	}
	var names []string
	for _, i := range list.Items {
		names = append(names, i.Name)
	}
	sort.Strings(names)
	have := "none"
	if len(names) > 0 {
		have = strings.Join(names, ", ")
	}
	return nil, fmt.Errorf("Incident %s not found in namespace %s; its Incidents: %s (another namespace: -n, or list all with opsmesh incidents list -A)", name, ns, have)
}

func newIncidentsGetCommand(k *kubeFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show an Incident: phase, root cause, actions with ids, states and risks, approvals, timeline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			inc, err := getIncident(cmd.Context(), c, ns, args[0])
			if err != nil {
				return err
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, printable(inc, "Incident"))
			}
			_, err = io.WriteString(cmd.OutOrStdout(), gateway.DescribeIncident(inc, time.Now(), 0))
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, yaml or json")
	return cmd
}

// newDecideCommand is approve or reject: it records decision d on an Incident's actions.
func newDecideCommand(k *kubeFlags, verb string, d opsv1.ApprovalDecision) *cobra.Command {
	var (
		reason, asUser string
		wait           bool
		timeout        time.Duration
	)
	cmd := &cobra.Command{
		Use:   verb + " INCIDENT [ACTION]",
		Short: fmt.Sprintf("%s an Incident's action (or every action waiting for approval)", strings.ToUpper(verb[:1])+verb[1:]),
		Long: fmt.Sprintf(`Record that you %s an action of an Incident that waits for approval, or every such action
when ACTION is left out (see the ids with opsmesh incidents get). You are who the API server
says (SelfSubjectReview, as kubectl auth whoami), unless --as-user names you. The controller
then moves the action on; --wait waits for that and prints the outcome.`, verb),
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: give a positive duration, such as 5m", timeout)
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			inc, err := getIncident(ctx, c, ns, args[0])
			if err != nil {
				return err
			}
			action := ""
			if len(args) == 2 {
				action = args[1]
			}
			ids, err := inc.PendingApprovals(action)
			if err != nil {
				return err
			}
			who := asUser
			if who == "" {
				if who, err = approval.WhoAmI(ctx, c); err != nil {
					return err
				}
			}
			out, err := approval.Decide(ctx, c, types.NamespacedName{Namespace: ns, Name: inc.Name}, action, d, who, reason)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, a := range out.Status.Actions {
				if slices.Contains(ids, a.ID) {
					fmt.Fprintf(w, "Incident %s/%s: action %s (%s, %s) %s by %s\n", ns, inc.Name, a.ID, a.Tool, a.Risk, strings.ToLower(string(d)), who)
				}
			}
			if !wait {
				return nil
			}
			return waitForActions(ctx, c, w, types.NamespacedName{Namespace: ns, Name: inc.Name}, ids, timeout)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&reason, "reason", "", "why, recorded with the decision")
	fs.StringVar(&asUser, "as-user", "", "record the decision as this user (default: who the API server says you are)")
	fs.BoolVar(&wait, "wait", false, "wait until the controller has moved the action(s) on, and print the outcome")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")
	return cmd
}

// waitForActions polls the Incident until none of ids is AwaitingApproval or Approved (or the
// incident is finished), printing each action's outcome.
func waitForActions(ctx context.Context, c client.Client, w io.Writer, key types.NamespacedName, ids []string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	still := "actions waiting"
	for {
		var inc opsv1.Incident
		if err := c.Get(ctx, key, &inc); err != nil {
			return fmt.Errorf("reading Incident %s: %w", key, err)
		}
		{
			var waiting []string
			for _, a := range inc.Status.Actions {
				if slices.Contains(ids, a.ID) && (a.State == opsv1.ActionAwaitingApproval || a.State == opsv1.ActionApproved || a.State == opsv1.ActionRunning) {
					waiting = append(waiting, fmt.Sprintf("%s (%s)", a.ID, a.State))
				}
			}
			if len(waiting) == 0 || inc.Status.Phase.Terminal() {
				for _, a := range inc.Status.Actions {
					if slices.Contains(ids, a.ID) {
						line := fmt.Sprintf("action %s: %s", a.ID, a.State)
						if a.Message != "" {
							line += ": " + a.Message
						}
						fmt.Fprintln(w, line)
					}
				}
				fmt.Fprintf(w, "Incident %s: %s\n", key, phaseOrPending(inc.Status.Phase))
				return nil
			}
			still = strings.Join(waiting, ", ")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("after %s, Incident %s still has %s: is the opsmesh controller running? (opsmesh incidents get %s -n %s)", timeout, key, still, key.Name, key.Namespace)
		case <-tick.C:
		}
	}
}

func phaseOrPending(p opsv1.IncidentPhase) string {
	if p == "" {
		return "Pending"
	}
	return string(p)
}
