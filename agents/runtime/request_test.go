package runtime

import (
	"strings"
	"testing"

	"github.com/a2aproject/a2a-go/v2/a2a"
)

func TestParseRequest(t *testing.T) {
	msg := func(parts ...*a2a.Part) *a2a.Message { return a2a.NewMessage(a2a.MessageRoleUser, parts...) }
	for _, tc := range []struct {
		m    *a2a.Message
		want Request
	}{
		{msg(a2a.NewDataPart(map[string]any{"subject": "deployment/shop/web", "question": "why?"})), Request{Subject: "deployment/shop/web", Question: "why?"}},
		{msg(a2a.NewDataPart(map[string]any{"namespace": "shop"})), Request{Namespace: "shop"}},
		{msg(a2a.NewTextPart("node/gpu-3")), Request{Subject: "node/gpu-3"}},
		{msg(a2a.NewTextPart("why is training-job-7 pending?")), Request{Question: "why is training-job-7 pending?"}},
	} {
		got, err := ParseRequest(tc.m)
		if err != nil || got != tc.want {
			t.Errorf("ParseRequest = %+v, %v; want %+v", got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		m    *a2a.Message
		want string
	}{
		{nil, "the message has no parts"},
		{msg(a2a.NewDataPart(map[string]any{"subjet": "pod/a/b"})), `unknown field "subjet"`},
		{msg(a2a.NewDataPart(map[string]any{"subject": 7})), "not a request"},
		{msg(a2a.NewDataPart(map[string]any{})), "the request is empty"},
		{msg(a2a.NewDataPart(map[string]any{"subject": "pod/only-name"})), "write kind/namespace/name"},
		{msg(a2a.NewDataPart(map[string]any{"question": strings.Repeat("x", 5000)})), "question is 5000 bytes: at most 4096"},
	} {
		if _, err := ParseRequest(tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRequest(%v) = %v, want %q", tc.m, err, tc.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add("deployment/shop/web", "shop", "why?", "text")
	f.Add("", "", "", "node/gpu-1")
	f.Fuzz(func(t *testing.T, subject, namespace, question, text string) {
		m := a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(text))
		if subject != "" || namespace != "" || question != "" {
			m.Parts = append(m.Parts, a2a.NewDataPart(map[string]any{"subject": subject, "namespace": namespace, "question": question}))
		}
		r, err := ParseRequest(m)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		if r.Subject == "" && r.Namespace == "" && r.Question == "" {
			t.Fatalf("accepted an empty request from %+v", m)
		}
	})
}
