package accessmodes

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRefused(t *testing.T) {
	rwx := []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	for _, tc := range []struct {
		provisioner string
		want        []corev1.PersistentVolumeAccessMode
		refused     int
		known       bool
	}{
		{"ebs.csi.aws.com", rwx, 1, true},
		{"rancher.io/local-path", rwx, 1, true},
		{"pd.csi.storage.gke.io", []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany}, 0, true},
		{"efs.csi.aws.com", rwx, 0, true},
		{"example.com/unknown", rwx, 0, false},
	} {
		_, known := Of(tc.provisioner)
		if got := Refused(tc.provisioner, tc.want); len(got) != tc.refused || known != tc.known {
			t.Errorf("%s %v: refused %v known %v, want %d refused, known %v", tc.provisioner, tc.want, got, known, tc.refused, tc.known)
		}
	}
	files := FileProvisioners()
	if !slices.Contains(files, "efs.csi.aws.com") || slices.Contains(files, "ebs.csi.aws.com") || slices.Contains(files, "kubernetes.io/azure-file") || !slices.IsSorted(files) {
		t.Errorf("file provisioners %v", files)
	}
}
