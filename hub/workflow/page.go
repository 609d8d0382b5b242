package workflow

import (
	"encoding/json"
	"fmt"

	"github.com/kunci-project/kunci/hub/kv"
)

// MaxScan bounds the records one page reads besides those it returns: a
// page of a filtered list (permits in one state) ends short, with a next
// page, rather than read further.
const MaxScan = 10_000

// page reads the keys of bucket after after, in key order, and gives each
// to fn, which says whether it took it, until fn took limit of them or
// limit+MaxScan were read. It returns the key to read the next page after,
// "" when no key is left.
func page(db kv.DB, bucket []byte, after string, limit int, fn func(k, v []byte) (bool, error)) (string, error) {
	if limit < 1 {
		return "", invalid("page: limit %d", limit)
	}
	var next string
	err := db.View(func(tx kv.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.First()
		if after != "" {
			if k, v = c.Seek([]byte(after)); k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		var taken, read int
		var last []byte
		for ; k != nil; k, v = c.Next() {
			if taken == limit || read == limit+MaxScan {
				next = string(last)
				return nil
			}
			read++
			last = k
			ok, err := fn(k, v)
			if err != nil {
				return err
			}
			if ok {
				taken++
			}
		}
		return nil
	})
	return next, err
}

// Page returns at most limit permit requests after id after ("": from the
// first), in id order, that keep accepts (all if keep is nil), NIK in
// clear, and the id to ask the next page after ("" at the end). keep sees
// each record before its personal data is unsealed (Guest, NIK and Phone
// empty).
func (s *Store) Page(after string, limit int, keep func(*Record) bool) ([]Record, string, error) {
	var out []Record
	next, err := page(s.db, bPermits, after, limit, func(k, raw []byte) (bool, error) {
		var sr storedRecord
		if err := json.Unmarshal(raw, &sr); err != nil {
			return false, fmt.Errorf("%w: permit %q: %v", ErrCorrupt, k, err)
		}
		if keep != nil && !keep(&sr.Record) {
			return false, nil
		}
		r, err := s.keys.unseal(&sr)
		if err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// StaffPage returns at most limit staff members after id after ("": from
// the first), in id order, and the id to ask the next page after ("" at
// the end).
func (s *Store) StaffPage(after string, limit int) ([]StaffMember, string, error) {
	var out []StaffMember
	next, err := page(s.db, bStaff, after, limit, func(k, raw []byte) (bool, error) {
		var m StaffMember
		if err := json.Unmarshal(raw, &m); err != nil {
			return false, fmt.Errorf("%w: staff %q: %v", ErrCorrupt, k, err)
		}
		out = append(out, m)
		return true, nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}
