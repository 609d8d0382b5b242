package cli

import (
	"flag"
	"fmt"
	"strings"
)

// ParseFlags parses args and refuses words left over: a flag after a
// stray word would otherwise be ignored without a word.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected %q (flags start with -; quote values with spaces)", fs.Name(), fs.Arg(0))
	}
	return nil
}

// ParseWithID parses the flags of a verb on one record, named by its
// first word or by the flag idFlag, which it defines: `prog show ID -v`,
// `prog show -v ID` and `prog show --id ID -v` are one command. what
// names the record in errors.
func ParseWithID(fs *flag.FlagSet, args []string, idFlag, what string) (string, error) {
	flagID := fs.String(idFlag, "", "the "+what+" (or give it as the first word)")
	var word string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		word = args[0]
		if err := ParseFlags(fs, args[1:]); err != nil {
			return "", err
		}
	} else {
		if err := fs.Parse(args); err != nil {
			return "", err
		}
		if fs.NArg() > 0 {
			word = fs.Arg(0)
			if err := ParseFlags(fs, fs.Args()[1:]); err != nil {
				return "", err
			}
		}
	}
	switch {
	case word != "" && *flagID != "" && word != *flagID:
		return "", fmt.Errorf("%s: two %ss given, %q and --%s %q", fs.Name(), what, word, idFlag, *flagID)
	case word != "":
		return word, nil
	case *flagID != "":
		return *flagID, nil
	}
	return "", fmt.Errorf("%s: which %s? give it first: %s <%s> (see -h)", fs.Name(), what, fs.Name(), idFlag)
}

// Required reports the flags among names left empty, all at once.
func Required(fs *flag.FlagSet, names ...string) error {
	var missing []string
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s (see -h)", fs.Name(), strings.Join(missing, ", "))
	}
	return nil
}

// SplitComma splits a comma-separated flag value ("laptop, console
// cable"), trimming each item and dropping empty ones.
func SplitComma(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ParseRequired parses args as ParseFlags does, then reports the flags
// among names left empty as Required does.
func ParseRequired(fs *flag.FlagSet, args []string, names ...string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	return Required(fs, names...)
}
