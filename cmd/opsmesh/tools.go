package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/mark3labs/mcp-go/server"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/agents/kubehost"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/gateway"
	"github.com/opsmesh/opsmesh/mcpservers/mcptool"
)

func newToolsCommand() *cobra.Command {
	var k kubeFlags
	cmd := &cobra.Command{
		Use:     "tools",
		Aliases: []string{"tool"},
		Short:   "List ToolServers and their tools, and call a tool",
		Long: `List the ToolServers of a namespace, or the tools one serves (from its status, as the
ToolServer reconciler discovered them), and call one tool through the same MCP client pool the
agents use. A builtin ToolServer (cluster, gpu, scheduler) is served inside this command with your
own Kubernetes credentials; any other is reached at its URL or Service. A ToolServer's
spec.readOnly is honoured, and a tool that changes the cluster runs only with --write.`,
		Args: cobra.NoArgs,
	}
	k.register(cmd)
	cmd.AddCommand(newToolsListCommand(&k), newToolsCallCommand(&k))
	return cmd
}

func getToolServer(cmd *cobra.Command, c client.Client, ns, name string) (*opsv1.ToolServer, error) {
	var ts opsv1.ToolServer
	if err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: name}, &ts); err != nil {
		if apierrors.IsNotFound(err) {
			var list opsv1.ToolServerList
			_ = c.List(cmd.Context(), &list, client.InNamespace(ns))
			var names []string
			for _, x := range list.Items {
				names = append(names, x.Name)
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("ToolServer %s/%s not found; namespace %s has no ToolServers (opsmesh tools list -A shows every namespace's)", ns, name, ns)
			}
			return nil, fmt.Errorf("ToolServer %s/%s not found; ToolServers in %s: %s", ns, name, ns, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("reading ToolServer %s/%s: %w", ns, name, err)
	}
	return &ts, nil
}

func effectWord(t opsv1.DiscoveredTool) string {
	switch {
	case t.ReadOnly:
		return "read"
	case t.Destructive:
		return "destructive"
	}
	return "write"
}

func newToolsListCommand(k *kubeFlags) *cobra.Command {
	var (
		all    bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "list [TOOLSERVER]",
		Short: "List ToolServers, or the tools of one",
		Example: `  opsmesh tools list -n opsmesh
  opsmesh tools list cluster-tools -n opsmesh
  opsmesh tools list cluster-tools -n opsmesh -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, ns, err := k.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				ts, err := getToolServer(cmd, c, ns, args[0])
				if err != nil {
					return err
				}
				if output != "table" {
					tools := ts.Status.Tools
					if tools == nil {
						tools = []opsv1.DiscoveredTool{}
					}
					return printObject(w, output, tools)
				}
				if len(ts.Status.Tools) == 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "ToolServer %s/%s lists no tools yet (Ready: %s).\n", ns, ts.Name, readyWord(ts.Status.Conditions))
					return nil
				}
				t := mcptool.Table{Header: []string{"TOOL", "EFFECT", "DESCRIPTION"}}
				for _, tool := range ts.Status.Tools {
					t.Add(tool.Name, effectWord(tool), tool.Description)
				}
				_, err = io.WriteString(w, t.Render(1<<30))
				return err
			}
			var list opsv1.ToolServerList
			if err := listIn(cmd.Context(), c, &list, ns, all, "ToolServers"); err != nil {
				return err
			}
			sort.Slice(list.Items, func(i, j int) bool {
				a, b := list.Items[i], list.Items[j]
				return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
			})
			if output != "table" {
				out := &opsv1.ToolServerList{TypeMeta: metav1.TypeMeta{APIVersion: opsv1.GroupVersion.String(), Kind: "ToolServerList"}}
				for i := range list.Items {
					out.Items = append(out.Items, *printable(&list.Items[i], "ToolServer"))
				}
				return printObject(w, output, out)
			}
			if len(list.Items) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "No ToolServers in %s.\n", whereWord(all, ns))
				return nil
			}
			header := []string{"NAMESPACE", "NAME", "TYPE", "READ-ONLY", "READY", "TOOLS", "AGE"}
			if !all {
				header = header[1:]
			}
			t := mcptool.Table{Header: header}
			now := time.Now()
			for i := range list.Items {
				ts := &list.Items[i]
				typ := string(ts.Spec.Type)
				if ts.Spec.Builtin != nil {
					typ += "/" + string(ts.Spec.Builtin.Server)
				}
				row := []string{ts.Namespace, ts.Name, typ, fmt.Sprint(ts.Spec.IsReadOnly()), readyWord(ts.Status.Conditions),
					fmt.Sprint(len(ts.Status.Tools)), gateway.Age(ts.CreationTimestamp.Time, now)}
				if !all {
					row = row[1:]
				}
				t.Add(row...)
			}
			_, err = io.WriteString(w, t.Render(1<<30))
			return err
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the ToolServers of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, yaml or json")
	return cmd
}

// parseToolArgs merges --args (a JSON object) with --arg k=v pairs (v parsed as JSON when it
// parses: a number, boolean, null, array, object or quoted string; else v itself as a string).
// --arg wins over --args.
func parseToolArgs(argsJSON string, pairs []string) (map[string]any, error) {
	out := map[string]any{}
	if strings.TrimSpace(argsJSON) != "" {
		if err := json.Unmarshal([]byte(argsJSON), &out); err != nil || out == nil {
			why := "null"
			if err != nil {
				why = err.Error()
			}
			return nil, fmt.Errorf("--args must be one JSON object, such as '{\"namespace\":\"default\"}' (got %s)", why)
		}
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--arg %q: give NAME=VALUE, such as --arg namespace=default", p)
		}
		var parsed any
		if err := json.Unmarshal([]byte(v), &parsed); err == nil {
			out[k] = parsed
		} else {
			out[k] = v
		}
	}
	return out, nil
}

func newToolsCallCommand(k *kubeFlags) *cobra.Command {
	var (
		argsJSON string
		pairs    []string
		write    bool
		timeout  time.Duration
		output   string
	)
	cmd := &cobra.Command{
		Use:   "call TOOLSERVER TOOL",
		Short: "Call one tool of a ToolServer and print its result",
		Example: `  opsmesh tools call cluster-tools resources_list -n opsmesh --arg kind=Pod --arg namespace=default
  opsmesh tools call cluster-tools analyze -n opsmesh --args '{"namespace":"shop"}'
  opsmesh tools call cluster-tools node_cordon -n opsmesh --arg name=gpu-7 --write
  opsmesh tools call scheduler-tools explain_pending -n opsmesh --arg namespace=ml --arg name=train-0 -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" && output != "yaml" {
				return fmt.Errorf("--output %q is not supported; use text (the tool's text), json or yaml (its structured content)", output)
			}
			toolArgs, err := parseToolArgs(argsJSON, pairs)
			if err != nil {
				return err
			}
			c, cfg, ns, err := k.clientAndConfig()
			if err != nil {
				return err
			}
			ts, err := getToolServer(cmd, c, ns, args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			builtins := map[opsv1.BuiltinServer]*server.MCPServer{}
			if ts.Spec.Type == opsv1.ToolServerBuiltin {
				// The in-process servers' caches log through controller-runtime: keep them quiet.
				ctrllog.SetLogger(logr.Discard())
				if builtins, err = kubehost.Builtins(ctx, cfg, kubehost.BuiltinOptions{Version: version, Logger: slog.New(slog.DiscardHandler)}); err != nil {
					return err
				}
			}
			ep, err := kubehost.Endpoint(ctx, c, ts, builtins, 0)
			if err != nil {
				return err
			}
			pool, err := mcppool.New([]mcppool.Endpoint{ep}, mcppool.Options{CallTimeout: timeout})
			if err != nil {
				return err
			}
			defer pool.Close()
			set := pool.Toolset([]mcppool.Grant{{Server: ts.Name, Endpoint: ep.Name, Allowed: []string{args[1]}}})
			if write {
				set = set.WithWrites()
			}
			res, err := set.Call(ctx, ts.Name, args[1], toolArgs)
			if err != nil {
				if strings.Contains(err.Error(), "is not served") && ts.Spec.IsReadOnly() {
					return fmt.Errorf("%w (ToolServer %s/%s is read-only: it serves only tools that change nothing; opsmesh tools list %s -n %s shows them)", err, ns, ts.Name, ts.Name, ns)
				}
				if strings.Contains(err.Error(), "changes the cluster") {
					return fmt.Errorf("tool %s of ToolServer %s/%s changes the cluster; run it again with --write to do that", args[1], ns, ts.Name)
				}
				return err
			}
			text := strings.TrimRight(res.Text, "\n") + "\n"
			if res.IsError {
				fmt.Fprint(cmd.ErrOrStderr(), text)
				return fmt.Errorf("tool %s of ToolServer %s/%s answered with an error", args[1], ns, ts.Name)
			}
			if output == "text" {
				_, err = io.WriteString(cmd.OutOrStdout(), text)
				return err
			}
			var v any
			if err := res.Decode(&v); err != nil {
				return fmt.Errorf("tool %s of ToolServer %s/%s: %w; use -o text", args[1], ns, ts.Name, err)
			}
			return printObject(cmd.OutOrStdout(), output, v)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text (the tool's answer for people and models), or json or yaml (its structured content, for programs)")
	cmd.Flags().StringVar(&argsJSON, "args", "", "the tool's arguments as one JSON object")
	cmd.Flags().StringArrayVar(&pairs, "arg", nil, "one argument NAME=VALUE (repeatable; VALUE is JSON when it parses as JSON, so --arg limit=5 is a number and --arg name='\"5\"' a string; else a string)")
	cmd.Flags().BoolVar(&write, "write", false, "allow a tool that changes the cluster (never on a read-only ToolServer)")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "bound on the call")
	return cmd
}
