// Package broker gives every opsmesh process its NATS connection: by default an embedded,
// in-process NATS server with JetStream on disk, or, with --nats-url, a connection to an external
// NATS server or cluster (credentials and TLS options included). Callers get the same *nats.Conn
// and jetstream.JetStream either way, so the same code paths run in both cases. It owns the
// connection and the embedded server's lifetime; it must not define subjects, streams or buckets
// (those belong to the packages that use them, such as agents/a2anats).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"
)

// Options selects the broker. The zero value plus a DataDir runs an embedded server that only
// this process can reach.
type Options struct {
	// URL is an external NATS server or cluster (comma-separated), e.g. nats://nats.opsmesh:4222.
	// Empty means: run an embedded server.
	URL string
	// CredsFile is a NATS credentials file (JWT and NKey seed) for URL.
	CredsFile string
	// TLSCert and TLSKey are a client certificate for URL (mutual TLS); TLSCA verifies the server.
	TLSCert, TLSKey, TLSCA string

	// DataDir is where the embedded server keeps JetStream (file storage).
	DataDir string
	// Listen is the embedded server's client address (host:port), so other processes on the
	// machine can connect; empty means in-process only (no TCP port). Port 0 picks a free one.
	Listen string
	// Name names this client connection in the server's monitoring (default "opsmesh").
	Name string
	// Logger records connection changes; default discards.
	Logger *slog.Logger
}

// DefaultDataDir is where the embedded server keeps JetStream unless --nats-data-dir says
// otherwise: $XDG_DATA_HOME/opsmesh/nats, or ~/.local/share/opsmesh/nats.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "opsmesh", "nats")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "opsmesh", "nats")
	}
	return filepath.Join(os.TempDir(), "opsmesh-nats")
}

// RegisterFlags adds the broker's flags to fs (the runtime's and controller's commands share
// them) and returns the Options they fill.
func RegisterFlags(fs *pflag.FlagSet) *Options {
	o := &Options{}
	fs.StringVar(&o.URL, "nats-url", "", "external NATS server or cluster, e.g. nats://nats.opsmesh:4222 (default: run an embedded NATS server with JetStream on disk)")
	fs.StringVar(&o.CredsFile, "nats-creds", "", "NATS credentials file (JWT and NKey seed) for --nats-url")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", "", "client certificate (PEM) for --nats-url; needs --nats-tls-key")
	fs.StringVar(&o.TLSKey, "nats-tls-key", "", "client key (PEM) for --nats-tls-cert")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", "", "CA certificates (PEM) that sign the --nats-url server's certificate")
	fs.StringVar(&o.DataDir, "nats-data-dir", DefaultDataDir(), "where the embedded NATS server keeps JetStream (file storage); ignored with --nats-url")
	fs.StringVar(&o.Listen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server, so other opsmesh processes can use --nats-url nats://<this>; empty for in-process only")
	return o
}

// Validate reports flag combinations that cannot work, naming the flag and the fix.
func (o *Options) Validate() error {
	if o.URL == "" {
		for flag, v := range map[string]string{"--nats-creds": o.CredsFile, "--nats-tls-cert": o.TLSCert, "--nats-tls-key": o.TLSKey, "--nats-tls-ca": o.TLSCA} {
			if v != "" {
				return fmt.Errorf("%s is for an external server; add --nats-url nats://host:4222, or drop %s to use the embedded server", flag, flag)
			}
		}
		if o.DataDir == "" {
			return errors.New("--nats-data-dir is empty: the embedded NATS server needs a directory for JetStream")
		}
		if o.Listen != "" {
			if _, _, err := splitHostPort(o.Listen); err != nil {
				return fmt.Errorf("--nats-listen %q: %w (use host:port, e.g. 127.0.0.1:4222)", o.Listen, err)
			}
		}
		return nil
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together: give both, or neither")
	}
	for _, u := range strings.Split(o.URL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Host == "" {
			return fmt.Errorf("--nats-url %q is not a NATS URL; use nats://host:4222 (or tls://host:4222)", u)
		}
	}
	return nil
}

// Broker is a NATS connection, and the embedded server behind it when there is one.
type Broker struct {
	conn     *nats.Conn
	js       jetstream.JetStream
	embedded *server.Server
	url      string
}

// Start connects as o says: it starts the embedded server (JetStream in o.DataDir) when o.URL is
// empty, and waits for it to be ready. Close stops both.
func Start(ctx context.Context, o Options) (*Broker, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name := o.Name
	if name == "" {
		name = "opsmesh"
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("disconnected from NATS", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	b := &Broker{}
	target := o.URL
	if target == "" {
		s, err := startEmbedded(o)
		if err != nil {
			return nil, err
		}
		b.embedded = s
		if o.Listen != "" {
			target = s.ClientURL()
		} else {
			opts = append(opts, nats.InProcessServer(s))
			target = "nats://in-process"
		}
	} else {
		if o.CredsFile != "" {
			opts = append(opts, nats.UserCredentials(o.CredsFile))
		}
		if o.TLSCert != "" {
			opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
		}
		if o.TLSCA != "" {
			opts = append(opts, nats.RootCAs(o.TLSCA))
		}
	}
	nc, err := connect(ctx, target, opts)
	if err != nil {
		b.Close()
		if o.URL != "" {
			return nil, fmt.Errorf("connecting to NATS at %s: %w (check --nats-url, --nats-creds and the --nats-tls-* files, and that the server is up)", redact(o.URL), err)
		}
		return nil, fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	b.conn, b.url = nc, target
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("NATS at %s: JetStream: %w", redact(target), err)
	}
	b.js = js
	return b, nil
}

func connect(ctx context.Context, target string, opts []nats.Option) (*nats.Conn, error) {
	// nats.Connect has its own timeout; honour the caller's context too.
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(target, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		return r.nc, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func startEmbedded(o Options) (*server.Server, error) {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--nats-data-dir %s: %w", o.DataDir, err)
	}
	sopts := &server.Options{
		ServerName: "opsmesh-embedded",
		JetStream:  true,
		StoreDir:   o.DataDir,
		NoLog:      true,
		NoSigs:     true,
		DontListen: o.Listen == "",
	}
	if o.Listen != "" {
		host, port, err := splitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %q: %w", o.Listen, err)
		}
		sopts.Host, sopts.Port = host, port
		if port == 0 {
			sopts.Port = server.RANDOM_PORT
		} else if l, err := net.Listen("tcp", o.Listen); err != nil {
			return nil, fmt.Errorf("--nats-listen %s is taken (%v): if another opsmesh process runs the embedded server there, use --nats-url nats://%s; otherwise pick another --nats-listen", o.Listen, err, o.Listen)
		} else {
			_ = l.Close()
		}
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("the embedded NATS server did not start within 30s (is --nats-listen %s already taken? is --nats-data-dir %s writable?)", o.Listen, o.DataDir)
	}
	return s, nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a port number", p)
	}
	return host, port, nil
}

// Conn is the NATS connection.
func (b *Broker) Conn() *nats.Conn { return b.conn }

// JetStream is the JetStream context on Conn.
func (b *Broker) JetStream() jetstream.JetStream { return b.js }

// Embedded is the embedded server, or nil when connected to an external one.
func (b *Broker) Embedded() *server.Server { return b.embedded }

// ClientURL is the URL other processes use to reach this broker ("nats://in-process" when the
// embedded server listens on no port).
func (b *Broker) ClientURL() string { return redact(b.url) }

// Close drains the connection and stops the embedded server, if any.
func (b *Broker) Close() {
	if b.conn != nil {
		if err := b.conn.Drain(); err != nil {
			b.conn.Close()
		}
		// Drain is asynchronous; wait (bounded) so the embedded server sees the unsubscribes.
		for i := 0; i < 100 && !b.conn.IsClosed(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
		b.embedded.WaitForShutdown()
	}
}

func redact(u string) string {
	var out []string
	for _, one := range strings.Split(u, ",") {
		p, err := url.Parse(strings.TrimSpace(one))
		if err != nil || p.User == nil {
			out = append(out, one)
			continue
		}
		p.User = nil
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}
