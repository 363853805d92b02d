package mcptool

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// english renders the validator's messages.
var english = message.NewPrinter(language.English)

// compileSchema compiles a tool's input schema, as clients see it in tools/list, for validating
// arguments before they are decoded.
func compileSchema(t mcp.Tool) (*jsonschema.Schema, error) {
	raw, err := json.Marshal(t.InputSchema)
	if t.RawInputSchema != nil {
		raw, err = t.RawInputSchema, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	url := "mem:///opsmesh/tools/" + t.Name + ".json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// compileOutputSchema compiles a data tool's output schema, as clients see it in tools/list.
func compileOutputSchema(t mcp.Tool) (*jsonschema.Schema, error) {
	raw, err := json.Marshal(t.OutputSchema)
	if t.RawOutputSchema != nil {
		raw, err = t.RawOutputSchema, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	url := "mem:///opsmesh/tools/" + t.Name + ".output.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// validateArgs checks raw JSON arguments against a compiled schema and words each violation as
// what to fix: `argument "replicas": must be >= 0 but found -1`.
func validateArgs(s *jsonschema.Schema, raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = []byte("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("arguments are not valid JSON: %v", err)
	}
	err = s.Validate(v)
	var verr *jsonschema.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return err
	}
	var msgs []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		msgs = append(msgs, wordViolation(strings.Join(e.InstanceLocation, "."), e.ErrorKind))
	}
	walk(verr)
	return errors.New(strings.Join(msgs, "; "))
}

// wordViolation says what is wrong with one argument (at, a dotted path; "" for the whole
// arguments object) in words a person or a model can act on.
func wordViolation(at string, k jsonschema.ErrorKind) string {
	arg := fmt.Sprintf("argument %q", at)
	switch k := k.(type) {
	case *kind.Required:
		if len(k.Missing) == 1 {
			return fmt.Sprintf("argument %q is required", strings.TrimPrefix(at+"."+k.Missing[0], "."))
		}
		return fmt.Sprintf("arguments %s are required", quoteAll(k.Missing))
	case *kind.AdditionalProperties:
		return fmt.Sprintf("unknown argument %s; see the tool's input schema for the arguments it takes", quoteAll(k.Properties))
	case *kind.Type:
		return fmt.Sprintf("%s must be %s, not %s", arg, strings.Join(article(k.Want), " or "), strings.Join(article([]string{k.Got}), ""))
	case *kind.Enum:
		var want []string
		for _, w := range k.Want {
			want = append(want, fmt.Sprintf("%q", fmt.Sprint(w)))
		}
		return fmt.Sprintf("%s must be one of %s, not %q", arg, strings.Join(want, ", "), fmt.Sprint(k.Got))
	case *kind.Minimum:
		return fmt.Sprintf("%s must be at least %s, not %s", arg, k.Want.RatString(), k.Got.RatString())
	case *kind.Maximum:
		return fmt.Sprintf("%s must be at most %s, not %s", arg, k.Want.RatString(), k.Got.RatString())
	case *kind.MinLength:
		return fmt.Sprintf("%s must be at least %d characters long", arg, k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("%s must be at most %d characters long, not %d", arg, k.Want, k.Got)
	case *kind.Pattern:
		return fmt.Sprintf("%s %q does not match the pattern %s", arg, k.Got, k.Want)
	}
	msg := k.LocalizedString(english)
	if at == "" {
		return "arguments: " + msg
	}
	return arg + ": " + msg
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// article turns JSON type names into phrases: "integer" → "an integer".
func article(types []string) []string {
	out := make([]string, len(types))
	for i, t := range types {
		switch t {
		case "integer", "object", "array":
			out[i] = "an " + t
		case "null":
			out[i] = "null"
		default:
			out[i] = "a " + t
		}
	}
	return out
}
