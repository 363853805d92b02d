package contract_test

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/opsmesh/opsmesh/"

// goList lists the import paths of pkgs and of what each imports directly (tests included).
func goList(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	args := append([]string{"list", "-f", `{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", pkgs, err, out)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	return deps
}

// TestContractIsALeaf: the contract imports the standard library only — nothing of opsmesh, no
// Kubernetes or MCP library — so every layer can import it and it can import no layer.
func TestContractIsALeaf(t *testing.T) {
	for pkg, imports := range goList(t, module+"api/contract") {
		for _, imp := range imports {
			if imp == module+"api/contract" || imp == "github.com/opsmesh/opsmesh/api/contract_test" {
				continue
			}
			if p, err := build.Default.Import(imp, "", build.FindOnly); err != nil || !p.Goroot {
				t.Errorf("%s imports %s: the contract package may import the standard library only", pkg, imp)
			}
		}
	}
}

// TestToolServersImportNoApplication: a tool server is a layer below the agents and the
// controller; it speaks the contract and must not import them (nor the gateway, an application).
func TestToolServersImportNoApplication(t *testing.T) {
	for pkg, imports := range goList(t, "./../../mcpservers/...") {
		for _, imp := range imports {
			for _, banned := range []string{"agents/", "controller/", "gateway", "cmd/", "sandbox", "evals/"} {
				if strings.HasPrefix(imp, module+banned) {
					t.Errorf("%s imports %s: tool servers must not import agents/, controller/ or an application; move the shared type to api/contract", pkg, imp)
				}
			}
		}
	}
}
