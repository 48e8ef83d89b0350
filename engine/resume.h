/*
 * resume: brings the strategies of an interrupted experiment back to the
 * state they had (`maggy-engine resume`).
 *
 * The controller journals every job it hands to the Lua side (store.h,
 * database `journal`) and records in meta `journal_applied` up to which job
 * the replies were acted on. Resuming loads the script with the stored seed,
 * replays the journal in order (a job whose reply was never acted on is
 * replayed for its events only, and rewritten so), then lets the Lua side
 * reconcile with the stored trials: trials created or ended after the last
 * journaled job are told, interrupted ones go back to PENDING. Deterministic
 * strategies then suggest what they would have suggested without the crash.
 *
 * Threads: the loop thread, before the Lua host's thread is started.
 */
#pragma once

#include <stddef.h>

#include "lhost.h"
#include "store.h"

/* Replay and reconcile; commits what it writes to the journal. Returns 0,
 * or -1 with `err` (a strategy that cannot replay, an unreadable store). */
int resume_strategies(store_t *store, lhost_t *lhost, char *err,
		      size_t errlen);
