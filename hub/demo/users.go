package demo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kunci-project/kunci/hub/auth"
)

// User is one of the demo's console users: one per SOP role.
type User struct {
	Login, Name, Password string
	Role                  auth.Role
}

// users are the demo's office, in the order of the SOP.
var users = []User{
	{Login: "meja", Name: "Rina (meja layanan)", Role: auth.Requester},
	{Login: "jaringan", Name: "Andi (administrator jaringan)", Role: auth.Coordinator},
	{Login: "kasi", Name: "Sari (Kasi Infrastruktur TIK)", Role: auth.Approver},
	{Login: "auditor", Name: "Dewi (auditor)", Role: auth.Viewer},
	{Login: "admin", Name: "Admin TIK", Role: auth.Admin},
}

// UsersFile is where the demo users' passwords are kept (mode 0600):
// they are made at random on first use, and shown by kunci dev.
func (s *Site) UsersFile() string { return filepath.Join(s.dir, "demo-users.txt") }

// SeedUsers makes the demo's console users on first use, with random
// passwords kept in UsersFile, and returns them.
func (s *Site) SeedUsers(u *auth.Users) ([]User, error) {
	known, err := readUsers(s.UsersFile())
	if err != nil {
		return nil, err
	}
	var out []User
	for _, d := range users {
		if pw, ok := known[d.Login]; ok {
			d.Password = pw
			out = append(out, d)
			continue
		}
		if d.Password, err = auth.NewPassword(); err != nil {
			return nil, err
		}
		if _, err := u.Add(auth.NewUser{Login: d.Login, Name: d.Name, Roles: []auth.Role{d.Role}, Password: d.Password}); err != nil {
			if errors.Is(err, auth.ErrExists) {
				continue // made before the file was lost: its password is not known
			}
			return nil, fmt.Errorf("demo users: %w", err)
		}
		out = append(out, d)
	}
	var b strings.Builder
	b.WriteString("# kunci dev's console users: login password (made once, at random)\n")
	for _, d := range out {
		fmt.Fprintf(&b, "%s %s\n", d.Login, d.Password)
	}
	if err := os.WriteFile(s.UsersFile(), []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	return out, nil
}

func readUsers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if login, pw, ok := strings.Cut(sc.Text(), " "); ok && !strings.HasPrefix(login, "#") {
			out[login] = pw
		}
	}
	return out, sc.Err()
}
