package runbook

import (
	"fmt"
	"maps"
	"path"
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

// compoundToken is a bare word with a separator inside: a dotted, hyphenated, snake-case,
// slashed or colon-joined name (eu-north-7, max_allowed_packet, otlp/tempo,
// invoices.created.v2, broker:5672).
var compoundToken = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9]*(?:[._/:@-][A-Za-z0-9]+)+`)

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
	for _, m := range quotedToken.FindAllStringSubmatchIndex(line, -1) {
		if rest := strings.TrimLeft(line[m[1]:], " "); strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "=") {
			continue // a JSON key or a logfmt name ("addr": ":8080"), not a value
		}
		for i := 2; i < len(m); i += 2 {
			if g := line[max(m[i], 0):max(m[i+1], 0)]; g != "" && !strings.Contains(g, ": ") {
				// a quoted message ("err":"storage: bucket doesn't exist") is no value
				add(g)
			}
		}
	}
	for _, t := range compoundToken.FindAllString(line, -1) {
		add(t)
	}
	// a single word a message sets in parentheses, as it quotes a value ("specified in the model
	// config (awq) does not match ... (gptq)")
	for _, m := range parenWord.FindAllStringSubmatch(line, -1) {
		add(m[1])
	}
	// a long number (a timeout in ms, a size in bytes) is a value few things share: last
	for _, m := range longNumberIn.FindAllStringSubmatch(line, -1) {
		if len(out) < 10 && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// parenWord is one word in parentheses: (awq), (bf16).
var parenWord = regexp.MustCompile(`\(([A-Za-z][\w.-]{2,39})\)`)

// longNumberIn finds whole numbers of five digits or more in a line, not parts of a dotted,
// dashed or colon-joined token (an address, a date, a version).
var longNumberIn = regexp.MustCompile(`(?:^|[\s(='"])(\d{5,})(?:$|[\s),'"]|\.\s|\.$)`)

// longNumber is a token that is such a number.
var longNumber = regexp.MustCompile(`^\d{5,}$`)

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
	if m := envField.FindStringSubmatch(c.Field); m != nil && len(parts) == 3 && !elsewhere(c.Object, owner) {
		// a word the signature read as a variable's name ("JSON") that the container does not
		// set names no setting
		if env, ok := inv.containerEnv(f, parts); ok && !env.secrets && !env.set[m[1]] {
			c.Field = ""
		}
	}
	if len(parts) != 3 || c.Field != "" || elsewhere(c.Object, owner) ||
		(c.Category != contract.ApplicationError && c.Category != contract.ApplicationConfig) {
		return false
	}
	candidates := []string{hit.Line}
	n := 0
	// a failure's line, or an item of the list a failure's line introduces ("WARNING: The
	// following options are UNAVAILABLE:" then " - hostname-url: ..."; logs come newest first, so
	// the introducing line is either neighbour)
	failing := func(i int) bool {
		return i >= 0 && i < len(lines) && !knowledge.InfoLine(lines[i]) && !kubeletWords.MatchString(lines[i]) && failureWords.MatchString(lines[i])
	}
	for i := len(lines) - 1; i >= 0 && n < 8; i-- {
		l := lines[i]
		if l != hit.Line && (failing(i) || listItem.MatchString(l) && (failing(i-1) || failing(i+1))) {
			candidates = append(candidates, l)
			n++
		}
	}
	// the names the cluster gives (the pod's, its containers', the workload's) are no values
	// of a configuration
	own := []string{owner, f.Object, f.Container}
	var tokens []string
	for _, l := range candidates {
		if kubeletWords.MatchString(l) {
			continue
		}
		for _, t := range lineTokens(l) {
			if !slices.Contains(tokens, t) && !slices.ContainsFunc(own, func(o string) bool { return o != "" && strings.Contains(o, t) }) && len(tokens) < 16 {
				tokens = append(tokens, t)
			}
		}
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
		// a name in the container's command is the program itself (python -m trainer.train), not
		// a value it is given
		if v := inv.settingOf(&try, f, tok, nil); v != "" && try.Field != "" && !strings.HasSuffix(try.Field, ".command") && wordIn(v, tok) && !service() {
			*c = try
			c.Category = contract.ApplicationConfig
			c.Summary = clip(fmt.Sprintf("the program fails on %s, a value its configuration gives it (%s)%s", tok, clip(lineWith(candidates, tok), 240), try.Summary), 1000)
			return true
		}
		if src, ok := inv.mountedHolding(pf, f.Container, parts[1], tok); ok && inv.holdsWord(parts[1], src, tok) && !service() {
			moveToFile(c, parts[1], src, fmt.Sprintf("the program fails on %s (%s), which its configuration file %s gives it", tok, clip(lineWith(candidates, tok), 240), src.file),
				fmt.Sprintf("%s is mounted from %s %s key %s, which holds %s", src.file, src.word(), src.name, src.key, tok))
			return true
		}
	}
	// a setting the line names by its name (hostname-url, spring.kafka.bootstrap-servers) that
	// an environment variable carries by the usual conventions (KC_HOSTNAME_URL)
	var names []string
	for _, tok := range tokens {
		if settingName.MatchString(tok) {
			names = append(names, tok)
		}
	}
	if len(names) > 0 {
		try := *c
		try.Evidence = slices.Clone(c.Evidence)
		try.Summary = ""
		if _, ok := inv.settingByName(&try, f, names); ok && (try.Field != "" || try.Object != c.Object) {
			name := names[0]
			for _, n := range names {
				if strings.Contains(try.Summary, n) || strings.Contains(strings.Join(try.Evidence, " "), strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(n))) {
					name = n
					break
				}
			}
			*c = try
			c.Category = contract.ApplicationConfig
			c.Summary = clip(fmt.Sprintf("the program refuses or ignores its setting %s (%s)%s", name, clip(lineWith(candidates, name), 240), try.Summary), 1000)
			return true
		}
	}
	// a setting of a dependency the workload calls (a server's max_allowed_packet): the
	// ConfigMap file the dependency's pods mount that holds it
	if inv.dependencyHolding(c, f, hit, parts[1], tokens, candidates) {
		return true
	}
	// an environment variable the line names that the container's environment lacks
	if inv.envLacking(c, f, parts, candidates) {
		return true
	}
	// a switch the configuration turns on that the line names ("Offline mode is enabled")
	if inv.flagNamed(c, f, parts, candidates) {
		return true
	}
	// a traceback through the implementation a setting selects (layers/gptq/ for QUANTIZE=gptq)
	if inv.frameSelected(c, f, parts, lines) {
		return true
	}
	// a path setting that points where nothing is mounted, for files the line cannot find
	if inv.unmountedPath(c, f, parts, candidates) {
		return true
	}
	// a configuration file the line names by its name alone ("datasource.yaml config is
	// invalid"): the mounted ConfigMap key of that name
	for _, l := range candidates {
		for _, m := range fileName.FindAllStringSubmatch(l, -1) {
			if src, ok := inv.mountedKey(pf, f.Container, parts[1], m[1]); ok {
				moveToFile(c, parts[1], src, fmt.Sprintf("the program refuses its configuration file %s (%s)", m[1], clip(l, 240)),
					fmt.Sprintf("%s is mounted from %s %s key %s", src.file, src.word(), src.name, src.key))
				return true
			}
		}
	}
	// a line that speaks of the program's configuration, from a container that mounts one
	// ConfigMap: that one
	if configWords.MatchString(hit.Line) {
		if src, ok := inv.onlyMounted(pf, f.Container, parts[1]); ok {
			moveToFile(c, parts[1], src, fmt.Sprintf("the program refuses its configuration (%s), which it reads from the one ConfigMap it mounts", clip(hit.Line, 240)),
				fmt.Sprintf("the container mounts ConfigMap %s at %s, and no other", src.name, src.mountPath))
			return true
		}
	}
	return false
}

// fileName is a configuration file's name, without its directory.
var fileName = regexp.MustCompile(`(?:^|[^\w./-])([\w-]+(?:\.[\w-]+)*\.(?:ya?ml|json|toml|conf|cfg|cnf|ini|properties|xml|hcl|env|tmpl|tpl|lua|rules))\b`)

// configWords are the words of a line that says the program's configuration is at fault.
var configWords = regexp.MustCompile(`(?i)\bconfig(?:uration)?s?\b|\bsettings?\b|\bunmarshal|\bpars(?:e|ing)\b|\bdecod(?:e|ing)\b|\bprovisioning\b`)

// lineWith is the first of lines that holds tok (the first line when none does).
func lineWith(lines []string, tok string) string {
	for _, l := range lines {
		if strings.Contains(l, tok) {
			return l
		}
	}
	return lines[0]
}

// moveToFile makes the mounted ConfigMap key src the setting at fault (a configuration the
// program refuses).
func moveToFile(c *contract.Cause, ns string, src fileSource, summary, evidence string) {
	word := src.word()
	c.Category = contract.ApplicationConfig
	c.Object, c.Field = fmt.Sprintf("%s/%s/%s", src.kind, ns, src.name), "data"
	key := ""
	if src.key != "" {
		c.Field, key = fmt.Sprintf("data[%s]", src.key), fmt.Sprintf("key %s of ", src.key)
	}
	c.Summary = clip(fmt.Sprintf("%s; %s is %s%s %s (mounted at %s): fix it there", summary, src.file, key, word, src.name, src.mountPath), 1000)
	c.Evidence = append(c.Evidence, evidence)
	c.Fix = &contract.Fix{Text: fmt.Sprintf("correct %s%s %s; the pods read it again when they restart", key, word, src.name)}
}

// mountedKey finds the ConfigMap key called name among the ConfigMap volumes the container mounts.
func (inv *investigation) mountedKey(pf podFiles, container, ns, name string) (fileSource, bool) {
	for _, src := range inv.mountedConfigMaps(pf, container, ns) {
		if src.key != "" {
			if src.key == name {
				return src, true
			}
			continue
		}
		data, _ := inv.configMapData(ns, src.name)
		if _, ok := data[name]; ok {
			src.key, src.file = name, path.Join(src.mountPath, name)
			return src, true
		}
	}
	return fileSource{}, false
}

// onlyMounted is the one ConfigMap the container mounts (its one key, when it has one); ok is
// false when it mounts none or several.
func (inv *investigation) onlyMounted(pf podFiles, container, ns string) (fileSource, bool) {
	all := inv.mountedConfigMaps(pf, container, ns)
	if len(all) != 1 {
		return fileSource{}, false
	}
	src := all[0]
	if data, _ := inv.configMapData(ns, src.name); src.key == "" && len(data) == 1 {
		for k := range data {
			src.key, src.file = k, path.Join(src.mountPath, k)
		}
	}
	return src, true
}

// mountedConfigMaps are the ConfigMap volumes (that exist) the container mounts, once each: whole
// (no key), or one key as a file (subPath).
func (inv *investigation) mountedConfigMaps(pf podFiles, container, ns string) []fileSource {
	var out []fileSource
	for _, ct := range pf.all() {
		if container != "" && ct.Name != container {
			continue
		}
		for _, m := range ct.VolumeMounts {
			for _, v := range pf.Volumes {
				if v.Name != m.Name {
					continue
				}
				for _, name := range pf.configMapsOf(v.Name) {
					if slices.ContainsFunc(out, func(x fileSource) bool { return x.name == name && x.key == m.SubPath }) {
						continue
					}
					if _, ok := inv.configMapData(ns, name); ok {
						// a single key mounted as a file (subPath) is that key
						out = append(out, fileSource{kind: "configmap", name: name, key: m.SubPath, mountPath: m.MountPath, file: m.MountPath})
					}
				}
			}
		}
	}
	return out
}

// serviceExists says whether Service ns/name exists (false when it cannot be read).
func (inv *investigation) serviceExists(ns, name string) bool {
	var o contract.ObjectYAML
	return inv.callData("resource_get", map[string]any{"kind": "service", "namespace": ns, "name": name}, &o)
}

// failureWords are the words of a line that reports a failure, whatever its logger (or a
// setting the program ignores: "UNAVAILABLE", "deprecated", "ignored").
var failureWords = regexp.MustCompile(`(?i)\b(?:error|err|fatal|panic|exception|fail(?:ed|ure|s)?|invalid|cannot|can't|could not|unable|refused|denied|not found|no such|unknown|unsupported|not supported|unrecognized|unavailable|ignored|deprecated|removed|missing|exceed(?:s|ed)?|timed? ?out|warn|warning)\b`)

// settingName is a token shaped like a setting's name: lower case words joined by dots, hyphens
// or underscores (hostname-strict, spring.datasource.url, max_connections).
var settingName = regexp.MustCompile(`^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)+$`)

// wordIn says whether tok appears in s as a whole word: not inside a longer name ("addr" is no
// word of "--health-probe-bind-address").
func wordIn(s, tok string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], tok)
		if j < 0 {
			return false
		}
		j += i
		before, after := j == 0 || !wordByte(s[j-1]), j+len(tok) == len(s) || !wordByte(s[j+len(tok)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func wordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// holdsWord says whether the ConfigMap key src comes from holds tok as a whole word.
func (inv *investigation) holdsWord(ns string, src fileSource, tok string) bool {
	data, ok := inv.configMapData(ns, src.name)
	return ok && wordIn(data[src.key], tok)
}

// unsetAfter is what follows a variable's name in a line that says it is not set.
var unsetAfter = regexp.MustCompile(`(?i)^[^.]{0,40}?\b(?:not set|unset|empty|missing|undefined|required|no entry)`)

// envName is an environment variable's name as programs write it: upper case with an underscore.
var envName = regexp.MustCompile(`\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b`)

// envLacking names an environment variable the failing line names (a template's "map has no
// entry for key \"UPSTREAM_HOST\"", a "UPSTREAM_HOST is empty") that the failing container's
// environment does not set — neither by env nor through the ConfigMaps and Secrets of its
// envFrom — and the ConfigMap it takes its environment from, where a key of a like name shows
// what it was renamed to. It reports whether it named one.
func (inv *investigation) envLacking(c *contract.Cause, f contract.Finding, parts []string, lines []string) bool {
	env, ok := inv.containerEnv(f, parts)
	if !ok || env.secrets {
		return false // a Secret's keys are not read: the variable may come from there
	}
	ct, list, set, fromCM := env.container, env.list, env.set, env.fromCM
	for _, l := range lines {
		for _, m := range envName.FindAllStringSubmatch(l, -1) {
			name := m[1]
			quoted := strings.Contains(l, `"`+name+`"`) || strings.Contains(l, "'"+name+"'") || strings.Contains(l, "$"+name) || strings.Contains(l, "{"+name)
			if set[name] || !quoted && !unsetAfter.MatchString(l[strings.Index(l, name)+len(name):]) {
				continue
			}
			c.Category = contract.ApplicationConfig
			c.Object, c.Field = ownerOf(f), fmt.Sprintf("spec.template.spec.%s[%s].env[%s]", list, ct, name)
			if parts[0] == "pod" {
				c.Field = fmt.Sprintf("spec.%s[%s].env[%s]", list, ct, name)
			}
			summary := fmt.Sprintf("the program needs the environment variable %s (%s), which container %s does not set", name, clip(l, 240), ct)
			like := likeNamed(name, set)
			if len(fromCM) > 0 {
				c.Object, c.Field = fmt.Sprintf("configmap/%s/%s", parts[1], fromCM[0]), fmt.Sprintf("data[%s]", name)
				summary += fmt.Sprintf(": ConfigMap %s, which it takes its environment from, has no key %s", fromCM[0], name)
			}
			if like != "" {
				summary += fmt.Sprintf(" (it sets %s: renamed?)", like)
			}
			c.Summary = clip(summary, 1000)
			c.Evidence = append(c.Evidence, fmt.Sprintf("container %s's environment: %s", ct, clip(strings.Join(slices.Sorted(maps.Keys(set)), ", "), 300)))
			c.Fix = &contract.Fix{Text: fmt.Sprintf("set %s for container %s (or give the key back to its ConfigMap)", name, ct)}
			return true
		}
	}
	return false
}

// likeNamed is a variable of set that shares a word of three letters or more with name
// (DOCS_UPSTREAM_ADDR for UPSTREAM_HOST; the one that shares most), or "".
func likeNamed(name string, set map[string]bool) string {
	best, most := "", 0
	for _, k := range slices.Sorted(maps.Keys(set)) {
		n := 0
		for _, w := range strings.Split(name, "_") {
			if len(w) >= 3 && slices.Contains(strings.Split(k, "_"), w) {
				n++
			}
		}
		if n > most {
			best, most = k, n
		}
	}
	return best
}

// containerEnv is what the failing container's environment holds: the names it sets (env, and the
// keys of the ConfigMaps of its envFrom, with their prefixes), those ConfigMaps, and whether a
// Secret gives it more (whose keys are not read).
type containerEnv struct {
	container, list string // its name; containers or initContainers
	set             map[string]bool
	fromCM          []string
	secrets         bool
}

// containerEnv reads the environment of the failing container of workload parts (kind, ns, name);
// ok is false when it cannot be read (or a ConfigMap of its envFrom is missing).
func (inv *investigation) containerEnv(f contract.Finding, parts []string) (containerEnv, bool) {
	spec, ok := inv.containersSpec(parts)
	if !ok {
		return containerEnv{}, false
	}
	for i, x := range slices.Concat(spec.Containers, spec.InitContainers) {
		if x.Name != f.Container && (f.Container != "" || i > 0) {
			continue
		}
		out := containerEnv{container: x.Name, list: "containers", set: map[string]bool{}}
		if i >= len(spec.Containers) {
			out.list = "initContainers"
		}
		for _, e := range x.Env {
			out.set[e.Name] = true
		}
		for _, ef := range x.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				data, ok := inv.configMapData(parts[1], ef.ConfigMapRef.Name)
				if !ok {
					return containerEnv{}, false // a reference that is missing says more, elsewhere
				}
				for k := range data {
					out.set[ef.Prefix+k] = true
				}
				out.fromCM = append(out.fromCM, ef.ConfigMapRef.Name)
			case ef.SecretRef != nil:
				out.secrets = true
			}
		}
		return out, true
	}
	return containerEnv{}, false
}

// dependencyHolding looks for the values the line names in the configuration files of the
// dependencies the workload's settings name (a Service in a connection string): a server that
// refuses what the client sends says so in the client's log, and names its own setting ("set
// the 'max_allowed_packet' variable on the server"). The ConfigMap key the dependency's pod
// mounts that holds it is the setting at fault. It reports whether it moved the cause.
func (inv *investigation) dependencyHolding(c *contract.Cause, f contract.Finding, hit knowledge.Hit, ns string, tokens, lines []string) bool {
	for _, svc := range inv.servicesNamed(ns, inv.settingsText(f)) {
		pods := inv.servicePods(ns, svc)
		if len(pods) == 0 {
			continue
		}
		var pf podFiles
		text := inv.specText("pod", ns, pods[0])
		if text == "" || yaml.Unmarshal([]byte(text), &pf) != nil {
			continue
		}
		for _, tok := range tokens {
			if !strings.Contains(tok, "_") && !strings.Contains(tok, ".") && !longNumber.MatchString(tok) {
				continue // a setting's name (or a value few things share), not a word a server's file may hold for other reasons
			}
			src, ok := inv.mountedHolding(pf, "", ns, tok)
			if !ok || !inv.holdsWord(ns, src, tok) {
				continue
			}
			setting := tok
			if src.kind == "configmap" {
				if data, ok := inv.configMapData(ns, src.name); ok {
					if l := lineWithWord(strings.Split(data[src.key], "\n"), strings.ToLower(tok)); l != "" {
						setting = clip(strings.TrimSpace(l), 160)
					}
				}
			}
			moveToFile(c, ns, src, fmt.Sprintf("the program fails on %s (%s), a setting of the dependency it calls, Service %s, whose pod %s reads it from %s: %s", tok, clip(lineWith(lines, tok), 240), svc, pods[0], src.file, setting),
				fmt.Sprintf("pod %s (behind Service %s) mounts %s from %s %s key %s, which sets %s", pods[0], svc, src.file, src.word(), src.name, src.key, setting))
			return true
		}
	}
	return false
}

// listItem is an item of a list a program prints under a line that introduces it.
var listItem = regexp.MustCompile(`^\s*(?:[-*•]\s|\d+[.)]\s)`)

// kubeletWords are the kubelet's and controllers' own event lines ("BackOff: Back-off restarting
// failed container app in pod ..."): they name the cluster's objects, not the program's values.
var kubeletWords = regexp.MustCompile(`^(?:BackOff|Failed|Unhealthy|FailedMount|FailedScheduling|FailedCreate|Killing|Pulling|Pulled|Created|Started|OOMKilling|Evicted|ProbeWarning|FailedPreStopHook|FailedPostStartHook|FailedCreatePodSandBox|FailedAttachVolume|ProvisioningFailed|SuccessfulCreate|ScalingReplicaSet): |^(?:status\.|spec\.)|Back-off restarting failed container`)
