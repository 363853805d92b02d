package scheduler_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/opsmesh/opsmesh/internal/testbed"
	"github.com/opsmesh/opsmesh/mcpservers/scheduler"
)

// A control plane that serves Kueue only as kueue.x-k8s.io/v1beta1, as clusters with Kueue
// releases before v1beta2 do: Kueue's real v0.17.0 CRDs with their v1beta2 version removed and
// v1beta1 made the storage version.
var (
	v1beta1Once sync.Once
	v1beta1Env  *testbed.Env
	v1beta1Err  error
)

func kueueV1beta1Only(t *testing.T) *testbed.Env {
	t.Helper()
	v1beta1Once.Do(func() {
		dir, err := kueueCRDDir()
		if err != nil {
			v1beta1Err = err
			return
		}
		var crds []*apiextensionsv1.CustomResourceDefinition
		for _, kind := range []string{"workloads", "clusterqueues", "localqueues", "resourceflavors"} {
			data, err := os.ReadFile(filepath.Join(dir, "kueue.x-k8s.io_"+kind+".yaml"))
			if err != nil {
				v1beta1Err = err
				return
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(data, crd); err != nil {
				v1beta1Err = err
				return
			}
			var keep []apiextensionsv1.CustomResourceDefinitionVersion
			for _, v := range crd.Spec.Versions {
				if v.Name == "v1beta1" {
					v.Served, v.Storage = true, true
					keep = append(keep, v)
				}
			}
			crd.Spec.Versions = keep
			crds = append(crds, crd)
		}
		if v1beta1Env, v1beta1Err = testbed.Start(); v1beta1Err != nil {
			return
		}
		_, v1beta1Err = envtest.InstallCRDs(v1beta1Env.Config, envtest.CRDInstallOptions{CRDs: crds})
	})
	if v1beta1Err != nil {
		t.Fatal(v1beta1Err)
	}
	return v1beta1Env
}

// TestExplainKueueV1beta1 reads the same quota story as TestExplainKueue from a cluster that
// serves only v1beta1, whose ClusterQueue names its cohort in spec.cohort.
func TestExplainKueueV1beta1(t *testing.T) {
	env := kueueV1beta1Only(t)
	c := env.Client
	makeNode(t, c, nodeSpec{name: "b1-gpu-1", cpu: "64", gpus: 8})
	ensureNamespace(t, c, "ml")
	v1 := func(s string) string {
		return strings.NewReplacer("kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v1beta1", "cohortName:", "cohort:").Replace(s)
	}
	createWithStatus(t, c, fromYAML(t, "{apiVersion: kueue.x-k8s.io/v1beta1, kind: ResourceFlavor, metadata: {name: h100}, spec: {}}"))
	createWithStatus(t, c, fromYAML(t, v1(clusterQueueYAML), "team-a", "None", 32, ", borrowingLimit: \"0\"", 4, 4, 32))
	create(t, c, fromYAML(t, "{apiVersion: kueue.x-k8s.io/v1beta1, kind: LocalQueue, metadata: {name: team-a, namespace: ml}, spec: {clusterQueue: team-a}}"))
	j := job("ml", "train", true, map[string]string{"kueue.x-k8s.io/queue-name": "team-a"}, 8)
	create(t, c, j)
	w := fromYAML(t, v1(workloadYAML), "job-train-v1", "team-a", 100, "nvidia.com/gpu", 8, "nvidia.com/gpu", 8, "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor h100, 8 more needed")
	w.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "train", UID: j.UID}})
	createWithStatus(t, c, w)

	s := connect(t, env, scheduler.Config{})
	out := s.OK("explain_pending", map[string]any{"namespace": "ml", "name": "train", "kind": "job"})
	mustContain(t, out,
		"Kueue (kueue.x-k8s.io/v1beta1): Workload ml/job-train-v1 in LocalQueue team-a → ClusterQueue team-a (cohort research).",
		"verdict: Workload ml/job-train-v1 is not admitted: ClusterQueue team-a is at 32/32 nvidia.com/gpu in flavor h100 (borrowing limit 0), and it needs 8 more.",
		"1. raise nominalQuota of nvidia.com/gpu in flavor h100 of ClusterQueue team-a from 32 to 40 (clusterqueue_set_quota)")
	mustContain(t, s.OK("queue_status", nil), "Kueue ClusterQueues (kueue.x-k8s.io/v1beta1): 1")
}
