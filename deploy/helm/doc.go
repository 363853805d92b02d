// Package helm holds opsmesh's Helm chart (deploy/helm/opsmesh), example values (values/) and
// the chart's tests: helm lint and helm template (with helm built from its Go module by
// hack/testbins.sh), every rendered object accepted by a real kube-apiserver in a server-side
// dry run, the values schema refusing bad values, and a golden file of the default render. It
// has no Go code of its own and must not grow any: the chart is the product here.
package helm
