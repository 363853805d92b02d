// Package v1alpha1 is the opsmesh API, group opsmesh.dev, version v1alpha1: the Agent, ToolServer
// and Incident kinds. These types are the one model of the platform; the controller, the agent
// runtime, the CLI and the evals all use them, and the CRD YAML under deploy/crds is generated
// from their markers (make generate). This package holds types, their schema rules and small
// pure helpers only; it must not do I/O or import controller code.
//
// +kubebuilder:object:generate=true
// +groupName=opsmesh.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "opsmesh.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Agent{}, &AgentList{},
		&ToolServer{}, &ToolServerList{},
		&Incident{}, &IncidentList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
