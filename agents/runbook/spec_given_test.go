//go:build cgo

package runbook_test

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/opsmesh/opsmesh/agents/diagnosis"
	"github.com/opsmesh/opsmesh/agents/runbook"
	"github.com/opsmesh/opsmesh/api/contract"
	"github.com/opsmesh/opsmesh/internal/fixture"
)

// TestCauseInWhatThePodIsGiven: the engine follows a failure to what the pod spec gives the
// container — a ServiceAccount token, a GPU, a setting by its environment variable's name — and
// to the GPU under a failed Job's pod.
func TestCauseInWhatThePodIsGiven(t *testing.T) {
	e := engine(t)
	c := fixture.Cluster{T: t, C: shared.Env(t).Client}

	t.Run("a client without its token names the ServiceAccount that turns the token off", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-satoken")
		c.Create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reporter"}, AutomountServiceAccountToken: ptr.To(false)})
		rs := c.Deployment(ns, "reporter", 1, func(p *corev1.PodSpec) { p.ServiceAccountName = "reporter" })
		c.Pod(rs, ns, "reporter-h1-0", "", crashing("F1207 13:02:11.123 main.go:41] building config: open /var/run/secrets/kubernetes.io/serviceaccount/token: no such file or directory"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-satoken/reporter"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "serviceaccount/cz-satoken/reporter" || cz.Field != "automountServiceAccountToken" {
			t.Fatalf("cause %+v, want the ServiceAccount's automountServiceAccountToken:\n%s", cz, d.Text())
		}
		mustSay(t, d, "ServiceAccount reporter sets automountServiceAccountToken: false", "cannot authenticate",
			"set automountServiceAccountToken: true on the pod template")
		noRestart(t, d)
	})

	t.Run("a client that cannot load its in-cluster configuration names the pod template's automount", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-sapod")
		rs := c.Deployment(ns, "sweeper", 1, func(p *corev1.PodSpec) { p.AutomountServiceAccountToken = ptr.To(false) })
		c.Pod(rs, ns, "sweeper-h1-0", "", crashing("kubernetes.config.config_exception.ConfigException: Service host/port is not set."))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-sapod/sweeper"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "deployment/cz-sapod/sweeper" || cz.Field != "spec.template.spec.automountServiceAccountToken" {
			t.Fatalf("cause %+v, want the pod template's automountServiceAccountToken:\n%s", cz, d.Text())
		}
		mustSay(t, d, "the pod template sets automountServiceAccountToken: false")
	})

	t.Run("a token the pod is given leaves the cause elsewhere", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-saon")
		rs := c.Deployment(ns, "lister", 1, nil)
		c.Pod(rs, ns, "lister-h1-0", "", crashing("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-saon/lister"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz != nil && strings.Contains(cz.Field, "automountServiceAccountToken") {
			t.Errorf("cause %+v names the token though the pod mounts it:\n%s", cz, d.Text())
		}
	})

	t.Run("a CUDA program in a container that requests no GPU names the missing request", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-nogpu")
		rs := c.Deployment(ns, "embedder", 1, nil)
		c.Pod(rs, ns, "embedder-h1-0", "", crashing("RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-nogpu/embedder"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "deployment/cz-nogpu/embedder" || cz.Field != "spec.template.spec.containers[app].resources.limits[nvidia.com/gpu]" {
			t.Fatalf("cause %+v, want the container's GPU request:\n%s", cz, d.Text())
		}
		mustSay(t, d, "container app requests no GPU, so none is given to it; its CUDA runtime finds no device")

		// one that requests a GPU: the request is not the cause
		rs2 := c.Deployment(ns, "gpu-embedder", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/mig-1g.10gb": resource.MustParse("1")}
		})
		c.Pod(rs2, ns, "gpu-embedder-h1-0", "", crashing("RuntimeError: CUDA error: no CUDA-capable device is detected"))
		d = diagnose(t, e, runbook.Question{Subject: "deployment/cz-nogpu/gpu-embedder"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz != nil && strings.Contains(cz.Field, "resources.limits") {
			t.Errorf("cause %+v blames the request of a container that makes one:\n%s", cz, d.Text())
		}
	})

	t.Run("an application's own failure in an image with the moving tag latest says so", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-latest")
		rs := c.Deployment(ns, "rollup", 1, func(p *corev1.PodSpec) { p.Containers[0].Image = "registry.example/rollup:latest" })
		c.Pod(rs, ns, "rollup-h1-0", "", crashing("panic: runtime error: index out of range [3] with length 3"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-latest/rollup"}, diagnosis.CrashLoopBackOff)
		mustSay(t, d, "its image registry.example/rollup:latest uses the moving tag latest", "pin a version or a digest")
	})

	t.Run("a CUDA out-of-memory on a MIG slice names the slice", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-migoom")
		rs := c.Deployment(ns, "chat", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/mig-1g.10gb": resource.MustParse("1")}
		})
		c.Pod(rs, ns, "chat-h1-0", "", crashing("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.20 GiB. GPU 0 has a total capacity of 9.75 GiB of which 310.00 MiB is free."))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-migoom/chat"}, diagnosis.CrashLoopBackOff)
		mustSay(t, d, "the device has 9.75 GiB in all", "the container is given nvidia.com/mig-1g.10gb: 1, a MIG slice")
		noRestart(t, d)
	})

	t.Run("a setting the program names is found by its environment variable's name in the ConfigMap", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		ns := c.Namespace("cz-envname")
		c.Create(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db-tuning"}, Data: map[string]string{"max-connections": "lots", "shared-buffers": "1GB"}})
		rs := c.Deployment(ns, "ledgerdb", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "POSTGRES_MAX_CONNECTIONS", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db-tuning"}, Key: "max-connections"}}}}
		})
		c.Pod(rs, ns, "ledgerdb-h1-0", "", crashing(`FATAL:  invalid value for parameter "max_connections": "lots"`))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-envname/ledgerdb"}, diagnosis.CrashLoopBackOff)
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "configmap/cz-envname/db-tuning" || cz.Field != "data[max-connections]" {
			t.Fatalf("cause %+v, want key max-connections of ConfigMap db-tuning:\n%s", cz, d.Text())
		}
		mustSay(t, d, "key max-connections of ConfigMap db-tuning (env POSTGRES_MAX_CONNECTIONS, the setting max_connections)", "(value lots)")
		noRestart(t, d)

		// a dotted setting set inline, under a prefix
		rs2 := c.Deployment(ns, "broker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Env = []corev1.EnvVar{{Name: "KAFKA_CFG_ADVERTISED_LISTENERS", Value: "PLAINTEXT://:9092"}}
		})
		c.Pod(rs2, ns, "broker-h1-0", "", crashing("org.apache.kafka.common.config.ConfigException: Invalid value PLAINTEXT://:9092 for configuration advertised.listeners: advertised.listeners cannot use the nonroutable meta-address 0.0.0.0"))
		d = diagnose(t, e, runbook.Question{Subject: "deployment/cz-envname/broker"}, diagnosis.CrashLoopBackOff)
		cz = d.RootCause.Cause
		if cz == nil || cz.Category != contract.ApplicationConfig || cz.Object != "deployment/cz-envname/broker" || cz.Field != "spec.template.spec.containers[app].env[KAFKA_CFG_ADVERTISED_LISTENERS]" {
			t.Fatalf("cause %+v, want the container's KAFKA_CFG_ADVERTISED_LISTENERS:\n%s", cz, d.Text())
		}
		mustSay(t, d, "the container's env KAFKA_CFG_ADVERTISED_LISTENERS (the setting advertised.listeners)", "PLAINTEXT://:9092")
	})

	t.Run("a Job whose pod failed on a GPU that reports an XID names the GPU, not the application", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		if err := c.C.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fixture.AgentNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		c.GPUNode("cz-gpu-48", "gpus:\n  - index: 2\n    xids:\n      - {code: 48, time: 2026-11-30T03:00:00Z}\n")
		ns := c.Namespace("cz-gpujob")
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sft"},
			Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "train", Image: "registry.example/sft:1",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}}}}}}}
		c.Create(job)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sft-x7k2p", Labels: map[string]string{"job-name": "sft"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID, Controller: ptr.To(true)}}},
			Spec: *job.Spec.Template.Spec.DeepCopy()}
		pod.Spec.NodeName = "cz-gpu-48"
		c.Create(pod)
		last := fixture.Terminated("Error", 1)
		last.Message = "Traceback (most recent call last):\nRuntimeError: CUDA error: uncorrectable ECC error encountered"
		pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "train", Image: "registry.example/sft:1",
			State: corev1.ContainerState{Terminated: last}}}}
		c.SetStatus(pod)
		now := metav1.Now()
		job.Status = batchv1.JobStatus{StartTime: &now, Failed: 1, Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}}
		c.SetStatus(job)
		d := diagnose(t, e, runbook.Question{Subject: "job/cz-gpujob/sft"}, "GPUXid48")
		cz := d.RootCause.Cause
		if cz == nil || cz.Category != contract.GPUHardwareFault || cz.Object != "node/cz-gpu-48" || cz.Field != "GPU 2" {
			t.Fatalf("cause %+v, want GPU 2 of node cz-gpu-48:\n%s", cz, d.Text())
		}
		mustSay(t, d, "GPU 2 on node cz-gpu-48 reports XID 48", "the failed pod's own error agrees: RuntimeError: CUDA error: uncorrectable ECC error encountered")
		noRestart(t, d)
	})

	t.Run("an application error on a GPU node whose GPUs are healthy keeps the application's cause", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		if err := c.C.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fixture.AgentNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		c.GPUNode("cz-gpu-ok", "")
		ns := c.Namespace("cz-gpuok")
		rs := c.Deployment(ns, "ranker", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		})
		c.Pod(rs, ns, "ranker-h1-0", "cz-gpu-ok", crashing("Exception in thread \"main\" java.lang.IllegalStateException: no partitions assigned"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-gpuok/ranker"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.ApplicationError {
			t.Fatalf("cause %+v, want the application's own error:\n%s", cz, d.Text())
		}
	})

	t.Run("a fault on another GPU of the node than the one the pod runs on is not its cause", func(t *testing.T) {
		c := fixture.Cluster{T: t, C: c.C}
		if err := c.C.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fixture.AgentNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		c.GPUNode("cz-gpu-other", "gpus:\n  - index: 0\n    processes:\n      - {pid: 700, usedMiB: 2048, pod: cz-gpuother/scorer-h1-0, container: app}\n"+
			"  - index: 5\n    xids:\n      - {code: 48, time: 2026-11-30T03:00:00Z}\n")
		ns := c.Namespace("cz-gpuother")
		rs := c.Deployment(ns, "scorer", 1, func(p *corev1.PodSpec) {
			p.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		})
		c.Pod(rs, ns, "scorer-h1-0", "cz-gpu-other", crashing("Exception in thread \"main\" java.lang.IllegalStateException: no partitions assigned"))
		d := diagnose(t, e, runbook.Question{Subject: "deployment/cz-gpuother/scorer"}, diagnosis.CrashLoopBackOff)
		if cz := d.RootCause.Cause; cz == nil || cz.Category != contract.ApplicationError {
			t.Fatalf("cause %+v, want the application's own error:\n%s", cz, d.Text())
		}
		mustSay(t, d, "node cz-gpu-other: the GPUs the failing pods run on (0) are healthy")
	})
}
