package runbook

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/knowledge"
	"github.com/opsmesh/opsmesh/api/contract"
)

// traced is what the step from a symptom to its cause found: the cause (nil when none was
// found) and the runbook whose signature led there (nil when the analyzer named the cause itself
// or a neighbour was linked).
type traced struct {
	cause *contract.Cause
	hit   *knowledge.Hit
	// previousLog is the failing container's previous log as read on the way, newest line
	// first (quoted as evidence when no cause was found).
	previousLog []string
}

// trace goes from the finding f (the symptom) to its cause:
//  1. the cause the analyzer established itself (a DaemonSet's untolerated taint, the budget
//     that refuses a node's evictions, an Ingress's missing backend);
//  2. else the first runbook whose signature matches one of the lines the failure left — the
//     finding's evidence (termination messages, events), then the failing container's
//     previous and current logs — and the follow-up checks it names, whose first cause (the
//     Role, the NetworkPolicy, the claim) replaces the signature's own;
//  3. else, or when the signature points at a dependency it could not resolve, a failing
//     neighbour the subject's own spec names (a dependency crashlooping next to it).
func (inv *investigation) trace(f contract.Finding, sub *subject) traced {
	if f.Cause != nil && f.Cause.Category != "" {
		if neighbourMayExplain[f.Cause.Category] {
			// a probe that fails because what the application calls is down is no probe fault
			if dep := inv.failingNeighbour(f, sub); dep != nil {
				return traced{cause: dep}
			}
		}
		return traced{cause: f.Cause}
	}
	ctx := inv.contextOf(f)
	lines := splitLines(f.Evidence)
	var logLines, previous []string
	if ctx.Pod != "" {
		// what the kubelet said about the pod (a pull's or a mount's error), then its logs
		lines = append(lines, inv.warnings(ctx.Namespace, ctx.Pod)...)
		pf := f
		pf.Object, pf.Container = "pod/"+ctx.Namespace+"/"+ctx.Pod, ctx.Container
		previous = inv.logLines(pf, true)
		logLines = append(slices.Clone(previous), inv.logLines(pf, false)...)
		// a Job's failed pods: the next one's log when the newest says nothing (a pod
		// whose log is gone with its node)
		for i, ref := range podsInEvidence(f.Evidence) {
			if len(logLines) > 0 || i == 3 {
				break
			}
			if ref[0] == ctx.Pod {
				continue
			}
			pf.Object, pf.Container = "pod/"+ctx.Namespace+"/"+ref[0], ref[1]
			previous = inv.logLines(pf, true)
			logLines = append(slices.Clone(previous), inv.logLines(pf, false)...)
		}
	}
	lines = append(lines, logLines...)
	if ctx.Pod == "" && ctx.Namespace != "" {
		// a workload without a failing pod to read: what its controllers said (a ReplicaSet's
		// FailedCreate, a refused pod)
		lines = append(lines, inv.workloadWarnings(ctx.Namespace, ownerOf(f))...)
	}
	t := traced{previousLog: previous}
	var fromCheck bool
	t.cause, t.hit, fromCheck = inv.signature(lines, ctx, f)
	if t.cause != nil && !fromCheck {
		// a dependency that refuses the workload says why in its own log
		inv.serverSays(t.cause, f)
	}
	if t.cause != nil && t.hit != nil {
		quoteLine(t.cause, t.hit.Line)
	}
	if !fromCheck {
		// what the pod is not given, whatever words the program fails with: a ServiceAccount
		// token, a GPU. It replaces a signature's word only where that says no more: none, a
		// crash of the application's own, a setting of the workload's; or where it is the
		// same line.
		if c := inv.notGiven(lines, f, ctx); c != nil && (t.cause == nil || t.hit == nil || (c.Evidence[0] == t.hit.Line) ||
			((t.cause.Category == contract.ApplicationError || t.cause.Category == contract.ApplicationConfig) && !elsewhere(t.cause.Object, ownerOf(f)))) {
			t.cause, t.hit = c, nil
		}
	}
	// A signature's word that its follow-up checks could not confirm (a host "does not
	// resolve", said of a Service that exists) gives way to a failing neighbour too.
	unconfirmed := !fromCheck && t.hit != nil && len(t.hit.Calls()) > 0
	if t.cause == nil || (!fromCheck && neighbourMayExplain[t.cause.Category]) || unconfirmed {
		if dep := inv.failingNeighbour(f, sub); dep != nil {
			t.cause, t.hit = dep, nil
		}
	}
	if t.cause == nil {
		t.cause = inv.oomCause(f)
	}
	if t.cause != nil {
		inv.linkCause(t.cause, f)
		inv.fieldValue(t.cause)
		revisionNote(t.cause, f)
		inv.latestImageNote(t.cause, f)
		inv.behindDependency(t.cause)
		inv.failingPodLog(t.cause)
	}
	return t
}

// quoteLine makes a cause a signature found quote the line it matched, when its summary does not
// already: the words the failure left ("no kernel image is available for execution on the
// device", "Can't locate revision identified by '9c2e41f7ab03'") are the decisive evidence.
func quoteLine(c *contract.Cause, line string) {
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	probe := line
	if len(probe) > 60 {
		probe = probe[:60]
	}
	if strings.Contains(c.Summary, probe) {
		return
	}
	c.Summary = clip(fmt.Sprintf("%s (the failure says: %s)", c.Summary, clip(line, 240)), 1000)
	if !slices.ContainsFunc(c.Evidence, func(e string) bool { return strings.Contains(e, probe) }) {
		c.Evidence = append(c.Evidence, clip(line, 500))
	}
}

// fieldValue reads the value of the cause's field on its object (an image, a memory limit, a
// probe's path) and quotes it, so the reader sees what is wrong, not only where: "image is
// ghcr.io/acme/serve:v0.8.1". Only a scalar value of a namespaced object is quoted.
func (inv *investigation) fieldValue(c *contract.Cause) {
	parts := strings.Split(c.Object, "/")
	if len(parts) != 3 || !strings.HasPrefix(c.Field, "spec.") || strings.Contains(c.Summary, " is now ") {
		return
	}
	if _, ok := inv.where["resource_get"]; !ok {
		return
	}
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": parts[0], "namespace": parts[1], "name": parts[2]}, &o) {
		return
	}
	var obj any
	if yaml.Unmarshal([]byte(o.YAML), &obj) != nil {
		return
	}
	v, ok := walk(obj, c.Field)
	if !ok {
		return
	}
	switch v.(type) {
	case string, int, int64, float64, bool:
	default:
		return
	}
	value := clip(fmt.Sprint(v), 200)
	c.Summary = clip(fmt.Sprintf("%s (%s is now %s)", c.Summary, lastSegment(c.Field), value), 1000)
	c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s", c.Field, value))
}

// walk follows a field path through a decoded object: dots between fields, and [key] selecting
// a map's key or the element of a list whose name is key (containers[app], env[LOG_LEVEL]).
func walk(v any, path string) (any, bool) {
	for path != "" {
		var seg string
		if i := strings.IndexAny(path, ".["); i < 0 {
			seg, path = path, ""
		} else if path[i] == '.' {
			seg, path = path[:i], path[i+1:]
		} else {
			seg, path = path[:i], path[i:]
		}
		if seg != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[seg]; !ok {
				return nil, false
			}
		}
		for strings.HasPrefix(path, "[") {
			end := strings.Index(path, "]")
			if end < 0 {
				return nil, false
			}
			key := path[1:end]
			path = strings.TrimPrefix(path[end+1:], ".")
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[key]; !ok {
					return nil, false
				}
			case []any:
				found := false
				for _, el := range x {
					if m, ok := el.(map[string]any); ok && fmt.Sprint(m["name"]) == key {
						v, found = el, true
						break
					}
				}
				if !found {
					return nil, false
				}
			default:
				return nil, false
			}
		}
	}
	return v, true
}

func lastSegment(field string) string {
	if i := strings.LastIndexAny(field, ".["); i >= 0 && field[i] == '.' {
		return field[i+1:]
	}
	return field
}

// neighbourMayExplain are the causes a signature names by itself that a failing dependency next
// to the workload explains better: "connection refused" without a resolvable host, a crash the
// application reports as its own.
var neighbourMayExplain = map[string]bool{
	contract.DependencyUnreachable: true,
	contract.ApplicationError:      true,
	contract.ProbeMisconfigured:    true,
}

// settingOf finds the container setting that carries token (a value or option the application
// refused: -XX:+UseConcMarkSweepGC, --max-model-len 32768) among the workload's env values and
// arguments — or, failing that, one whose name or value pattern matches (the settings known to
// govern the failure: -Xmx for a heap, a batch size for GPU memory) — names it as the cause's
// field, and returns it ("" when none).
func (inv *investigation) settingOf(c *contract.Cause, f contract.Finding, token string, pattern *regexp.Regexp) string {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 || (len(token) < 3 && pattern == nil) {
		return ""
	}
	type container struct {
		Name    string   `yaml:"name"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
	}
	var spec struct {
		Containers     []container `yaml:"containers"`
		InitContainers []container `yaml:"initContainers"`
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return ""
	}
	prefix := "spec.template.spec."
	if parts[0] == "pod" {
		prefix = "spec."
	}
	// The setting is the cause's field only where the cause is the workload itself; a cause in
	// another object (the Service a URL names) keeps its own, and the setting is said beside it.
	// A Service called on a port it does not expose: the caller's setting that names the port
	// is what is wrong (the Service serves its other callers on the ports it has), so the
	// setting's owner becomes the object at fault.
	caller := callerSide(c)
	own := caller || c.Object == "" || c.Object == ownerOf(f) || strings.HasPrefix(c.Object, "pod/")
	setField := func(field string) {
		if own {
			if caller {
				c.Object = ownerOf(f)
			}
			c.Field = field
		}
	}
	// the failing container first, then the others (an init container that waits for a host)
	all := slices.Concat(spec.Containers, spec.InitContainers)
	slices.SortStableFunc(all, func(a, b container) int {
		switch {
		case a.Name == f.Container && b.Name != f.Container:
			return -1
		case b.Name == f.Container && a.Name != f.Container:
			return 1
		}
		return 0
	})
	carries := func(s string, name string) bool {
		if len(token) >= 3 {
			return strings.Contains(s, token)
		}
		return (name != "" && pattern.MatchString(name)) || pattern.MatchString(s)
	}
	if len(token) >= 3 && pattern != nil {
		// the value first; the pattern when no setting carries it
		if got := inv.settingOf(c, f, token, nil); got != "" {
			return got
		}
		token = ""
	}
	for _, ct := range all {
		list := "containers"
		if slices.ContainsFunc(spec.InitContainers, func(x container) bool { return x.Name == ct.Name }) {
			list = "initContainers"
		}
		for _, e := range ct.Env {
			if carries(e.Value, e.Name) {
				setField(fmt.Sprintf("%s%s[%s].env[%s]", prefix, list, ct.Name, e.Name))
				if e.Value == "" && token == "" {
					// an entry that takes its value from a ConfigMap or Secret: said where it leads
					return ""
				}
				c.Summary += fmt.Sprintf("; it comes from the container's %s=%s", e.Name, clip(e.Value, 120))
				c.Evidence = append(c.Evidence, fmt.Sprintf("%s: env %s=%s", ct.Name, e.Name, clip(e.Value, 200)))
				return e.Value
			}
		}
		for _, w := range []struct {
			what string
			list []string
		}{{"args", ct.Args}, {"command", ct.Command}} {
			for i, a := range w.list {
				if carries(a, "") {
					setField(fmt.Sprintf("%s%s[%s].%s", prefix, list, ct.Name, w.what))
					c.Summary += fmt.Sprintf("; it comes from the container's %s: %s", w.what, clip(a, 120))
					c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s %s", ct.Name, w.what, clip(strings.Join(w.list, " "), 300)))
					// a flag whose value is a variable (--tensor-parallel-size $TP_SIZE, or
					// $(TP_SIZE) as the kubelet expands it): where the variable is set
					if name := flagVariable(w.list[i:], token, pattern); name != "" && ct.Name == f.Container {
						if v, ok := inv.settingByName(c, f, []string{name}); ok {
							return v
						}
					}
					return a
				}
			}
		}
	}
	if len(token) >= 3 {
		return inv.configMapSetting(c, f, token, own)
	}
	if pattern != nil {
		// a variable of the settings the runbook knows, from a ConfigMap's key (envFrom,
		// configMapKeyRef): that key
		return inv.configMapVariable(c, f, own, func(s envSetting) bool { return pattern.MatchString(s.name) })
	}
	return ""
}

// variableRef is a reference to an environment variable as a shell ($NAME, ${NAME}) or the
// kubelet ($(NAME)) expands it, at the start of a flag's value.
var variableRef = regexp.MustCompile(`^[\s=]*["']?\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|\(([A-Za-z_][A-Za-z0-9_]*)\)|([A-Za-z_][A-Za-z0-9_]*))`)

// flagVariable is the environment variable that gives the flag args[0] holds (where token, or
// else pattern, matches) its value: "--tensor-parallel-size $TP" in one argument (a shell
// line), or "--tensor-parallel-size" then "$(TP)" as two. "" when the value is no variable.
func flagVariable(args []string, token string, pattern *regexp.Regexp) string {
	if len(args) == 0 {
		return ""
	}
	a, end := args[0], -1
	switch {
	case len(token) >= 3:
		if i := strings.Index(a, token); i >= 0 {
			end = i + len(token)
		}
	case pattern != nil:
		if loc := pattern.FindStringIndex(a); loc != nil {
			end = loc[1]
		}
	}
	if end < 0 {
		return ""
	}
	rest := a[end:]
	// the rest of the flag's own name (the pattern matched "tensor-parallel-size" inside
	// "--tensor-parallel-size=...")
	rest = strings.TrimLeft(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
	if strings.TrimSpace(rest) == "" && len(args) > 1 {
		rest = args[1]
	}
	m := variableRef.FindStringSubmatch(rest)
	if m == nil {
		return ""
	}
	return m[1] + m[2] + m[3]
}

// callerSide says whether cause c is a Service called on a port it does not expose (the
// dependency check's ReferenceMissing on spec.ports) that its pods do not listen on either, a
// fault of the caller's setting; when they do, the Service lacks the port.
func callerSide(c *contract.Cause) bool {
	return c.Category == contract.ReferenceMissing && strings.HasPrefix(c.Object, "service/") && c.Field == "spec.ports" &&
		!strings.Contains(c.Summary, contract.PodsListenOn) || missingService(c)
}

// missingService says whether cause c is a Service the caller names that does not exist while
// one of a like name does (the dependency check's ReferenceMissing on the Service itself, no
// field, with contract.LikeNamedService): what is wrong is the caller's setting that names it —
// a stale or mistyped host. Without a like-named one, the Service itself may be what is gone.
func missingService(c *contract.Cause) bool {
	return c.Category == contract.ReferenceMissing && strings.HasPrefix(c.Object, "service/") && c.Field == "" &&
		strings.Contains(c.Summary, contract.LikeNamedService)
}

// configMapSetting finds token among the values of the ConfigMaps the failing container takes
// its environment from (envFrom, or an env entry's configMapKeyRef): the key that holds it is
// the setting, and the ConfigMap the object at fault when the cause is the workload itself. A
// Secret's values are never read.
func (inv *investigation) configMapSetting(c *contract.Cause, f contract.Finding, token string, own bool) string {
	return inv.configMapVariable(c, f, own, func(s envSetting) bool { return strings.Contains(s.value, token) })
}

// configMapVariable takes the first variable the failing container is given from a ConfigMap
// key that match accepts as the setting at fault: said in c's summary and evidence, and, when
// own (the cause is the workload itself), the ConfigMap key becomes c's object and field. It
// returns the value ("" when none is accepted).
func (inv *investigation) configMapVariable(c *contract.Cause, f contract.Finding, own bool, match func(envSetting) bool) string {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 {
		return ""
	}
	for _, s := range inv.envSettings(f, parts) {
		if s.configMap == "" || !match(s) {
			continue
		}
		if own {
			c.Object, c.Field = s.object, s.field
		}
		c.Summary += fmt.Sprintf("; it comes from %s, as %s=%s", s.where, s.name, clip(s.value, 120))
		c.Evidence = append(c.Evidence, fmt.Sprintf("ConfigMap %s: %s: %s", s.configMap, s.key, clip(s.value, 200)))
		return s.value
	}
	return ""
}

// settingNameIn reads the name of a setting a line names: "for configuration
// advertised.listeners", `parameter "max_connections"`, "Failed to bind properties under
// 'spring.datasource.url'". A name counts only with a separator in it (a dot, an underscore, a
// hyphen): a bare word is too often an ordinary one.
var settingNameIn = regexp.MustCompile(`(?i)\b(?:for configuration|configuration|config(?:uration)? (?:key|property|option)|parameter|property|properties under|setting|option|key)\s*[:=]?\s*["'` + "`" + `]?([A-Za-z][A-Za-z0-9]*(?:[._-][A-Za-z0-9]+)+)`)

// settingNames are the names of the settings the hit's line names, and its property variable.
func settingNames(h knowledge.Hit) []string {
	var out []string
	if p := h.Vars["property"]; p != "" {
		out = append(out, p)
	}
	for _, m := range settingNameIn.FindAllStringSubmatch(h.Line, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// envNamesOf are the environment variable names a setting is written as by the usual
// conventions: upper case, dots and hyphens as underscores (KAFKA_ADVERTISED_LISTENERS), or
// hyphens dropped (Spring's relaxed binding: SPRING_KAFKA_CONSUMER_FETCHMAXWAIT), and a
// camelCase word split (maxPoolSize → MAX_POOL_SIZE). Names shorter than 5 are left out.
func envNamesOf(setting string) []string {
	var camel strings.Builder
	for i, r := range setting {
		if i > 0 && r >= 'A' && r <= 'Z' {
			if p := setting[i-1]; p >= 'a' && p <= 'z' || p >= '0' && p <= '9' {
				camel.WriteByte('_')
			}
		}
		camel.WriteRune(r)
	}
	var out []string
	for _, s := range []string{setting, camel.String()} {
		up := strings.ToUpper(s)
		for _, n := range []string{
			strings.NewReplacer(".", "_", "-", "_").Replace(up),
			strings.NewReplacer(".", "_", "-", "").Replace(up),
		} {
			if len(n) >= 5 && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// envNameFor says whether the environment variable env carries setting: it is one of
// envNamesOf(setting), with any prefix (POSTGRES_MAX_CONNECTIONS for max_connections,
// KAFKA_CFG_ADVERTISED_LISTENERS for advertised.listeners).
func envNameFor(env, setting string) bool {
	for _, n := range envNamesOf(setting) {
		if env == n || strings.HasSuffix(env, "_"+n) {
			return true
		}
	}
	return false
}

// settingByName finds the environment variable of the failing container that carries one of the
// settings the failure names (names, by envNameFor) — set inline, from a ConfigMap's or Secret's
// key, or by envFrom — and, when the cause is the workload itself, moves it there: the
// ConfigMap's or Secret's key (data[KEY]), or the container's env entry. The value is quoted,
// a Secret's never. ok is false when no variable carries them.
func (inv *investigation) settingByName(c *contract.Cause, f contract.Finding, names []string) (value string, ok bool) {
	parts := strings.Split(ownerOf(f), "/")
	if len(parts) != 3 || len(names) == 0 {
		return "", false
	}
	ns := parts[1]
	var spec envSpec
	text := inv.specText(parts[0], ns, parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return "", false
	}
	own := c.Object == "" || c.Object == ownerOf(f) || strings.HasPrefix(c.Object, "pod/")
	matching := func(env string) string {
		for _, n := range names {
			if envNameFor(env, n) {
				return n
			}
		}
		return ""
	}
	data := func(kind, name string) (map[string]string, bool) { return inv.objectData(kind, ns, name) }
	// at: the object and key (or the container's env entry) that holds the variable
	at := func(object, field, where, value string, quote bool) (string, bool) {
		if own {
			c.Object, c.Field = object, field
			if c.Category == contract.ApplicationError {
				c.Category = contract.ApplicationConfig // the program refuses a setting it is given
			}
		}
		c.Summary = clip(c.Summary+"; it comes from "+where, 1000)
		if quote {
			c.Summary = clip(fmt.Sprintf("%s (value %s)", c.Summary, clip(value, 120)), 1000)
			c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s", where, clip(value, 200)))
		} else {
			c.Evidence = append(c.Evidence, where)
		}
		return value, true
	}
	for _, ct := range spec.Containers {
		if f.Container != "" && ct.Name != f.Container {
			continue
		}
		for _, e := range ct.Env {
			n := matching(e.Name)
			if n == "" {
				continue
			}
			switch {
			case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
				r := e.ValueFrom.ConfigMapKeyRef
				d, _ := data("configmap", r.Name)
				v, has := d[r.Key]
				return at(fmt.Sprintf("configmap/%s/%s", ns, r.Name), fmt.Sprintf("data[%s]", r.Key),
					fmt.Sprintf("key %s of ConfigMap %s (env %s, the setting %s)", r.Key, r.Name, e.Name, n), v, has)
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				r := e.ValueFrom.SecretKeyRef
				return at(fmt.Sprintf("secret/%s/%s", ns, r.Name), fmt.Sprintf("data[%s]", r.Key),
					fmt.Sprintf("key %s of Secret %s (env %s, the setting %s)", r.Key, r.Name, e.Name, n), "", false)
			case e.ValueFrom == nil:
				return at(ownerOf(f), fmt.Sprintf("%scontainers[%s].env[%s]", templatePrefix(parts[0]), ct.Name, e.Name),
					fmt.Sprintf("the container's env %s (the setting %s)", e.Name, n), e.Value, true)
			}
		}
		for _, ef := range ct.EnvFrom {
			kind, name := "configmap", ""
			switch {
			case ef.ConfigMapRef != nil:
				name = ef.ConfigMapRef.Name
			case ef.SecretRef != nil:
				kind, name = "secret", ef.SecretRef.Name
			default:
				continue
			}
			d, _ := data(kind, name)
			for _, k := range slices.Sorted(maps.Keys(d)) {
				n := matching(ef.Prefix + k)
				if n == "" {
					continue
				}
				word := map[string]string{"configmap": "ConfigMap", "secret": "Secret"}[kind]
				return at(fmt.Sprintf("%s/%s/%s", kind, ns, name), fmt.Sprintf("data[%s]", k),
					fmt.Sprintf("key %s of %s %s (envFrom, as %s%s, the setting %s)", k, word, name, ef.Prefix, k, n), d[k], kind == "configmap")
			}
		}
	}
	return "", false
}

// secretKey is a Secret the container takes variables from: one key (env valueFrom, as env), or
// all of them (envFrom, key "", with the prefix as env).
type secretKey struct{ name, key, env string }

// strayShape is what resource_get says of a Secret value with whitespace at its edges, in place
// of the value (redact.Shape).
var strayShape = regexp.MustCompile(`^<redacted> \(\d+ bytes, ((?:ends|starts) with .*|is itself base64 .*)\)$`)

// strayWhitespace looks for a key among the Secrets the container takes its credentials from
// whose value starts or ends with whitespace — a newline left by `echo … | base64`, a carriage
// return from a file edited on Windows — or is base64 of text (encoded twice), which the server
// compares byte for byte. The value is
// never read: the tool says only its shape. It makes that key the cause and reports whether it
// found one.
func (inv *investigation) strayWhitespace(c *contract.Cause, ns string, from []secretKey) bool {
	for _, sk := range from {
		data, ok := inv.objectData("secret", ns, sk.name)
		if !ok {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			m := strayShape.FindStringSubmatch(data[k])
			if m == nil || (sk.key != "" && k != sk.key) {
				continue
			}
			env := sk.env + k
			if sk.key != "" {
				env = sk.env
			}
			c.Object, c.Field = fmt.Sprintf("secret/%s/%s", ns, sk.name), fmt.Sprintf("data[%s]", k)
			how := "written with `echo` without -n, or edited on Windows"
			if strings.HasPrefix(m[1], "is itself base64") {
				how = "base64-encoded before it was put under data, which is encoded already"
			}
			c.Summary = clip(fmt.Sprintf("%s; key %s of Secret %s (the container's %s) %s: the server compares it byte for byte, so the credential sent is not the one issued (%s)",
				c.Summary, k, sk.name, env, m[1], how), 1000)
			c.Evidence = append(c.Evidence, fmt.Sprintf("Secret %s: %s: %s", sk.name, k, data[k]))
			return true
		}
	}
	return false
}

var envField = regexp.MustCompile(`env\[([A-Za-z_][A-Za-z0-9_.-]*)\]`)

// configSource follows a setting the application refused (a cause whose field is env[KEY]) to
// where the workload takes it from: the ConfigMap or Secret key (valueFrom, or envFrom whose
// object holds the key), which becomes the object at fault; or the container's own env entry.
//
// A setting the failure names (advertised.listeners, spring.datasource.url, max_connections) is
// looked for first among the container's environment variables by the usual conventions
// (settingByName): KAFKA_ADVERTISED_LISTENERS, SPRING_DATASOURCE_URL, POSTGRES_MAX_CONNECTIONS.
func (inv *investigation) configSource(c *contract.Cause, f contract.Finding, token string, pattern *regexp.Regexp, names []string) string {
	m := envField.FindStringSubmatch(c.Field)
	if m == nil && c.Category != contract.CredentialsRejected {
		if v, ok := inv.settingByName(c, f, names); ok {
			return v
		}
		if token != "" || pattern != nil {
			v := inv.settingOf(c, f, token, pattern)
			if v == "" && envField.MatchString(c.Field) && !elsewhere(c.Object, ownerOf(f)) {
				// an env entry without a value of its own (PRICING_FEED_TOKEN from a Secret):
				// the ConfigMap or Secret key it takes its value from
				return inv.configSource(c, f, "", nil, nil)
			}
			return v
		}
		return ""
	}
	key := ""
	if m != nil {
		key = m[1]
	}
	owner := f.Owner
	if owner == "" {
		owner = f.Object
	}
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return ""
	}
	ns := parts[1]
	var spec envSpec
	text := inv.specText(parts[0], ns, parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return ""
	}
	for _, ct := range spec.Containers {
		if f.Container != "" && ct.Name != f.Container {
			continue
		}
		if key == "" {
			// rejected credentials: the Secret the container takes them from (the entry the
			// signature's pattern names first: REDIS_PASSWORD before TLS_CERT)
			slices.SortStableFunc(ct.Env, func(a, b envEntry) int {
				am, bm := pattern != nil && pattern.MatchString(a.Name), pattern != nil && pattern.MatchString(b.Name)
				switch {
				case am && !bm:
					return -1
				case bm && !am:
					return 1
				}
				return 0
			})
			// a value with a stray newline or space (a Secret written with `echo | base64`) is
			// rejected although it "is right": that key first, wherever it comes from
			var from []secretKey
			for _, e := range ct.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					from = append(from, secretKey{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, e.Name})
				}
			}
			for _, ef := range ct.EnvFrom {
				if ef.SecretRef != nil {
					from = append(from, secretKey{name: ef.SecretRef.Name, env: ef.Prefix})
				}
			}
			if inv.strayWhitespace(c, ns, from) {
				return ""
			}
			for _, e := range ct.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					c.Object, c.Field = fmt.Sprintf("secret/%s/%s", ns, e.ValueFrom.SecretKeyRef.Name), "data"
					c.Summary += fmt.Sprintf("; the container takes its credentials (%s) from Secret %s", e.Name, e.ValueFrom.SecretKeyRef.Name)
					return ""
				}
			}
			for _, ef := range ct.EnvFrom {
				if ef.SecretRef != nil {
					c.Object, c.Field = fmt.Sprintf("secret/%s/%s", ns, ef.SecretRef.Name), "data"
					c.Summary += fmt.Sprintf("; the container takes its credentials from Secret %s (envFrom)", ef.SecretRef.Name)
					return ""
				}
			}
			// no Secret: the setting that points at them (a CA file, a credentials path)
			return inv.settingOf(c, f, token, pattern)
		}
		for _, e := range ct.Env {
			if e.Name != key {
				continue
			}
			switch {
			case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
				r := e.ValueFrom.ConfigMapKeyRef
				c.Object, c.Field = fmt.Sprintf("configmap/%s/%s", ns, r.Name), "data."+r.Key
				c.Summary += fmt.Sprintf("; %s comes from ConfigMap %s, key %s", key, r.Name, r.Key)
				inv.keyPresent(c, "configmap", ns, r.Name, r.Key, key, r.Optional)
			case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
				r := e.ValueFrom.SecretKeyRef
				c.Object, c.Field = fmt.Sprintf("secret/%s/%s", ns, r.Name), "data."+r.Key
				c.Summary += fmt.Sprintf("; %s comes from Secret %s, key %s", key, r.Name, r.Key)
				inv.keyPresent(c, "secret", ns, r.Name, r.Key, key, r.Optional)
				if c.Category == contract.CredentialsRejected {
					inv.strayWhitespace(c, ns, []secretKey{{r.Name, r.Key, key}})
				}
			default:
				c.Field = fmt.Sprintf("spec.template.spec.containers[%s].env[%s]", ct.Name, key)
				if e.Value != "" {
					c.Summary += fmt.Sprintf("; the container sets %s=%s", key, clip(e.Value, 80))
					c.Evidence = append(c.Evidence, fmt.Sprintf("%s: env %s=%s", ct.Name, key, clip(e.Value, 200)))
				}
			}
			return ""
		}
		for _, ef := range ct.EnvFrom {
			name, kind := "", ""
			switch {
			case ef.ConfigMapRef != nil:
				name, kind = ef.ConfigMapRef.Name, "configmap"
			case ef.SecretRef != nil:
				name, kind = ef.SecretRef.Name, "secret"
			default:
				continue
			}
			if ef.Prefix != "" && !strings.HasPrefix(key, ef.Prefix) {
				continue
			}
			var o contract.ObjectYAML
			if !inv.callData("resource_get", map[string]any{"kind": kind, "namespace": ns, "name": name}, &o) {
				continue
			}
			var obj struct {
				Data map[string]any `yaml:"data"`
			}
			dataKey := strings.TrimPrefix(key, ef.Prefix)
			if yaml.Unmarshal([]byte(o.YAML), &obj) != nil {
				continue
			}
			if v, ok := obj.Data[dataKey]; ok {
				c.Object, c.Field = fmt.Sprintf("%s/%s/%s", kind, ns, name), "data."+dataKey
				word := map[string]string{"configmap": "ConfigMap", "secret": "Secret"}[kind]
				c.Summary += fmt.Sprintf("; %s comes from %s %s (envFrom), key %s", key, word, name, dataKey)
				if kind == "configmap" {
					c.Evidence = append(c.Evidence, fmt.Sprintf("ConfigMap %s: %s: %v", name, dataKey, clip(fmt.Sprint(v), 200)))
				}
				return ""
			}
		}
	}
	// no variable of that name: the one the setting the failure names is written as
	if v, ok := inv.settingByName(c, f, names); ok {
		return v
	}
	return ""
}

// keyRef is an env entry's reference to a ConfigMap's or Secret's key.
type keyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional bool   `yaml:"optional"`
}

// keyPresent checks that the object an env entry takes its value from exists and holds the key;
// when it does not — which an optional reference lets the container start without — that is the
// cause: the reference is missing, and the application runs without the setting.
func (inv *investigation) keyPresent(c *contract.Cause, kind, ns, name, key, env string, optional bool) {
	word := map[string]string{"configmap": "ConfigMap", "secret": "Secret"}[kind]
	var o contract.ObjectYAML
	if !inv.callData("resource_get", map[string]any{"kind": kind, "namespace": ns, "name": name}, &o) {
		if optional {
			c.Category = contract.ReferenceMissing
			c.Summary += fmt.Sprintf(": %s %s could not be read (it may not exist); the reference is optional, so the container starts without %s", word, name, env)
		}
		return
	}
	var obj struct {
		Data       map[string]any `yaml:"data"`
		BinaryData map[string]any `yaml:"binaryData"`
		StringData map[string]any `yaml:"stringData"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &obj) != nil {
		return
	}
	if _, ok := obj.Data[key]; ok {
		return
	}
	if _, ok := obj.BinaryData[key]; ok {
		return
	}
	keys := make([]string, 0, len(obj.Data))
	for k := range obj.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c.Category = contract.ReferenceMissing
	how := ""
	if optional {
		how = fmt.Sprintf(" (the reference is optional: true, so the container starts without %s)", env)
	}
	c.Summary += fmt.Sprintf(", which %s %s does not hold%s", word, name, how)
	c.Evidence = append(c.Evidence, fmt.Sprintf("%s %s keys: %s; no key %s", word, name, strings.Join(keys, ", "), key))
}

// signature applies the first runbook whose signature matches one of lines, and its follow-up
// checks: the cause (nil when the runbook names none and no check did), the hit, and whether a
// check named the cause.
func (inv *investigation) signature(lines []string, ctx knowledge.Context, f contract.Finding) (*contract.Cause, *knowledge.Hit, bool) {
	hit, ok := inv.e.book.Match(lines, ctx)
	if !ok {
		return nil, nil, false
	}
	var cause *contract.Cause
	var found *knowledge.Hit
	if c := hit.Cause(); c.Category != "" {
		cause, found = &c, &hit
	}
	for _, call := range hit.Calls() {
		if _, granted := inv.where[call.Tool]; !granted {
			inv.note("runbook %s: follow-up %s is not granted to this agent; the cause stays at the signature's word", hit.Runbook.Name, call.Tool)
			continue
		}
		var rep contract.CheckReport
		if !inv.callData(call.Tool, inv.typed(call.Tool, call.Args), &rep) {
			continue
		}
		if rep.Checked != "" {
			inv.note("%s: %s", call.Tool, firstLine(rep.Checked))
		}
		if len(rep.Causes) > 0 {
			better := rep.Causes[0]
			if hit.Runbook.Cause.Category != "" {
				better.Evidence = append([]string{hit.Line}, better.Evidence...)
			}
			// the setting that carries what the check followed (REDIS_URL for a host); for a
			// port the Service lacks, the setting that names the port the caller dials first
			if callerSide(&better) {
				host, _ := call.Args["host"].(string)
				port, _ := call.Args["port"].(string)
				missing := missingService(&better)
				for _, tok := range []string{host + ":" + port, port, host} {
					if len(tok) >= 3 && tok != ":" && inv.settingOf(&better, f, tok, nil) != "" {
						if missing && !strings.HasPrefix(better.Object, "service/") {
							// the setting names a host that leads nowhere: a configuration fault
							better.Category = contract.ApplicationConfig
						}
						break
					}
				}
			} else if inv.settingOf(&better, f, hit.Setting(), nil) == "" {
				inv.namedInFile(&better, f, hit.Line)
			}
			return &better, &hit, true
		}
	}
	if cause != nil && inv.projectedToken(cause, f, hit.Line) {
		return cause, found, false
	}
	if cause != nil {
		setting := inv.configSource(cause, f, hit.Setting(), hitPattern(hit), settingNames(hit))
		before := cause.Object
		dependencyOfSetting(cause, f, setting)
		if cause.Object != before && ctx.Pod != "" {
			// a dependency only the setting names: its Service, its pods and the policies
			// between them, as a follow-up with the host would have checked
			if better := inv.checkDependency(cause.Object, ctx.Namespace, ctx.Pod); better != nil {
				better.Evidence = append([]string{hit.Line}, better.Evidence...)
				return better, &hit, true
			}
		}
		// a file the failure names (the signature's path, one in its line or its setting):
		// the ConfigMap or Secret mounted there
		named := pathsIn(hit.Line)
		if p := hit.Vars["path"]; strings.HasPrefix(p, "/") {
			named = append([]string{p}, named...)
		}
		named = append(named, pathsIn(setting)...)
		if !inv.mountedSource(cause, f, named, pathsIn(strings.Join(lines, "\n")), hit.Setting()) && setting == "" {
			// no setting the signature knows: one that gives the program a value its line names
			if !inv.valueSource(cause, f, hit, lines) && cause.Category == contract.DependencyUnreachable && cause.Field == "" && cause.Object == ownerOf(f) {
				// a dependency "unreachable" because a switch of its own says so ("Offline
				// mode is enabled")
				if parts := strings.Split(ownerOf(f), "/"); len(parts) == 3 && !inv.flagNamed(cause, f, parts, []string{hit.Line}) {
					// or unreachable because the program looks for its local copy where none is
					inv.unmountedPath(cause, f, parts, append([]string{hit.Line}, lines...))
				}
			}
		}
	}
	return cause, found, false
}

// envEntry is one env entry of a container, as the pod spec's YAML gives it.
type envEntry struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

// envSpec is what a pod spec says of its containers' environment.
type envSpec struct {
	Containers []struct {
		Name    string     `yaml:"name"`
		Env     []envEntry `yaml:"env"`
		EnvFrom []struct {
			Prefix       string                 `yaml:"prefix"`
			ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
			SecretRef    *struct{ Name string } `yaml:"secretRef"`
		} `yaml:"envFrom"`
	} `yaml:"containers"`
}

// settingURLHost reads the host of a setting that is a URL or a DSN (jdbc:postgresql://ledger-pg:5432/x,
// redis://:pw@cache:6379/0, host=orders-db port=5432).
var settingURLHost = regexp.MustCompile(`(?i)(?:^|[\s"'=(])(?:jdbc:)?[a-z][a-z0-9+.-]*://(?:[^@\s/]*@)?([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)|\bhost=([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)`)

// bareHost is a setting that is a host name alone, with a port or not.
var bareHost = regexp.MustCompile(`^([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)(?::\d+)?$`)

// dependencyOfSetting moves a dependency cause that the signature could only pin on the workload
// (its line names no host: "sorry, too many clients already") to the Service the setting that
// carries the connection names (SPRING_DATASOURCE_URL=jdbc:postgresql://ledger-pg:5432/ledger).
func dependencyOfSetting(c *contract.Cause, f contract.Finding, setting string) {
	owner := ownerOf(f)
	parts := strings.Split(owner, "/")
	if c.Category != contract.DependencyUnreachable || elsewhere(c.Object, owner) || len(parts) != 3 {
		return
	}
	var host string
	if m := settingURLHost.FindStringSubmatch(setting); m != nil {
		host = m[1]
		if host == "" {
			host = m[2]
		}
	} else if m := bareHost.FindStringSubmatch(strings.TrimSpace(setting)); m != nil && m[1] != "localhost" {
		host = m[1] // DB_HOST=shop-mysql, REDIS_ADDR=cache:6379
	} else {
		return
	}
	ns := parts[1]
	name, rest, _ := strings.Cut(host, ".")
	if second, _, _ := strings.Cut(rest, "."); second != "" && second != "svc" && !strings.HasPrefix(rest, second+".svc") && strings.Count(rest, ".") > 0 {
		return // a name outside the cluster (db.example.com)
	} else if second != "" {
		ns = second
	}
	c.Object, c.Field = "service/"+ns+"/"+name, ""
}

// checkDependency runs reference_check on Service object (service/NS/NAME) as pod (in namespace
// ns) calls it, and returns the first cause it reports; nil when none or not granted.
func (inv *investigation) checkDependency(object, ns, pod string) *contract.Cause {
	parts := strings.Split(object, "/")
	if _, ok := inv.where["reference_check"]; !ok || len(parts) != 3 || parts[0] != "service" {
		return nil
	}
	host := parts[2]
	if parts[1] != ns {
		host += "." + parts[1]
	}
	var rep contract.CheckReport
	if !inv.callData("reference_check", inv.typed("reference_check", map[string]any{"namespace": ns, "host": host, "fromPod": pod}), &rep) {
		return nil
	}
	if rep.Checked != "" {
		inv.note("reference_check: %s", firstLine(rep.Checked))
	}
	if len(rep.Causes) == 0 {
		return nil
	}
	c := rep.Causes[0]
	return &c
}

// warnings are the messages of the recent Warning events about a pod (at most 10): a kubelet's
// word on a pull, a mount or a probe that the finding's evidence may not quote.
func (inv *investigation) warnings(ns, pod string) []string {
	if _, ok := inv.where["events_list"]; !ok {
		return nil
	}
	var ev contract.EventList
	if !inv.callData("events_list", map[string]any{"namespace": ns, "kind": "Pod", "name": pod, "type": "Warning", "limit": 10}, &ev) {
		return nil
	}
	var out []string
	for _, e := range ev.Events {
		if e.Message != "" {
			out = append(out, clip(e.Reason+": "+e.Message, 1000))
		}
	}
	return out
}

// workloadWarnings are the messages of the recent Warning events (at most 10) about the workload
// and the objects it owns, which carry its name as a prefix (a Deployment's ReplicaSets).
func (inv *investigation) workloadWarnings(ns, owner string) []string {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return nil
	}
	if _, ok := inv.where["events_list"]; !ok {
		return nil
	}
	var ev contract.EventList
	if !inv.callData("events_list", map[string]any{"namespace": ns, "type": "Warning", "limit": 50}, &ev) {
		return nil
	}
	var out []string
	for _, e := range ev.Events {
		o := strings.Split(e.Object, "/")
		if name := o[len(o)-1]; e.Message != "" && (name == parts[2] || strings.HasPrefix(name, parts[2]+"-")) {
			out = append(out, clip(e.Reason+": "+e.Message, 1000))
			if len(out) == 10 {
				break
			}
		}
	}
	return out
}

// contextOf is the failure's context for the runbooks' templates.
func (inv *investigation) contextOf(f contract.Finding) knowledge.Context {
	c := knowledge.Context{Symptom: f.Category, Container: f.Container, Owner: f.Owner, Object: f.Object}
	parts := strings.Split(f.Object, "/")
	switch len(parts) {
	case 3:
		c.Namespace = parts[1]
		if parts[0] == "pod" {
			c.Pod = parts[2]
		}
	case 2:
		if parts[0] == "node" {
			c.Node = parts[1]
		}
	}
	if c.Owner == "" {
		c.Owner = f.Object
	}
	c.ServiceAccount = inv.serviceAccountOf(c.Owner)
	if _, gpus, ok := inv.gpuRequests(c.Owner, c.Container); ok {
		c.GPUs = strings.Join(gpus, ", ")
	}
	c.Image = inv.imageOf(c.Owner, c.Container)
	if c.Pod == "" {
		// a Job's or CronJob's finding names its failed pods in its evidence
		for _, e := range f.Evidence {
			if m := podInEvidence.FindStringSubmatch(e); m != nil {
				c.Pod = m[1]
				if c.Container == "" {
					c.Container = m[2]
				}
				break
			}
		}
	}
	return c
}

// serviceAccountOf is the ServiceAccount the pods of owner (kind/namespace/name) run as: their
// spec.serviceAccountName, else the namespace's "default"; "" when owner holds no pod template.
func (inv *investigation) serviceAccountOf(owner string) string {
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return ""
	}
	switch parts[0] {
	case "pod", "deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob":
	default:
		return ""
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	var spec struct {
		ServiceAccountName string `yaml:"serviceAccountName"`
		ServiceAccount     string `yaml:"serviceAccount"`
	}
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return ""
	}
	switch {
	case spec.ServiceAccountName != "":
		return spec.ServiceAccountName
	case spec.ServiceAccount != "":
		return spec.ServiceAccount
	}
	return "default"
}

// podsInEvidence are the pods (name, container) a finding's evidence names, in its order.
func podsInEvidence(evidence []string) [][2]string {
	var out [][2]string
	for _, e := range evidence {
		if m := podInEvidence.FindStringSubmatch(e); m != nil {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	return out
}

// podInEvidence reads "pod NAME: container C ..." at the start of an evidence line.
var podInEvidence = regexp.MustCompile(`^pod ([a-z0-9][a-z0-9.-]*): container ([a-z0-9][a-z0-9-]*)\b`)

// logLines reads the finding's pod's container log — the previous (crashed) one or the
// current one — and keeps the lines that look like errors, last ones first kept (at most 20).
func (inv *investigation) logLines(f contract.Finding, previous bool) []string {
	parts := strings.SplitN(strings.TrimPrefix(f.Object, "pod/"), "/", 2)
	if len(parts) != 2 || !strings.HasPrefix(f.Object, "pod/") {
		return nil
	}
	args := map[string]any{"namespace": parts[0], "name": parts[1], "tailLines": 100}
	if previous {
		args["previous"] = true
	}
	if f.Container != "" {
		args["container"] = f.Container
	}
	var logs contract.PodLogs
	res, ok := inv.call("pod_logs", args)
	if !ok || res.Decode(&logs) != nil {
		return nil
	}
	var out []string
	for _, l := range logs.Lines {
		if l = strings.TrimSpace(l); l != "" {
			// a message quoted inside a JSON log line ("message":"pods is forbidden: User
			// \"system:serviceaccount:...\"") reads as the program said it
			l = strings.ReplaceAll(l, `\"`, `"`)
			out = append(out, clip(l, 500))
		}
	}
	if len(out) > 20 {
		out = out[len(out)-20:]
	}
	// the last lines are the latest: match them first
	slices.Reverse(out)
	return out
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// failingNeighbour looks in the subject's namespace for what fails next to it and explains it:
// a failing workload the subject's own spec names (an environment variable, an argument: a
// dependency that crashloops next to the service asked about), or a failing member of the
// subject's own group (pods sharing its job or app label: one worker of a gang whose error the
// others only time out on). A neighbour counts when its own failure says more than the
// subject's: a cause of its own, or a signature other than the subject's. It returns that cause,
// or nil.
func (inv *investigation) failingNeighbour(f contract.Finding, sub *subject) *contract.Cause {
	owner := f.Owner
	if owner == "" {
		owner = f.Object
	}
	parts := strings.Split(owner, "/")
	if len(parts) != 3 {
		return nil
	}
	kind, ns, name := parts[0], parts[1], parts[2]
	var nsAn contract.Analysis
	if !inv.callData("analyze", map[string]any{"namespace": ns}, &nsAn) {
		return nil
	}
	var others []contract.Finding
	for _, g := range nsAn.Findings {
		if g.Severity == "critical" && !sameWorkload(g, f) && ownerOf(g) != owner {
			others = append(others, g)
		}
	}
	if len(others) == 0 {
		return nil
	}
	own, _ := inv.e.book.Match(splitLines(f.Evidence), inv.contextOf(f))
	spec := inv.specText(kind, ns, name)
	group := inv.groupOf(f)
	for _, g := range others {
		other := ownerOf(g)
		op := strings.Split(other, "/")
		depName := op[len(op)-1]
		// A Service named like the workload is its own (it fronts the workload's pods), and the
		// workload's own name is all over its spec: neither is a neighbour.
		named := spec != "" && depName != name && mentions(spec, depName)
		sibling := strings.HasPrefix(g.Object, "pod/") && group[strings.TrimPrefix(g.Object, "pod/"+ns+"/")]
		if !named && !sibling {
			continue
		}
		var behind *contract.Cause
		var line string
		switch {
		case g.Cause != nil:
			behind = g.Cause
		case strings.HasPrefix(g.Object, "service/"):
			// a Service without endpoints: what fails behind it
			var rep contract.CheckReport
			if inv.callData("reference_check", map[string]any{"namespace": ns, "host": depName}, &rep) && len(rep.Causes) > 0 {
				behind = &rep.Causes[0]
			}
		default:
			c, h, _ := inv.signature(append(splitLines(g.Evidence), inv.logLines(g, true)...), inv.contextOf(g), g)
			if h != nil && own.Runbook != nil && h.Runbook.Name == own.Runbook.Name {
				continue // it fails as the subject does: no more said
			}
			if c != nil {
				behind = c
				if h != nil {
					line = h.Line
				}
			}
		}
		if behind == nil && sibling {
			continue // a group member failing without a word of why explains nothing
		}
		if behind != nil && (behind.Object == owner || (f.Object != "" && strings.Contains(behind.Summary, strings.TrimPrefix(f.Object, "pod/"+ns+"/")))) {
			continue // what fails behind it is the subject itself (a Service of its own pods)
		}
		c := &contract.Cause{Category: contract.DependencyUnreachable, Object: other, Evidence: slices.Clone(g.Evidence)}
		if named {
			c.Summary = fmt.Sprintf("%s depends on %s (named in its spec), which fails: %s", owner, other, summaryOf(g))
		} else {
			c.Summary = fmt.Sprintf("%s, a member of the same group as %s, fails: %s", other, owner, summaryOf(g))
		}
		if behind != nil && behind.Summary != "" {
			c.Summary += "; behind it: " + behind.Summary
			if line != "" {
				c.Evidence = append([]string{line}, c.Evidence...)
			}
			c.Evidence = append(c.Evidence, behind.Evidence...)
			if sibling {
				// the member's own cause is the cause: its object and field, not the group
				c.Category, c.Object, c.Field = behind.Category, behind.Object, behind.Field
				if c.Object == "" {
					c.Object = other
				}
			}
		}
		return c
	}
	return nil
}

// behindDependency says why a failing dependency a check named (the StatefulSet behind a
// Service) fails: its own finding's cause, or the signature of its pod's line ("behind it: the
// broker's stored cluster id does not match"), one step and no further.
func (inv *investigation) behindDependency(c *contract.Cause) {
	parts := strings.Split(c.Object, "/")
	if c.Category != contract.DependencyUnreachable || len(parts) != 3 || parts[0] == "service" || strings.Contains(c.Summary, "; behind it: ") {
		return
	}
	var nsAn contract.Analysis
	if !inv.callData("analyze", map[string]any{"namespace": parts[1]}, &nsAn) {
		return
	}
	for _, g := range nsAn.Findings {
		if g.Severity != "critical" || ownerOf(g) != c.Object {
			continue
		}
		behind, line := g.Cause, ""
		var logged []string
		if behind == nil {
			var h *knowledge.Hit
			logged = inv.logLines(g, true)
			if len(logged) == 0 && !strings.HasPrefix(g.Object, "pod/") {
				// a Job (or another workload) whose failed pods its evidence names: their logs
				for i, ref := range podsInEvidence(g.Evidence) {
					if i == 3 || len(logged) > 0 {
						break
					}
					pf := contract.Finding{Object: "pod/" + parts[1] + "/" + ref[0], Container: ref[1]}
					logged = append(inv.logLines(pf, true), inv.logLines(pf, false)...)
				}
			}
			behind, h, _ = inv.signature(append(splitLines(g.Evidence), logged...), inv.contextOf(g), g)
			if h != nil {
				line = h.Line
			}
		}
		if behind == nil && (g.Category == diagnosis.CrashLoopBackOff || g.Category == diagnosis.JobFailed) {
			// no signature knows its words: what its own log last said is still why it fails
			last, where := "", "its log says"
			if lines := crashLines(logged); len(lines) > 0 {
				last = lines[len(lines)-1]
			} else if m := terminationMessage(g.Evidence); m != "" {
				last, where = m, "its last termination message says"
			}
			if last != "" {
				c.Summary = clip(c.Summary+"; behind it: "+c.Object+" itself crashes, "+where+": "+last, 1000)
				c.Evidence = append(c.Evidence, g.Object+": "+last)
				return
			}
		}
		if behind == nil || behind.Summary == "" || behind.Category == contract.DependencyUnreachable {
			continue
		}
		c.Summary = clip(c.Summary+"; behind it: "+behind.Summary, 1000)
		if line != "" {
			c.Evidence = append(c.Evidence, line)
		}
		return
	}
}

// terminationMessage is the message of the last termination a finding's evidence quotes
// ("lastState.terminated: reason=Error exitCode=1 message=... (restarts 6)"), "" when none.
func terminationMessage(evidence []string) string {
	for _, e := range evidence {
		if _, rest, ok := strings.Cut(e, "terminated: "); ok {
			if _, msg, ok := strings.Cut(rest, " message="); ok {
				if i := strings.LastIndex(msg, " (restarts "); i >= 0 {
					msg = msg[:i]
				}
				return strings.TrimSpace(msg)
			}
		}
	}
	return ""
}

// groupOf are the names of the pods that share a group label with the finding's pod (job,
// job-name, app, app.kubernetes.io/instance, ...): the other members of a gang or replica set.
// Labels that name one pod (pod, pod-template-hash, controller-revision-hash, an index) do not
// make a group.
func (inv *investigation) groupOf(f contract.Finding) map[string]bool {
	out := map[string]bool{}
	parts := strings.Split(f.Object, "/")
	if len(parts) != 3 || parts[0] != "pod" {
		return out
	}
	var o contract.ObjectYAML
	if _, ok := inv.where["resource_get"]; !ok || !inv.callData("resource_get", map[string]any{"kind": "pod", "namespace": parts[1], "name": parts[2]}, &o) {
		return out
	}
	var pod struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
	}
	if yaml.Unmarshal([]byte(o.YAML), &pod) != nil {
		return out
	}
	for k, v := range pod.Metadata.Labels {
		if v == parts[2] || podOnlyLabel[k] || strings.HasSuffix(k, "-index") || strings.HasSuffix(k, "/index") {
			continue
		}
		var list contract.ResourceList
		if !inv.callData("resources_list", map[string]any{"kind": "pods", "namespace": parts[1], "labelSelector": k + "=" + v, "limit": 64}, &list) {
			continue
		}
		for _, it := range list.Items {
			if it.Name != parts[2] {
				out[it.Name] = true
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}

// podOnlyLabel are labels that tell pods of one group apart, or revisions, rather than group them.
var podOnlyLabel = map[string]bool{
	"pod": true, "pod-template-hash": true, "controller-revision-hash": true,
	"statefulset.kubernetes.io/pod-name": true, "apps.kubernetes.io/pod-index": true,
	"batch.kubernetes.io/job-completion-index": true, "training.kubeflow.org/replica-index": true,
}

func ownerOf(g contract.Finding) string {
	if g.Owner != "" {
		return g.Owner
	}
	return g.Object
}

// splitLines gives each line of evidence and, when it joins several lines of a message (" | "),
// each of those.
func splitLines(evidence []string) []string {
	// The whole lines first: a signature's variables come from all of a message (the URL on
	// the line after the refusal); then each line of a joined message alone.
	out := slices.Clone(evidence)
	for _, e := range evidence {
		if parts := strings.Split(e, " | "); len(parts) > 1 {
			for _, p := range parts {
				if p = strings.TrimSpace(p); p != "" {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// sameWorkload says whether g is about f's workload (the same pod, or pods of the same owner).
func sameWorkload(g, f contract.Finding) bool {
	return g.Object == f.Object || (g.Owner != "" && g.Owner == f.Owner)
}

// specText is the pod template of the workload (or the pod's spec) as YAML — or, for an agent
// without resource_get, its description: what it names.
func (inv *investigation) specText(kind, ns, name string) string {
	args := map[string]any{"kind": kind, "namespace": ns, "name": name}
	var o contract.ObjectYAML
	if _, ok := inv.where["resource_get"]; !ok {
		var d contract.Description
		if inv.callData("describe", args, &d) {
			return d.Text
		}
		return ""
	}
	if !inv.callData("resource_get", args, &o) {
		return ""
	}
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(o.YAML), &obj); err != nil {
		return o.YAML
	}
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return ""
	}
	if jt, ok := spec["jobTemplate"].(map[string]any); ok {
		// a CronJob: its Job template's pod template
		spec, _ = jt["spec"].(map[string]any)
	}
	if tmpl, ok := spec["template"].(map[string]any); ok {
		spec, _ = tmpl["spec"].(map[string]any)
	}
	out, err := yaml.Marshal(spec)
	if err != nil {
		return ""
	}
	return string(out)
}

// mentions says whether text names name as a word of a host or reference (kv-cache in
// "redis://kv-cache:6379", "kv-cache.shop.svc", "name: kv-cache").
func mentions(text, name string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], name)
		if j < 0 {
			return false
		}
		j += i
		before, after := byte(' '), byte(' ')
		if j > 0 {
			before = text[j-1]
		}
		if k := j + len(name); k < len(text) {
			after = text[k]
		}
		if !isNameByte(before) && !isNameByte(after) {
			return true
		}
		i = j + 1
	}
}

func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b >= 'A' && b <= 'Z' || b == '_'
}
