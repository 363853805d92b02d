package main

import (
	"context"
	"strings"
	"testing"
)

// FuzzParseToolArgs: tools call's --args/--arg decoder never panics; what it accepts is a map in
// which every --arg's name is set.
func FuzzParseToolArgs(f *testing.F) {
	f.Add(`{"namespace":"shop"}`, "kind=Pod")
	f.Add("", "tailLines=50")
	f.Add(`[1,2]`, "")
	f.Add(`null`, "x")
	f.Add(`{"a":{"b":[1,"2",null]}}`, `v="quoted"`)
	f.Add(`{`, "=v")
	f.Fuzz(func(t *testing.T, argsJSON, pair string) {
		var pairs []string
		if pair != "" {
			pairs = []string{pair}
		}
		got, err := parseToolArgs(argsJSON, pairs)
		if err != nil {
			if got != nil {
				t.Errorf("an error with arguments %v", got)
			}
			return
		}
		if got == nil {
			t.Fatal("no error and no arguments")
		}
		if pair != "" {
			name, _, _ := strings.Cut(pair, "=")
			if _, ok := got[name]; !ok {
				t.Errorf("--arg %q accepted but %q not set: %v", pair, name, got)
			}
		}
	})
}

// FuzzDiagnoseSubject: diagnose's KIND/NAME decoder (without a cluster to resolve kinds) never
// panics, and what it accepts is a subject the runtime reads: node/NAME or kind/namespace/NAME
// with the name given.
func FuzzDiagnoseSubject(f *testing.F) {
	for _, s := range []string{"pod/web-0", "deploy/trainer", "node/gpu-7", "web-0", "pod/", "/x", "pod/a/b", "ConfigMap/x", "PO/x"} {
		f.Add(s, "shop")
	}
	f.Fuzz(func(t *testing.T, arg, ns string) {
		s, err := diagnoseSubject(context.Background(), nil, arg, ns)
		if err != nil {
			if !strings.Contains(err.Error(), "KIND/NAME") && !strings.Contains(err.Error(), "write kind/namespace/name") {
				t.Errorf("error %q does not say what to give", err)
			}
			return
		}
		_, name, _ := strings.Cut(arg, "/")
		if !strings.HasSuffix(s, "/"+name) {
			t.Errorf("%q → %q lost the name", arg, s)
		}
		if kind, _, _ := strings.Cut(s, "/"); kind != strings.ToLower(strings.Split(arg, "/")[0]) {
			t.Errorf("%q → %q: the kind is not the one given, in lower case", arg, s)
		}
	})
}
