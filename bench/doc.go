// Package bench measures the agent against the targets of the performance
// issue: tap-to-relay latency including the durable write, compared with a
// bare fsync'd bbolt update measured in the same run; agent start to ready;
// and the Go heap, each with up to a million permits stored.
//
// Everything lives in the package's tests and benchmarks; run.sh runs them
// and prints the table. It must never be imported, never write outside
// bench/cache, and never assert on wall-clock speed: the numbers are a
// report, not a test verdict.
package bench
