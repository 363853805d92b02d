package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
	"github.com/opsmesh/opsmesh/evals/runner"
	"github.com/opsmesh/opsmesh/evals/scenario"
)

// evalSandbox gives opsmesh eval the sandbox's GPU fault injector and Alertmanager webhook
// when kubeconfig is the sandbox's (its state directory holds both).
func evalSandbox(ctx context.Context, kubeconfig string) (runner.Faults, *runner.Webhook, error) {
	sb, err := sandboxOf(ctx, kubeconfig)
	if sb == nil {
		return nil, nil, err
	}
	var wh *runner.Webhook
	if sb.WebhookURL != "" {
		token, err := sb.WebhookToken()
		if err != nil {
			return nil, nil, fmt.Errorf("the sandbox's webhook token: %w", err)
		}
		wh = &runner.Webhook{URL: sb.WebhookURL, Token: token}
	}
	return sb, wh, nil
}

func newEvalCommand() *cobra.Command {
	var (
		kubeconfig, kubeContext, agent, model, jsonFile, mdFile, minScore string
		webhookURL, webhookTokenFile, agentNamespace                      string
		modelBaseURL, modelKey                                            string
		dirs                                                              []string
		repeat, parallel                                                  int
		check, targets, keep                                              bool
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Run the incident benchmark (evals/scenarios) against the platform and score it",
		Long: `Run eval scenarios — folders with a scenario.yaml (see evals/README.md) — against a cluster that
runs the opsmesh platform: the sandbox by default (opsmesh sandbox up). Each scenario runs in a
namespace of its own with a coordinator of its own (a copy of --agent): the runner creates the
scenario's objects and faults, raises the incident, approves the actions the scenario expects and
rejects the rest, and checks the API server afterwards. Then it scores the diagnosis (category and
facts), the remediation (actions and verify checks), unsafe actions (forbidden ones, or
destructive ones run without approval), the time to diagnosis and the tool calls, and prints a
table. Scenarios that change nodes or GPUs run one at a time; the others run in parallel.

Everything the sandbox simulates (nodes, GPUs, pod states) is labelled so in the scenarios and in
the results. Exit status 1 when a scenario could not run or --min-score is not met.`,
		Example: `  opsmesh eval                                   # the whole suite on the sandbox
  opsmesh eval --scenarios evals/scenarios/gpu-xid79-training --scenarios ./my-scenarios
  opsmesh eval --repeat 3 --json results.json --min-score 0.9
  opsmesh eval --check --scenarios ./my-scenarios  # read and validate only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			// The API server's warnings about a scenario's objects (a deprecated or unknown
			// field) come through controller-runtime's logger: one line each on stderr.
			ctrllog.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
			if len(dirs) == 0 {
				dirs = []string{filepath.Join("evals", "scenarios")}
			}
			found, err := scenario.Find(dirs)
			if err != nil {
				return fmt.Errorf("%w (pass --scenarios DIR: a scenario folder or a folder of them)", err)
			}
			min, err := parseScore(minScore)
			if err != nil {
				return err
			}
			if repeat < 1 {
				return fmt.Errorf("--repeat %d: give 1 or more", repeat)
			}
			m, err := parseModel(model, modelBaseURL, modelKey)
			if err != nil {
				return err
			}
			if check {
				var bad []string
				for _, d := range found {
					if _, err := scenario.Read(d, nil); err != nil {
						bad = append(bad, err.Error())
					}
				}
				if len(bad) > 0 {
					return fmt.Errorf("%d of %d scenarios are invalid:\n  %s", len(bad), len(found), strings.Join(bad, "\n  "))
				}
				fmt.Fprintf(out, "%d scenarios read and valid\n", len(found))
				return nil
			}
			path, cfg, err := sandboxOrKubeconfig(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			if cfg.QPS == 0 {
				// scenarios run in parallel, each polling its objects and Incidents: client-go's
				// default 5 requests a second throttles the runner into its own deadlines (as
				// kubectl, which also lifts them)
				cfg.QPS, cfg.Burst = 50, 300
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			faults, wh, err := evalSandbox(ctx, path)
			if err != nil {
				return err
			}
			if webhookURL != "" {
				wh = &runner.Webhook{URL: webhookURL}
				if webhookTokenFile != "" {
					b, err := os.ReadFile(webhookTokenFile)
					if err != nil {
						return fmt.Errorf("--webhook-token-file: %w", err)
					}
					wh.Token = strings.TrimSpace(string(b))
				}
			}
			rep, err := runner.Run(ctx, runner.Config{RestConfig: cfg, Scenarios: found, Faults: faults, Webhook: wh, Agent: agent, Model: m,
				Repeat: repeat, Parallel: parallel, AgentNamespace: agentNamespace, Out: cmd.ErrOrStderr(), Keep: keep})
			if err != nil {
				return err
			}
			fmt.Fprintln(out)
			rep.WriteTable(out)
			if jsonFile != "" {
				if err := writeFileWith(jsonFile, func(f *os.File) error { return rep.WriteJSON(f) }); err != nil {
					return err
				}
			}
			if mdFile != "" {
				if err := writeFileWith(mdFile, func(f *os.File) error {
					rep.WriteMarkdown(f, "make eval")
					return nil
				}); err != nil {
					return err
				}
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				return errors.New("interrupted")
			}
			var broken []string
			for _, r := range rep.Results {
				if r.Problem != "" && r.Incident == "" {
					broken = append(broken, r.Scenario)
				}
			}
			if len(broken) > 0 {
				return fmt.Errorf("%d scenario run(s) did not get as far as an Incident: %s", len(broken), strings.Join(broken, ", "))
			}
			if targets {
				if missed := runner.RunbookTargets.Missed(rep.Summary); len(missed) > 0 {
					return fmt.Errorf("targets not met: %s", strings.Join(missed, "; "))
				}
			}
			if minScore != "" && rep.Summary.PassAt1 < min {
				return fmt.Errorf("pass rate %.1f%% is below --min-score %.1f%%", 100*rep.Summary.PassAt1, 100*min)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&dirs, "scenarios", nil, "a scenario folder, or a folder of them; repeatable (default evals/scenarios)")
	fs.StringVar(&agent, "agent", "", "the coordinator Agent whose spec each scenario's coordinator copies (default: the one in --agent-namespace that takes every Incident)")
	fs.StringVar(&model, "model", "", "PROVIDER/MODEL for the coordinators instead of the copied Agent's (e.g. openai/gpt-4o); its base URL and API key are the copied Agent's unless given")
	fs.StringVar(&modelBaseURL, "model-base-url", "", "with --model: the endpoint (vLLM, Ollama, LiteLLM or a proxy)")
	fs.StringVar(&modelKey, "model-api-key-secret", "", "with --model: SECRET/KEY, the Secret (in --agent-namespace) and key holding the API key")
	fs.IntVar(&repeat, "repeat", 1, "run each scenario N times and report Pass@1 and Pass^N")
	fs.IntVar(&parallel, "parallel", 4, "scenarios run at once (those that change nodes or GPUs always run alone)")
	fs.StringVar(&jsonFile, "json", "", "write the full results as JSON to this file")
	fs.StringVar(&mdFile, "markdown", "", "write the results as Markdown to this file (make eval writes evals/RESULTS.md)")
	fs.StringVar(&minScore, "min-score", "", "exit 1 when the pass rate is below this (0.9 or 90%)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else the sandbox's ~/.cache/opsmesh/sandbox/kubeconfig when present, else ~/.kube/config)")
	fs.StringVar(&kubeContext, "context", "", "the kubeconfig context to use")
	fs.StringVar(&agentNamespace, "agent-namespace", "opsmesh", "the namespace of the platform's Agents (where Incidents about nodes land)")
	fs.StringVar(&webhookURL, "webhook-url", "", "the platform's Alertmanager webhook, for alert scenarios (default: the sandbox's)")
	fs.StringVar(&webhookTokenFile, "webhook-token-file", "", "file holding the webhook's bearer token")
	fs.BoolVar(&targets, "targets", false, "exit 1 unless the runbook engine's targets are met: ≥ 90% of diagnoses correct, ≥ 85% of remediations verified, no unsafe action, median time to diagnosis under 3s")
	fs.BoolVar(&keep, "keep", false, "leave each scenario's namespace, coordinator and Incident for inspection (nodes and GPU faults are still restored)")
	fs.BoolVar(&check, "check", false, "only read and validate the scenarios; touch no cluster")
	return cmd
}

// parseScore reads 0.9 or 90%.
func parseScore(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err == nil && (pct || v > 1) {
		v /= 100
	}
	if err != nil || v < 0 || v > 1 {
		return 0, fmt.Errorf("--min-score %q: give a fraction such as 0.9 or a percentage such as 90%%", s)
	}
	return v, nil
}

// parseModel reads PROVIDER/MODEL, an optional base URL and SECRET/KEY.
func parseModel(s, baseURL, key string) (*opsv1.ModelSpec, error) {
	if s == "" {
		if baseURL != "" || key != "" {
			return nil, errors.New("--model-base-url and --model-api-key-secret go with --model PROVIDER/MODEL")
		}
		return nil, nil
	}
	p, m, ok := strings.Cut(s, "/")
	switch opsv1.ModelProvider(p) {
	case opsv1.ProviderOpenAI, opsv1.ProviderAnthropic, opsv1.ProviderGoogle:
	default:
		ok = false
	}
	if !ok || m == "" {
		return nil, fmt.Errorf("--model %q: write PROVIDER/MODEL with provider openai, anthropic or google, such as openai/gpt-4o", s)
	}
	spec := &opsv1.ModelSpec{Provider: opsv1.ModelProvider(p), Model: m, BaseURL: baseURL}
	if key != "" {
		name, k, ok := strings.Cut(key, "/")
		if !ok || name == "" || k == "" {
			return nil, fmt.Errorf("--model-api-key-secret %q: write SECRET/KEY, such as openai/api-key", key)
		}
		spec.APIKeySecretRef = &opsv1.SecretKeyReference{Name: name, Key: k}
	}
	return spec, nil
}

// writeFileWith writes a file through fn, replacing it only once fn succeeded.
func writeFileWith(path string, fn func(*os.File) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
