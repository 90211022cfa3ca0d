// Package postgres is the Postgres implementation of eventstore.Store, with pgx/v5.
//
// # Appends
//
// An append is one SQL statement sent as one round trip and run as one transaction (or
// inside the caller's transaction with AppendTx). UNIQUE (stream_id, version) guards
// optimistic concurrency: a writer that loses surfaces as eventstore.ErrVersionConflict
// (so does a deadlock between two transactions appending to the same streams in opposite
// orders). Appending events whose ids are already stored (a retry) stores nothing and
// returns the first result; ids are looked up only after a conflict, so the common path
// costs nothing extra.
//
// Append with an exact expected version (or NoStream), the common case, is a plain
// INSERT of versions expected+1... guarded by an EXISTS on version `expected` (never a
// hole); AppendTx and Append with Any use the general statement, which looks up the
// stream's last event, keeps a per-transaction event counter and refuses to put an event
// after a younger transaction's (see appendOwnTx for why a transaction of its own needs
// none of that). TestGapSafeGlobalOrderMixedAppends runs both against each other.
// QueueAppend is AppendTx without a round trip of its own: the same statement, queued on
// a internal/postgres.PipeTx to travel with the transaction's next statement, and made
// to fail in the server on any refusal (eventstore_append_refused), since the COMMIT
// may be in the same pipeline.
//
// Group commit: Append calls with an exact expected version that arrive while earlier
// ones are being written are written together, one statement and one commit for the
// lot, each still all or nothing with its own outcome (group.go has the argument;
// TestGroupCommitKeepsEachAppendsOutcome checks it). An append with nothing else in
// flight is written at once. WithGroupCommit(0) turns it off.
//
// # Global order without gaps
//
// A global sequence is not enough: sequence values are taken before commit, so position
// 7 can become visible before position 6, and a reader that moved past 7 skips 6 forever.
// Instead:
//
//	position = (top-level transaction id << 16) + index of the event in its transaction
//
// and ReadAll returns only positions below (pg_snapshot_xmin(pg_current_snapshot()) << 16).
//
// Why a reader never skips an event and never sees one twice. Let xmin be the smallest
// transaction id still running when the reader's statement takes its snapshot.
//  1. Every transaction with an id below xmin has ended, so it is either visible in the
//     snapshot (committed) or never will be (rolled back). All events with position below
//     xmin<<16 that will ever exist are therefore visible to this read.
//  2. Transaction ids are handed out in increasing order, so any transaction that has not
//     ended, or has not started, has id >= xmin: every event that appears later has a
//     position >= xmin<<16, above everything this read could return.
//  3. Positions are unique (one transaction id per transaction, one index per event of
//     it), so "position > last seen" never returns an event twice.
//
// Per-stream order equals position order: the append refuses (as a version conflict) to
// put an event after a stream's last event when that event belongs to a younger
// transaction, which can only happen inside a long caller transaction; retrying in a new
// transaction succeeds.
//
// The price: a transaction that stays open holds back what readers can see (never what
// writers can do). Keep transactions that write to this database short; relay lag shows
// it when one is not. The low 16 bits allow 65,535 events per transaction, and the high
// 47 bits 1.4e14 transactions.
//
// # Wake-ups
//
// NOTIFY inside the appending transaction would serialize every commit on the
// notification queue's lock. The store instead sends one coalesced NOTIFY after its own
// appends commit, and subscribers also poll, so appends by other processes are seen
// within the poll interval at worst.
package postgres
