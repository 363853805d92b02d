// Package accessmodes knows which PersistentVolume access modes a storage provisioner can give a
// claim: data, so that adding a driver is one line, shared by the cluster server (volume_check)
// and the scheduler server (explain_pending). It reads no cluster.
package accessmodes

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

var (
	// block: block devices and node-local storage, attached to one node at a time.
	block = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod}
	// blockReadOnlyMany: block devices that several nodes may also attach read-only.
	blockReadOnlyMany = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod, corev1.ReadOnlyMany}
	// file: shared file systems, which every node may mount.
	file = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod, corev1.ReadOnlyMany, corev1.ReadWriteMany}
)

// modes are the access modes each provisioner can give a claim of volumeMode Filesystem. Sources:
// the drivers' own docs — aws-ebs-csi-driver (ReadWriteMany only for io2 with volumeMode Block),
// gcp-compute-persistent-disk-csi-driver README (ReadOnlyMany; multi-writer only for Block),
// azuredisk-csi-driver (shared disks: Block only), local-path-provisioner README, TopoLVM and
// OpenEBS LocalPV (node-local: one node), cloud-provider-openstack cinder-csi-plugin, vSphere CSI
// (block volumes; ReadWriteMany only for vSAN file volumes, which this table does not claim), and
// Kubernetes' "Persistent Volumes: Access Modes" table for the in-tree plugins; for file drivers
// aws-efs-csi-driver, GCP Filestore CSI, azurefile-csi-driver, csi-driver-nfs and ceph-csi
// (CephFS). A provisioner not listed gets no claim made about it. A claim of volumeMode Block is
// not judged: EBS io2 Multi-Attach and Azure shared disks give ReadWriteMany raw devices.
var modes = map[string][]corev1.PersistentVolumeAccessMode{
	"ebs.csi.aws.com":              block,
	"kubernetes.io/aws-ebs":        block,
	"pd.csi.storage.gke.io":        blockReadOnlyMany,
	"kubernetes.io/gce-pd":         blockReadOnlyMany,
	"disk.csi.azure.com":           block,
	"kubernetes.io/azure-disk":     block,
	"cinder.csi.openstack.org":     block,
	"csi.vsphere.vmware.com":       block,
	"rancher.io/local-path":        block,
	"kubernetes.io/no-provisioner": block, // local volumes
	"topolvm.io":                   block,
	"topolvm.cybozu.com":           block,
	"openebs.io/local":             block,
	"local.csi.openebs.io":         block,

	"efs.csi.aws.com":              file,
	"filestore.csi.storage.gke.io": file,
	"file.csi.azure.com":           file,
	"kubernetes.io/azure-file":     file,
	"nfs.csi.k8s.io":               file,
	"cephfs.csi.ceph.com":          file,
}

// Of are the access modes provisioner can give a Filesystem claim; known is false for a
// provisioner the table does not know (judge nothing then).
func Of(provisioner string) (can []corev1.PersistentVolumeAccessMode, known bool) {
	m, ok := modes[provisioner]
	return slices.Clone(m), ok
}

// Refused are the modes of want that provisioner cannot give (none when the table does not know
// it).
func Refused(provisioner string, want []corev1.PersistentVolumeAccessMode) []corev1.PersistentVolumeAccessMode {
	can, ok := modes[provisioner]
	if !ok {
		return nil
	}
	var out []corev1.PersistentVolumeAccessMode
	for _, m := range want {
		if !slices.Contains(can, m) {
			out = append(out, m)
		}
	}
	return out
}

// FileProvisioners are the CSI drivers of the table that give ReadWriteMany, sorted, for a fix
// to name.
func FileProvisioners() []string {
	var out []string
	for p, m := range modes {
		if slices.Contains(m, corev1.ReadWriteMany) && !strings.HasPrefix(p, "kubernetes.io/") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}
