package runbook

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestPathsIn(t *testing.T) {
	for line, want := range map[string][]string{
		`  in "/etc/relayd/routes.yaml", line 14, column 20`:                {"/etc/relayd/routes.yaml"},
		`--ca-file=/etc/shipper/ca/ca.crt`:                                  {"/etc/shipper/ca/ca.crt"},
		`open /var/run/secrets/token: permission denied (see /tmp/x)`:       {"/var/run/secrets/token", "/tmp/x"},
		`Get "http://inventory:8080/v2/stock": dial tcp 10.0.0.1:8080`:      nil, // a URL's path is no file
		`{"ts":"2026-12-11T13:20:07Z","msg":"ratio 3/4 of 12/2026 tables"}`: nil,
	} {
		if got := pathsIn(line); !slices.Equal(got, want) {
			t.Errorf("pathsIn(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestSourceOf(t *testing.T) {
	const spec = `
containers:
- name: relay
  volumeMounts:
  - {name: routes, mountPath: /etc/relayd}
  - {name: tls, mountPath: /etc/tls/}
  - {name: one, mountPath: /app/settings.toml, subPath: settings.toml}
  - {name: both, mountPath: /etc/relayd/extra}
  - {name: scratch, mountPath: /data}
- name: other
  volumeMounts:
  - {name: routes, mountPath: /conf}
volumes:
- {name: routes, configMap: {name: relay-routes}}
- {name: tls, secret: {secretName: relay-tls, items: [{key: tls.crt, path: certs/server.crt}]}}
- {name: one, configMap: {name: relay-settings}}
- name: both
  projected:
    sources:
    - configMap: {name: relay-extra, items: [{key: a, path: a.yaml}]}
    - secret: {name: relay-extra-secret}
- {name: scratch, emptyDir: {}}
`
	var pf podFiles
	if err := yaml.Unmarshal([]byte(spec), &pf); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		container, path string
		want            fileSource
		ok              bool
	}{
		{"relay", "/etc/relayd/routes.yaml", fileSource{kind: "configmap", name: "relay-routes", key: "routes.yaml"}, true},
		{"relay", "/etc/tls/certs/server.crt", fileSource{kind: "secret", name: "relay-tls", key: "tls.crt"}, true},
		{"relay", "/etc/tls/ca.crt", fileSource{}, false}, // not among the projected items
		{"relay", "/app/settings.toml", fileSource{kind: "configmap", name: "relay-settings", key: "settings.toml"}, true},
		{"relay", "/etc/relayd/extra/a.yaml", fileSource{kind: "configmap", name: "relay-extra", key: "a"}, true}, // the longer mount wins
		{"relay", "/etc/relayd/extra/token", fileSource{kind: "secret", name: "relay-extra-secret", key: "token"}, true},
		{"relay", "/data/db/wal", fileSource{}, false},      // an emptyDir holds no object's key
		{"relay", "/conf/routes.yaml", fileSource{}, false}, // another container's mount
		{"", "/conf/routes.yaml", fileSource{kind: "configmap", name: "relay-routes", key: "routes.yaml"}, true},
		{"relay", "/etc/relayd/sub/dir.yaml", fileSource{}, false}, // keys are files at the top
	} {
		got, ok := pf.sourceOf(c.container, c.path)
		got.mountPath, got.file = "", ""
		if ok != c.ok || got != c.want {
			t.Errorf("sourceOf(%q, %q) = %+v %v, want %+v %v", c.container, c.path, got, ok, c.want, c.ok)
		}
	}
}
