package a2anats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// headroom leaves room for headers and the protocol line under the server's max payload.
const headroom = 4 << 10

func maxInline(nc *nats.Conn) int {
	n := int(nc.MaxPayload()) - headroom
	if n < 1024 {
		n = 1024
	}
	return n
}

// blobs carries bodies beyond the NATS max payload (large artifacts, long histories) through the
// object store OPSMESH_A2A_BLOBS: the sender stores the body and sends its object name in
// Opsmesh-Body-Object; the receiver reads and deletes it. Objects expire after an hour in case a
// receiver never comes.
type blobs struct {
	js       jetstream.JetStream
	replicas int

	mu  sync.Mutex
	obs jetstream.ObjectStore
}

func newBlobs(js jetstream.JetStream, replicas int) *blobs {
	if replicas == 0 {
		replicas = 1
	}
	return &blobs{js: js, replicas: replicas}
}

func (b *blobs) store(ctx context.Context) (jetstream.ObjectStore, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.obs != nil {
		return b.obs, nil
	}
	obs, err := b.js.ObjectStore(ctx, BlobsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = b.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      BlobsBucket,
			Description: "opsmesh A2A bodies beyond the NATS max payload",
			TTL:         time.Hour,
			Storage:     jetstream.FileStorage,
			Replicas:    b.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = b.js.ObjectStore(ctx, BlobsBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", BlobsBucket, err)
	}
	b.obs = obs
	return obs, nil
}

// offload moves m's body into the object store.
func (b *blobs) offload(ctx context.Context, m *nats.Msg) error {
	obs, err := b.store(ctx)
	if err != nil {
		return err
	}
	name := nuid.Next()
	if _, err := obs.PutBytes(ctx, name, m.Data); err != nil {
		return fmt.Errorf("storing a %d-byte body in %s: %w", len(m.Data), BlobsBucket, err)
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header.Set(HeaderBodyObject, name)
	m.Data = nil
	return nil
}

// body is m's body, read from the object store when it was offloaded. A body beyond limit
// (0: no limit) is refused with "invalid request".
func (b *blobs) body(ctx context.Context, m *nats.Msg, limit int) ([]byte, error) {
	name := m.Header.Get(HeaderBodyObject)
	if name == "" {
		return m.Data, nil
	}
	obs, err := b.store(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading an offloaded body: %v: %w", err, a2a.ErrInternalError)
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("the body in %s object %q cannot be read (%v); it may have expired, send the request again: %w", BlobsBucket, name, err, a2a.ErrInvalidRequest)
	}
	if limit > 0 && info.Size > uint64(limit) {
		_ = obs.Delete(ctx, name)
		return nil, fmt.Errorf("the body is %d bytes, beyond this agent's limit of %d; send large artifacts as file URLs instead: %w", info.Size, limit, a2a.ErrInvalidRequest)
	}
	data, err := obs.GetBytes(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("reading %s object %q: %v: %w", BlobsBucket, name, err, a2a.ErrInvalidRequest)
	}
	if err := obs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return data, nil // it expires anyway
	}
	return data, nil
}
