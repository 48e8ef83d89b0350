/*
 * dirlock: the lock that says an engine owns an experiment directory
 * (DIR/engine.lock, a POSIX record lock held for the life of the process).
 *
 * The kernel drops the lock when its process dies, however it dies, so a
 * reader can tell a live run from one whose engine was killed: the store's
 * status says "running" in both cases.
 */
#pragma once

#include <stddef.h>

/* Take the lock of `dir` for this process (kept until it exits). Returns
 * 0, or -1 with `err` (another engine holds it, or the file system
 * refused). */
int dirlock_take(const char *dir, char *err, size_t errlen);

/* The pid of the engine holding the lock of `dir`, or 0 when none does. */
int dirlock_owner(const char *dir);
