package knowledge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuiltinExamples checks every built-in runbook against its own examples: each line it
// lists must match with the variables it lists, each noMatch line must not.
func TestBuiltinExamples(t *testing.T) {
	s := Builtin()
	if len(s.Runbooks()) < 25 {
		t.Fatalf("%d built-in runbooks; the file has more", len(s.Runbooks()))
	}
	for _, r := range s.runbooks {
		t.Run(r.Name, func(t *testing.T) {
			if err := r.Check(); err != nil {
				t.Error(err)
			}
			// Every template renders with the first example's variables.
			vars, _ := r.vars(unescape(r.Examples.Match[0].Line))
			Context{Namespace: "ns", Pod: "p-0", Container: "c", Owner: "deployment/ns/web"}.add(vars)
			h := Hit{Runbook: r, Line: r.Examples.Match[0].Line, Vars: vars}
			c := h.Cause()
			if (c.Summary == "" || c.Category == "") && len(r.Follow) == 0 {
				t.Errorf("cause renders empty: %+v", c)
			}
			if strings.Contains(c.Summary, "<no value>") || strings.Contains(c.Object, "<no value>") {
				t.Errorf("cause renders a missing variable: %+v", c)
			}
			for _, call := range h.Calls() {
				for k, v := range call.Args {
					if strings.Contains(v.(string), "<no value>") {
						t.Errorf("follow %s arg %s renders a missing variable: %q", call.Tool, k, v)
					}
				}
			}
		})
	}
}

// TestMatchOrder: the first runbook in the file wins, a runbook's On limits it to symptoms, and
// the context's variables fill the templates.
func TestMatchOrder(t *testing.T) {
	s := Builtin()
	line := `failed to list pods: pods is forbidden: User "system:serviceaccount:ml:scaler" cannot list resource "pods" in API group "" in the namespace "ml"`
	h, ok := s.Match([]string{"starting", line}, Context{Symptom: "CrashLoopBackOff", Namespace: "ml", Pod: "scaler-1", Owner: "deployment/ml/scaler"})
	if !ok || h.Runbook.Name != "rbac-forbidden" {
		t.Fatalf("got %v %v, want rbac-forbidden", h.Runbook, ok)
	}
	calls := h.Calls()
	if len(calls) != 1 || calls[0].Tool != "access_check" || calls[0].Args["verb"] != "list" || calls[0].Args["serviceAccount"] != "scaler" || calls[0].Args["resource"] != "pods" {
		t.Fatalf("calls %+v", calls)
	}
	if _, set := calls[0].Args["subresource"]; set {
		t.Errorf("an empty subresource is left out: %+v", calls[0].Args)
	}
	if got := h.Cause().Object; got != "serviceaccount/ml/scaler" {
		t.Errorf("object %q", got)
	}
	if _, ok := s.Match([]string{"all good"}, Context{}); ok {
		t.Error("a line without a signature matched")
	}
	// probe-failed applies to any symptom; volume-full's path is extracted from the line.
	h, ok = s.Match([]string{"write /data/wal/1: no space left on device"}, Context{Namespace: "db", Pod: "db-0", Container: "db"})
	if !ok || h.Runbook.Name != "volume-full" || h.Vars["path"] != "/data/wal/1" {
		t.Fatalf("got %+v", h)
	}
	// the path first; then, if no volume is mounted there, the pod's one claim
	if c := h.Calls(); len(c) != 2 || c[0].Args["problem"] != "full" || c[0].Args["path"] != "/data/wal/1" || c[1].Args["path"] != nil {
		t.Fatalf("calls %+v", c)
	}
}

// TestServerRunbooks: a server runbook (a line a dependency logs about a client it refuses) is
// matched by MatchServer only, and a workload's own lines never reach it.
func TestServerRunbooks(t *testing.T) {
	s := Builtin()
	line := `{"c":"ACCESS","msg":"Failed to authenticate","attr":{"user":"shop","db":"shop","error":"UserNotFound: Could not find user \"shop\" for db \"shop\""}}`
	ctx := Context{Symptom: "CrashLoopBackOff", Namespace: "web", Owner: "deployment/web/shop"}
	if h, ok := s.Match([]string{line}, ctx); ok && h.Runbook.Server {
		t.Fatalf("Match took server runbook %s", h.Runbook.Name)
	}
	h, ok := s.MatchServer([]string{"Connection accepted", line}, ctx)
	if !ok || h.Runbook.Name != "server-mongodb-user-not-found" || h.Vars["user"] != "shop" || h.Vars["db"] != "shop" {
		t.Fatalf("MatchServer: %+v %v", h, ok)
	}
	if c := h.Cause(); c.Object != "deployment/web/shop" || !strings.Contains(c.Summary, "authSource") || h.Setting() != "shop" {
		t.Fatalf("cause %+v setting %q", c, h.Setting())
	}
	// a workload's own crash line is not a server's
	if h, ok := s.MatchServer([]string{`FATAL: password authentication failed for user "shop"`}, ctx); ok {
		t.Fatalf("MatchServer took a client line: %s", h.Runbook.Name)
	}
}

func TestParseErrors(t *testing.T) {
	head := "apiVersion: opsmesh.dev/v1alpha1\nkind: Runbooks\n"
	for name, tc := range map[string]struct{ doc, want string }{
		"not yaml":            {"runbooks: [", "a runbook file is"},
		"wrong kind":          {"apiVersion: v1\nkind: ConfigMap\nrunbooks: []", "want apiVersion"},
		"empty":               {head + "runbooks: []", "no runbooks"},
		"unknown field":       {head + "runbooks:\n- name: a\n  matches: x", "unknown field"},
		"bad regexp":          {head + "runbooks:\n- name: a\n  match: '(x'\n  cause: {category: VolumeFull, summary: s}\n  examples: {match: [{line: x}]}", "match:"},
		"bad category":        {head + "runbooks:\n- name: a\n  match: x\n  cause: {category: Gremlins, summary: s}\n  examples: {match: [{line: x}]}", "not a cause category"},
		"bad template":        {head + "runbooks:\n- name: a\n  match: x\n  cause: {category: VolumeFull, summary: '{{.x'}\n  examples: {match: [{line: x}]}", "cause.summary"},
		"no examples":         {head + "runbooks:\n- name: a\n  match: x\n  cause: {category: VolumeFull, summary: s}", "examples.match is empty"},
		"bad name":            {head + "runbooks:\n- name: A_B\n  match: x\n  cause: {category: VolumeFull, summary: s}\n  examples: {match: [{line: x}]}", "lower-case"},
		"bad setting pattern": {head + "runbooks:\n- name: a\n  match: x\n  settingPattern: '(-Xmx'\n  cause: {category: VolumeFull, summary: s}\n  examples: {match: [{line: x}]}", `runbook 0 ("a"): settingPattern:`},
		"bad gather":          {head + "runbooks:\n- name: a\n  match: x\n  gather: {port: '(\\d+'}\n  cause: {category: VolumeFull, summary: s}\n  examples: {match: [{line: x}]}", "gather.port"},
		"bad action":          {head + "runbooks:\n- name: a\n  match: x\n  cause: {category: VolumeFull, summary: s}\n  action: {kind: reboot}\n  examples: {match: [{line: x}]}", "action.kind"},
		"server with follow":  {head + "runbooks:\n- name: a\n  server: true\n  match: x\n  cause: {category: CredentialsRejected, summary: s}\n  follow: [{tool: reference_check}]\n  examples: {match: [{line: x}]}", "server: a server runbook names the cause and the setting only"},
		"duplicate name":      {head + "runbooks:\n- {name: a, match: x, cause: {category: VolumeFull, summary: s}, examples: {match: [{line: x}]}}\n- {name: a, match: y, cause: {category: VolumeFull, summary: s}, examples: {match: [{line: y}]}}", "two runbooks"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestLoadUserFirst: a user's runbook comes before the built-in ones and replaces one of the
// same name.
func TestLoadUserFirst(t *testing.T) {
	dir := t.TempDir()
	doc := `apiVersion: opsmesh.dev/v1alpha1
kind: Runbooks
runbooks:
- name: volume-full
  match: 'quota of (?P<bucket>\S+) reached'
  cause: {category: VolumeFull, object: 'bucket/{{.bucket}}', summary: 'bucket {{.bucket}} is full'}
  examples: {match: [{line: 'quota of logs-archive reached', vars: {bucket: logs-archive}}]}
- name: ledger-lock
  match: 'ledger lock held by (?P<holder>\S+)'
  cause: {category: ApplicationError, object: 'pod/{{.namespace}}/{{.holder}}', summary: 'the ledger lock is held by {{.holder}}'}
  action: {kind: tool, tool: pod_delete, args: {namespace: '{{.namespace}}', name: '{{.holder}}'}}
  examples: {match: [{line: 'ledger lock held by ledger-7'}]}
`
	if err := os.WriteFile(filepath.Join(dir, "team.yaml"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	rbs := s.Runbooks()
	if rbs[0].Name != "volume-full" || rbs[1].Name != "ledger-lock" || len(rbs) != len(Builtin().Runbooks())+1 {
		t.Fatalf("order %s, %s; %d runbooks", rbs[0].Name, rbs[1].Name, len(rbs))
	}
	h, ok := s.Match([]string{"ledger lock held by ledger-7"}, Context{Namespace: "pay"})
	if !ok || h.Runbook.Action.Tool != "pod_delete" || h.ActionArgs()["name"] != "ledger-7" || h.Cause().Object != "pod/pay/ledger-7" {
		t.Fatalf("hit %+v", h)
	}
	// the built-in volume-full is replaced: ENOSPC no longer matches it
	if h, ok := s.Match([]string{"write /x: no space left on device"}, Context{}); ok && h.Runbook.Name == "volume-full" {
		t.Fatalf("the built-in volume-full was not replaced")
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "runbooks directory") {
		t.Fatalf("missing directory: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(builtin))
	f.Add([]byte("apiVersion: opsmesh.dev/v1alpha1\nkind: Runbooks\nrunbooks:\n- {name: a, match: x, cause: {category: VolumeFull, summary: s}, examples: {match: [{line: x}]}}"))
	f.Add([]byte("apiVersion: opsmesh.dev/v1alpha1\nkind: Runbooks\nrunbooks:\n- {name: a, match: 'p(?P<v>x)|q(?P<v>y)', gather: {w: 'w=(\\S+)'}, settingPattern: '^W_', cause: {category: VolumeFull, summary: '{{.v}} {{.w}} {{.serviceAccount}}'}, examples: {match: [{line: px, context: [w=1]}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, r := range s.runbooks {
			h := Hit{Runbook: r, Vars: map[string]string{}}
			_ = h.Cause()
			_ = h.Calls()
		}
		_, _ = s.Match([]string{string(data)}, Context{})
	})
}

// TestMatchPrefersTheLineThatSaysMost: within one runbook the line with the most variables wins
// (logs are read newest first, and a runtime's last word is often its vaguest), and the setting
// to look for among the container's env and arguments comes from the runbook's setting template.
func TestMatchPrefersTheLineThatSaysMost(t *testing.T) {
	s := Builtin()
	ctx := Context{Symptom: "CrashLoopBackOff", Namespace: "coord", Pod: "zk-0", Container: "zk", Owner: "statefulset/coord/zk"}
	h, ok := s.Match([]string{"Error: Could not create the Java Virtual Machine.", "Unrecognized VM option 'UseConcMarkSweepGC'"}, ctx)
	if !ok || h.Runbook.Name != "jvm-option" || h.Vars["value"] != "UseConcMarkSweepGC" || h.Setting() != "UseConcMarkSweepGC" {
		t.Fatalf("got %s %q vars %v, want jvm-option on the option's line", h.Runbook.Name, h.Line, h.Vars)
	}
	if !strings.Contains(h.Cause().Summary, "UseConcMarkSweepGC") {
		t.Errorf("summary %q does not name the option", h.Cause().Summary)
	}
	// a host named only by the client library's own message, not the resolver's
	h, ok = s.Match([]string{"socket.gaierror: [Errno -2] Name or service not known",
		"redis.exceptions.ConnectionError: Error -2 connecting to redis-master:6379. Name or service not known."}, ctx)
	if !ok || h.Runbook.Name != "dns-no-such-host" || h.Setting() != "redis-master" {
		t.Fatalf("got %s %q vars %v, want dns-no-such-host naming redis-master", h.Runbook.Name, h.Line, h.Vars)
	}
	if c := h.Calls(); len(c) != 1 || c[0].Args["host"] != "redis-master" || c[0].Args["fromPod"] != "zk-0" {
		t.Errorf("calls %+v, want reference_check of redis-master from pod zk-0", c)
	}
	// the crash line itself is quoted in the summary
	h, ok = s.Match([]string{"called `Option::unwrap()` on a `None` value", "thread 'main' panicked at src/sources/journald.rs:214:58:"}, ctx)
	if !ok || h.Runbook.Name != "application-crash" || !strings.Contains(h.Cause().Summary, "Option::unwrap()") {
		t.Fatalf("got %s: %q", h.Runbook.Name, h.Cause().Summary)
	}
}

// TestMatchPrefersFailureLines: a line a program logs at an info level (nginx's entrypoint
// noting a read-only file) gives way to the failure it logs next, whatever the runbooks' order;
// alone, it still matches.
func TestMatchPrefersFailureLines(t *testing.T) {
	s := Builtin()
	info := "10-listen-on-ipv6-by-default.sh: info: can not modify /etc/nginx/conf.d/default.conf (read-only file system?)"
	emerg := `nginx: [emerg] host not found in upstream "catalog-api:8080" in /etc/nginx/conf.d/default.conf:15`
	ctx := Context{Symptom: "CrashLoopBackOff", Namespace: "web", Pod: "edge-1", Owner: "deployment/web/edge"}
	h, ok := s.Match([]string{emerg, info}, ctx)
	if !ok || h.Runbook.Name != "dns-no-such-host" || h.Vars["host5"] != "catalog-api" {
		t.Fatalf("got %+v, want dns-no-such-host on the [emerg] line", h)
	}
	if h, ok := s.Match([]string{info}, ctx); !ok || h.Line != info {
		t.Fatalf("an info line alone: %+v %v", h, ok)
	}
	for line, want := range map[string]bool{
		info: true,
		"2026-12-07 13:00:04,912 INFO rollup.sessions: window 12:00..13:00":        true,
		"I1207 15:20:00.812331 1 pinned_memory_manager.cc:277] pool created":       true,
		`time=2026-12-07T16:30:02Z level=info msg="starting"`:                      true,
		`{"level":"debug","msg":"dial"}`:                                           true,
		"[2026-12-07 10:14:02.301][1][info][main] initializing epoch 0":            true,
		"INFO 12-07 15:10:02 api_server.py:585] vLLM API server version 0.6.4":     true,
		"2026-12-07 02:10:33+00:00 [Note] [Entrypoint]: Entrypoint script started": true,
		emerg: false,
		"E1207 15:20:01.977604 1 model_lifecycle.cc:642] failed to load":                 false,
		`time=2026-12-07T16:30:12Z level=WARN msg="flag sync attempt failed"`:            false,
		"psycopg2.OperationalError: FATAL:  database \"events\" does not exist":          false,
		"java.lang.IllegalStateException: INFO table is missing from the schema at boot": false,
	} {
		if got := InfoLine(line); got != want {
			t.Errorf("InfoLine(%q) = %v, want %v", line, got, want)
		}
	}
}
