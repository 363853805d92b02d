package runbook

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
	"go.yaml.in/yaml/v3"
)

// quotedToken is a value a line quotes: 'x', "x", `x` or [x] (Kafka's "Topic(s) [a.b] not
// present"), two to a hundred characters, not starting with a space.
var quotedToken = regexp.MustCompile("'([^'\\s][^']{2,99})'|\"([^\"\\s][^\"]{2,99})\"|`([^`\\s][^`]{2,99})`|\\[([^\\]\\s][^\\]]{2,99})\\]")

// compoundToken is a bare word with a separator inside: a dotted, hyphenated, slashed or
// colon-joined name (eu-north-7, otlp/tempo, invoices.created.v2, broker:5672).
var compoundToken = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_]*(?:[./:@-][A-Za-z0-9_]+)+`)

// noiseToken is a token that names no value of a configuration: a time, a date, a number, a
// version, a source file or position (app/worker.py, main.go:88, channel.js:136:17), a logger's level or a
// language's own package path (java.lang.X, org.apache.kafka…).
var noiseToken = regexp.MustCompile(`^(?:[\d.:,/TZ+-]+|v?\d+(?:\.\d+)+\S*|\S+\.(?:go|py|java|kt|scala|rs|js|mjs|cjs|ts|rb|cs|cpp|cc|c|h|php|ex|exs|class|jar|so)(?::\d+)*|(?:java|javax|jdk|sun|org|com|io|net|kotlin|scala|node|internal|runtime|System|Microsoft)\.[\w.$]+|(?i:info|debug|warn|warning|error|fatal|panic|trace|critical|notice|true|false|null|none|nil|main))$`)

// lineTokens are the values a failure's line names that a configuration could have given the
// program: what it quotes first, then its compound words; at most ten, each once.
func lineTokens(line string) []string {
	var out []string
	add := func(t string) {
		t = strings.Trim(t, ".,;:()[]{}<>'\"` ")
		if len(t) < 4 || len(out) == 10 || slices.Contains(out, t) || noiseToken.MatchString(t) || !strings.ContainsAny(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
			return
		}
		out = append(out, t)
	}
	for _, m := range quotedToken.FindAllStringSubmatch(line, -1) {
		for _, g := range m[1:] {
			if g != "" && !strings.Contains(g, ": ") {
				// a quoted message ("err":"storage: bucket doesn't exist") is no value
				add(g)
			}
		}
	}
	for _, t := range compoundToken.FindAllString(line, -1) {
		add(t)
	}
	return out
}

// valueSource follows a failure whose signature named no setting (an application's own error, a
// configuration it refuses in words no runbook knows) to the place the pod is given a value the
// failing line names: the container's env values and arguments, the ConfigMap keys it takes its
// environment from, the ConfigMap files it mounts. The first value found there is the setting at
// fault: "references exporter \"otlp/tempo-east\" which is not configured" with that name in a
// mounted collector.yaml. Lines are the line the signature matched, then the failure's last
// lines (a traceback's message after the "Traceback" the signature saw first). It reports
// whether it moved the cause.
func (inv *investigation) valueSource(c *contract.Cause, f contract.Finding, hit knowledge.Hit, lines []string) bool {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if len(parts) != 3 || c.Field != "" || elsewhere(c.Object, owner) ||
		(c.Category != contract.ApplicationError && c.Category != contract.ApplicationConfig) {
		return false
	}
	candidates := []string{hit.Line}
	n := 0
	for i := len(lines) - 1; i >= 0 && n < 6; i-- {
		if l := lines[i]; l != hit.Line && !knowledge.InfoLine(l) {
			candidates = append(candidates, l)
			n++
		}
	}
	var tokens []string
	for _, l := range candidates {
		for _, t := range lineTokens(l) {
			if !slices.Contains(tokens, t) && !strings.Contains(owner, t) && len(tokens) < 16 {
				tokens = append(tokens, t)
			}
		}
	}
	if len(tokens) == 0 {
		return false
	}
	var pf podFiles
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &pf) != nil {
		return false
	}
	for _, tok := range tokens {
		// a Service's name the configuration gives (DB_HOST=orders-db) is the dependency's side,
		// which the neighbour checks follow
		service := func() bool {
			m := bareHost.FindStringSubmatch(tok)
			return m != nil && inv.serviceExists(parts[1], m[1])
		}
		try := *c
		try.Evidence = slices.Clone(c.Evidence)
		try.Summary = ""
		if v := inv.settingOf(&try, f, tok, nil); v != "" && try.Field != "" && !service() {
			*c = try
			c.Category = contract.ApplicationConfig
			c.Summary = clip(fmt.Sprintf("the program fails on %s, a value its configuration gives it (%s)%s", tok, clip(hit.Line, 240), try.Summary), 1000)
			return true
		}
		if src, ok := inv.mountedHolding(pf, f.Container, parts[1], tok); ok && !service() {
			word := src.word()
			c.Category = contract.ApplicationConfig
			c.Object, c.Field = fmt.Sprintf("%s/%s/%s", src.kind, parts[1], src.name), fmt.Sprintf("data[%s]", src.key)
			c.Summary = clip(fmt.Sprintf("the program fails on %s (%s), which its configuration file %s gives it; %s is key %s of %s %s (mounted at %s): fix it there",
				tok, clip(hit.Line, 240), src.file, src.file, src.key, word, src.name, src.mountPath), 1000)
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s is mounted from %s %s key %s, which holds %s", src.file, word, src.name, src.key, tok))
			if c.Fix != nil && c.Fix.Tool != "" {
				c.Fix = &contract.Fix{Text: fmt.Sprintf("correct key %s of %s %s; the pods read it again when they restart", src.key, word, src.name)}
			}
			return true
		}
	}
	return false
}

// serviceExists says whether Service ns/name exists (false when it cannot be read).
func (inv *investigation) serviceExists(ns, name string) bool {
	var o contract.ObjectYAML
	return inv.callData("resource_get", map[string]any{"kind": "service", "namespace": ns, "name": name}, &o)
}
