package a2anats

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/taskstore"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// TaskStore keeps one agent's A2A tasks in JetStream KV bucket OPSMESH_TASKS, key
// <namespace>.<agent>.<task id>, so every replica of the agent reads and updates the same tasks
// and they outlive the replica and (with file storage) the NATS server. The KV revision is the
// task version: an update names the revision it read, and a concurrent update fails with
// taskstore.ErrConcurrentModification (how a cancel through one replica stops an execution on
// another). It implements a2a-go's taskstore.Store.
type TaskStore struct {
	kv     jetstream.KeyValue
	js     jetstream.JetStream
	cfg    BucketConfig
	prefix string // <namespace>.<agent>.
	agent  string // <namespace>/<agent>, for messages

	mu    sync.Mutex
	large jetstream.ObjectStore // OPSMESH_TASKS_LARGE, opened on first use

	// written is the revision this replica last wrote of each key (the latest writtenCap keys):
	// a read that returns an older one came from a JetStream replica that has not applied the
	// write yet (KV reads are direct gets, which any replica of an R3 bucket may answer), and is
	// read again, so that a task this process just completed never reads back as working.
	writtenMu    sync.Mutex
	written      map[string]uint64
	writtenOrder []string
}

// writtenCap bounds the keys TaskStore remembers its writes of.
const writtenCap = 4096

// wrote remembers that this replica wrote key at revision rev.
func (s *TaskStore) wrote(key string, rev uint64) {
	s.writtenMu.Lock()
	defer s.writtenMu.Unlock()
	if s.written == nil {
		s.written = map[string]uint64{}
	}
	if _, seen := s.written[key]; !seen {
		if len(s.writtenOrder) == writtenCap {
			delete(s.written, s.writtenOrder[0])
			s.writtenOrder = s.writtenOrder[1:]
		}
		s.writtenOrder = append(s.writtenOrder, key)
	}
	if rev > s.written[key] {
		s.written[key] = rev
	}
}

// lastWritten is the revision this replica last wrote of key (0 when unknown).
func (s *TaskStore) lastWritten(key string) uint64 {
	s.writtenMu.Lock()
	defer s.writtenMu.Unlock()
	return s.written[key]
}

var _ taskstore.Store = (*TaskStore)(nil)

// storedRecord is a task as kept in KV. A record beyond the NATS max payload (a task with large
// artifacts) is kept in object store OPSMESH_TASKS_LARGE, and the KV value holds only Object,
// its name there.
type storedRecord struct {
	Task    *a2a.Task `json:"task,omitempty"`
	User    string    `json:"user,omitempty"`
	Updated time.Time `json:"updated"`
	Object  string    `json:"object,omitempty"`
}

// LargeTasksBucket is the object store for tasks too large for a KV value.
const LargeTasksBucket = "OPSMESH_TASKS_LARGE"

// BucketConfig sizes the JetStream buckets the package creates when they are missing.
type BucketConfig struct {
	// Replicas is the number of copies in a NATS cluster (1 for one server; 3 to survive losing
	// a node).
	Replicas int
	// TaskTTL drops a task this long after its last update (default 7 days; negative: keep
	// forever).
	TaskTTL time.Duration
	// CardTTL expires an agent card that is not refreshed; the agent refreshes it every third.
	CardTTL time.Duration
}

func (c BucketConfig) withDefaults() BucketConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.CardTTL == 0 {
		c.CardTTL = 30 * time.Second
	}
	switch {
	case c.TaskTTL == 0:
		c.TaskTTL = 7 * 24 * time.Hour
	case c.TaskTTL < 0:
		c.TaskTTL = 0
	}
	return c
}

// ensureKV opens a bucket, creating it when it does not exist yet. An existing bucket keeps its
// configuration.
func ensureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("opening KV bucket %s: %w (is JetStream enabled on the NATS server?)", cfg.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("creating KV bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// NewTaskStore opens (or creates, with file storage) OPSMESH_TASKS for agent namespace/name.
func NewTaskStore(ctx context.Context, js jetstream.JetStream, namespace, name string, cfg BucketConfig) (*TaskStore, error) {
	if err := checkName(namespace, name); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	kv, err := ensureKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      TasksBucket,
		Description: "opsmesh A2A tasks, key <namespace>.<agent>.<task id>",
		History:     1,
		TTL:         cfg.TaskTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, err
	}
	return &TaskStore{kv: kv, js: js, cfg: cfg, prefix: namespace + "." + name + ".", agent: namespace + "/" + name}, nil
}

func (s *TaskStore) largeStore(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.large != nil {
		return s.large, nil
	}
	obs, err := s.js.ObjectStore(ctx, LargeTasksBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = s.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: LargeTasksBucket, Description: "opsmesh A2A tasks too large for a KV value (large artifacts)",
			TTL: s.cfg.TaskTTL, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = s.js.ObjectStore(ctx, LargeTasksBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", LargeTasksBucket, err)
	}
	s.large = obs
	return obs, nil
}

// encode is the KV value for rec; a large one goes to the object store first, and its object
// name is returned so that it can be removed when superseded.
func (s *TaskStore) encode(ctx context.Context, key string, rec storedRecord) ([]byte, string, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, "", fmt.Errorf("encoding task %s: %w", rec.Task.ID, err)
	}
	if len(b) <= maxInline(s.js.Conn()) {
		return b, "", nil
	}
	obs, err := s.largeStore(ctx)
	if err != nil {
		return nil, "", err
	}
	name := key + "." + nuid.Next()
	if _, err := obs.PutBytes(ctx, name, b); err != nil {
		return nil, "", fmt.Errorf("storing the %d-byte task %s in %s: %w", len(b), rec.Task.ID, LargeTasksBucket, err)
	}
	ref, err := json.Marshal(storedRecord{User: rec.User, Updated: rec.Updated, Object: name})
	return ref, name, err
}

func (s *TaskStore) dropObject(ctx context.Context, name string) {
	if name == "" {
		return
	}
	if obs, err := s.largeStore(ctx); err == nil {
		_ = obs.Delete(ctx, name) // best effort: it expires with the task TTL otherwise
	}
}

// Task IDs become one KV key token: a2a-go's are UUIDs; anything else must stay in this set.
var taskIDRE = regexp.MustCompile(`^[A-Za-z0-9_=-]{1,200}$`)

func (s *TaskStore) key(id a2a.TaskID) (string, bool) {
	if !taskIDRE.MatchString(string(id)) {
		return "", false
	}
	return s.prefix + string(id), true
}

func userOf(ctx context.Context) string {
	if cc, ok := a2asrv.CallContextFrom(ctx); ok && cc.User != nil {
		return cc.User.Name
	}
	return ""
}

// Create implements taskstore.Store.
func (s *TaskStore) Create(ctx context.Context, task *a2a.Task) (taskstore.TaskVersion, error) {
	if task == nil {
		return taskstore.TaskVersionMissing, fmt.Errorf("agent %s: creating a nil task: %w", s.agent, a2a.ErrInternalError)
	}
	key, ok := s.key(task.ID)
	if !ok {
		return taskstore.TaskVersionMissing, fmt.Errorf("task id %q cannot be stored: use letters, digits, '-', '_' and '=' (at most 200): %w", task.ID, a2a.ErrInvalidParams)
	}
	b, obj, err := s.encode(ctx, key, storedRecord{Task: task, User: userOf(ctx), Updated: time.Now().UTC()})
	if err != nil {
		return taskstore.TaskVersionMissing, err
	}
	rev, err := s.kv.Create(ctx, key, b)
	if err != nil {
		s.dropObject(ctx, obj)
	} else {
		s.wrote(key, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		return taskstore.TaskVersionMissing, taskstore.ErrTaskAlreadyExists
	}
	if err != nil {
		return taskstore.TaskVersionMissing, fmt.Errorf("storing task %s in KV %s: %w", task.ID, TasksBucket, err)
	}
	return taskstore.TaskVersion(rev), nil
}

// Update implements taskstore.Store.
func (s *TaskStore) Update(ctx context.Context, req *taskstore.UpdateRequest) (taskstore.TaskVersion, error) {
	if req == nil || req.Task == nil {
		return taskstore.TaskVersionMissing, fmt.Errorf("agent %s: updating a nil task: %w", s.agent, a2a.ErrInternalError)
	}
	key, ok := s.key(req.Task.ID)
	if !ok {
		return taskstore.TaskVersionMissing, a2a.ErrTaskNotFound
	}
	cur, rec, err := s.get(ctx, key)
	if err != nil {
		return taskstore.TaskVersionMissing, err
	}
	if rec.User != userOf(ctx) {
		return taskstore.TaskVersionMissing, a2a.ErrTaskNotFound
	}
	prev := cur
	if req.PrevVersion != taskstore.TaskVersionMissing {
		if uint64(req.PrevVersion) != cur {
			return taskstore.TaskVersionMissing, taskstore.ErrConcurrentModification
		}
		prev = uint64(req.PrevVersion)
	}
	b, obj, err := s.encode(ctx, key, storedRecord{Task: req.Task, User: rec.User, Updated: time.Now().UTC()})
	if err != nil {
		return taskstore.TaskVersionMissing, err
	}
	rev, err := s.kv.Update(ctx, key, b, prev)
	if err != nil {
		s.dropObject(ctx, obj)
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return taskstore.TaskVersionMissing, taskstore.ErrConcurrentModification
		}
		if errors.Is(err, jetstream.ErrKeyExists) {
			return taskstore.TaskVersionMissing, taskstore.ErrConcurrentModification
		}
		return taskstore.TaskVersionMissing, fmt.Errorf("updating task %s in KV %s: %w", req.Task.ID, TasksBucket, err)
	}
	s.wrote(key, rev)
	s.dropObject(ctx, rec.Object)
	return taskstore.TaskVersion(rev), nil
}

func (s *TaskStore) get(ctx context.Context, key string) (uint64, *storedRecord, error) {
	e, err := s.kv.Get(ctx, key)
	// a replica behind this one's own write: read again (briefly) until it has applied it
	for wait := 5 * time.Millisecond; err == nil && e.Revision() < s.lastWritten(key) && wait < 2*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return 0, nil, fmt.Errorf("reading %s from KV %s: %w", key, TasksBucket, ctx.Err())
		case <-time.After(wait):
		}
		e, err = s.kv.Get(ctx, key)
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return 0, nil, a2a.ErrTaskNotFound
	}
	if err != nil {
		return 0, nil, fmt.Errorf("reading %s from KV %s: %w", key, TasksBucket, err)
	}
	var rec storedRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil || (rec.Task == nil && rec.Object == "") {
		return 0, nil, fmt.Errorf("KV %s key %s does not hold an A2A task (%v); delete the key: %w", TasksBucket, key, err, a2a.ErrInternalError)
	}
	if rec.Object != "" {
		obs, err := s.largeStore(ctx)
		if err != nil {
			return 0, nil, err
		}
		b, err := obs.GetBytes(ctx, rec.Object)
		if err != nil {
			return 0, nil, fmt.Errorf("task %s is in %s object %s, which cannot be read: %v: %w", key, LargeTasksBucket, rec.Object, err, a2a.ErrInternalError)
		}
		obj := rec.Object
		if err := json.Unmarshal(b, &rec); err != nil || rec.Task == nil {
			return 0, nil, fmt.Errorf("%s object %s does not hold an A2A task (%v): %w", LargeTasksBucket, obj, err, a2a.ErrInternalError)
		}
		rec.Object = obj
	}
	return e.Revision(), &rec, nil
}

// notFound says which task is missing where, and why it may be; errors.Is matches
// a2a.ErrTaskNotFound.
func (s *TaskStore) notFound(id a2a.TaskID) error {
	return fmt.Errorf("agent %s has no task %q in KV %s (a wrong id, or it expired after its TTL): %w", s.agent, id, TasksBucket, a2a.ErrTaskNotFound)
}

// Get implements taskstore.Store.
func (s *TaskStore) Get(ctx context.Context, id a2a.TaskID) (*taskstore.StoredTask, error) {
	key, ok := s.key(id)
	if !ok {
		return nil, s.notFound(id)
	}
	rev, rec, err := s.get(ctx, key)
	if errors.Is(err, a2a.ErrTaskNotFound) {
		return nil, s.notFound(id)
	}
	if err != nil {
		return nil, err
	}
	if rec.User != userOf(ctx) {
		return nil, s.notFound(id) // another caller's task reads as missing (A2A §3.3.2)
	}
	return &taskstore.StoredTask{Task: rec.Task, Version: taskstore.TaskVersion(rev), User: rec.User}, nil
}

// List implements taskstore.Store: the caller's tasks of this agent, the most recently updated
// first, filtered and paged as A2A's ListTasks says.
func (s *TaskStore) List(ctx context.Context, req *a2a.ListTasksRequest) (*a2a.ListTasksResponse, error) {
	if req == nil {
		req = &a2a.ListTasksRequest{}
	}
	pageSize := req.PageSize
	switch {
	case pageSize == 0:
		pageSize = 50
	case pageSize < 1 || pageSize > 100:
		return nil, fmt.Errorf("pageSize %d is out of range; use 1 to 100: %w", req.PageSize, a2a.ErrInvalidParams)
	}
	var cursor *storedRecord
	if req.PageToken != "" {
		c, err := decodePageToken(req.PageToken)
		if err != nil {
			return nil, fmt.Errorf("pageToken %q was not issued by this agent; pass nextPageToken unchanged: %w", req.PageToken, a2a.ErrInvalidParams)
		}
		cursor = c
	}
	lister, err := s.kv.ListKeysFiltered(ctx, s.prefix+">")
	if err != nil {
		return nil, fmt.Errorf("listing KV %s: %w", TasksBucket, err)
	}
	user := userOf(ctx)
	var recs []*storedRecord
	for key := range lister.Keys() {
		_, rec, err := s.get(ctx, key)
		if errors.Is(err, a2a.ErrTaskNotFound) {
			continue // deleted or expired since listed
		}
		if err != nil {
			_ = lister.Stop()
			return nil, err
		}
		if rec.User != user || !matches(rec.Task, req) {
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *storedRecord) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(string(b.Task.ID), string(a.Task.ID))
	})
	total := len(recs)
	if cursor != nil {
		i := slices.IndexFunc(recs, func(r *storedRecord) bool {
			if c := r.Updated.Compare(cursor.Updated); c != 0 {
				return c < 0
			}
			return strings.Compare(string(r.Task.ID), string(cursor.Task.ID)) < 0
		})
		if i < 0 {
			i = len(recs)
		}
		recs = recs[i:]
	}
	next := ""
	if len(recs) > pageSize {
		last := recs[pageSize-1]
		next = encodePageToken(last)
		recs = recs[:pageSize]
	}
	out := &a2a.ListTasksResponse{Tasks: make([]*a2a.Task, 0, len(recs)), TotalSize: total, PageSize: len(recs), NextPageToken: next}
	for _, r := range recs {
		t := r.Task
		if req.HistoryLength != nil {
			if n := *req.HistoryLength; n == 0 {
				t.History = []*a2a.Message{}
			} else if n > 0 && len(t.History) > n {
				t.History = t.History[len(t.History)-n:]
			}
		}
		if !req.IncludeArtifacts {
			t.Artifacts = nil
		}
		out.Tasks = append(out.Tasks, t)
	}
	return out, nil
}

func matches(t *a2a.Task, req *a2a.ListTasksRequest) bool {
	if req.ContextID != "" && t.ContextID != req.ContextID {
		return false
	}
	if req.Status != a2a.TaskStateUnspecified && t.Status.State != req.Status {
		return false
	}
	if req.StatusTimestampAfter != nil && t.Status.Timestamp != nil && t.Status.Timestamp.Before(*req.StatusTimestampAfter) {
		return false
	}
	return true
}

func encodePageToken(r *storedRecord) string {
	return base64.RawURLEncoding.EncodeToString([]byte(r.Updated.Format(time.RFC3339Nano) + "|" + string(r.Task.ID)))
}

func decodePageToken(tok string) (*storedRecord, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, err
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return nil, errors.New("no separator")
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return nil, err
	}
	return &storedRecord{Task: &a2a.Task{ID: a2a.TaskID(id)}, Updated: t}, nil
}
