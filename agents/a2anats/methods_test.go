package a2anats_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
)

// TestEveryMethod drives every A2A method through an ordinary a2a-go client, once over the NATS
// binding and once over HTTP JSON-RPC (a stock a2a-go JSON-RPC transport with the bearer token:
// the interop check), against the same agent and task store.
func TestEveryMethod(t *testing.T) {
	s := natsServer(t, -1, "")
	agent := newEchoAgent("r1")
	srv := serve(t, connect(t, s.ClientURL()), agent, withHTTP(t))
	card := srv.Card()
	if len(card.SupportedInterfaces) != 2 || card.SupportedInterfaces[0].ProtocolBinding != "https://opsmesh.dev/a2a/bindings/nats/v1" ||
		card.SupportedInterfaces[1].ProtocolBinding != a2a.TransportProtocolJSONRPC {
		t.Fatalf("card interfaces = %+v, want NATS then JSONRPC", card.SupportedInterfaces)
	}
	clients := map[string]*a2aclient.Client{
		"nats": dial(t, connect(t, s.ClientURL())),
		"http": httpClient(t, card),
	}
	for _, name := range []string{"nats", "http"} {
		c := clients[name]
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()

			// SendMessage answered with a message.
			res, err := c.SendMessage(ctx, userMsg("echo hello"))
			if err != nil {
				t.Fatal(err)
			}
			m, ok := res.(*a2a.Message)
			if !ok || textOf(m.Parts) != "hello" || m.Role != a2a.MessageRoleAgent {
				t.Fatalf("SendMessage(echo hello) = %#v, want the agent's message 'hello'", res)
			}

			// SendMessage answered with a completed task.
			task := mustTask(t)(c.SendMessage(ctx, userMsg("work report")))
			if task.Status.State != a2a.TaskStateCompleted || len(task.Artifacts) != 1 || textOf(task.Artifacts[0].Parts) != "report" {
				t.Fatalf("SendMessage(work report) = state %s, artifacts %+v; want completed with artifact 'report'", task.Status.State, task.Artifacts)
			}

			// GetTask reads it back from the task store.
			got, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: task.ID})
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != task.ID || got.Status.State != a2a.TaskStateCompleted || textOf(got.Artifacts[0].Parts) != "report" {
				t.Fatalf("GetTask = %+v, want the completed task", got)
			}
			if _, err := c.GetTask(ctx, &a2a.GetTaskRequest{ID: "no-such-task"}); !errors.Is(err, a2a.ErrTaskNotFound) || !strings.Contains(err.Error(), `agent ops/echo has no task "no-such-task"`) {
				t.Fatalf("GetTask(no-such-task) error = %v, want task not found, naming the agent and the task", err)
			}

			// CancelTask of a completed task is refused; of a working one, done.
			if _, err := c.CancelTask(ctx, &a2a.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2a.ErrTaskNotCancelable) {
				t.Fatalf("CancelTask(completed) error = %v, want task not cancelable", err)
			}
			blocked := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
			<-agent.started
			if blocked.Status.State.Terminal() {
				t.Fatalf("a blocking task returned immediately in state %s, want a non-terminal one", blocked.Status.State)
			}
			canceled, err := c.CancelTask(ctx, &a2a.CancelTaskRequest{ID: blocked.ID})
			if err != nil {
				t.Fatal(err)
			}
			if canceled.Status.State != a2a.TaskStateCanceled {
				t.Fatalf("CancelTask = state %s, want canceled", canceled.Status.State)
			}

			// ListTasks sees both, and filters by state.
			list, err := c.ListTasks(ctx, &a2a.ListTasksRequest{})
			if err != nil {
				t.Fatal(err)
			}
			ids := func(ts []*a2a.Task) []a2a.TaskID {
				var out []a2a.TaskID
				for _, t := range ts {
					out = append(out, t.ID)
				}
				return out
			}
			if !slices.Contains(ids(list.Tasks), task.ID) || !slices.Contains(ids(list.Tasks), blocked.ID) {
				t.Fatalf("ListTasks = %v, want %s and %s among them", ids(list.Tasks), task.ID, blocked.ID)
			}
			onlyCanceled, err := c.ListTasks(ctx, &a2a.ListTasksRequest{Status: a2a.TaskStateCanceled})
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range onlyCanceled.Tasks {
				if tk.Status.State != a2a.TaskStateCanceled {
					t.Fatalf("ListTasks(status=canceled) returned a %s task", tk.Status.State)
				}
			}
			if !slices.Contains(ids(onlyCanceled.Tasks), blocked.ID) || slices.Contains(ids(onlyCanceled.Tasks), task.ID) {
				t.Fatalf("ListTasks(status=canceled) = %v, want %s and not %s", ids(onlyCanceled.Tasks), blocked.ID, task.ID)
			}
			page, err := c.ListTasks(ctx, &a2a.ListTasksRequest{PageSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Tasks) != 1 || page.NextPageToken == "" {
				t.Fatalf("ListTasks(pageSize 1) = %d tasks, next %q; want 1 and a next page", len(page.Tasks), page.NextPageToken)
			}
			next, err := c.ListTasks(ctx, &a2a.ListTasksRequest{PageSize: 1, PageToken: page.NextPageToken})
			if err != nil {
				t.Fatal(err)
			}
			if len(next.Tasks) != 1 || next.Tasks[0].ID == page.Tasks[0].ID {
				t.Fatalf("the second page repeats the first: %v then %v", ids(page.Tasks), ids(next.Tasks))
			}

			// SendStreamingMessage: the task, working, three artifacts, completed.
			var kinds []string
			for ev, err := range c.SendStreamingMessage(ctx, userMsg("stream 3")) {
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, kindOf(ev))
			}
			want := []string{"task", "status:TASK_STATE_WORKING", "artifact", "artifact", "artifact", "status:TASK_STATE_COMPLETED"}
			if !slices.Equal(kinds, want) {
				t.Fatalf("SendStreamingMessage(stream 3) events = %v, want %v", kinds, want)
			}

			// SubscribeToTask to a running task: its events until it completes.
			running := mustTask(t)(c.SendMessage(ctx, returnNow(userMsg("block"))))
			<-agent.started
			kinds = nil
			for ev, err := range c.SubscribeToTask(ctx, &a2a.SubscribeToTaskRequest{ID: running.ID}) {
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, kindOf(ev))
				if len(kinds) == 1 {
					agent.Release()
				}
			}
			agent.mu.Lock()
			agent.release = make(chan struct{})
			agent.mu.Unlock()
			if len(kinds) < 2 || kinds[0] != "task" || kinds[len(kinds)-1] != "status:TASK_STATE_COMPLETED" {
				t.Fatalf("SubscribeToTask events = %v, want the task first and completed last", kinds)
			}

			// Push notifications are not supported, with their own code.
			if _, err := c.CreateTaskPushConfig(ctx, &a2a.PushConfig{TaskID: task.ID, URL: "https://example.com/hook"}); !errors.Is(err, a2a.ErrPushNotificationNotSupported) {
				t.Fatalf("CreateTaskPushConfig error = %v, want push notification not supported", err)
			}
			if _, err := c.GetTaskPushConfig(ctx, &a2a.GetTaskPushConfigRequest{TaskID: task.ID, ID: "x"}); !errors.Is(err, a2a.ErrPushNotificationNotSupported) {
				t.Fatalf("GetTaskPushConfig error = %v, want push notification not supported", err)
			}
			if _, err := c.ListTaskPushConfigs(ctx, &a2a.ListTaskPushConfigRequest{TaskID: task.ID}); !errors.Is(err, a2a.ErrPushNotificationNotSupported) {
				t.Fatalf("ListTaskPushConfigs error = %v, want push notification not supported", err)
			}
			if err := c.DeleteTaskPushConfig(ctx, &a2a.DeleteTaskPushConfigRequest{TaskID: task.ID, ID: "x"}); !errors.Is(err, a2a.ErrPushNotificationNotSupported) {
				t.Fatalf("DeleteTaskPushConfig error = %v, want push notification not supported", err)
			}
		})
	}
}

func kindOf(ev a2a.Event) string {
	switch e := ev.(type) {
	case *a2a.Task:
		return "task"
	case *a2a.Message:
		return "message"
	case *a2a.TaskStatusUpdateEvent:
		return "status:" + string(e.Status.State)
	case *a2a.TaskArtifactUpdateEvent:
		return "artifact"
	}
	return "?"
}
