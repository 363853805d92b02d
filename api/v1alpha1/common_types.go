package v1alpha1

// Condition types used in the status of every kind. Conditions are metav1.Condition values; the
// reason is a PascalCase word and the message names the object at fault and the fix.
const (
	// ConditionReady is True when the object is doing its job: a ToolServer is serving and its
	// tools are discovered, an Agent is served over A2A, an Incident is being handled.
	ConditionReady = "Ready"
	// ConditionAccepted is True when the spec has been validated against the rest of the cluster
	// (references resolve, tools exist); False names what is wrong.
	ConditionAccepted = "Accepted"
)

// SecretKeyReference names one key of a Secret in the same namespace as the object that refers to
// it. Values are read by the component that needs them and are never copied into status or logs.
type SecretKeyReference struct {
	// Name of the Secret, in the same namespace as the referring object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Key within the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// LocalObjectReference names another object of the same kind context in the same namespace.
type LocalObjectReference struct {
	// Name of the object, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`
}
