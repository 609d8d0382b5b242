// Package cli is the machinery of a command with verbs and sub-verbs
// (prog group verb ID --flag): dispatch by name, flag sets whose -h prints
// the verb's lines of the program's usage text, the help verb, and the
// parsing rules every verb shares (no stray words, a record named by its
// first word or a flag, required flags reported at once). -h and --help
// are answers, not errors: Run returns nil for them, so the program exits
// 0 as Go's tools do.
//
// It knows nothing of the program it serves: the verbs, their flags and
// the usage text are the command's, which declares every flag. It must
// never import another package of the module, exit the process, or read
// the environment.
package cli
