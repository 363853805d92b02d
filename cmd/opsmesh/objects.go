package main

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	opsv1 "github.com/opsmesh/opsmesh/api/v1alpha1"
)

// listIn lists into list the objects of namespace ns, or of every namespace when all; what names
// them in the error ("Agents").
func listIn(ctx context.Context, c client.Client, list client.ObjectList, ns string, all bool, what string) error {
	var opts []client.ListOption
	if !all {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := c.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("listing %s: %w", what, err)
	}
	return nil
}

// printable is a copy of obj for -o yaml|json: its apiVersion and kind set, managedFields left
// out.
func printable[T client.Object](obj T, kind string) T {
	out := obj.DeepCopyObject().(T)
	out.SetManagedFields(nil)
	out.GetObjectKind().SetGroupVersionKind(opsv1.GroupVersion.WithKind(kind))
	return out
}
