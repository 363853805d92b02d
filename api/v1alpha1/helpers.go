package v1alpha1

// Reasoning names the engine an Agent with this spec reasons with, as status.reasoning and
// `kubectl get agents` show it: "runbook" without a model, else "<provider>/<model>".
func (s *AgentSpec) Reasoning() string {
	if s.Model == nil {
		return ReasoningRunbook
	}
	return string(s.Model.Provider) + "/" + s.Model.Model
}

// IsReadOnly reports whether the ToolServer serves only read-only tools (the default).
func (s *ToolServerSpec) IsReadOnly() bool {
	return s.ReadOnly == nil || *s.ReadOnly
}

// String is the target as people read it: Kind namespace/name, or Kind name when cluster-scoped.
func (t *TargetReference) String() string {
	if t.Namespace == "" {
		return t.Kind + " " + t.Name
	}
	return t.Kind + " " + t.Namespace + "/" + t.Name
}
