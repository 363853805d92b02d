package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	"github.com/opsmesh/opsmesh/agents/broker"
)

// TestEmbeddedJetStreamOnDisk: the embedded server keeps JetStream in the data dir: a KV value
// written before Close is there after a new broker starts on the same dir.
func TestEmbeddedJetStreamOnDisk(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if b.Embedded() == nil || b.ClientURL() != "nats://in-process" {
		t.Fatalf("with no --nats-url and no --nats-listen: embedded %v, url %s; want an in-process server", b.Embedded(), b.ClientURL())
	}
	kv, err := b.JetStream().CreateKeyValue(ctx, jetstreamKV("T"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b2, err := broker.Start(ctx, broker.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	kv2, err := b2.JetStream().KeyValue(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv2.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("after a restart on the same data dir: %v %v", e, err)
	}
}

// TestExternalURLSameCodePath: a broker started with --nats-url connects to another broker's
// embedded server (listening on a port), and both see the same JetStream.
func TestExternalURLSameCodePath(t *testing.T) {
	ctx := context.Background()
	emb, err := broker.Start(ctx, broker.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Close()
	if !strings.HasPrefix(emb.ClientURL(), "nats://127.0.0.1:") {
		t.Fatalf("embedded server URL %s, want nats://127.0.0.1:<port>", emb.ClientURL())
	}
	ext, err := broker.Start(ctx, broker.Options{URL: emb.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	if ext.Embedded() != nil {
		t.Fatal("a broker with --nats-url started its own server")
	}
	if _, err := emb.JetStream().CreateKeyValue(ctx, jetstreamKV("SHARED")); err != nil {
		t.Fatal(err)
	}
	if _, err := ext.JetStream().KeyValue(ctx, "SHARED"); err != nil {
		t.Fatalf("the external connection does not see the embedded server's bucket: %v", err)
	}
}

func TestFlagsAndValidation(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o := broker.RegisterFlags(fs)
	if err := fs.Parse([]string{"--nats-data-dir", "/tmp/d", "--nats-listen", ""}); err != nil {
		t.Fatal(err)
	}
	if o.DataDir != "/tmp/d" || o.Listen != "" || o.URL != "" {
		t.Fatalf("parsed %+v", o)
	}
	for _, tc := range []struct {
		o    broker.Options
		want string
	}{
		{broker.Options{DataDir: "d", CredsFile: "c"}, "--nats-creds is for an external server; add --nats-url"},
		{broker.Options{DataDir: ""}, "--nats-data-dir is empty"},
		{broker.Options{DataDir: "d", Listen: "nope"}, "--nats-listen \"nope\""},
		{broker.Options{URL: "nats://h:4222", TLSCert: "c"}, "--nats-tls-cert and --nats-tls-key go together"},
		{broker.Options{URL: "h:4222"}, "is not a NATS URL"},
	} {
		err := tc.o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
	taken, err := broker.Start(context.Background(), broker.Options{DataDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := strings.TrimPrefix(taken.ClientURL(), "nats://")
	if _, err := broker.Start(context.Background(), broker.Options{DataDir: t.TempDir(), Listen: addr}); err == nil || !strings.Contains(err.Error(), "use --nats-url nats://"+addr) {
		t.Fatalf("a second embedded server on %s: %v, want advice to use --nats-url", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := broker.Start(ctx, broker.Options{URL: "nats://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "check --nats-url") {
		t.Fatalf("Start against nothing = %v, want an error naming --nats-url", err)
	}
}

func jetstreamKV(name string) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: name, Storage: jetstream.FileStorage}
}
