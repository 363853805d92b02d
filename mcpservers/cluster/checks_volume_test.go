package cluster_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/mcpservers/cluster"
)

// TestVolumeCheck: a path is followed to its claim and class; "full" names the claim (or the
// emptyDir) as the cause (evals/heldout-causal/vecstore-append-crash); a claim that asks a
// node-local provisioner for ReadWriteMany is the cause of a claim stuck Pending
// (evals/heldout-causal/pvc-multinode-writer-refused), with its ProvisioningFailed event.
func TestVolumeCheck(t *testing.T) {
	ns := namespace(t, "chk-volume")
	class := func(name, provisioner string, expand bool) *storagev1.StorageClass {
		sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, AllowVolumeExpansion: ptr.To(expand)}
		t.Cleanup(func() { _ = apiServer(t).Client.Delete(t.Context(), sc) })
		return sc
	}
	claim := func(name, class string, mode corev1.PersistentVolumeAccessMode, size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), AccessModes: []corev1.PersistentVolumeAccessMode{mode},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}},
		}
	}
	create(t,
		class("chk-fast-ssd", "ebs.csi.aws.com", true),
		class("chk-node-disk", "rancher.io/local-path", false),
		class("chk-shared-files", "efs.csi.aws.com", false),
		claim("shared-dataset", "chk-node-disk", corev1.ReadWriteMany, "200Gi"),
		claim("team-files", "chk-shared-files", corev1.ReadWriteMany, "1Ti"),
	)
	storage := claim("qdrant-storage", "chk-fast-ssd", corev1.ReadWriteOnce, "20Gi")
	createWithStatus(t, storage, func() {
		storage.Status.Phase = corev1.ClaimBound
		storage.Status.AccessModes = storage.Spec.AccessModes
		storage.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}
	})
	stuck := &corev1.PersistentVolumeClaim{}
	stuck.Namespace, stuck.Name = ns, "shared-dataset"
	warningEvent(t, read(t, stuck), "PersistentVolumeClaim", "ProvisioningFailed",
		`failed to provision volume with StorageClass "chk-node-disk": NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes`, "")

	qdrant := pod(ns, "vecstore-5f9", map[string]string{"app": "vecstore"})
	qdrant.Spec.Containers[0].Name = "qdrant"
	qdrant.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "storage", MountPath: "/qdrant/storage"},
		{Name: "snapshots", MountPath: "/qdrant"},
		{Name: "cache", MountPath: "/cache"},
	}
	qdrant.Spec.Volumes = []corev1.Volume{
		{Name: "storage", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "qdrant-storage"}}},
		{Name: "snapshots", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Gi"))}}},
	}
	createWithStatus(t, qdrant, func() {
		qdrant.Status.Phase = corev1.PodRunning
		qdrant.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "qdrant", Image: "qdrant/qdrant:v1.12.4", RestartCount: 4,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 101, Reason: "Error",
				Message: "thread 'main' panicked at lib/collection/src/wal.rs:212: Failed to append to WAL: No space left on device (os error 28)"}}}}
	})
	trainer := pod(ns, "trainer-0", nil)
	trainer.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	trainer.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "shared-dataset"}}}}
	create(t, trainer)

	restore := claim("staging-pgdata", "chk-fast-ssd", corev1.ReadWriteOnce, "50Gi")
	restore.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "prod-nightly-1206"}
	clone := claim("dataset-copy", "chk-fast-ssd", corev1.ReadWriteOnce, "50Gi")
	clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "dataset-golden"}
	create(t, restore, clone)

	create(t, claim("ledger-pgdata", "chk-premium-gone", corev1.ReadWriteOnce, "100Gi"))

	// a single-writer volume under a rolling update: the old pod still runs on the claim
	tsdb := claim("metrics-tsdb", "chk-fast-ssd", corev1.ReadWriteOnce, "50Gi")
	create(t, tsdb)
	_, rsNew := deploymentWithRevisions(t, ns, "metrics-db", 2, func(p *corev1.PodSpec) {
		p.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/prometheus"}}
		p.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "metrics-tsdb"}}}}
	})
	rsOld := read(t, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "metrics-db-h1"}})
	ownedPod(t, rsOld, ns, "metrics-db-h1-0", corev1.PodStatus{Phase: corev1.PodRunning})
	ownedPod(t, rsNew, ns, "metrics-db-h2-0", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}})

	s := connect(t, cluster.Config{})
	runChecks(t, s, "volume_check", []checkCase{{
		name:     "a claim whose StorageClass does not exist",
		args:     map[string]any{"namespace": ns, "claim": "ledger-pgdata"},
		category: contract.ReferenceMissing, object: "persistentvolumeclaim/" + ns + "/ledger-pgdata", field: "spec.storageClassName",
		summary: []string{"claim ledger-pgdata names StorageClass chk-premium-gone, which does not exist (StorageClasses that exist: "},
		fix:     []string{"create StorageClass chk-premium-gone, or recreate claim ledger-pgdata"},
	}, {
		name:     "a rolling update's new pod on the claim its old pod still holds",
		args:     map[string]any{"namespace": ns, "pod": "metrics-db-h2-0", "problem": "in-use"},
		category: contract.ApplicationConfig, object: "deployment/" + ns + "/metrics-db", field: "spec.strategy.type",
		summary: []string{"Deployment metrics-db updates with the RollingUpdate strategy, so its new pod metrics-db-h2-0 starts while the old pod metrics-db-h1-0 (ReplicaSet metrics-db-h1, Running) still runs on claim metrics-tsdb ([ReadWriteOnce])"},
		fix:     []string{"set spec.strategy.type: Recreate on Deployment metrics-db"},
	}, {
		name:    "the same pods without a problem named: the sharing is a fact, no cause",
		args:    map[string]any{"namespace": ns, "pod": "metrics-db-h2-0"},
		checked: []string{"pod " + ns + "/metrics-db-h2-0"},
	}, {
		name:     "a claim restored from a VolumeSnapshot kind the cluster does not serve",
		args:     map[string]any{"namespace": ns, "claim": "staging-pgdata"},
		category: contract.ReferenceMissing, object: "persistentvolumeclaim/" + ns + "/staging-pgdata", field: "spec.dataSourceRef",
		summary: []string{"claim staging-pgdata is to be made from VolumeSnapshot prod-nightly-1206 (snapshot.storage.k8s.io), but the cluster serves no kind VolumeSnapshot"},
		fix:     []string{"create VolumeSnapshot prod-nightly-1206 (snapshot.storage.k8s.io) in namespace " + ns},
	}, {
		name:     "a claim cloned from a claim that does not exist",
		args:     map[string]any{"namespace": ns, "claim": "dataset-copy"},
		category: contract.ReferenceMissing, object: "persistentvolumeclaim/" + ns + "/dataset-copy", field: "spec.dataSourceRef",
		summary: []string{"claim dataset-copy is to be made from PersistentVolumeClaim dataset-golden, which does not exist in namespace " + ns},
	}, {
		name:     "the claim at the path is full",
		args:     map[string]any{"namespace": ns, "pod": "vecstore-5f9", "path": "/qdrant/storage/wal/open-1", "problem": "full"},
		category: contract.VolumeFull, object: "persistentvolumeclaim/" + ns + "/qdrant-storage", field: "spec.resources.requests.storage",
		summary:  []string{"claim qdrant-storage (20Gi, StorageClass chk-fast-ssd) mounted at /qdrant/storage in container qdrant is full"},
		evidence: []string{"StorageClass chk-fast-ssd: provisioner ebs.csi.aws.com, allowVolumeExpansion true", "Failed to append to WAL: No space left on device (os error 28)"},
		fix:      []string{"expand the claim", "above 20Gi", "or free space in /qdrant/storage"},
		checked:  []string{"/qdrant/storage/wal/open-1 is on volume storage, mounted at /qdrant/storage in container qdrant"},
	}, {
		name:     "an emptyDir at the path is full",
		args:     map[string]any{"namespace": ns, "pod": "vecstore-5f9", "path": "/cache/blobs", "container": "qdrant", "problem": "full"},
		category: contract.VolumeFull, object: "pod/" + ns + "/vecstore-5f9", field: "spec.volumes[cache].emptyDir.sizeLimit",
		summary: []string{"emptyDir volume cache (sizeLimit 1Gi) mounted at /cache in container qdrant is full"},
		fix:     []string{"raise spec.volumes[cache].emptyDir.sizeLimit"},
	}, {
		name:    "a path with nothing wrong",
		args:    map[string]any{"namespace": ns, "pod": "vecstore-5f9", "path": "/qdrant/snapshots"},
		checked: []string{"/qdrant/snapshots is on volume snapshots, mounted at /qdrant"},
	}, {
		name:     "a pod's claim asks a node-local provisioner for ReadWriteMany",
		args:     map[string]any{"namespace": ns, "pod": "trainer-0"},
		category: contract.AccessModeUnsupported, object: "persistentvolumeclaim/" + ns + "/shared-dataset", field: "spec.accessModes",
		summary:  []string{"claim shared-dataset asks for ReadWriteMany, but StorageClass chk-node-disk (provisioner rancher.io/local-path) only gives ReadWriteOnce/ReadWriteOncePod"},
		evidence: []string{"spec.accessModes: [ReadWriteMany]", "Warning event ProvisioningFailed on persistentvolumeclaim/" + ns + "/shared-dataset: failed to provision volume"},
		fix:      []string{"recreate claim shared-dataset", "efs.csi.aws.com"},
	}, {
		name:     "the claim on its own",
		args:     map[string]any{"namespace": ns, "claim": "shared-dataset"},
		category: contract.AccessModeUnsupported, object: "persistentvolumeclaim/" + ns + "/shared-dataset", field: "spec.accessModes",
		checked: []string{"claim " + ns + "/shared-dataset: Pending, 200Gi, StorageClass chk-node-disk, access modes [ReadWriteMany], not bound"},
	}, {
		name:    "ReadWriteMany from a file provisioner is fine",
		args:    map[string]any{"namespace": ns, "claim": "team-files"},
		checked: []string{"StorageClass chk-shared-files"},
	}, {
		name:    "pod or claim, not both",
		args:    map[string]any{"namespace": ns, "pod": "trainer-0", "claim": "shared-dataset"},
		wantErr: []string{`pass either "pod" or "claim", not both`},
	}, {
		name:    "neither pod nor claim",
		args:    map[string]any{"namespace": ns},
		wantErr: []string{`pass "pod"`, `or "claim"`},
	}, {
		name:    "a path is absolute",
		args:    map[string]any{"namespace": ns, "pod": "trainer-0", "path": "data/x"},
		wantErr: []string{`argument "path" must be an absolute path`},
	}, {
		name:    "a container the pod has",
		args:    map[string]any{"namespace": ns, "pod": "trainer-0", "path": "/data", "container": "sidecar"},
		wantErr: []string{`pod ` + ns + `/trainer-0 has no container "sidecar"; its containers are app`},
	}})
}
