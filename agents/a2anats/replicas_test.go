package a2anats_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsmesh/opsmesh/agents/a2anats"
)

// TestQueueGroupSharesLoad: three replicas in the agent's queue group each serve some of 300
// requests.
func TestQueueGroupSharesLoad(t *testing.T) {
	s := natsServer(t, -1, "")
	for i := range 3 {
		serve(t, connect(t, s.ClientURL()), newEchoAgent(fmt.Sprintf("r%d", i)))
	}
	c := dial(t, connect(t, s.ClientURL()))
	served := map[string]int{}
	for i := range 300 {
		res, err := c.SendMessage(context.Background(), userMsg(fmt.Sprintf("echo %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		m := res.(*a2a.Message)
		if textOf(m.Parts) != fmt.Sprint(i) {
			t.Fatalf("request %d answered %q", i, textOf(m.Parts))
		}
		served[fmt.Sprint(m.Metadata["replica"])]++
	}
	for _, r := range []string{"r0", "r1", "r2"} {
		if served[r] == 0 {
			t.Fatalf("replica %s served none of 300 requests: %v", r, served)
		}
	}
	t.Logf("requests per replica: %v", served)
}

// TestReplicaKilledMidTask: replica A starts two tasks and dies (its NATS connection is cut, no
// clean shutdown); replica B reads both from KV, finishes one when the caller continues it and
// cancels the other.
func TestReplicaKilledMidTask(t *testing.T) {
	s := natsServer(t, -1, "")
	ncA := connect(t, s.ClientURL())
	a := newEchoAgent("a")
	serve(t, ncA, a)
	c := dial(t, connect(t, s.ClientURL()))
	ctx := context.Background()
	t1 := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
	t2 := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
	<-a.started
	<-a.started

	b := newEchoAgent("b")
	serve(t, connect(t, s.ClientURL()), b)
	before := s.NumClients()
	ncA.Close() // replica A dies mid-task
	// A request NATS routes to A before the server notices A is gone is lost (the caller's
	// deadline ends it); wait for the server to drop A, as a caller would retry.
	eventually(t, func() bool { return s.NumClients() == before-1 }, func() string { return "the NATS server did not notice replica A died" })

	for _, id := range []a2a.TaskID{t1.ID, t2.ID} {
		got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: id})
		if err != nil {
			t.Fatalf("GetTask(%s) through replica b: %v", id, err)
		}
		if got.Status.State != a2a.TaskStateWorking {
			t.Fatalf("task %s is %s after its replica died, want working", id, got.Status.State)
		}
	}
	cont := userMsg("finish")
	cont.Message.TaskID = t1.ID
	done := mustTask(t)(c.SendMessage(ctx, cont))
	if done.Status.State != a2a.TaskStateCompleted || textOf(done.Status.Message.Parts) != "done by b" {
		t.Fatalf("continuing task 1 through b: %s %v, want completed 'done by b'", done.Status.State, done.Status.Message)
	}
	canceled, err := c.CancelTask(ctx, &a2a.CancelTaskRequest{ID: t2.ID})
	if err != nil {
		t.Fatal(err)
	}
	if canceled.Status.State != a2a.TaskStateCanceled {
		t.Fatalf("cancelling task 2 through b: %s, want canceled", canceled.Status.State)
	}
	got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: t2.ID})
	if err != nil || got.Status.State != a2a.TaskStateCanceled {
		t.Fatalf("GetTask(task 2) = %v, %v; want canceled", got, err)
	}
}

// TestCancelThroughAnotherReplica: a task runs on replica A; the cancel lands on B (A takes no
// more requests), and the task store's revision check stops A's execution.
func TestCancelThroughAnotherReplica(t *testing.T) {
	s := natsServer(t, -1, "")
	a := newEchoAgent("a")
	srvA := serve(t, connect(t, s.ClientURL()), a)
	c := dial(t, connect(t, s.ClientURL()))
	ctx := context.Background()
	task := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
	<-a.started
	serve(t, connect(t, s.ClientURL()), newEchoAgent("b"))
	srvA.Unsubscribe()
	canceled, err := c.CancelTask(ctx, &a2a.CancelTaskRequest{ID: task.ID})
	if err != nil {
		t.Fatal(err)
	}
	if canceled.Status.State != a2a.TaskStateCanceled {
		t.Fatalf("CancelTask through b = %s, want canceled", canceled.Status.State)
	}
	a.Release() // A's execution tries to complete the task, and must not overwrite the cancel
	eventually(t, func() bool { return !srvA.Running(task.ID) }, func() string { return "A's execution did not end" })
	got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: task.ID})
	if err != nil || got.Status.State != a2a.TaskStateCanceled {
		t.Fatalf("GetTask after A's execution ended = %v, %v; want still canceled", got, err)
	}
}

// TestSubscribeRelayedToTheRunningReplica: SubscribeToTask lands on replica B while the task
// runs on A; B relays A's event stream.
func TestSubscribeRelayedToTheRunningReplica(t *testing.T) {
	s := natsServer(t, -1, "")
	a := newEchoAgent("a")
	srvA := serve(t, connect(t, s.ClientURL()), a)
	c := dial(t, connect(t, s.ClientURL()))
	ctx := context.Background()
	task := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
	<-a.started
	serve(t, connect(t, s.ClientURL()), newEchoAgent("b"))
	srvA.Unsubscribe() // A keeps running the task but takes no new requests
	var kinds []string
	for ev, err := range c.SubscribeToTask(ctx, &a2a.SubscribeToTaskRequest{ID: task.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, kindOf(ev))
		if len(kinds) == 1 {
			a.Release()
		}
	}
	if len(kinds) < 2 || kinds[0] != "task" || kinds[len(kinds)-1] != "status:TASK_STATE_COMPLETED" {
		t.Fatalf("SubscribeToTask through b = %v, want the task, then its events until completed", kinds)
	}
}

// TestTasksSurviveNATSRestart: with file storage, tasks written before the NATS server stops are
// there after it starts again on the same directory, and the agent (reconnected) serves them.
func TestTasksSurviveNATSRestart(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	s := natsServer(t, port, dir)
	serve(t, connect(t, s.ClientURL()), newEchoAgent("r1"))
	c := dial(t, connect(t, s.ClientURL()))
	ctx := context.Background()
	task := mustTask(t)(c.SendMessage(ctx, userMsg("work before restart")))

	s.Shutdown()
	s.WaitForShutdown()
	natsServer(t, port, dir)

	var got *a2a.Task
	var err error
	eventually(t, func() bool {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got, err = c.GetTask(tctx, &a2a.GetTaskRequest{ID: task.ID})
		return err == nil
	}, func() string { return fmt.Sprintf("GetTask after the restart: %v", err) })
	if got.Status.State != a2a.TaskStateCompleted || textOf(got.Artifacts[0].Parts) != "before restart" {
		t.Fatalf("after the restart the task is %s %+v, want completed with its artifact", got.Status.State, got.Artifacts)
	}
	if _, err := c.SendMessage(ctx, userMsg("work after restart")); err != nil {
		t.Fatalf("a new task after the restart: %v", err)
	}
}

// TestClusterNodeStopped: a 3-node NATS cluster in-process, buckets with 3 replicas; one node
// (the one the agent is connected to) stops, and requests are still served, old tasks included.
func TestClusterNodeStopped(t *testing.T) {
	nodes := natsCluster(t, 3)
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.ClientURL()
	}
	// The agent prefers node 0, the client node 2.
	ncAgent, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ncAgent.Close)
	eventually(t, func() bool { return jsReady(ncAgent) }, func() string { return "JetStream in the cluster did not become ready" })
	serve(t, ncAgent, newEchoAgent("r1"), a2anats.WithBuckets(a2anats.BucketConfig{Replicas: 3}))
	ncClient := connect(t, urls[2]+","+urls[1])
	c := dial(t, ncClient)
	ctx := context.Background()
	task := mustTask(t)(c.SendMessage(ctx, userMsg("work in the cluster")))

	nodes[0].Shutdown()
	nodes[0].WaitForShutdown()

	var res a2a.SendMessageResult
	eventually(t, func() bool {
		// A request in flight when the node stopped is lost: each try has its own deadline.
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err = c.SendMessage(tctx, userMsg("work after a node stopped"))
		return err == nil
	}, func() string { return fmt.Sprintf("SendMessage after node 0 stopped: %v", err) })
	if tk, ok := res.(*a2a.Task); !ok || tk.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("after node 0 stopped: %#v, want a completed task", res)
	}
	got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: task.ID})
	if err != nil || got.Status.State != a2a.TaskStateCompleted {
		t.Fatalf("GetTask of a task from before the stop = %v, %v", got, err)
	}
	if ncAgent.ConnectedUrl() == urls[0] {
		t.Fatalf("the agent is still connected to the stopped node")
	}
}

func jsReady(nc *nats.Conn) bool {
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// natsCluster runs n clustered NATS servers with JetStream, each on its own directory.
func natsCluster(t *testing.T, n int) []*server.Server {
	t.Helper()
	clusterPorts := make([]int, n)
	for i := range clusterPorts {
		clusterPorts[i] = freePort(t)
	}
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	dir := t.TempDir()
	var out []*server.Server
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("node-%d", i), Host: "127.0.0.1", Port: -1,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprint(i)), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "opsmesh-test", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		out = append(out, s)
	}
	for _, s := range out {
		if !s.ReadyForConnections(20 * time.Second) {
			t.Fatal("a cluster node did not start")
		}
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
