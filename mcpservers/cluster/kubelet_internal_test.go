package cluster

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
)

// Each kubelet message the signature table reads names its cause: category, object and field,
// with the message quoted as evidence.
func TestKubeletSignatures(t *testing.T) {
	dir := corev1.HostPathDirectory
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ml", Name: "trainer-0"}, Spec: corev1.PodSpec{
		NodeName: "gpu-1",
		Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "models/llama"}}}},
		Volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/cache/models", Type: &dir}}}},
	}}
	w := &ownerWorkload{ref: ref{Kind: "statefulset", Namespace: "ml", Name: "trainer"}}
	cases := []struct {
		msg                     string
		category, object, field string
		summary                 string
	}{
		{`MountVolume.SetUp failed for volume "cache" : hostPath type check failed: /var/cache/models is not a directory`,
			contract.ApplicationConfig, "statefulset/ml/trainer", "spec.template.spec.volumes[cache].hostPath.path", "not a directory on node gpu-1"},
		{`MountVolume.SetUp failed for volume "cfg" : configmap "trainer-config" not found`,
			contract.ReferenceMissing, "configmap/ml/trainer-config", "", "ConfigMap trainer-config does not exist in namespace ml"},
		{`MountVolume.SetUp failed for volume "tls" : secret "trainer-tls" not found`,
			contract.ReferenceMissing, "secret/ml/trainer-tls", "", "Secret trainer-tls does not exist"},
		{`couldn't find key MODEL_PATH in ConfigMap ml/settings`,
			contract.ReferenceMissing, "configmap/ml/settings", "data[MODEL_PATH]", "has no key MODEL_PATH"},
		{`Error: container's runAsUser breaks non-root policy (pod: "trainer-0_ml(1)", container: app)`,
			contract.ApplicationConfig, "statefulset/ml/trainer", "spec.template.spec.containers[app].securityContext.runAsUser", "container app"},
		{`container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "trainer-0_ml(1)", container: app)`,
			contract.ApplicationConfig, "statefulset/ml/trainer", "spec.template.spec.securityContext.runAsNonRoot", "container app"},
		{"MountVolume.SetUp failed for volume \"team-datasets-nfs\" : mount failed: exit status 32\nMounting command: mount\nOutput: mount.nfs: mounting 10.40.8.15:/export/datasets failed, reason given by server: No such file or directory",
			contract.ReferenceMissing, "persistentvolume/team-datasets-nfs", "spec.nfs.path", "mounts 10.40.8.15:/export/datasets, and NFS server 10.40.8.15 does not export it"},
		{`Error: failed to prepare subPath for volumeMount "data" of container "app"`,
			contract.ApplicationConfig, "statefulset/ml/trainer", "spec.template.spec.containers[app].volumeMounts[data].subPath", `subPath "models/llama"`},
	}
	for _, tc := range cases {
		c := kubeletCause(p, w, []string{"", tc.msg})
		if c == nil {
			t.Errorf("%s: no cause", tc.msg)
			continue
		}
		if c.Category != tc.category || c.Object != tc.object || c.Field != tc.field || !strings.Contains(c.Summary, tc.summary) || c.Fix == nil {
			t.Errorf("%s:\n got %s %s %q %q\nwant %s %s %q %q", tc.msg, c.Category, c.Object, c.Field, c.Summary, tc.category, tc.object, tc.field, tc.summary)
		}
		if len(c.Evidence) != 1 || !strings.Contains(c.Evidence[0], strings.ReplaceAll(tc.msg, "\n", " | ")) {
			t.Errorf("%s: evidence %q does not quote the message", tc.msg, c.Evidence)
		}
	}
	if c := kubeletCause(p, w, []string{"Back-off restarting failed container"}); c != nil {
		t.Errorf("a message no signature reads has a cause: %+v", c)
	}
}
