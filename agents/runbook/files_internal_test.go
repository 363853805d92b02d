package runbook

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/opsmesh/opsmesh/api/contract"
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

func TestEnvNameFor(t *testing.T) {
	for _, c := range []struct {
		env, setting string
		want         bool
	}{
		{"KAFKA_ADVERTISED_LISTENERS", "advertised.listeners", true},
		{"KAFKA_CFG_ADVERTISED_LISTENERS", "advertised.listeners", true},
		{"SPRING_DATASOURCE_URL", "spring.datasource.url", true},
		{"SPRING_KAFKA_CONSUMER_FETCHMAXWAIT", "spring.kafka.consumer.fetch-max-wait", true},
		{"SPRING_KAFKA_CONSUMER_FETCH_MAX_WAIT", "spring.kafka.consumer.fetch-max-wait", true},
		{"POSTGRES_MAX_CONNECTIONS", "max_connections", true},
		{"MAX_POOL_SIZE", "db.maxPoolSize", false}, // the db. part is missing
		{"DB_MAX_POOL_SIZE", "db.maxPoolSize", true},
		{"LISTENERS", "advertised.listeners", false},
		{"XMAX_CONNECTIONS", "max_connections", false}, // a prefix ends in an underscore
	} {
		if got := envNameFor(c.env, c.setting); got != c.want {
			t.Errorf("envNameFor(%q, %q) = %v, want %v (names %q)", c.env, c.setting, got, c.want, envNamesOf(c.setting))
		}
	}
}

func TestSettingNameIn(t *testing.T) {
	for line, want := range map[string]string{
		`Invalid value PLAINTEXT://:9092 for configuration advertised.listeners: bad`: "advertised.listeners",
		`FATAL:  invalid value for parameter "max_connections": "lots"`:               "max_connections",
		`Failed to bind properties under 'spring.datasource.url' to java.lang.String`: "spring.datasource.url",
		`KeyError: 'tenant'`:    "",
		`invalid configuration`: "",
	} {
		got := ""
		if m := settingNameIn.FindStringSubmatch(line); m != nil {
			got = m[1]
		}
		if got != want {
			t.Errorf("settingNameIn(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestMissingServiceAccountFile(t *testing.T) {
	for line, want := range map[string]string{
		`open /var/run/secrets/kubernetes.io/serviceaccount/token: no such file or directory`:                               "/var/run/secrets/kubernetes.io/serviceaccount/token",
		`FileNotFoundError: [Errno 2] No such file or directory: '/var/run/secrets/kubernetes.io/serviceaccount/namespace'`: "/var/run/secrets/kubernetes.io/serviceaccount/namespace",
		`open /var/run/secrets/kubernetes.io/serviceaccount/token: permission denied`:                                       "",
		`open /etc/app/token: no such file or directory`:                                                                    "",
	} {
		if got := missingServiceAccountFile(line); got != want {
			t.Errorf("missingServiceAccountFile(%q) = %q, want %q", line, got, want)
		}
	}
}

func TestGPUResource(t *testing.T) {
	for name, want := range map[string]bool{
		"nvidia.com/gpu": true, "amd.com/gpu": true, "nvidia.com/gpu.shared": true, "nvidia.com/mig-1g.10gb": true,
		"cpu": false, "memory": false, "example.com/foo": false, "hugepages-2Mi": false,
	} {
		if got := gpuResource(name); got != want {
			t.Errorf("gpuResource(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDependencyOfSetting(t *testing.T) {
	f := contract.Finding{Object: "pod/pay/rec-1", Owner: "deployment/pay/rec"}
	for _, tc := range []struct{ setting, want string }{
		{"jdbc:postgresql://ledger-pg:5432/ledger", "service/pay/ledger-pg"},
		{"redis://:s3cret@cache.shared.svc.cluster.local:6379/0", "service/shared/cache"},
		{"host=orders-db port=5432 dbname=orders", "service/pay/orders-db"},
		{"postgres://app@db.example.com:5432/app", "deployment/pay/rec"}, // outside the cluster
		{"", "deployment/pay/rec"},
	} {
		c := &contract.Cause{Category: contract.DependencyUnreachable, Object: "deployment/pay/rec", Field: "spec.template.spec.containers[app].env[DB_URL]"}
		dependencyOfSetting(c, f, tc.setting)
		if c.Object != tc.want {
			t.Errorf("setting %q: object %s, want %s", tc.setting, c.Object, tc.want)
		}
	}
	c := &contract.Cause{Category: contract.ApplicationConfig, Object: "deployment/pay/rec"}
	if dependencyOfSetting(c, f, "jdbc:postgresql://ledger-pg:5432/ledger"); c.Object != "deployment/pay/rec" {
		t.Errorf("a configuration cause moved to %s", c.Object)
	}
}

// TestDataRollback: a StatefulSet whose latest revision changed an image is not rolled back
// automatically (the older image may not read what the newer one wrote); other changes, and
// other kinds, may be.
func TestDataRollback(t *testing.T) {
	image := contract.Finding{Evidence: []string{"the latest revision (2) changed container mysql: image mysql:5.7.44 → mysql:8.0.40"}}
	env := contract.Finding{Evidence: []string{`the latest revision (2) changed container mysql: env MYSQL_LOG: "0" → "1"`}}
	for _, tc := range []struct {
		owner string
		f     contract.Finding
		want  bool
	}{
		{"statefulset/db/reports-mysql", image, true},
		{"statefulset/zk/zookeeper", contract.Finding{Evidence: []string{"the latest revision (2) changed container zookeeper: image ghcr.io/example/zookeeper:3.8.4-jre11 → ghcr.io/example/zookeeper:3.9.3-jre21"}}, false},
		{"statefulset/db/pg", contract.Finding{Evidence: []string{"the latest revision (3) changed container postgres: image registry:5000/postgres:15.8 → registry:5000/postgres:16.4; env PGDATA: \"/a\" → \"/b\""}}, true},
		{"statefulset/db/reports-mysql", env, false},
		{"deployment/web/api", image, false},
	} {
		if got := dataRollback(tc.owner, tc.f); got != tc.want {
			t.Errorf("dataRollback(%s, %q) = %v, want %v", tc.owner, tc.f.Evidence, got, tc.want)
		}
	}
}
