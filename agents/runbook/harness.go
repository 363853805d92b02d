package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
	"github.com/opsmesh/opsmesh/api/contract"
	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// investigation is the state of one Diagnose call.
type investigation struct {
	e        *Engine
	ctx      context.Context
	where    map[string]string       // read-only tool name -> server that serves it
	writes   map[string]mcppool.Tool // write tool name -> the tool, for the plan
	d        *diagnosis.Diagnosis
	schemas  map[string]json.RawMessage // tool name -> its input schema
	answers  map[string]answer          // tool name + arguments -> the answer (call)
	findings []contract.Finding         // the analyzers' findings, as analyze gave them
	gpuPods  []contract.GPUPod          // the subject's pods that hold GPUs, when they are what led to the GPUs
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// note adds a note, once.
func (inv *investigation) note(format string, a ...any) {
	if n := fmt.Sprintf(format, a...); !slices.Contains(inv.d.Notes, n) {
		inv.d.Notes = append(inv.d.Notes, n)
	}
}

// call runs a tool when the agent has it; ok is false (with a note) when it has not or the call
// failed.
//
// The engine only reads, so one investigation asks each question once: the same call again
// (the owner's spec read for its settings, then its field's value) gets the first answer.
func (inv *investigation) call(tool string, args map[string]any) (mcppool.Result, bool) {
	server, ok := inv.where[tool]
	if !ok {
		return mcppool.Result{}, false
	}
	key, err := json.Marshal(args) // map keys in order
	if err == nil {
		if a, seen := inv.answers[tool+string(key)]; seen {
			return a.res, a.ok
		}
	}
	res, ok := inv.callOnce(server, tool, args)
	if err == nil {
		inv.answers[tool+string(key)] = answer{res, ok}
	}
	return res, ok
}

// answer is a tool's answer to one call, kept for the rest of the investigation.
type answer struct {
	res mcppool.Result
	ok  bool
}

func (inv *investigation) callOnce(server, tool string, args map[string]any) (mcppool.Result, bool) {
	inv.d.ToolCalls++
	res, err := inv.e.tools.Call(inv.ctx, server, tool, args)
	if err != nil {
		inv.note("%s failed: %v", tool, err)
		return mcppool.Result{}, false
	}
	if res.IsError {
		inv.note("%s answered an error: %s", tool, firstLine(res.Text))
		return mcppool.Result{}, false
	}
	return res, true
}

// callData runs a tool and decodes its structured content — the tool's type of package
// api/contract — into v; ok is false (with a note) when the agent lacks the tool, the call failed
// or the answer carries no content of that type.
func (inv *investigation) callData(tool string, args map[string]any, v any) bool {
	res, ok := inv.call(tool, args)
	if !ok {
		return false
	}
	if err := res.Decode(v); err != nil {
		inv.note("%s: %v", tool, err)
		return false
	}
	return true
}

// typed converts the string values of args (a runbook's rendered templates) to the types the
// tool's input schema declares for them: integers, numbers and booleans.
func (inv *investigation) typed(tool string, args map[string]any) map[string]any {
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(inv.schemas[tool], &schema); err != nil {
		return args
	}
	out := make(map[string]any, len(args))
	for k, v := range args {
		out[k] = v
		s, ok := v.(string)
		if !ok {
			continue
		}
		switch schema.Properties[k].Type {
		case "integer":
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				out[k] = n
			}
		case "number":
			if n, err := strconv.ParseFloat(s, 64); err == nil {
				out[k] = n
			}
		case "boolean":
			if b, err := strconv.ParseBool(s); err == nil {
				out[k] = b
			}
		}
	}
	return out
}

// evidence is one line of evidence about object.
func evidence(object, detail string) opsv1.Evidence {
	if len(detail) > 2000 {
		detail = detail[:2000] + "..."
	}
	return opsv1.Evidence{Object: object, Detail: detail}
}

// plan adds an action, with its risk from the tool, on the server that serves the tool when the
// agent was granted it (a tool it was not granted is still proposed, as destructive when opsmesh
// does not know it).
func (inv *investigation) plan(tool string, args map[string]any, reason string) {
	a := diagnosis.Action{Tool: tool, Arguments: args, Risk: diagnosis.RiskOf(tool, true), Reason: reason}
	if t, ok := inv.writes[tool]; ok {
		a.ToolServer, a.Risk = t.Server, diagnosis.RiskOf(tool, t.Destructive)
	}
	if a.Arguments == nil {
		a.Arguments = map[string]any{}
	}
	delete(a.Arguments, "dryRun")
	inv.d.Plan = append(inv.d.Plan, a)
}
