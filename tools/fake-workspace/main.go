// Command fake-workspace serves Databricks' own fake workspace, the test server the Databricks
// CLI's acceptance tests deploy bundles to (package libs/testserver of github.com/databricks/cli),
// on 127.0.0.1 until it is interrupted or terminated.
//
// It prints the workspace URL as the first line of standard output. Point the CLI at it with
// DATABRICKS_HOST=<url> and DATABRICKS_TOKEN=dbapi0<anything>: every distinct token gets a
// workspace of its own, so tests that run side by side do not see each other's resources.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/databricks/cli/libs/testserver"
)

func main() {
	log.SetPrefix("fake-workspace: ")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	t := newProcessT(ctx)
	defer t.runCleanups()
	server := testserver.New(t)
	testserver.AddDefaultHandlers(server)

	fmt.Println(server.URL)
	<-ctx.Done()
}

// processT is what the test server expects of a Go test (its TestingT interface), for a
// long-running process. Errors the server reports, such as a request no handler serves, are
// logged rather than fatal: the client that sent the request also gets an error response.
type processT struct {
	ctx      context.Context
	tempDir  string
	cleanups []func()
}

func newProcessT(ctx context.Context) *processT {
	dir, err := os.MkdirTemp("", "fake-workspace-")
	if err != nil {
		log.Fatal(err)
	}
	t := &processT{ctx: ctx, tempDir: dir}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return t
}

func (t *processT) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func (t *processT) Log(args ...any)                   { log.Print(args...) }
func (t *processT) Logf(format string, args ...any)   { log.Printf(format, args...) }
func (t *processT) Error(args ...any)                 { log.Print(append([]any{"error: "}, args...)...) }
func (t *processT) Errorf(format string, args ...any) { log.Printf("error: "+format, args...) }
func (t *processT) Fatal(args ...any)                 { log.Fatal(args...) }
func (t *processT) Fatalf(format string, args ...any) { log.Fatalf(format, args...) }
func (t *processT) Skip(args ...any)                  { log.Fatal(args...) }
func (t *processT) Skipf(format string, args ...any)  { log.Fatalf(format, args...) }
func (t *processT) FailNow()                          { log.Fatal("FailNow called") }
func (t *processT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *processT) Context() context.Context          { return t.ctx }
func (t *processT) Setenv(key, value string)          { os.Setenv(key, value) }
func (t *processT) TempDir() string                   { return t.tempDir }
func (t *processT) Helper()                           {}
