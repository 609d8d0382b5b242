package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// Cluster is a PostgreSQL server of a test's own, made by initdb in a
// temporary directory and listening on a free loopback port, for the tests
// that stop and start their server (a restart mid-stream): the machine's
// server is shared, and stopping it would fail every other test. It is
// stopped and removed when the test ends.
//
// It needs PostgreSQL's server programs (initdb, pg_ctl: Debian's
// postgresql package); without them the test is skipped, except in CI.
// As root it runs them as the postgres user, since initdb refuses root.
type Cluster struct {
	t    testing.TB
	bin  string // the directory of initdb and pg_ctl
	dir  string // the data directory
	port int
	as   string // the user the server runs as; "" for this process's
}

// NewCluster makes and starts a cluster for t.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := serverBin()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL's initdb and pg_ctl are not installed; CI must have them (Debian's postgresql package)")
		}
		t.Skip("PostgreSQL's initdb and pg_ctl are not installed (Debian's postgresql package); skipping the test of a server restarted")
	}
	c := &Cluster{t: t, bin: bin}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("pgtest: running as root, and no postgres user to run initdb as: %v", err)
		}
		c.as = "postgres"
	}
	dir, err := os.MkdirTemp("", "kunci-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if c.as != "" {
		if out, err := exec.Command("chown", c.as, dir).CombinedOutput(); err != nil {
			t.Fatalf("pgtest: chown %s: %v: %s", dir, err, out)
		}
	}
	if out, err := c.command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.Start()
	return c
}

// serverBin finds the directory of initdb and pg_ctl: Debian keeps them
// in /usr/lib/postgresql/VERSION/bin, off PATH; the newest is taken.
func serverBin() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) < version(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

func version(bin string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return v
}

// command runs name as the cluster's user.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	if c.as == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", c.as, "--", name}, args...)...)
}

func (c *Cluster) pgctl(args ...string) ([]byte, error) {
	args = append([]string{"-D", filepath.Join(c.dir, "data"), "-w", "-t", "60"}, args...)
	return c.command(filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
}

// DSN is the cluster's postgres database, as its superuser.
func (c *Cluster) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the server and waits until it takes connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", c.port)
	if out, err := c.pgctl("start", "-l", filepath.Join(c.dir, "server.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("pgtest: pg_ctl start: %v: %s\n%s", err, out, log)
	}
}

// Stop stops the server the way a restart does (pg_ctl's fast mode): the
// connections are ended and open transactions rolled back.
func (c *Cluster) Stop() {
	c.t.Helper()
	if out, err := c.pgctl("stop", "-m", "fast"); err != nil {
		c.t.Fatalf("pgtest: pg_ctl stop: %v: %s", err, out)
	}
}
