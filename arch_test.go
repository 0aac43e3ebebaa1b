package valet_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/valetauth/valet"

// edge are the HTTP-edge packages, one per audience; they never import each other.
var edge = []string{"internal/web", "internal/grant", "internal/oidc", "internal/admin"}

// TestDependencyRules keeps the arrows of docs/architecture.md true.
func TestDependencyRules(t *testing.T) {
	pkgs := map[string]map[string]bool{} // package dir -> imports (non-test files)
	envReaders := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if pkgs[dir] == nil {
			pkgs[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			pkgs[dir][p] = true
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(src), "os.Getenv(") || strings.Contains(string(src), "os.LookupEnv(") {
			envReaders[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages; is the test running at the module root?", len(pkgs))
	}

	internalOf := func(imp string) (string, bool) {
		if imp == module {
			return ".", true
		}
		return strings.CutPrefix(imp, module+"/")
	}
	isStd := func(imp string) bool { return !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") }

	for dir, imports := range pkgs {
		for imp := range imports {
			target, own := internalOf(imp)
			switch {
			case dir == ".":
				if !isStd(imp) {
					t.Errorf("the vocabulary package imports %s; it may import only the standard library", imp)
				}
			case dir == "bearer" || strings.HasPrefix(dir, "bearer/"):
				if own || !(isStd(imp) || strings.HasPrefix(imp, "github.com/go-jose/go-jose/v4") || imp == "golang.org/x/time/rate") {
					t.Errorf("%s imports %s; bearer may import only the standard library and go-jose", dir, imp)
				}
			case dir == "demo" || strings.HasPrefix(dir, "demo/"):
				if own && target != "bearer" && !strings.HasPrefix(target, "demo") {
					t.Errorf("%s imports %s; the demo may use only bearer, like any outside app", dir, imp)
				}
			}
			if !own {
				continue
			}
			if target == "cmd/valet" || strings.HasPrefix(target, "cmd/") {
				t.Errorf("%s imports a command (%s)", dir, imp)
			}
			if target == "internal/server" && dir != "cmd/valet" {
				t.Errorf("%s imports internal/server; only cmd/valet assembles the server", dir)
			}
			if slices.Contains(edge, dir) && slices.Contains(edge, target) {
				t.Errorf("%s imports %s; the HTTP-edge packages never import each other", dir, target)
			}
			mechanics := []string{"internal/oauth", "internal/secret", "internal/token", "internal/keys"}
			if slices.Contains(mechanics, dir) && (slices.Contains(edge, target) || target == "internal/server" || strings.HasPrefix(target, "internal/store")) {
				t.Errorf("%s imports %s; protocol mechanics depend only on the vocabulary", dir, target)
			}
			if strings.HasPrefix(dir, "internal/store") && target != "." && !strings.HasPrefix(target, "internal/store") {
				t.Errorf("%s imports %s; storage depends only on the vocabulary", dir, target)
			}
		}
	}
	for dir := range envReaders {
		// sqltest is test support: it reads the PostgreSQL test URL.
		if dir != "cmd/valet" && !strings.HasPrefix(dir, "demo") && dir != "internal/store/sqltest" {
			t.Errorf("%s reads environment variables; only cmd/valet reads configuration", dir)
		}
	}
}
