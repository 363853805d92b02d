package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// LedgerBucket is the JetStream KV bucket that records every remediation action run, by its
// idempotency key.
const LedgerBucket = "OPSMESH_ACTIONS"

// ledger records, before a tool is called, that an action is starting, and after it returns,
// its outcome. A key is created once (KV Create fails when it exists), so two attempts to start
// the same action cannot both proceed.
type ledger struct {
	kv jetstream.KeyValue
}

// entry is one action's record.
type entry struct {
	State   string    `json:"state"` // started | done
	OK      bool      `json:"ok,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

const (
	entryStarted = "started"
	entryDone    = "done"
)

func newLedger(ctx context.Context, js jetstream.JetStream) (*ledger, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      LedgerBucket,
		Description: "opsmesh remediation actions run, by idempotency key",
		History:     1,
		TTL:         90 * 24 * time.Hour,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("creating JetStream KV bucket %s: %w", LedgerBucket, err)
	}
	return &ledger{kv: kv}, nil
}

// begin records that key starts. It returns (nil, nil) when the caller may run the action, and
// the existing entry when the action was started before (the caller must not run it again).
func (l *ledger) begin(ctx context.Context, key string) (*entry, error) {
	body, _ := json.Marshal(entry{State: entryStarted, Time: time.Now().UTC()})
	if _, err := l.kv.Create(ctx, key, body); err == nil {
		return nil, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("recording action %s in %s: %w", key, LedgerBucket, err)
	}
	kve, err := l.kv.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading action %s from %s: %w", key, LedgerBucket, err)
	}
	var e entry
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		return nil, fmt.Errorf("action %s in %s is not a ledger entry: %w", key, LedgerBucket, err)
	}
	return &e, nil
}

// finish records the outcome of key.
func (l *ledger) finish(ctx context.Context, key string, ok bool, message string) error {
	body, _ := json.Marshal(entry{State: entryDone, OK: ok, Message: message, Time: time.Now().UTC()})
	if _, err := l.kv.Put(ctx, key, body); err != nil {
		return fmt.Errorf("recording the outcome of action %s in %s: %w", key, LedgerBucket, err)
	}
	return nil
}
