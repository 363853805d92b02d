// Package stagetest plays the sandbox's kwok Stages (deploy/sandbox/stages) on sample pods with
// kwok's own selector and template engines (sigs.k8s.io/kwok/pkg/utils/lifecycle), in-process and
// without a cluster, and checks what a kubelet would report: the failure states, the events and
// their messages, and that a fault applies only to the pods and the spec its annotations name.
//
// It is a module of its own so that the opsmesh module does not depend on kwok (whose Kubernetes
// libraries are older than opsmesh's): run it with
//
//	cd sandbox/stagetest && go test ./...
//
// It owns no code the sandbox runs; it only reads the stage files.
package stagetest
