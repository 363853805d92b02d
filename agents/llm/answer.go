package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/mcppool"
)

// maxAnswerBytes bounds the final answer the engine will parse.
const maxAnswerBytes = 64 << 10

// extractJSON finds the one JSON object in a model's final text: the whole text, or the object
// after a line of prose, or inside a ```json fence. Nothing else may follow the object.
func extractJSON(text string) ([]byte, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return nil, errors.New("the answer is empty: answer with the JSON diagnosis")
	}
	if len(s) > maxAnswerBytes {
		return nil, fmt.Errorf("the answer is %d bytes: keep the JSON diagnosis under %d", len(s), maxAnswerBytes)
	}
	start := strings.IndexByte(s, '{')
	if start < 0 {
		return nil, errors.New("the answer holds no JSON object: answer with one JSON object of the diagnosis shape")
	}
	dec := json.NewDecoder(strings.NewReader(s[start:]))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("the answer is not valid JSON: %v", err)
	}
	rest := strings.TrimSpace(s[start+int(dec.InputOffset()):])
	rest = strings.TrimSpace(strings.TrimSuffix(rest, "```"))
	if rest != "" {
		return nil, errors.New("the answer has text after its JSON object: answer with the object alone")
	}
	return raw, nil
}

// parseAnswer turns a final answer into a Diagnosis: extracted, parsed strictly by
// diagnosis.Parse, and its plan checked against the agent's tools.
func parseAnswer(text string, tools []mcppool.Tool) (*diagnosis.Diagnosis, error) {
	raw, err := extractJSON(text)
	if err != nil {
		return nil, err
	}
	d, err := diagnosis.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := checkPlan(d, tools); err != nil {
		return nil, err
	}
	return d, nil
}

// checkPlan requires every action to name a tool the agent is allowed (whatever a log line
// asked for), fills its toolServer when one server has it, and sets its risk from the tool and
// its server's destructive annotation.
func checkPlan(d *diagnosis.Diagnosis, tools []mcppool.Tool) error {
	var errs []error
	for i := range d.Plan {
		a := &d.Plan[i]
		var match []mcppool.Tool
		for _, t := range tools {
			if t.Name == a.Tool && (a.ToolServer == "" || a.ToolServer == t.Server) {
				match = append(match, t)
			}
		}
		switch len(match) {
		case 0:
			errs = append(errs, fmt.Errorf("plan[%d].tool %q is not one of this agent's tools: propose only tools listed in the system prompt or offered to you (%s)", i, a.Tool, toolNames(tools)))
		case 1:
			a.ToolServer = match[0].Server
			a.Risk = diagnosis.RiskOf(a.Tool, match[0].Destructive)
		default:
			errs = append(errs, fmt.Errorf("plan[%d].tool %q is served by more than one toolServer: set plan[%d].toolServer", i, a.Tool, i))
		}
	}
	return errors.Join(errs...)
}

func toolNames(tools []mcppool.Tool) string {
	if len(tools) == 0 {
		return "this agent has none"
	}
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Server+"/"+t.Name)
	}
	return strings.Join(names, ", ")
}
