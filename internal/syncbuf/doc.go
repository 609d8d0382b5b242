// Package syncbuf holds Buffer, the output of a goroutine or a child
// process that a test reads while it is still being written: a run's
// stdout and stderr, a log handler's destination. It is exported once
// here instead of a locked bytes.Buffer in every test package.
//
// It is for tests only and must never be imported by a program. It must
// never grow waiting or parsing: a test that waits for a line polls
// String through internal/waitfor.
package syncbuf
