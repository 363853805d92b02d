package runbook

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/opsmesh/opsmesh/api/contract"
	"go.yaml.in/yaml/v3"
)

// envSetting is one environment variable a container is given with a value that can be read:
// inline, from a ConfigMap key (env valueFrom), or from every key of a ConfigMap (envFrom).
// A Secret's values are never read, so its variables are not among them.
type envSetting struct {
	name, value    string
	object, field  string // the object and field that hold it (the workload's env entry, or data[KEY])
	where          string // where it comes from, as a sentence says it
	configMap, key string // the ConfigMap and key it comes from ("" when inline)
}

// envSettings are the variables the failing container of workload parts (kind, ns, name) is
// given, in the order the spec gives them (env, then envFrom; a ConfigMap's keys sorted).
func (inv *investigation) envSettings(f contract.Finding, parts []string) []envSetting {
	var spec envSpec
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return nil
	}
	ns := parts[1]
	var out []envSetting
	for _, ct := range spec.Containers {
		if f.Container != "" && ct.Name != f.Container {
			continue
		}
		for _, e := range ct.Env {
			switch {
			case e.ValueFrom == nil:
				out = append(out, envSetting{name: e.Name, value: e.Value, object: ownerOf(f),
					field: fmt.Sprintf("%scontainers[%s].env[%s]", templatePrefix(parts[0]), ct.Name, e.Name),
					where: fmt.Sprintf("the container's env %s", e.Name)})
			case e.ValueFrom.ConfigMapKeyRef != nil:
				r := e.ValueFrom.ConfigMapKeyRef
				if d, ok := inv.configMapData(ns, r.Name); ok {
					if v, has := d[r.Key]; has {
						out = append(out, envSetting{e.Name, v, fmt.Sprintf("configmap/%s/%s", ns, r.Name), fmt.Sprintf("data[%s]", r.Key),
							fmt.Sprintf("key %s of ConfigMap %s (env %s)", r.Key, r.Name, e.Name), r.Name, r.Key})
					}
				}
			}
		}
		for _, ef := range ct.EnvFrom {
			if ef.ConfigMapRef == nil {
				continue
			}
			d, ok := inv.configMapData(ns, ef.ConfigMapRef.Name)
			if !ok {
				continue
			}
			for _, k := range slices.Sorted(maps.Keys(d)) {
				out = append(out, envSetting{ef.Prefix + k, d[k], fmt.Sprintf("configmap/%s/%s", ns, ef.ConfigMapRef.Name), fmt.Sprintf("data[%s]", k),
					fmt.Sprintf("key %s of ConfigMap %s (envFrom)", k, ef.ConfigMapRef.Name), ef.ConfigMapRef.Name, k})
			}
		}
	}
	return out
}

// frameLine is a stack frame: Python's `File "/x/y/gptq/__init__.py", line 254, in load`, a
// JVM's `at com.acme.store.S3Store.put(S3Store.java:88)`, Node's `at load (/app/lib/s3.js:9:3)`,
// Go's `/src/store/s3/put.go:88 +0x1d` — after a launcher's "[rank0]: " if any.
var frameLine = regexp.MustCompile(`^(?:\[[\w,.-]{1,20}\](?:<std(?:out|err)>)?:\s?|\(\w{1,30} pid=\d+\)\s)?\s*(?:File "([^"]+)", line \d+, in (\S+)|at (?:([\w$.<>]+)\(|(?:\S+ )?\(?(/[^:()\s]+):\d+)|(/\S+\.go):\d+)`)

// frameNoise are the path segments of nearly every stack: installation directories, a language's
// own packages, the usual module names. A configuration value equal to one says nothing.
var frameNoise = map[string]bool{
	"opt": true, "usr": true, "lib": true, "local": true, "conda": true, "site": true, "dist": true, "packages": true,
	"app": true, "src": true, "init": true, "main": true, "module": true, "py": true, "js": true, "go": true, "java": true,
	"utils": true, "util": true, "models": true, "model": true, "layers": true, "server": true, "core": true, "common": true,
	"base": true, "internal": true, "pkg": true, "cmd": true, "node": true, "modules": true, "com": true, "org": true,
	"python": true, "python3": true, "anonymous": true, "runtime": true, "home": true, "root": true, "true": true, "false": true,
}

// frameSegments are the words of the code a traceback runs through — its files' directories and
// names, its modules and functions — lower case, split at / . _ - and $, without noise.
func frameSegments(lines []string) map[string]bool {
	out := map[string]bool{}
	n := 0
	for _, l := range lines {
		m := frameLine.FindStringSubmatch(l)
		if m == nil || n == 40 {
			continue
		}
		n++
		for _, g := range m[1:] {
			for _, w := range strings.FieldsFunc(strings.ToLower(g), func(r rune) bool { return strings.ContainsRune("/._-$<>", r) }) {
				if len(w) >= 3 && !frameNoise[w] && strings.ContainsAny(w, "abcdefghijklmnopqrstuvwxyz") {
					out[w] = true
				}
			}
		}
	}
	return out
}

// selectorName is the name of a setting that chooses an implementation: a mode, a type, a
// backend, a driver, a quantization, a format, a provider.
var selectorName = regexp.MustCompile(`(?i)MODE|TYPE|BACKEND|DRIVER|ENGINE|PROVIDER|KIND|QUANTI[SZ]|FORMAT|IMPL|METHOD|STRATEGY|PLUGIN|DIALECT|STORE|STORAGE|LOADER|ATTENTION|DTYPE|PRECISION|SCHEDULER|OPTIMI[SZ]ER|ALGO`)

// selectorValue is a value that selects one implementation among several: one short word
// (gptq, s3, postgres, redis), not a number, a path or a sentence.
var selectorValue = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{1,23}$`)

// frameSelected follows a traceback through code named for a value the container's settings
// select — QUANTIZE=gptq and a stack through layers/gptq/, STORAGE_BACKEND=s3 and one through
// store/s3/ — to that setting: the program failed in the implementation the setting chose, so
// the setting is what to look at (a quantization the checkpoint does not have, a backend not
// configured). It reports whether it moved the cause.
func (inv *investigation) frameSelected(c *contract.Cause, f contract.Finding, parts, lines []string) bool {
	segs := frameSegments(lines)
	if len(segs) == 0 {
		return false
	}
	for _, s := range inv.envSettings(f, parts) {
		v := strings.TrimSpace(s.value)
		if !selectorValue.MatchString(v) || !segs[strings.ToLower(v)] || frameNoise[strings.ToLower(v)] || !selectorName.MatchString(s.name) {
			continue
		}
		c.Category, c.Object, c.Field = contract.ApplicationConfig, s.object, s.field
		frame := ""
		for _, l := range lines {
			if frameLine.MatchString(l) && wordIn(strings.ToLower(l), strings.ToLower(v)) {
				frame = strings.TrimSpace(l)
				break
			}
		}
		c.Summary = clip(fmt.Sprintf("the program fails inside the code its setting %s=%s selects (%s): that choice does not fit what it loads or talks to; it comes from %s",
			s.name, v, clip(frame, 200), s.where), 1000)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s=%s", s.where, s.name, v), frame)
		// the program's own words about the value (a start-up line that echoes its arguments)
		for _, l := range lines {
			if !frameLine.MatchString(l) && l != frame && wordIn(strings.ToLower(l), strings.ToLower(v)) && !strings.Contains(c.Summary, l) {
				c.Evidence = append(c.Evidence, clip(strings.TrimSpace(l), 300))
				break
			}
		}
		return true
	}
	return false
}

// flagValue is a value that turns something on or off.
var flagValue = regexp.MustCompile(`(?i)^(?:1|0|true|false|yes|no|on|off|enabled?|disabled?)$`)

// flagNoise are words of variable names too common to say which one a line means.
var flagNoise = map[string]bool{
	"enable": true, "enabled": true, "disable": true, "disabled": true, "error": true, "errors": true, "debug": true,
	"level": true, "check": true, "server": true, "client": true, "connection": true, "timeout": true, "cache": true,
	"memory": true, "request": true, "requests": true, "config": true, "default": true, "allow": true, "force": true,
	"use": true, "mode": true, "feature": true, "flag": true, "logging": true, "verbose": true, "strict": true,
}

// flagNamed follows a failure whose words name a switch the container's settings turn on or off
// ("Offline mode is enabled" and HF_HUB_OFFLINE=1, "read-only" and READONLY=true) to those
// settings: a word of the variable's name, five letters or more and not a common one, is a word
// of the failing line, and its value is a flag. It reports whether it moved the cause.
func (inv *investigation) flagNamed(c *contract.Cause, f contract.Finding, parts, candidates []string) bool {
	var hits []envSetting
	line := ""
	for _, s := range inv.envSettings(f, parts) {
		if !flagValue.MatchString(strings.TrimSpace(s.value)) {
			continue
		}
		for _, w := range strings.Split(strings.ToLower(s.name), "_") {
			if len(w) < 5 || flagNoise[w] {
				continue
			}
			if l := lineWithSwitch(candidates, w); l != "" {
				if line == "" {
					line = l
				}
				if l == line && !slices.ContainsFunc(hits, func(h envSetting) bool { return h.name == s.name }) {
					hits = append(hits, s)
				}
			}
		}
	}
	if len(hits) == 0 {
		return false
	}
	named := make([]string, len(hits))
	for i, h := range hits {
		named[i] = h.name + "=" + strings.TrimSpace(h.value)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s", h.where, named[i]))
	}
	c.Category, c.Object, c.Field = contract.ApplicationConfig, hits[0].object, hits[0].field
	c.Summary = clip(fmt.Sprintf("the program fails because a switch its configuration sets is on or off: %s (%s); it comes from %s",
		strings.Join(named, ", "), clip(line, 240), hits[0].where), 1000)
	return true
}

// lineWithSwitch is the first of lines that says switch w is on or off: the word, then within
// two words "mode", "enabled", "disabled", "is on/off/set/true/false" or "only" ("Offline mode is
// enabled", "read-only"), or "enable(d)/disable(d)/in" before it — not the word as part of a name
// ("liquibase.exception.LockException" says nothing of SPRING_LIQUIBASE_ENABLED). "" when none.
func lineWithSwitch(lines []string, w string) string {
	for _, l := range lines {
		low := strings.ToLower(l)
		for i := 0; ; {
			j := strings.Index(low[i:], w)
			if j < 0 {
				break
			}
			at, end := i+j, i+j+len(w)
			i = end
			before, after := low[:at], low[end:]
			if (at > 0 && (wordByte(low[at-1]) || low[at-1] == '.')) || (end < len(low) && (wordByte(low[end]) || low[end] == '.')) {
				continue // inside a longer word or a dotted name
			}
			if stateAfter.MatchString(after) || stateBefore.MatchString(before) {
				return l
			}
		}
	}
	return ""
}

// stateAfter and stateBefore are what says a switch's state next to its word: "mode is
// enabled", "disabled", "is on" after it, or "enabled"/"in" before it.
var (
	stateAfter  = regexp.MustCompile(`^(?:[^\w.]+\w+){0,2}?[^\w.]+(?:mode|enabled|disabled|is (?:on|off|set|true|false)|only)\b`)
	stateBefore = regexp.MustCompile(`\b(?:enabled?|disabled?|in)\s+$`)
)

// lineWithWord is the first of lines that holds w as a whole word, in any case ("" when none).
func lineWithWord(lines []string, w string) string {
	for _, l := range lines {
		if wordIn(strings.ToLower(l), w) {
			return l
		}
	}
	return ""
}

// pathSetting is the name of a variable that points a program at a directory or file it reads:
// HF_HOME, MODEL_DIR, CACHE_PATH, DATA_ROOT.
var pathSetting = regexp.MustCompile(`(?i)HOME|DIR|PATH|CACHE|ROOT|STORE|MODELS?$|DATA|FOLDER|REPO`)

// notFoundWords are the words of a line that says files the program looks for are not there.
var notFoundWords = regexp.MustCompile(`(?i)cannot find|can't find|couldn't find|could not find|not found|no such file|does not exist|doesn't exist|is empty|missing|no (?:model|checkpoint|weights?|files?) (?:found|in)`)

// unmountedPath follows a failure that says the files it looks for are not there to a path
// setting of the container that points where no volume is mounted, while the container does
// mount volumes elsewhere (HF_HOME=/models/hf, the cache at /mnt/hf-cache): the program looks
// in an empty directory of its own image. It reports whether it moved the cause.
func (inv *investigation) unmountedPath(c *contract.Cause, f contract.Finding, parts, candidates []string) bool {
	if !slices.ContainsFunc(candidates, notFoundWords.MatchString) {
		return false
	}
	var spec struct {
		Containers []struct {
			Name         string `yaml:"name"`
			VolumeMounts []struct {
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
		} `yaml:"containers"`
	}
	text := inv.specText(parts[0], parts[1], parts[2])
	if text == "" || yaml.Unmarshal([]byte(text), &spec) != nil {
		return false
	}
	var mounts []string
	for _, ct := range spec.Containers {
		if f.Container == "" || ct.Name == f.Container {
			for _, m := range ct.VolumeMounts {
				// the kubelet's own mounts say nothing of where data is
				if !strings.HasPrefix(m.MountPath, "/var/run/secrets/") && !strings.HasPrefix(m.MountPath, "/dev/") {
					mounts = append(mounts, path.Clean(m.MountPath))
				}
			}
		}
	}
	if len(mounts) == 0 {
		return false
	}
	under := func(p string) bool {
		for _, m := range mounts {
			if p == m || strings.HasPrefix(p, m+"/") || m == "/" {
				return true
			}
		}
		return false
	}
	for _, s := range inv.envSettings(f, parts) {
		v := strings.TrimSpace(s.value)
		if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " :") || !pathSetting.MatchString(s.name) || under(path.Clean(v)) {
			continue
		}
		c.Category, c.Object, c.Field = contract.ApplicationConfig, s.object, s.field
		line := ""
		for _, l := range candidates {
			if notFoundWords.MatchString(l) {
				line = l
				break
			}
		}
		c.Summary = clip(fmt.Sprintf("%s=%s points where no volume is mounted (the container mounts %s): the program looks for its files there, in its image's empty directory, and does not find them (%s); it comes from %s",
			s.name, v, strings.Join(mounts, ", "), clip(line, 240), s.where), 1000)
		c.Evidence = append(c.Evidence, fmt.Sprintf("%s: %s=%s", s.where, s.name, v), fmt.Sprintf("the container's mounts: %s", strings.Join(mounts, ", ")))
		return true
	}
	return false
}
