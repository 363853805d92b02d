package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func newAgentsCommand() *cobra.Command {
	var k kubeFlags
	cmd := &cobra.Command{
		Use:     "agents",
		Aliases: []string{"agent"},
		Short:   "List and describe Agents",
		Long: `List Agents with their role, readiness, reasoning engine and tools, and describe one: its
tools and allowlists, delegates, remediation policy, where it is served and its conditions. Like
kubectl, the namespace is -n, else the kubeconfig context's; -o yaml|json prints the objects.`,
		Args: cobra.NoArgs,
	}
	k.register(cmd)
	cmd.AddCommand(newAgentsListCommand(&k), newAgentsDescribeCommand(&k))
	return cmd
}

// readyWord is a Ready condition as kubectl get shows it: True, False (reason) or Unknown.
func readyWord(conds []metav1.Condition) string {
	c := meta.FindStatusCondition(conds, opsv1.ConditionReady)
	if c == nil {
		return "Unknown"
	}
	if c.Status == metav1.ConditionTrue {
		return "True"
	}
	if c.Reason != "" {
		return string(c.Status) + " (" + c.Reason + ")"
	}
	return string(c.Status)
}

func reasoningOf(a *opsv1.Agent) string {
	switch {
	case a.Status.Reasoning != "":
		return a.Status.Reasoning
	case a.Spec.Model != nil:
		return string(a.Spec.Model.Provider) + "/" + a.Spec.Model.Model
	}
	return "runbook"
}

func newAgentsListCommand(k *kubeFlags) *cobra.Command {
	var (
		all    bool
		output string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List Agents",
		Example: "  opsmesh agents list -n opsmesh\n  opsmesh agents list -A -o yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			var list opsv1.AgentList
			if err := listIn(cmd.Context(), c, &list, ns, all, "Agents"); err != nil {
				return err
			}
			sort.Slice(list.Items, func(i, j int) bool {
				a, b := list.Items[i], list.Items[j]
				return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
			})
			w := cmd.OutOrStdout()
			if output != "table" {
				out := &opsv1.AgentList{TypeMeta: metav1.TypeMeta{APIVersion: opsv1.GroupVersion.String(), Kind: "AgentList"}}
				for i := range list.Items {
					out.Items = append(out.Items, *printable(&list.Items[i], "Agent"))
				}
				return printObject(w, output, out)
			}
			if len(list.Items) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "No Agents in %s.\n", whereWord(all, ns))
				return nil
			}
			header := []string{"NAMESPACE", "NAME", "ROLE", "READY", "REASONING", "TOOLS", "DELEGATES", "AGE"}
			if !all {
				header = header[1:]
			}
			t := mcptool.Table{Header: header}
			now := time.Now()
			for i := range list.Items {
				a := &list.Items[i]
				row := []string{a.Namespace, a.Name, string(a.Spec.Role), readyWord(a.Status.Conditions), reasoningOf(a),
					fmt.Sprint(a.Status.ToolCount), fmt.Sprint(len(a.Spec.Delegates)), gateway.Age(a.CreationTimestamp.Time, now)}
				if !all {
					row = row[1:]
				}
				t.Add(row...)
			}
			_, err = io.WriteString(w, t.Render(1<<30))
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Agents of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, yaml or json")
	return cmd
}

func whereWord(all bool, ns string) string {
	if all {
		return "any namespace"
	}
	return "namespace " + ns
}

func newAgentsDescribeCommand(k *kubeFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "describe NAME",
		Short:   "Describe an Agent: tools, delegates, policy, where it is served, conditions",
		Example: "  opsmesh agents describe incident-coordinator -n opsmesh",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			var a opsv1.Agent
			if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: args[0]}, &a); err != nil {
				if apierrors.IsNotFound(err) {
					var list opsv1.AgentList
					_ = c.List(cmd.Context(), &list, client.InNamespace(ns))
					var names []string
					for _, x := range list.Items {
						names = append(names, x.Name)
					}
					if len(names) == 0 {
						return fmt.Errorf("Agent %s/%s not found; namespace %s has no Agents (opsmesh agents list -A shows every namespace's)", ns, args[0], ns)
					}
					return fmt.Errorf("Agent %s/%s not found; Agents in %s: %s", ns, args[0], ns, strings.Join(names, ", "))
				}
				return fmt.Errorf("reading Agent %s/%s: %w", ns, args[0], err)
			}
			if output != "table" {
				return printObject(cmd.OutOrStdout(), output, printable(&a, "Agent"))
			}
			_, err = io.WriteString(cmd.OutOrStdout(), describeAgent(&a, time.Now()))
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, yaml or json")
	return cmd
}

// describeAgent is kubectl describe's layout for an Agent.
func describeAgent(a *opsv1.Agent, now time.Time) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s %s\n", k+":", v)
		}
	}
	line("Name", a.Name)
	line("Namespace", a.Namespace)
	line("Role", string(a.Spec.Role))
	line("Description", a.Spec.Description)
	line("Reasoning", reasoningOf(a))
	if m := a.Spec.Model; m != nil && m.BaseURL != "" {
		line("Model URL", m.BaseURL)
	}
	line("Ready", readyWord(a.Status.Conditions))
	line("Subject", a.Status.Subject)
	line("Runtime", a.Status.Runtime)
	if a.Spec.Remediation != nil {
		p := string(a.Spec.Remediation.Mode)
		if len(a.Spec.Remediation.AutoClasses) > 0 {
			p += " (automatic: " + strings.Join(a.Spec.Remediation.AutoClasses, ", ") + ")"
		}
		line("Remediation", p)
	}
	line("Age", gateway.Age(a.CreationTimestamp.Time, now))
	if len(a.Spec.Tools) > 0 {
		b.WriteString("Tools:\n")
		t := mcptool.Table{Header: []string{"  TOOLSERVER", "ALLOWED", "NEEDS APPROVAL"}}
		for _, g := range a.Spec.Tools {
			appr := strings.Join(g.RequireApproval, ", ")
			if appr == "" {
				appr = "-"
			}
			t.Add("  "+g.ToolServer, strings.Join(g.AllowedTools, ", "), appr)
		}
		b.WriteString(t.Render(1 << 30))
	}
	if len(a.Spec.Delegates) > 0 {
		var ds []string
		for _, d := range a.Spec.Delegates {
			ds = append(ds, d.Name)
		}
		line("Delegates", strings.Join(ds, ", "))
	}
	if len(a.Status.Conditions) > 0 {
		b.WriteString("Conditions:\n")
		t := mcptool.Table{Header: []string{"  TYPE", "STATUS", "REASON", "MESSAGE"}}
		for _, c := range a.Status.Conditions {
			t.Add("  "+c.Type, string(c.Status), c.Reason, c.Message)
		}
		b.WriteString(t.Render(1 << 30))
	}
	return b.String()
}
