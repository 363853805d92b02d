package kubeaccess_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"log/slog"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/kubeaccess"
)

var shared testbed.Shared

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	shared.Stop()
	os.Exit(code)
}

func TestMayListWatch(t *testing.T) {
	ctx := context.Background()
	env := shared.Env(t)
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ka"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "ka", Name: "pods"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "ka", Name: "pods"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pods"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "ka-user"}}},
	} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := kubeaccess.New(env.Config, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.MayListWatch(ctx, schema.GroupResource{Resource: "pods"}, ""); err != nil {
		t.Errorf("an administrator may not watch pods: %v", err)
	}

	cfg, err := env.UserConfig("ka-user")
	if err != nil {
		t.Fatal(err)
	}
	user, err := kubeaccess.New(cfg, []string{"ka", "ka"})
	if err != nil {
		t.Fatal(err)
	}
	if len(user.Allow) != 1 || user.Allow[0] != "ka" {
		t.Errorf("Allow = %v, want [ka] (sorted, unique)", user.Allow)
	}
	if err := user.MayListWatch(ctx, schema.GroupResource{Resource: "pods"}, "ka"); err != nil {
		t.Errorf("the user may list and watch pods in ka, but: %v", err)
	}
	for _, tc := range []struct {
		gr   schema.GroupResource
		ns   string
		want string
	}{
		{schema.GroupResource{Resource: "pods"}, "", "pods is forbidden: the watch cache needs list on it across the cluster"},
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, "ka", "deployments.apps is forbidden: the watch cache needs list on it in namespace ka"},
	} {
		err := user.MayListWatch(ctx, tc.gr, tc.ns)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("MayListWatch(%s, %q) = %v, want Forbidden saying %q", tc.gr, tc.ns, err, tc.want)
		}
	}

	// A cache confined to ka reads pods there.
	life, cancel := context.WithCancel(ctx)
	defer cancel()
	wc, err := user.StartCache(ctx, life, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := wc.List(ctx, &pods, client.InNamespace("ka")); err != nil {
		t.Errorf("the confined cache cannot list pods in ka: %v", err)
	}
}
