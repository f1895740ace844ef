package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowed maps each guarded dependency, by import path prefix, to the
// library packages of this module that may depend on it. Commands (the
// example) and test-only packages are not held to it.
var allowed = map[string][]string{
	"github.com/labstack/echo/":        {"middleware/echogate"},
	"github.com/gin-gonic/gin":         {"middleware/gingate"},
	"github.com/redis/go-redis/":       {"introspect/redis", "internal/redistest"},
	"github.com/prometheus/":           {"introspect/promhook"},
	"go.opentelemetry.io/":             {"introspect/otelhook"},
	"github.com/modelcontextprotocol/": {}, // middleware/mcpgate, a module of its own
	"github.com/stretchr/testify":      {"internal/testutil", "internal/redistest"},
	"go.uber.org/goleak":               {},
}

const module = "github.com/tokengate/tokengate/"

func TestEachDependencyOnlyWhereItIsNeeded(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goTool, "list", "-f", `{{.ImportPath}} {{.Name}}{{range .Deps}} {{.}}{{end}}`, module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, name, deps := strings.TrimPrefix(fields[0], module), fields[1], fields[2:]
		if name == "main" {
			continue
		}
		checked++
		for _, dep := range deps {
			for prefix, who := range allowed {
				if !strings.HasPrefix(dep, prefix) || slices.Contains(who, pkg) {
					continue
				}
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	if checked < 10 {
		t.Errorf("go list listed %d library packages", checked)
	}
}
